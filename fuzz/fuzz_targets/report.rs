//! The JSON report the viewer opens (an `explain` report or a `batch` file's JSON).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    pointlime_fuzz::report(data);
});
