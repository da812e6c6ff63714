//! Write → read round trips: every attribute survives, plus the new `importance`/`segment` fields;
//! one scene written in every encoding loads equal (ripgrep's one-corpus-many-encodings idea).

use pointlime::cloud::{Attribute, FileFormat, LasLayout, PointCloud, ScalarKind, Source};
use pointlime::io::{self, WriteOptions};

use crate::common::tempdir;

fn scene() -> PointCloud {
    let positions: Vec<[f64; 3]> = (0..257)
        .map(|i| {
            let t = i as f64;
            [
                481_000.0 + t * 0.013,
                4_390_000.0 + (t * 0.7).sin(),
                120.0 + t * 0.001,
            ]
        })
        .collect();
    let n = positions.len();
    let attr = |name: &str, kind, f: &dyn Fn(usize) -> f64| Attribute {
        name: name.into(),
        kind,
        values: (0..n).map(f).collect(),
    };
    PointCloud {
        positions,
        attributes: vec![
            attr("red", ScalarKind::U8, &|i| (i % 256) as f64),
            attr("confidence", ScalarKind::F32, &|i| (i as f32 / 7.0) as f64),
            attr("label", ScalarKind::I16, &|i| i as f64 - 100.0),
            attr("importance", ScalarKind::F32, &|i| {
                (i as f32 * 0.01 - 1.0) as f64
            }),
            attr("segment", ScalarKind::U32, &|i| (i / 10) as f64),
        ],
        source: Source {
            format: FileFormat::Ply,
            detail: String::new(),
            las: None,
        },
    }
}

fn assert_same(a: &PointCloud, b: &PointCloud, tol: f64) {
    assert_eq!(a.len(), b.len());
    for (p, q) in a.positions.iter().zip(&b.positions) {
        for k in 0..3 {
            assert!((p[k] - q[k]).abs() <= tol, "{p:?} vs {q:?}");
        }
    }
    for attr in &a.attributes {
        let other = b
            .attribute(&attr.name)
            .unwrap_or_else(|| panic!("lost attribute {}", attr.name));
        assert_eq!(other.values, attr.values, "attribute {}", attr.name);
    }
}

#[test]
fn ply_binary_and_ascii_round_trip_every_attribute() {
    let dir = tempdir();
    let cloud = scene();
    for ascii in [false, true] {
        let path = dir.path().join(format!("scene_{ascii}.ply"));
        io::write(&path, &cloud, WriteOptions { ascii }).unwrap();
        let back = io::read(&path).unwrap();
        assert_same(&cloud, &back, 0.0);
        assert_eq!(back.attribute("segment").unwrap().kind, ScalarKind::U32);
        assert_eq!(back.attribute("importance").unwrap().kind, ScalarKind::F32);
    }
}

#[test]
fn las_and_laz_round_trip_extra_bytes_and_standard_fields() {
    let dir = tempdir();
    let cloud = scene();
    for ext in ["las", "laz"] {
        let path = dir.path().join(format!("scene.{ext}"));
        io::write(&path, &cloud, WriteOptions::default()).unwrap();
        let back = io::read(&path).unwrap();
        // Millimetre grid of the default layout.
        assert_same(&cloud, &back, 0.0005);
        assert_eq!(back.attribute("importance").unwrap().kind, ScalarKind::F32);
        assert_eq!(back.attribute("segment").unwrap().kind, ScalarKind::U32);
        assert!(back
            .source
            .detail
            .starts_with(if ext == "las" { "LAS 1.4" } else { "LAZ 1.4" }));
    }

    // A LAS source keeps its point format, transforms and standard fields.
    let mut las_cloud = scene();
    las_cloud.attributes.retain(|a| a.name != "red");
    let n = las_cloud.len();
    for (name, kind, f) in [
        (
            "intensity",
            ScalarKind::U16,
            (|i: usize| (i * 100) as f64) as fn(usize) -> f64,
        ),
        ("classification", ScalarKind::U8, |i| (i % 7) as f64),
        ("return_number", ScalarKind::U8, |i| (i % 3 + 1) as f64),
        ("number_of_returns", ScalarKind::U8, |_| 3.0),
        ("gps_time", ScalarKind::F64, |i| 1000.5 + i as f64),
        ("red", ScalarKind::U16, |i| (i * 200) as f64),
        ("green", ScalarKind::U16, |i| (i * 100) as f64),
        ("blue", ScalarKind::U16, |i| (i * 50) as f64),
    ] {
        las_cloud.attributes.push(Attribute {
            name: name.into(),
            kind,
            values: (0..n).map(f).collect(),
        });
    }
    las_cloud.source = Source {
        format: FileFormat::Las,
        detail: String::new(),
        las: Some(LasLayout {
            version: (1, 2),
            point_format: 3,
            scale: [0.01, 0.01, 0.001],
            offset: [481_000.0, 4_390_000.0, 0.0],
            vlrs: vec![],
            evlrs: vec![],
        }),
    };
    let path = dir.path().join("fmt3.las");
    io::write(&path, &las_cloud, WriteOptions::default()).unwrap();
    let back = io::read(&path).unwrap();
    assert_eq!(back.source.las.as_ref().unwrap().point_format, 3);
    assert_eq!(back.source.las.as_ref().unwrap().scale, [0.01, 0.01, 0.001]);
    // Half a centimetre grid step, plus float rounding of the offset arithmetic.
    assert_same(&las_cloud, &back, 0.005 + 1e-6);
}

#[test]
fn one_scene_in_every_encoding_loads_equal() {
    let dir = tempdir();
    let mut cloud = scene();
    // Exactly representable on a millimetre grid and in f32 attributes.
    for p in &mut cloud.positions {
        *p = p.map(|c| (c * 1000.0).round() / 1000.0);
    }
    let mut loaded = Vec::new();
    for name in ["a.ply", "b.ply", "c.las", "d.laz", "e.xyz"] {
        let path = dir.path().join(name);
        io::write(
            &path,
            &cloud,
            WriteOptions {
                ascii: name == "b.ply",
            },
        )
        .unwrap();
        loaded.push(io::read(&path).unwrap());
    }
    for l in &loaded {
        assert_same(&cloud, l, 1e-6);
    }
}

#[test]
fn writes_are_atomic_and_leave_nothing_behind_on_failure() {
    let dir = tempdir();
    let path = dir.path().join("out.las");
    let mut cloud = scene();
    // A coordinate outside the i32 range of the layout's scale makes the las writer fail mid-file.
    cloud.source.las = Some(LasLayout {
        version: (1, 2),
        point_format: 0,
        scale: [1e-9, 1e-9, 1e-9],
        offset: [0.0; 3],
        vlrs: vec![],
        evlrs: vec![],
    });
    assert!(io::write(&path, &cloud, WriteOptions::default()).is_err());
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}
