//! What `batch --resume` and `merge` read back: a per-file JSON and a JSON Lines summary.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = pointlime::batch::record_of_output(text);
        let _ = pointlime::batch::parse_summary(text, std::path::Path::new("fuzz.jsonl"));
    }
});
