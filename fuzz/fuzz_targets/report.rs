//! The JSON report the viewer opens (an `explain` report or a `batch` file's JSON).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = pointlime::pipeline::Report::from_json(text, std::path::Path::new("fuzz.json"));
    }
});
