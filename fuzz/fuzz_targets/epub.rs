#![no_main]
//! The epub extractor on arbitrary bytes (see ../targets.rs).

#[path = "../targets.rs"]
mod targets;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    // Parser panics are caught and reported as a failed file in production;
    // only what escapes that (stack overflow, abort, OOM, hang) is a finding.
    static QUIET: std::sync::Once = std::sync::Once::new();
    QUIET.call_once(|| std::panic::set_hook(Box::new(|_| {})));
    targets::run("epub", data);
});
