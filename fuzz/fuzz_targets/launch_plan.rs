//! Any text as a launch plan over the tiny fixture's files: validation returns a plan or the
//! problems found, never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use micromarket::batch::Plan;
use std::path::Path;

fuzz_target!(|text: &str| {
    let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/tiny");
    if let Ok(plan) = Plan::parse("fuzz.toml", text, &base, None) {
        assert!(!plan.launches.is_empty());
    }
});
