//! ASCII point files (XYZ, TXT, PTS).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    pointlime_fuzz::xyz(data);
});
