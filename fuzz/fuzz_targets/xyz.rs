//! ASCII point files (XYZ, TXT, PTS).
#![no_main]

use libfuzzer_sys::fuzz_target;
use pointlime::cloud::FileFormat;

fuzz_target!(|data: &[u8]| {
    pointlime_fuzz::read(data, FileFormat::Xyz);
});
