//! What the fuzz targets share: reading with the limits a fuzzer can afford, the rule every error
//! message must follow, and which panics are expected to be caught.

use std::path::Path;

use pointlime::cloud::FileFormat;
use pointlime::io::{read_bytes, ReadOptions};

/// The fuzzer's memory limit is 2 GB (see ./run). Compressed LAZ can legitimately expand without
/// bound (an adaptive arithmetic coder spends a small fraction of a bit on a predictable field),
/// so its memory is bounded by the point limit, not by the input's size: each point costs 24 bytes
/// and 8 per attribute, and a LAS 1.4 file can declare 341 extra-bytes attributes, so 100,000
/// points can take 280 MB.
const MAX_POINTS: usize = 100_000;

/// Reads `data` as `format`: any outcome but a panic, an abort, a hang or an out-of-memory is
/// fine, and an error must be one line that names the file.
pub fn read(data: &[u8], format: FileFormat) {
    let name = Path::new(match format {
        FileFormat::Ply => "fuzz.ply",
        FileFormat::Las => "fuzz.las",
        FileFormat::Laz => "fuzz.laz",
        FileFormat::Xyz => "fuzz.xyz",
    });
    let options = ReadOptions {
        max_points: MAX_POINTS,
        ..Default::default()
    };
    if let Err(e) = read_bytes(data, format, name, options) {
        check_message(&e.to_string(), name);
    }
}

/// One fuzz target: its name and what it does with one input.
pub type Target = (&'static str, fn(&[u8]));

/// What each target does with one input, by the target's name. The targets call these, and the
/// main test suite includes this file to replay every regression and seed through them with the
/// ordinary test build (`tests/suite/fuzz_replay.rs`), so CI needs no instrumented burn for that.
pub const TARGETS: &[Target] = &[
    ("ply", ply),
    ("las", las),
    ("xyz", xyz),
    ("report", report),
    ("resume", resume),
    #[cfg(feature = "model")]
    ("model", load_model),
];

pub fn ply(data: &[u8]) {
    read(data, FileFormat::Ply);
}

/// LAS and LAZ: the header says which.
pub fn las(data: &[u8]) {
    read(data, FileFormat::Laz);
}

pub fn xyz(data: &[u8]) {
    read(data, FileFormat::Xyz);
}

/// The JSON report the viewer opens.
pub fn report(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = pointlime::pipeline::Report::from_json(text, Path::new("fuzz.json"));
    }
}

/// What `batch --resume` and `merge` read back: a per-file JSON and a JSON Lines summary.
pub fn resume(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = pointlime::batch::record_of_output(text);
        let _ = pointlime::batch::parse_summary(text, Path::new("fuzz.jsonl"));
    }
}

/// The rule of issue #19, item 6: one line, naming the file, never a library's debug formatting.
pub fn check_message(message: &str, name: &Path) {
    assert!(
        !message.contains('\n'),
        "a message of several lines: {message:?}"
    );
    assert!(
        message.contains(&*name.to_string_lossy()),
        "a message that does not name the file: {message:?}"
    );
    // What the file said may be quoted in the message (`found "abc"`, with `\"` inside): only
    // the rest is checked.
    let (mut own, mut quoted, mut escaped) = (String::new(), false, false);
    for c in message.chars() {
        if quoted {
            quoted = escaped || c != '"';
            escaped = !escaped && c == '\\';
        } else if c == '"' {
            quoted = true;
        } else {
            own.push(c);
        }
    }
    for debug in ["Custom {", "kind: ", "Error {", "Os {"] {
        assert!(!own.contains(debug), "debug formatting in {message:?}");
    }
}

/// Panics raised inside the crates pointlime deliberately guards (`catch_unwind` in
/// `pointlime::io` for las/laz and ply-rs's header grammar, in model loading for burn) become
/// errors there; libFuzzer's own hook would abort on them before they are caught. Any other panic
/// still aborts: it is a bug.
pub fn tolerate_caught_decoder_panics() {
    let abort = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let file = info.location().map(|l| l.file()).unwrap_or("");
        let guarded = ["/laz-", "/las-", "/ply-rs-", "/burn-"];
        if !guarded.iter().any(|crate_dir| file.contains(crate_dir)) {
            abort(info);
        }
    }));
}

/// Loads a model directory made of `data`: the config's text, a NUL byte, the weights' bytes.
#[cfg(feature = "model")]
pub fn load_model(data: &[u8]) {
    use pointlime::model::{Backend, PointNetClassifier};
    use std::sync::OnceLock;

    static INIT: OnceLock<std::path::PathBuf> = OnceLock::new();
    let dir = INIT.get_or_init(|| {
        tolerate_caught_decoder_panics();
        let dir = std::env::temp_dir().join(format!("pointlime-fuzz-model-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a scratch directory");
        dir
    });
    let split = data.iter().position(|&b| b == 0).unwrap_or(data.len());
    let (config, weights) = (&data[..split], data.get(split + 1..).unwrap_or(&[]));
    std::fs::write(dir.join("config.json"), config).expect("scratch write");
    std::fs::write(dir.join("weights.bpk"), weights).expect("scratch write");
    if let Err(e) = PointNetClassifier::load(dir, Backend::Flex) {
        check_message(&e.to_string(), dir);
    }
}

/// Without the `model` feature there is no model to load.
#[cfg(not(feature = "model"))]
pub fn load_model(_data: &[u8]) {}
