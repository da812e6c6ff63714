//! Issue #19: resource limits, faults while writing, interrupted and concurrent batch runs, corrupt
//! models, and error messages a person can act on.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use pointlime::cloud::{FileFormat, LasLayout, LasRecord, PointCloud};
use pointlime::io::{self, ReadOptions};

use crate::common::{bin, blobs, tempdir, tiny_model};

const POLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/samples/pole.ply");

/// The rule every error message follows: one line, naming the file, no library debug formatting.
fn assert_actionable(message: &str, file: &Path) {
    assert!(!message.contains('\n'), "several lines: {message:?}");
    assert!(
        message.contains(&*file.to_string_lossy()),
        "does not name {}: {message:?}",
        file.display()
    );
    for debug in ["Custom {", "kind: ", "Error {", "Os {", "panicked"] {
        assert!(!message.contains(debug), "debug formatting: {message:?}");
    }
}

fn read_err(path: &Path, options: ReadOptions) -> String {
    let e = io::read_with(path, options).expect_err("should fail");
    let m = e.to_string();
    assert_actionable(&m, path);
    m
}

fn unlimited() -> ReadOptions {
    ReadOptions {
        max_points: usize::MAX,
        ..Default::default()
    }
}

fn las_file(dir: &Path, name: &str, evlr: bool) -> PathBuf {
    let mut cloud = PointCloud::from_positions(
        (0..10).map(|i| [i as f64, 0.0, 0.0]).collect(),
        FileFormat::Las,
    );
    if evlr {
        cloud.source.las = Some(LasLayout {
            version: (1, 4),
            point_format: 6,
            scale: [0.001; 3],
            offset: [0.0; 3],
            vlrs: Vec::new(),
            evlrs: vec![LasRecord {
                user_id: "pointlime".into(),
                record_id: 1,
                description: "test".into(),
                data: vec![7; 100],
            }],
        });
    }
    let p = dir.join(name);
    io::write(&p, &cloud, Default::default()).unwrap();
    p
}

fn patch(path: &Path, at: usize, bytes: &[u8]) {
    let mut data = std::fs::read(path).unwrap();
    data[at..at + bytes.len()].copy_from_slice(bytes);
    std::fs::write(path, data).unwrap();
}

fn u64_at(path: &Path, at: usize) -> u64 {
    let data = std::fs::read(path).unwrap();
    u64::from_le_bytes(data[at..at + 8].try_into().unwrap())
}

/// Item 2: memory follows the file, never a count a header claims, and `max_points` is checked
/// against the header before anything is read.
#[test]
fn header_claims_are_checked_before_any_allocation() {
    let d = tempdir();
    let d = d.path();

    // A LAS 1.4 header claiming 10^12 points.
    let liar = las_file(d, "liar.las", false);
    patch(&liar, 247, &1_000_000_000_000u64.to_le_bytes());
    let m = read_err(&liar, ReadOptions::default());
    assert!(
        m.contains("the header declares 1000000000000 points, more than the limit of 50000000"),
        "{m}"
    );
    let m = read_err(&liar, unlimited());
    assert!(m.contains("the file holds at most 10"), "{m}");

    // A LAZ whose chunk table declares 2^32 - 1 chunks (laz would reserve 64 GiB for them), and
    // one whose chunk-table offset points past the end.
    let laz = d.join("chunks.laz");
    io::write(
        &laz,
        &io::read(&las_file(d, "plain.las", false)).unwrap(),
        Default::default(),
    )
    .unwrap();
    let offset = u32::from_le_bytes(std::fs::read(&laz).unwrap()[96..100].try_into().unwrap());
    let table = u64_at(&laz, offset as usize) as usize;
    let good = std::fs::read(&laz).unwrap();
    patch(&laz, table + 4, &u32::MAX.to_le_bytes());
    let m = read_err(&laz, ReadOptions::default());
    assert!(
        m.contains("chunk table declares 4294967295 chunks for 10 points"),
        "{m}"
    );
    std::fs::write(&laz, &good).unwrap();
    patch(&laz, offset as usize, &(1u64 << 40).to_le_bytes());
    read_err(&laz, ReadOptions::default());

    // A layered LAZ (point format 6) whose first chunk declares a layer of 4 GB: laz would zero
    // that much before reading it. The chunk: 30 bytes of first point, a count, 9 layer sizes.
    let layered = d.join("layered.laz");
    let mut cloud = io::read(&las_file(d, "six.las", true)).unwrap();
    cloud.source.las.as_mut().unwrap().evlrs.clear();
    io::write(&layered, &cloud, Default::default()).unwrap();
    assert!(io::read(&layered).is_ok());
    let offset = u32::from_le_bytes(
        std::fs::read(&layered).unwrap()[96..100]
            .try_into()
            .unwrap(),
    );
    patch(
        &layered,
        offset as usize + 8 + 30 + 4 + 4,
        &0xFFFF_FFF0u32.to_le_bytes(),
    );
    let m = read_err(&layered, ReadOptions::default());
    assert!(m.contains("declares a layer of 4294967280 bytes"), "{m}");

    // An extended VLR whose 64-bit length says 2^40 bytes (las would allocate them).
    let evlr = las_file(d, "evlr.las", true);
    let start = u64_at(&evlr, 235) as usize;
    patch(&evlr, start + 20, &(1u64 << 40).to_le_bytes());
    let m = read_err(&evlr, ReadOptions::default());
    assert!(
        m.contains("extended VLR 1") && m.contains("declares 1099511627776 bytes"),
        "{m}"
    );

    // A PLY element count of 2^40, in a vertex element and in an element of rows that take no
    // bytes (ply-rs would loop over them forever).
    let ply = d.join("count.ply");
    let header = "ply\nformat binary_little_endian 1.0\nelement vertex 1099511627776\nproperty float x\nproperty float y\nproperty float z\nend_header\n";
    std::fs::write(&ply, [header.as_bytes(), &[0u8; 24]].concat()).unwrap();
    let m = read_err(&ply, ReadOptions::default());
    assert!(
        m.contains("the header declares 1099511627776 points, more than the limit"),
        "{m}"
    );
    let m = read_err(&ply, unlimited());
    assert!(
        m.contains("the header declares 1099511627776 rows, more than the 24 bytes"),
        "{m}"
    );
    let empty_rows = d.join("empty_rows.ply");
    let header = "ply\nformat ascii 1.0\nelement nothing 1099511627776\nelement vertex 1\nproperty float x\nproperty float y\nproperty float z\nend_header\n0 0 0\n";
    std::fs::write(&empty_rows, header).unwrap();
    let m = read_err(&empty_rows, unlimited());
    assert!(m.contains("element 'nothing'"), "{m}");

    // A text line of 2 MB without a newline, and more points than the limit.
    let long = d.join("long.xyz");
    std::fs::write(&long, vec![b'1'; 2 << 20]).unwrap();
    let m = read_err(&long, ReadOptions::default());
    assert!(m.contains("line 1: longer than 1048576 bytes"), "{m}");
    let many = d.join("many.xyz");
    std::fs::write(&many, "0 0 0\n".repeat(11)).unwrap();
    let m = read_err(
        &many,
        ReadOptions {
            max_points: 10,
            ..Default::default()
        },
    );
    assert!(
        m.contains("line 11 holds point 11, more than the limit of 10 points"),
        "{m}"
    );
    assert!(io::read_with(
        &many,
        ReadOptions {
            max_points: 11,
            ..Default::default()
        }
    )
    .is_ok());

    // The CLI's guard.
    let out = bin()
        .args(["info", many.to_str().unwrap(), "--max-points", "5"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("raise it with --max-points"), "{stderr}");
}

/// Item 6: each malformed file's message says where it went wrong (line for text and ascii PLY,
/// row and byte for binary PLY), in words.
#[test]
fn messages_say_where_and_what_in_words() {
    let d = tempdir();
    let d = d.path();
    let cases: &[(&str, &[u8], &str)] = &[
        // The example of the issue: ply-rs said `Line 1: Couln't read element line. String: ''
        // Error: Custom { kind: InvalidInput, … }`.
        (
            "short.ply",
            b"ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\nproperty float y\nproperty float z\nend_header\n0 0 0\n1 1 1\n",
            "element 'vertex': the header declares 3 rows, more than the 12 bytes after the header can hold",
        ),
        (
            "shorter.ply",
            b"ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\nproperty float y\nproperty float z\nend_header\n0.000 0.000 0.000\n1.000 1.000 1.000\n",
            "element 'vertex': the file ends after 2 of the 3 rows the header declares",
        ),
        (
            "word.ply",
            b"ply\nformat ascii 1.0\nelement vertex 2\nproperty float x\nproperty float y\nproperty float z\nend_header\n0 0 0\n1 abc 1\n",
            "line 9 (element 'vertex', row 2 of 2): property 'y' is a number, found \"abc\"",
        ),
        (
            "few.ply",
            b"ply\nformat ascii 1.0\nelement vertex 1\nproperty float x\nproperty float y\nproperty float z\nend_header\n0.0 0.0\n",
            "line 8 (element 'vertex', row 1 of 1): expected a value for property 'z', but the line ends after 2 values",
        ),
        (
            "uchar.ply",
            b"ply\nformat ascii 1.0\nelement vertex 1\nproperty float x\nproperty float y\nproperty float z\nproperty uchar red\nend_header\n0 0 0 300\n",
            "property 'red' is an integer from 0 to 255, found \"300\"",
        ),
        (
            // A face list that declares 3 indices and has 1: the rows before the vertices are
            // read to reach them. The header is 166 bytes, the first face 13.
            "cut.ply",
            b"ply\nformat binary_big_endian 1.0\nelement face 2\nproperty list uchar int vertex_indices\nelement vertex 1\nproperty float x\nproperty float y\nproperty float z\nend_header\n\x03\0\0\0\0\0\0\0\x01\0\0\0\x02\x03\0\0\0\0",
            "element 'face', row 2 of 2 (byte 179): the file ends inside the row",
        ),
        (
            "header.ply",
            b"ply\nformat ascii 1.0\nelemnt vertex 1\nend_header\n",
            "header line 3: not a PLY header line: \"elemnt vertex 1\"",
        ),
        ("hello.ply", b"hello\n", "not a PLY file: it starts with \"hello\", not \"ply\""),
        (
            "noend.ply",
            b"ply\nformat ascii 1.0\nelement vertex 1\n",
            "the header ends at line 4 without end_header",
        ),
        (
            "list.ply",
            b"ply\nformat binary_little_endian 1.0\nelement vertex 1\nproperty list float float x\nend_header\n",
            "list property 'x' has a floating-point length type",
        ),
        ("word.xyz", b"1 2 3\n4 5 six\n", "line 2: expected a number, found \"six\""),
    ];
    for (name, bytes, want) in cases {
        let p = d.join(name);
        std::fs::write(&p, bytes).unwrap();
        let m = read_err(&p, ReadOptions::default());
        assert!(m.contains(want), "{name}: {m:?} should contain {want:?}");
    }
}

/// Item 6, over every file that must be rejected: the conformance corpora's invalid files and the
/// inputs that once crashed the fuzz targets.
#[test]
fn every_rejected_file_of_the_corpora_gets_an_actionable_message() {
    let mut files: Vec<PathBuf> = Vec::new();
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions");
    for (target, ext) in [("ply", "ply"), ("las", "laz"), ("xyz", "xyz")] {
        let dir = fuzz.join(target);
        let d = tempdir();
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            // The regression inputs have no extension; give each its target's.
            let p = d
                .path()
                .join(format!("{}.{ext}", entry.file_name().to_string_lossy()));
            std::fs::copy(entry.path(), &p).unwrap();
            files.push(p);
        }
        std::mem::forget(d);
    }
    if let Some(data) = crate::real_data::data_dir() {
        for sub in ["ply_conformance", "las_conformance"] {
            for e in walk(&data.join(sub)) {
                files.push(e);
            }
        }
    }
    let mut rejected = 0;
    for f in &files {
        if io::format_of(f).is_err() {
            continue;
        }
        let start = Instant::now();
        let result = io::read(f);
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{}: took {:?}",
            f.display(),
            start.elapsed()
        );
        if let Err(e) = result {
            rejected += 1;
            assert_actionable(&e.to_string(), f);
        }
    }
    eprintln!(
        "{} files read, {rejected} rejected, every message actionable",
        files.len()
    );
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out.sort();
    out
}

/// A tmpfs mounted for a test (root only), unmounted when dropped.
struct Mount(PathBuf);

impl Mount {
    /// Mounts a tmpfs with `options` at `dir`; `None` (the test then skips) where mounting is not
    /// allowed, unless `POINTLIME_REQUIRE_FAULTS` is set (as in CI, which runs as root).
    fn tmpfs(dir: &Path, options: &str) -> Option<Mount> {
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", options, "tmpfs"])
            .arg(dir)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return Some(Mount(dir.to_path_buf()));
        }
        assert!(
            std::env::var_os("POINTLIME_REQUIRE_FAULTS").is_none(),
            "cannot mount a tmpfs (root is needed) but POINTLIME_REQUIRE_FAULTS is set"
        );
        eprintln!("skipped: mounting a tmpfs needs root");
        None
    }
}

/// A new directory `name` under `parent` with a tmpfs mounted on it (see [`Mount::tmpfs`]).
fn mounted(parent: &Path, name: &str, options: &str) -> Option<(PathBuf, Mount)> {
    let dir = parent.join(name);
    std::fs::create_dir(&dir).unwrap();
    Mount::tmpfs(&dir, options).map(|m| (dir, m))
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// `pointlime explain` of the pole sample, cheaply, into `out`.
fn explain_cmd(out: &Path, model: Option<&Path>) -> Command {
    let mut cmd = bin();
    let args = [
        "explain",
        POLE,
        "--samples",
        "50",
        "--segments",
        "10",
        "--out",
    ];
    cmd.args(args).arg(out);
    if let Some(m) = model {
        cmd.arg("--model").arg(m);
    }
    cmd
}

fn explain_into(out: &Path, model: Option<&Path>) -> Output {
    explain_cmd(out, model).output().unwrap()
}

fn assert_fails_cleanly(out: &Output, names: &Path, what: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line: {stderr}");
    assert!(lines[0].starts_with("error: "), "{stderr}");
    assert!(lines[0].contains(what), "{stderr} should say {what:?}");
    assert_actionable(lines[0], names);
}

fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = walk(dir)
        .iter()
        .map(|p| p.strip_prefix(dir).unwrap().display().to_string())
        .collect();
    names.sort();
    names
}

/// Item 3: a full disk and a read-only directory fail with one line and leave nothing behind.
#[test]
fn a_full_disk_or_a_read_only_directory_leaves_no_file() {
    let d = tempdir();
    let model = d.path().join("model");
    tiny_model(&model);

    if let Some((full, _m)) = mounted(d.path(), "full", "size=8k") {
        let target = full.join("pole.explained.ply");
        let out = explain_into(&target, Some(&model));
        assert_fails_cleanly(&out, &target, "No space left on device");
        assert_eq!(listing(&full), Vec::<String>::new());
    }

    // A batch into a full disk, LAZ out (las's writer fails at close there, and used to panic
    // while dropping): every scan fails with the disk's error, no partial file, no panic.
    let input = d.path().join("scans");
    std::fs::create_dir_all(&input).unwrap();
    let scan = io::read(Path::new(POLE)).unwrap();
    for i in 0..3 {
        io::write(&input.join(format!("s{i}.laz")), &scan, Default::default()).unwrap();
    }
    // The disk fills at a different point of the run for each size: inside a scan, at its close,
    // in a JSON or in the summary.
    for kib in [8, 16, 24, 32, 40, 48] {
        let Some((full, _m)) = mounted(d.path(), &format!("full-{kib}"), &format!("size={kib}k"))
        else {
            break;
        };
        let out = batch(&input, &full, &model, &[]).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("internal error"), "{kib} KiB: {stderr}");
        assert!(
            stderr.contains("No space left on device"),
            "{kib} KiB: {stderr}"
        );
        assert_ne!(out.status.code(), Some(0), "{stderr}");
        assert_eq!(leftovers(&full), Vec::<String>::new());
        for p in walk(&full) {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            if name.ends_with(".laz") {
                io::read(&p).unwrap_or_else(|e| panic!("a partial {name}: {e}"));
            }
        }
    }

    if let Some((ro, _m)) = mounted(d.path(), "ro", "ro,size=1m") {
        let target = ro.join("pole.explained.ply");
        let out = explain_into(&target, Some(&model));
        assert_fails_cleanly(&out, &target, "Read-only file system");
        assert_eq!(listing(&ro), Vec::<String>::new());
    }
}

fn batch_input(dir: &Path, n: usize) -> PathBuf {
    let input = dir.join("in");
    std::fs::create_dir_all(&input).unwrap();
    for i in 0..n {
        std::fs::copy(POLE, input.join(format!("scan{i:02}.ply"))).unwrap();
    }
    input
}

fn batch(input: &Path, out: &Path, model: &Path, extra: &[&str]) -> Command {
    let mut cmd = bin();
    cmd.arg("batch")
        .arg(input)
        .arg("--out")
        .arg(out)
        .arg("--model")
        .arg(model)
        .args([
            "--samples",
            "200",
            "--segments",
            "20",
            "--jobs",
            "1",
            "--threads",
            "1",
        ])
        .args(extra);
    cmd
}

/// Every file under `out` with a final name is complete: JSON parses, scans read whole.
fn assert_outputs_complete(out: &Path) -> usize {
    let mut done = 0;
    for p in walk(out) {
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        if name.ends_with(".ply.json") {
            let text = std::fs::read_to_string(&p).unwrap();
            assert!(
                pointlime::batch::record_of_output(&text).is_some(),
                "{name} is not a complete output"
            );
            done += 1;
        } else if name.ends_with(".explained.ply") {
            let cloud = io::read(&p).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(cloud.len(), 750, "{name}");
        }
    }
    done
}

fn leftovers(out: &Path) -> Vec<String> {
    listing(out)
        .into_iter()
        .filter(|n| n.rsplit('/').next().unwrap().starts_with(".pointlime-") && n.contains(".tmp"))
        .collect()
}

fn wait_for_outputs(out: &Path, at_least: usize, child: &mut std::process::Child) {
    let start = Instant::now();
    loop {
        let n = listing(out)
            .iter()
            .filter(|n| n.ends_with(".ply.json"))
            .count();
        if n >= at_least {
            return;
        }
        assert!(child.try_wait().unwrap().is_none(), "the batch ended early");
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "no output after 120 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn signal(child: &std::process::Child, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
}

/// Item 3: SIGKILL and SIGTERM in the middle of a batch: no partial file under a final name, the
/// next run removes what the killed one left and resumes without loss.
#[test]
fn a_killed_or_terminated_batch_resumes_without_loss() {
    let d = tempdir();
    let model = d.path().join("model");
    tiny_model(&model);
    let input = batch_input(d.path(), 12);

    for sig in ["-KILL", "-TERM"] {
        let out = d.path().join(format!("out{sig}"));
        let mut child = batch(&input, &out, &model, &[])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        wait_for_outputs(&out, 2, &mut child);
        signal(&child, sig);
        let ended = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&ended.stderr);
        if sig == "-TERM" {
            // Stopped as by Ctrl-C: the scan in flight finished, the summary lists what is done.
            assert_eq!(ended.status.code(), Some(130), "{stderr}");
            assert!(stderr.contains("run again with --resume"), "{stderr}");
            assert_eq!(leftovers(&out), Vec::<String>::new());
            let summary = std::fs::read_to_string(out.join("summary.jsonl")).unwrap();
            assert_eq!(summary.lines().count(), assert_outputs_complete(&out));
        }
        let before = assert_outputs_complete(&out);
        assert!((2..12).contains(&before), "{sig}: {before} done");
        // What a kill can leave: a hidden temporary file. Plant one deeper too.
        std::fs::write(out.join(".pointlime-AbC123.tmp"), b"partial").unwrap();
        std::fs::create_dir_all(out.join("sub")).unwrap();
        std::fs::write(out.join("sub/.pointlime-XyZ789.tmp.ply"), b"partial").unwrap();
        let left = leftovers(&out).len();
        assert!(left >= 2, "{left}");

        let again = batch(&input, &out, &model, &["--resume"]).output().unwrap();
        let stderr = String::from_utf8_lossy(&again.stderr);
        let stdout = String::from_utf8_lossy(&again.stdout);
        assert!(again.status.success(), "{stderr}");
        assert!(
            stderr.contains(&format!("removed {left} temporary file(s)")),
            "{stderr}"
        );
        assert!(
            stdout.contains(&format!(
                "12 scans: 12 ok, 0 failed, 0 skipped, {before} already done"
            )),
            "{stdout}"
        );
        assert_eq!(assert_outputs_complete(&out), 12);
        assert_eq!(leftovers(&out), Vec::<String>::new());
    }
}

/// Item 3: a second batch run on the same output directory is refused while the first runs.
#[test]
fn two_batch_runs_cannot_share_an_output_directory() {
    let d = tempdir();
    let model = d.path().join("model");
    tiny_model(&model);
    let input = batch_input(d.path(), 2);
    let out = d.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let refused = |extra: &[&str], what: &str| {
        let second = batch(&input, &out, &model, extra).output().unwrap();
        let stderr = String::from_utf8_lossy(&second.stderr);
        assert_eq!(second.status.code(), Some(2), "{extra:?}: {stderr}");
        assert!(stderr.contains(what), "{extra:?}: {stderr}");
        assert!(
            stderr.starts_with(&format!("error: {}: ", out.display())),
            "{stderr}"
        );
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
    };
    let held = pointlime::batch::lock_output(&out, None).unwrap();
    refused(&[], "another pointlime batch is writing to this directory");
    refused(
        &["--shard", "0/2"],
        "a pointlime batch without --shard is writing",
    );
    drop(held);
    // The shards of one array share the directory; the same shard twice does not.
    let shard = "0/2".parse().unwrap();
    let held = pointlime::batch::lock_output(&out, Some(shard)).unwrap();
    assert!(batch(&input, &out, &model, &["--shard", "1/2"])
        .status()
        .unwrap()
        .success());
    refused(
        &["--shard", "0/2"],
        "another pointlime batch with --shard 0/2",
    );
    refused(&[], "another pointlime batch is writing");
    drop(held);
    assert!(batch(&input, &out, &model, &[]).status().unwrap().success());
}

/// Item 3: a scan that vanished between listing and reading fails alone, with its name.
#[test]
fn a_vanished_input_fails_alone() {
    use pointlime::batch::{self, Job, Status};
    let d = tempdir();
    let input = d.path().join("in");
    std::fs::create_dir_all(&input).unwrap();
    let cloud = blobs(3, 60, 2.0, 1).0;
    for name in ["a.ply", "b.ply"] {
        io::write(&input.join(name), &cloud, Default::default()).unwrap();
    }
    let files = batch::discover(&input, None).unwrap();
    std::fs::remove_file(input.join("a.ply")).unwrap();
    let model = crate::common::Additive {
        names: vec!["x".into(), "y".into()],
        centres: Vec::new(),
        radius: 0.1,
        weights: Vec::new(),
        bias: 0.5,
        points: 64,
    };
    let mut config = pointlime::pipeline::ExplainConfig::default();
    config.explainer.n_samples = 20;
    config.segments.target = pointlime::segment::Granularity::Count(4);
    let out = d.path().join("out");
    let job = Job {
        input_root: &input,
        out_root: &out,
        classifier: &model,
        model_name: "fixed",
        config: &config,
        explain: true,
        write: Default::default(),
        read: Default::default(),
        strict: false,
    };
    let stop = std::sync::atomic::AtomicBool::new(false);
    let outcome = batch::run(&job, &files, 1, false, &stop, &|_, _| {});
    assert_eq!(outcome.records.len(), 2);
    let (a, b) = (&outcome.records[0], &outcome.records[1]);
    assert_eq!(a.status, Status::Failed);
    let e = a.error.as_deref().unwrap();
    assert!(e.contains("a.ply") && e.contains("No such file"), "{e}");
    assert_eq!(b.status, Status::Ok);
}

/// Item 5: corrupt models fail in one line naming the file, exit 2, write nothing, never panic.
#[test]
fn corrupt_models_fail_in_one_line() {
    let d = tempdir();
    let good = d.path().join("good");
    tiny_model(&good);
    let weights = std::fs::read(good.join("weights.bpk")).unwrap();
    let config = std::fs::read_to_string(good.join("config.json")).unwrap();
    let mut n = 0;
    let mut case = |name: &str, config: &str, weights: &[u8], file: &str, what: &str| {
        n += 1;
        let dir = d.path().join(format!("m{n}"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("config.json"), config).unwrap();
        std::fs::write(dir.join("weights.bpk"), weights).unwrap();
        let target = d.path().join(format!("out{n}.ply"));
        let out = explain_into(&target, Some(&dir));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!target.exists(), "{name}: an output was written");
        assert!(!stderr.contains("internal error"), "{name}: {stderr}");
        assert_fails_cleanly(&out, &dir.join(file), what);
    };
    let without_crc = {
        let mut v: serde_json::Value = serde_json::from_str(&config).unwrap();
        v.as_object_mut().unwrap().remove("weights_crc32");
        v.to_string()
    };
    for cut in [0, 16, weights.len() / 2, weights.len() - 1] {
        case(
            "truncated",
            &config,
            &weights[..cut],
            "weights.bpk",
            "corrupt",
        );
        // Without the checksum, burn itself must fail cleanly on the truncation.
        case(
            "truncated, no crc",
            &without_crc,
            &weights[..cut],
            "weights.bpk",
            "",
        );
    }
    for at in [3, weights.len() / 3, weights.len() - 5] {
        let mut flipped = weights.clone();
        flipped[at] ^= 0x40;
        case("bit flip", &config, &flipped, "weights.bpk", "CRC-32");
    }
    let widths = config.replace(
        "\"point_layers\": [\n      16,\n      32\n    ]",
        "\"point_layers\": [\n      16,\n      33\n    ]",
    );
    assert_ne!(
        widths, config,
        "the tiny model's config changed shape: update this test"
    );
    case(
        "other widths",
        &widths,
        &weights,
        "weights.bpk",
        "do not match config.json",
    );
    let classes = config.replace("\"tree\"", "\"tree\", \"bush\"");
    case(
        "class list",
        &classes,
        &weights,
        "config.json",
        "3 class names for 2 outputs",
    );
    let huge = config.replace("\"num_points\": 128", "\"num_points\": 1000000000000");
    assert_ne!(huge, config);
    case(
        "num_points",
        &huge,
        &weights,
        "config.json",
        "above the limit",
    );
    case(
        "not json",
        "{\"network\": ",
        &weights,
        "config.json",
        "cannot read model config",
    );
}

/// Item 4: `explain … | head -1` ends quietly.
#[test]
fn explain_into_a_closed_pipe_ends_quietly() {
    let d = tempdir();
    let model = d.path().join("model");
    tiny_model(&model);
    let mut child = explain_cmd(&d.path().join("x.ply"), Some(&model))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{:?}: {stderr}", out.status);
    assert!(!stderr.contains("error"), "{stderr}");
}

/// Issue #28: `explain` killed while it writes leaves its temporary file, and the next run into
/// the same directory removes it (the writer is a dead process of this machine). The kill comes
/// when the temporary file is seen, while a large ASCII PLY is being written.
#[test]
fn a_killed_explain_leaves_a_temporary_file_that_the_next_run_removes() {
    let d = tempdir();
    let model = d.path().join("model");
    tiny_model(&model);
    let out = d.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let mut caught = false;
    for n in [300_000usize, 1_200_000] {
        let scan = d.path().join(format!("big{n}.ply"));
        let cloud = PointCloud::from_positions(
            (0..n)
                .map(|i| {
                    [
                        (i % 1000) as f64 * 0.01,
                        (i / 1000 % 1000) as f64 * 0.01,
                        (i % 7) as f64,
                    ]
                })
                .collect(),
            FileFormat::Ply,
        );
        io::write(&scan, &cloud, Default::default()).unwrap();
        let mut child = bin()
            .arg("explain")
            .arg(&scan)
            .args(["--samples", "10", "--segments", "10", "--ascii", "--model"])
            .arg(&model)
            .arg("--out")
            .arg(out.join("big.explained.ply"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // No sleep: the window is the write of the output, a fraction of a second.
        while leftovers(&out).is_empty() && child.try_wait().unwrap().is_none() {}
        if child.try_wait().unwrap().is_none() {
            signal(&child, "-KILL");
            child.wait().unwrap();
            caught = true;
            break;
        }
        // The write ended before it was seen: try a larger scan.
        std::fs::remove_dir_all(&out).unwrap();
        std::fs::create_dir(&out).unwrap();
    }
    assert!(caught, "the write was never seen in progress");
    // The scan's temporary file, and the report's if the kill came that late (both are renamed
    // into place together, at the end).
    assert!(!leftovers(&out).is_empty(), "{:?}", listing(&out));
    let again = explain_into(&out.join("pole.explained.ply"), Some(&model));
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert_eq!(leftovers(&out), Vec::<String>::new(), "{:?}", listing(&out));
}
