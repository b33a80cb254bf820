//! Any bytes after Parquet's magic as a consumers file: ingest never panics and rows are
//! conserved.
#![no_main]

use libfuzzer_sys::fuzz_target;
use micromarket::consumer::{IngestOptions, Source, ingest};

fuzz_target!(|data: &[u8]| {
    let mut bytes = b"PAR1".to_vec();
    bytes.extend_from_slice(data.strip_prefix(b"PAR1").unwrap_or(data));
    let source = Source::Bytes {
        name: "fuzz.parquet".into(),
        data: bytes.into(),
    };
    if let Ok(got) = ingest(&source, &IngestOptions::default()) {
        assert_eq!(got.rows.read, got.rows.accepted + got.rows.rejected);
        assert_eq!(got.rows.accepted as usize, got.table.len());
    }
});
