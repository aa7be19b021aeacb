#![no_main]
//! `history` on arbitrary bytes (see ../targets.rs); any panic is a finding.

#[path = "../targets.rs"]
mod targets;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    targets::run("history", data);
});
