//! A model directory: `config.json` and `weights.bpk`. The input is the config's text, a NUL byte,
//! then the weights' bytes (the seeds are the shipped models in that form: see ./run).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    pointlime_fuzz::load_model(data);
});
