//! Any bytes as a consumers file: ingest never panics and rows are conserved.
#![no_main]

use libfuzzer_sys::fuzz_target;
use micromarket::consumer::{IngestOptions, Source, ingest};

fuzz_target!(|data: &[u8]| {
    let source = Source::Bytes {
        name: "fuzz.csv".into(),
        data: data.to_vec().into(),
    };
    let options = IngestOptions {
        block_bytes: 1 << 10,
        ..IngestOptions::default()
    };
    if let Ok(got) = ingest(&source, &options) {
        assert_eq!(got.rows.read, got.rows.accepted + got.rows.rejected);
        assert_eq!(got.rows.accepted as usize, got.table.len());
    }
});
