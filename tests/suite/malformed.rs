//! Every malformed input gives its specific error, never a panic.

use std::path::Path;

use pointlime::cloud::PointCloud;
use pointlime::io;
use pointlime::Error;

use crate::common::tempdir;

fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn message(r: Result<PointCloud, Error>) -> String {
    r.expect_err("should fail").to_string()
}

#[test]
fn malformed_files_give_specific_errors() {
    let d = tempdir();
    let d = d.path();
    let cases: Vec<(&str, &[u8], &str)> = vec![
        ("empty.ply", b"", "not a PLY file: it is empty"),
        ("garbage.ply", b"hello world\n", "not a PLY file"),
        ("short.ply", b"ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\nproperty float y\nproperty float z\nend_header\n0 0 0\n1 1 1\n", "element 'vertex'"),
        ("short_bin.ply", b"ply\nformat binary_little_endian 1.0\nelement vertex 1000\nproperty float x\nproperty float y\nproperty float z\nend_header\n\0\0\0\0", "element 'vertex'"),
        ("badnum.ply", b"ply\nformat ascii 1.0\nelement vertex 1\nproperty float x\nend_header\nabc\n", "element 'vertex'"),
        ("bad.xyz", b"1 2 3\n4 five 6\n", "line 2: expected a number, found \"five\""),
        ("cols.xyz", b"1 2 3\n4 5 6 7\n", "line 2: expected 3 columns"),
        ("two.xyz", b"1 2\n", "line 1: expected at least 3 columns"),
        ("binary.xyz", b"\xff\xfe\x00\x01\x02", "not text"),
        ("empty.las", b"", "not a valid LAS/LAZ file"),
        ("garbage.las", b"LASFxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "not a valid LAS/LAZ file"),
        ("scan.e57", b"whatever", "unsupported file extension"),
    ];
    for (name, bytes, want) in cases {
        let p = write(d, name, bytes);
        let msg = message(io::read(&p));
        assert!(
            msg.contains(want),
            "{name}: {msg:?} should contain {want:?}"
        );
        assert!(msg.contains(name), "{name}: {msg:?} should name the file");
        assert!(!msg.contains('\n'), "{name}: one line, got {msg:?}");
    }
}

#[test]
fn a_las_header_claiming_more_points_than_the_file_holds_fails_fast() {
    let d = tempdir();
    let p = d.path().join("ok.las");
    let cloud = PointCloud::from_positions(
        (0..10).map(|i| [i as f64, 0.0, 0.0]).collect(),
        pointlime::cloud::FileFormat::Las,
    );
    io::write(&p, &cloud, Default::default()).unwrap();
    let mut bytes = std::fs::read(&p).unwrap();
    // LAS 1.4: legacy count at byte 107 (u32) and 64-bit count at byte 247.
    bytes[107..111].copy_from_slice(&4_000_000_000u32.to_le_bytes());
    bytes[247..255].copy_from_slice(&4_000_000_000u64.to_le_bytes());
    let bad = write(d.path(), "liar.las", &bytes);
    let unlimited = io::ReadOptions {
        max_points: usize::MAX,
        ..Default::default()
    };
    let msg = message(io::read_with(&bad, unlimited));
    assert!(
        msg.contains("header claims 4000000000 points but the file holds at most 10"),
        "{msg}"
    );
    // Truncated: the header is honest but the payload is cut.
    let cut = write(
        d.path(),
        "cut.las",
        &std::fs::read(&p).unwrap()[..bytes.len() - 25],
    );
    assert!(message(io::read(&cut)).contains("header claims 10 points"));
}

#[test]
fn invalid_and_tiny_clouds_are_rejected_by_validation() {
    let path = Path::new("x.xyz");
    let mut c = PointCloud::from_positions(
        vec![
            [0.0, 0.0, 0.0],
            [f64::NAN, 0.0, 0.0],
            [1.0, f64::INFINITY, 0.0],
            [1.0, 1.0, 1.0],
        ],
        pointlime::cloud::FileFormat::Xyz,
    );
    let msg = c.clone().validate(path, false).unwrap_err().to_string();
    assert!(
        msg.contains("2 of 4 points have NaN or infinite coordinates"),
        "{msg}"
    );
    assert_eq!(c.validate(path, true).unwrap(), 2);
    assert_eq!(c.len(), 2);
    for n in [0, 1] {
        let mut tiny =
            PointCloud::from_positions(vec![[0.0; 3]; n], pointlime::cloud::FileFormat::Xyz);
        let msg = tiny.validate(path, false).unwrap_err().to_string();
        assert!(
            msg.contains(&format!("the cloud has {n} point(s)")),
            "{msg}"
        );
    }
}
