//! LAS and LAZ (the header's point format says which): las-rs and laz-rs behind pointlime's checks.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(init: pointlime_fuzz::tolerate_caught_decoder_panics(), |data: &[u8]| {
    pointlime_fuzz::las(data);
});
