//! What `batch --resume` and `merge` read back: a per-file JSON and a JSON Lines summary.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    pointlime_fuzz::resume(data);
});
