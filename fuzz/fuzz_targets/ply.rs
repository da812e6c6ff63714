//! PLY: ascii and binary of both byte orders (the format line picks one).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(init: pointlime_fuzz::tolerate_caught_decoder_panics(), |data: &[u8]| {
    pointlime_fuzz::ply(data);
});
