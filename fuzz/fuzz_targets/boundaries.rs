//! Any text as a boundary file: loading returns areas or an error, never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use micromarket::boundary::{Boundaries, BoundaryOptions, BoundaryText};

fuzz_target!(|text: &str| {
    let input = BoundaryText {
        file: "fuzz.geojson",
        text,
    };
    let _ = Boundaries::load(Some(input), Some(input), &BoundaryOptions::default());
});
