//! Any text as a segments file over a small table: compiling returns segments or an error,
//! never panics, and every segment has one membership bit per consumer.
#![no_main]

use libfuzzer_sys::fuzz_target;
use micromarket::consumer::{Attribute, Column, ConsumerTable, MISSING};
use micromarket::segment::{SegmentsFile, compile};

fuzz_target!(|text: &str| {
    let Ok(file) = SegmentsFile::parse("fuzz.toml", text) else {
        return;
    };
    let table = ConsumerTable {
        ids: Vec::new(),
        id_hashes: Vec::new(),
        unread: Vec::new(),
        lat: vec![0.0; 4],
        lng: vec![0.0; 4],
        attributes: vec![
            Attribute {
                name: "gender".into(),
                column: Column::Categorical {
                    codes: vec![0, 1, MISSING, 0],
                    dictionary: vec!["F".into(), "M".into()],
                },
            },
            Attribute {
                name: "discipline".into(),
                column: Column::Categorical {
                    codes: vec![0, 1, 2, MISSING],
                    dictionary: vec!["road".into(), "gravel".into(), "Road Race".into()],
                },
            },
            Attribute {
                name: "age".into(),
                column: Column::Numeric(vec![20.0, f64::NAN, 40.0, 33.0]),
            },
        ],
    };
    if let Ok((segments, _)) = compile("fuzz.toml", &file, &table) {
        assert!(segments.iter().all(|s| s.members.len() == 4));
    }
});
