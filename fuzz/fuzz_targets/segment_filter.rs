//! Any text as a filter over a small table: evaluation returns rows or an error, never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use micromarket::consumer::{Attribute, Column, ConsumerTable, MISSING};
use micromarket::segment::Evaluator;

fuzz_target!(|filter: &str| {
    let table = ConsumerTable {
        ids: Vec::new(),
        id_hashes: Vec::new(),
        unread: Vec::new(),
        lat: vec![0.0; 3],
        lng: vec![0.0; 3],
        attributes: vec![
            Attribute {
                name: "gender".into(),
                column: Column::Categorical {
                    codes: vec![0, 1, MISSING],
                    dictionary: vec!["F".into(), "M".into()],
                },
            },
            Attribute {
                name: "age".into(),
                column: Column::Numeric(vec![20.0, f64::NAN, 40.0]),
            },
        ],
    };
    if let Ok(rows) = Evaluator::new(&table).evaluate(filter) {
        assert_eq!(rows.len(), 3);
    }
});
