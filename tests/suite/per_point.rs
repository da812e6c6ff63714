//! Issue #29: per-point models explained region by region, through the pipeline, from an ONNX
//! export of PyTorch's, and from the command line.

use std::path::{Path, PathBuf};

use pointlime::classifier::{Classifier, Output, PerPoint, Region};
use pointlime::cloud::{Attribute, FileFormat, PointCloud, ScalarKind};
use pointlime::onnx::{OnnxClassifier, OnnxConfig, Task};
use pointlime::pipeline::{explain_cloud, explanation_field, ExplainConfig, RegionSpec};
use pointlime::segment::Granularity;

use crate::common::{assert_close, bin, tempdir};

/// A per-point model with a known answer, in the model frame (unit sphere): a point above the
/// middle (z > 0) is "top" with probability 0.2, raised to 0.9 while any point of the cloud lies
/// at x > 0.4 (the context); a point below is "top" with probability 0.1. The context is read as
/// PointNet reads it, through a maximum over points.
struct Toy(Vec<String>);

impl PerPoint for Toy {
    fn predict_points(
        &self,
        clouds: &[&[[f32; 3]]],
        output: Output,
    ) -> pointlime::Result<Vec<f32>> {
        Ok(clouds
            .iter()
            .flat_map(|c| {
                let context = c.iter().any(|p| p[0] > 0.4);
                c.iter().flat_map(move |p| {
                    let top: f32 = match (p[2] > 0.0, context) {
                        (true, true) => 0.9,
                        (true, false) => 0.2,
                        (false, _) => 0.1,
                    };
                    match output {
                        Output::Probability => [top, 1.0 - top],
                        Output::Logit => [top.ln(), (1.0 - top).ln()],
                    }
                })
            })
            .collect())
    }
}

impl Classifier for Toy {
    fn class_names(&self) -> &[String] {
        &self.0
    }
    fn input_points(&self) -> usize {
        256
    }
    fn predict(&self, clouds: &[&[[f32; 3]]], output: Output) -> pointlime::Result<Vec<f32>> {
        let all: Vec<[f32; 3]> = clouds.iter().flat_map(|c| c.iter().copied()).collect();
        Region::new(self, &all).unwrap().predict(clouds, output)
    }
    fn per_point(&self) -> Option<&dyn PerPoint> {
        Some(self)
    }
}

fn toy() -> Toy {
    Toy(vec!["top".into(), "rest".into()])
}

/// Three blobs of 200 points, world coordinates: the top (z = 2), the bottom (z = -2) and the
/// context (x = 4, z = -0.5), which the unit-sphere frame puts at x > 0.4 and z < 0. A `truth` field says which
/// blob each point is in (1, 2, 3) and a `classification` field stands for what a LAS file brings.
fn scene() -> PointCloud {
    let mut positions = Vec::new();
    let mut truth = Vec::new();
    for (blob, c) in [[0.0, 0.0, 2.0], [0.0, 0.0, -2.0], [4.0, 0.0, -0.5]]
        .iter()
        .enumerate()
    {
        for i in 0..200 {
            let t = i as f64 * 0.37;
            let r = 0.3 * ((i % 17) as f64 / 17.0);
            positions.push([
                c[0] + r * t.cos(),
                c[1] + r * t.sin(),
                c[2] + 0.002 * i as f64,
            ]);
            truth.push(blob as f64 + 1.0);
        }
    }
    let mut cloud = PointCloud::from_positions(positions, FileFormat::Xyz);
    cloud.attributes.push(Attribute {
        name: "truth".into(),
        kind: ScalarKind::U8,
        values: truth,
    });
    cloud.attributes.push(Attribute {
        name: "classification".into(),
        kind: ScalarKind::U8,
        values: vec![6.0; 600],
    });
    cloud
}

fn config(change: impl FnOnce(&mut ExplainConfig)) -> ExplainConfig {
    let mut c = ExplainConfig::default();
    c.segments.target = Granularity::Count(9);
    c.explainer.n_samples = 300;
    c.seed = 3;
    change(&mut c);
    c.complete().unwrap();
    c.seeded()
}

/// The segment holding most of the points of blob `b` (1-based), by the report's centroids.
fn segments_of(report: &pointlime::pipeline::Report, centre: [f64; 3]) -> Vec<usize> {
    report
        .segments
        .iter()
        .filter(|s| {
            (0..3)
                .map(|k| (s.centroid[k] - centre[k]).powi(2))
                .sum::<f64>()
                < 1.0
        })
        .map(|s| s.id)
        .collect()
}

/// Item 3: by default each class the model predicts for 1% of the points is a region; the top's
/// explanation puts the context first and (kept whole) gives its own segments nothing; the
/// explained cloud gets `importance_<region>`, `predicted` and its probability, and keeps the
/// scan's own `classification`.
#[test]
fn each_predicted_class_is_a_region_explained_by_its_context() {
    let cloud = scene();
    let explained = explain_cloud(
        &cloud,
        "scene.xyz".as_ref(),
        &toy(),
        "toy",
        &config(|_| {}),
        0,
        None,
    )
    .unwrap();
    let r = &explained.report;
    let specs: Vec<String> = r.regions.iter().map(|g| g.spec.to_string()).collect();
    assert_eq!(specs, ["class=top", "class=rest"]);
    assert_eq!(r.regions[0].target_name, "top");
    assert_eq!(r.regions[1].target_name, "rest");
    // The model sees 256 of 600 points: about a third are the top blob's.
    let top = &r.regions[0];
    assert!((70..=110).contains(&top.points), "{top:?}");
    assert!((r.predicted_shares[0] * 256.0 - top.points as f64).abs() < 1e-9);
    assert!((top.probabilities[0] - 0.9).abs() < 1e-6, "{top:?}");

    let e = &r.explanations[0];
    let context = segments_of(r, [4.0, 0.0, -0.5]);
    let own = segments_of(r, [0.0, 0.0, 2.0]);
    let bottom = segments_of(r, [0.0, 0.0, -2.0]);
    assert!(!context.is_empty() && !own.is_empty() && !bottom.is_empty());
    let sum = |ids: &[usize]| ids.iter().map(|&i| e.coefficients[i]).sum::<f64>();
    // Kept whole, the top's own segments change nothing (exactly so in the next test): only the
    // fit's sampling noise is on them, as on the bottom's.
    assert!(sum(&context) > 0.5, "{:?}", e.coefficients);
    assert!(
        sum(&own).abs() < 0.25 * sum(&context),
        "kept whole: {:?}",
        e.coefficients
    );
    assert!(
        sum(&bottom).abs() < 0.25 * sum(&context),
        "{:?}",
        e.coefficients
    );

    let out = explained.annotate(cloud.clone());
    let field = |name: &str| &out.attribute(name).unwrap().values;
    assert_eq!(explanation_field(r, "importance", 0), "importance_top");
    assert_eq!(explanation_field(r, "importance", 1), "importance_rest");
    assert!(out.attribute("importance").is_none());
    assert_eq!(field("importance_top").len(), 600);
    let predicted = field("predicted");
    assert!(
        predicted[..200].iter().all(|&c| c == 0.0),
        "the top blob is top"
    );
    assert!(predicted[200..].iter().all(|&c| c == 1.0));
    assert!((field("predicted_probability")[0] - 0.9).abs() < 1e-6);
    assert_eq!(field("classification"), &vec![6.0; 600]);
    // The report reads back, regions and all.
    let text = serde_json::to_string(r).unwrap();
    let back = pointlime::pipeline::Report::from_json(&text, Path::new("r.json")).unwrap();
    assert_eq!(back.regions, r.regions);
}

/// Item 3: kept whole (`Region::keeping`), a region scores in a perturbed cloud as in the
/// unperturbed one, whichever removal made it (dropped points refilled by repeats, or moved to
/// the centroid); perturbed with the rest (`Region::new`), it scores over the points that
/// remain, and 0 once none remains.
#[test]
fn a_kept_region_gets_its_points_back_and_a_perturbed_one_loses_them() {
    let toy = toy();
    // The model frame: a top group (z > 0), a bottom group, a context group (x > 0.4).
    let input: Vec<[f32; 3]> = (0..30)
        .map(|i| {
            let t = i as f32 * 0.01;
            match i / 10 {
                0 => [0.0, t, 0.5],
                1 => [0.0, t, -0.5],
                _ => [0.8, t, -0.1],
            }
        })
        .collect();
    let region = &input[..10];
    let whole =
        |m: &Region, cloud: &[[f32; 3]]| m.predict(&[cloud], Output::Probability).unwrap()[0];
    let kept = Region::keeping(&toy, region, &input).unwrap();
    let perturbed = Region::new(&toy, region).unwrap();
    assert!((whole(&kept, &input) - 0.9).abs() < 1e-6);
    // The top and half the context dropped, the cloud refilled by repeating the kept points.
    let kept_points: Vec<[f32; 3]> = input[10..25].to_vec();
    let dropped: Vec<[f32; 3]> = (0..30).map(|i| kept_points[i % 15]).collect();
    assert!((whole(&kept, &dropped) - 0.9).abs() < 1e-6);
    assert_eq!(whole(&perturbed, &dropped), 0.0, "no region point left");
    // The same points moved to the centroid instead.
    let moved: Vec<[f32; 3]> = (0..30)
        .map(|i| {
            if (10..25).contains(&i) {
                input[i]
            } else {
                [0.0; 3]
            }
        })
        .collect();
    assert!((whole(&kept, &moved) - 0.9).abs() < 1e-6);
    // Without the context, the kept region still scores as the model says of it: 0.2.
    let no_context: Vec<[f32; 3]> = (0..30).map(|i| input[10 + i % 10]).collect();
    assert!((whole(&kept, &no_context) - 0.2).abs() < 1e-6);
    // Half the region left: a perturbed region averages over what remains.
    let half: Vec<[f32; 3]> = (0..30).map(|i| input[5 + i % 25]).collect();
    assert!((whole(&perturbed, &half) - 0.9).abs() < 1e-6);
}

/// Items 3 and 10: label, box, sphere and point regions select what they say, each explained for
/// the class the model gives most of its points; one that selects nothing, a label field that
/// is not there, or a region for a model of whole clouds, fails in words.
#[test]
fn regions_by_label_box_sphere_and_point_and_their_errors() {
    let cloud = scene();
    let explain = |regions: &[&str]| {
        explain_cloud(
            &cloud,
            "scene.xyz".as_ref(),
            &toy(),
            "toy",
            &config(|c| {
                c.regions.regions = regions.iter().map(|s| s.parse().unwrap()).collect();
                c.explainer.n_samples = 60;
            }),
            0,
            None,
        )
    };
    let r = explain(&[
        "label=truth:2",
        "box=-1,-1,1,1,1,3",
        "sphere=4,0,-0.5,1",
        "point=5",
        "point=599",
    ])
    .unwrap()
    .report;
    let names: Vec<&str> = r.regions.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(names, ["truth_2", "box", "sphere", "point_5", "point_599"]);
    let targets: Vec<&str> = r.regions.iter().map(|g| g.target_name.as_str()).collect();
    assert_eq!(targets, ["rest", "top", "rest", "top", "rest"]);
    assert_eq!(r.regions[3].points, 1);
    assert!(r.regions[3].stand_in_distance.unwrap() < 0.3);
    assert!(matches!(r.regions[3].spec, RegionSpec::Point(5)));

    let error = |regions: &[&str]| explain(regions).unwrap_err().to_string();
    let e = error(&["box=10,10,10,11,11,11"]);
    assert!(e.contains("selects none of the 256 points"), "{e}");
    let e = error(&["label=leaf:1"]);
    assert!(
        e.contains("no per-point field \"leaf\"") && e.contains("truth"),
        "{e}"
    );
    let e = error(&["point=600"]);
    assert!(e.contains("the scan has 600 points"), "{e}");
    let e = error(&["class=tree"]);
    assert!(e.contains("the model's classes are top, rest"), "{e}");

    let (blobs, _) = crate::common::blobs(3, 100, 3.0, 1);
    let model = pointlime::model::PointNetClassifier::load_builtin(Default::default()).unwrap();
    let e = explain_cloud(
        &blobs,
        "b.xyz".as_ref(),
        &model,
        "",
        &config(|c| c.regions.regions = vec![RegionSpec::Point(0)]),
        0,
        None,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("this model scores whole clouds"), "{e}");
}

/// Item 3: the same seed gives the same region explanations, whatever the thread count.
#[test]
fn region_explanations_do_not_depend_on_threads() {
    let cloud = scene();
    let run = |threads: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| {
                explain_cloud(
                    &cloud,
                    "s".as_ref(),
                    &toy(),
                    "toy",
                    &config(|_| {}),
                    0,
                    None,
                )
                .unwrap()
                .report
                .explanations
            })
    };
    assert_eq!(run(1), run(2));
}

/// The PyTorch segmentation export in `dir`, with a sidecar naming three LiDAR classes.
fn seg_model(dir: &Path) -> PathBuf {
    let model = dir.join("seg.onnx");
    std::fs::copy(fixture("pointnet_seg.onnx"), &model).unwrap();
    std::fs::write(
        dir.join("seg.json"),
        r#"{"class_names": ["ground", "vegetation", "building"], "task": "segment", "num_points": 128}"#,
    )
    .unwrap();
    model
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("data/onnx")
        .join(name)
}

/// Item 1: a PointNet segmentation network exported by PyTorch (`data/onnx/make_fixtures.py`,
/// output `[B, C, N]`) gives, through tract, PyTorch's logits for every point; the whole cloud's
/// score is their mean.
#[test]
fn tract_gives_pytorchs_per_point_logits() {
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("reference.json")).unwrap()).unwrap();
    let want = r["models"]["pointnet_seg"]["logits"].as_array().unwrap();
    for (i, cloud) in r["clouds"].as_array().unwrap().iter().enumerate() {
        let cloud: Vec<[f32; 3]> = cloud
            .as_array()
            .unwrap()
            .iter()
            .map(|p| std::array::from_fn(|k| p[k].as_f64().unwrap() as f32))
            .collect();
        let config = OnnxConfig {
            num_points: cloud.len(),
            task: Task::Segment,
            ..OnnxConfig::default()
        };
        let model = OnnxClassifier::load(&fixture("pointnet_seg.onnx"), config).unwrap();
        assert_eq!(model.class_names().len(), 3);
        let got = model
            .per_point()
            .unwrap()
            .predict_points(&[&cloud], Output::Logit)
            .unwrap();
        let want: Vec<f32> = want[i]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|row| {
                row.as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_f64().unwrap() as f32)
            })
            .collect();
        assert_close(&got, &want, 1e-4, "per-point logits");
        let whole = model.predict(&[&cloud], Output::Logit).unwrap();
        for k in 0..3 {
            let mean = want.iter().skip(k).step_by(3).sum::<f32>() / cloud.len() as f32;
            assert!((whole[k] - mean).abs() < 1e-4, "{whole:?}");
        }
    }
}

/// Item 10: a sidecar that calls a per-cloud export a segmentation one is refused on loading,
/// in one line naming the file; the segmentation export read as a per-cloud one is refused too.
#[test]
fn an_output_that_does_not_match_the_points_is_refused() {
    let seg = OnnxConfig {
        num_points: 64,
        task: Task::Segment,
        ..OnnxConfig::default()
    };
    let e = OnnxClassifier::load(&fixture("pointnet_plain.onnx"), seg)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("pointnet_plain.onnx") && e.contains("a multiple of the point count"),
        "{e}"
    );
    let whole = OnnxConfig {
        num_points: 64,
        class_names: vec!["a".into(), "b".into(), "c".into()],
        ..OnnxConfig::default()
    };
    let e = OnnxClassifier::load(&fixture("pointnet_seg.onnx"), whole)
        .unwrap_err()
        .to_string();
    assert!(e.contains("192 values per cloud for 3 class names"), "{e}");
}

/// Items 3 and 10 from the command line, with the PyTorch segmentation export and its sidecar:
/// `--region` explains and writes the per-region fields; a region that selects nothing, a
/// label field that is missing, and a region with a model of whole clouds each get one line,
/// exit 2, and no output.
#[test]
fn the_command_line_explains_regions_and_refuses_bad_ones() {
    let dir = tempdir();
    let model = seg_model(dir.path());
    let scan = dir.path().join("scene.ply");
    pointlime::io::write(&scan, &scene(), Default::default()).unwrap();
    let explain = |extra: &[&str]| {
        bin()
            .args([
                "explain",
                scan.to_str().unwrap(),
                "--model",
                model.to_str().unwrap(),
            ])
            .args(["--samples", "40", "--segments", "6"])
            .args(extra)
            .output()
            .unwrap()
    };
    let out = explain(&["--region", "label=truth:3", "--point", "7"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("label=truth:3 [importance_truth_3]"),
        "{text}"
    );
    assert!(
        text.contains("point=7 [importance_point_7]: 1 points"),
        "{text}"
    );
    let explained = pointlime::io::read(&dir.path().join("scene.explained.ply")).unwrap();
    for f in [
        "importance_truth_3",
        "importance_point_7",
        "predicted",
        "predicted_probability",
    ] {
        assert!(explained.attribute(f).is_some(), "{f}");
    }
    std::fs::remove_file(dir.path().join("scene.explained.ply")).unwrap();
    std::fs::remove_file(dir.path().join("scene.explained.json")).unwrap();

    let tiny = dir.path().join("tiny");
    crate::common::tiny_model(&tiny);
    for (args, want) in [
        (
            vec!["--region", "box=100,100,100,101,101,101"],
            "selects none of the 128 points",
        ),
        (
            vec!["--region", "label=leaf:1"],
            "no per-point field \"leaf\"",
        ),
    ] {
        let out = explain(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(want), "{err}");
    }
    let out = bin()
        .args([
            "explain",
            scan.to_str().unwrap(),
            "--model",
            tiny.to_str().unwrap(),
        ])
        .args(["--point", "3"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("this model scores whole clouds"), "{err}");
    let mut left: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into())
        .collect();
    left.sort();
    assert_eq!(left, ["scene.ply", "seg.json", "seg.onnx", "tiny"]);
}

/// Item 2: `--labels` scores the model's classes against the scan's own, on the network's input
/// points: a map whose names are the model's, a bare field whose values the model has no class
/// for (an error, one line), and a map that inverts the truth.
#[test]
fn labels_from_the_scan_score_the_models_classes() {
    let cloud = scene();
    let explain = |labels: &str| {
        explain_cloud(
            &cloud,
            "scene.xyz".as_ref(),
            &toy(),
            "toy",
            &config(|c| {
                c.regions.labels = Some(labels.into());
                c.explainer.n_samples = 40;
            }),
            0,
            None,
        )
    };
    let right = explain("truth:top=1;rest=2|3").unwrap().report;
    let s = right.label_scores.as_ref().unwrap();
    assert_eq!(s.points, 256);
    assert_eq!((s.overall_accuracy, s.miou), (1.0, 1.0));
    // Blob 2 called top: blob 1 (predicted top) is rest, blob 2 (predicted rest) is top.
    let wrong = explain("truth:top=2;rest=*").unwrap().report;
    let s = wrong.label_scores.unwrap();
    assert_eq!(s.iou[0], Some(0.0));
    let rest = s.iou[1].unwrap();
    assert!(rest > 0.2 && rest < 0.5, "{s:?}");
    // classification 6 is building, which the toy does not have.
    let e = explain("classification").unwrap_err().to_string();
    assert!(
        e.contains("no point of the network's input has a class"),
        "{e}"
    );
    let e = explain("truth:stem=1;leaf=*").unwrap_err().to_string();
    assert!(e.contains("none of these classes"), "{e}");
}

/// Item 9: a batch over scans gives, per file, each predicted class's share of the points, the
/// mIoU against the scan's labels, and each region's top context segments, in the JSON Lines
/// and the CSV summary.
#[test]
fn a_batch_summarises_each_scan_by_class_shares_miou_and_regions() {
    use pointlime::batch::{run, Job};
    let dir = tempdir();
    let (input, out) = (dir.path().join("in"), dir.path().join("out"));
    std::fs::create_dir_all(&input).unwrap();
    for name in ["a.ply", "b.ply"] {
        pointlime::io::write(&input.join(name), &scene(), Default::default()).unwrap();
    }
    let config = config(|c| {
        c.regions.labels = Some("truth:top=1;rest=*".into());
        c.explainer.n_samples = 40;
    });
    let job = Job {
        input_root: &input,
        out_root: &out,
        classifier: &toy(),
        model_name: "toy",
        config: &config,
        explain: true,
        write: Default::default(),
        read: Default::default(),
        strict: false,
    };
    let files = vec![PathBuf::from("a.ply"), PathBuf::from("b.ply")];
    let stop = std::sync::atomic::AtomicBool::new(false);
    let outcome = run(&job, &files, 2, false, &stop, &|_, _| {});
    assert_eq!(outcome.records.len(), 2);
    for r in &outcome.records {
        assert!(r.error.is_none(), "{r:?}");
        let shares: Vec<&str> = r.class_shares.iter().map(|c| c.class.as_str()).collect();
        assert_eq!(shares, ["rest", "top"], "{r:?}");
        assert!((r.class_shares.iter().map(|c| c.share).sum::<f64>() - 1.0).abs() < 1e-9);
        assert_eq!(r.miou, Some(1.0));
        let regions: Vec<&str> = r.regions.iter().map(|g| g.region.as_str()).collect();
        assert_eq!(regions, ["class=top", "class=rest"]);
        assert!(r.regions.iter().all(|g| g.top_segments.len() == 3));
    }
    pointlime::batch::write_summary(
        &outcome.records,
        &out.join("summary.csv"),
        &out.join("summary.jsonl"),
    )
    .unwrap();
    let csv = std::fs::read_to_string(out.join("summary.csv")).unwrap();
    assert!(
        csv.lines()
            .next()
            .unwrap()
            .ends_with(",error,class_shares,regions,miou"),
        "{csv}"
    );
    assert!(csv.contains("class=top: top,"), "{csv}");
}

/// Item 6: `faithfulness` measures a per-point model region by region: each predicted class of
/// the scan is a region whose score's deletion and insertion curves, randomisation check and
/// pGS-CAM IoU protocol are written; the options that measure whole clouds only are refused in
/// one line.
#[test]
fn faithfulness_measures_a_per_point_model_region_by_region() {
    let dir = tempdir();
    let model = seg_model(dir.path());
    let data = dir.path().join("data");
    std::fs::create_dir_all(data.join("ground")).unwrap();
    pointlime::io::write(&data.join("ground/a.ply"), &scene(), Default::default()).unwrap();
    let manifest = data.join("split.csv");
    std::fs::write(&manifest, "path,class,split\nground/a.ply,ground,test\n").unwrap();
    let run = |extra: &[&str], out: &Path| {
        bin()
            .args(["faithfulness", "--data", manifest.to_str().unwrap()])
            .args([
                "--model",
                model.to_str().unwrap(),
                "--n",
                "1",
                "--rounds",
                "1",
            ])
            .args(["--samples", "100", "--segments", "8"])
            .args(extra)
            .arg("--out")
            .arg(out)
            .output()
            .unwrap()
    };
    let out = dir.path().join("f");
    let o = run(&["--methods", "lime,occlusion"], &out);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("evaluation.json")).unwrap())
            .unwrap();
    let regions = json["regions"].as_array().unwrap();
    assert!(!regions.is_empty());
    for r in regions {
        assert!(r["region"].as_str().unwrap().starts_with("class="), "{r}");
        let methods = r["object"]["methods"].as_array().unwrap();
        assert_eq!(methods.len(), 2);
        assert!(methods[0]["deletion_auc"].is_number());
        // Two methods at two shares of the points.
        let iou = r["iou"].as_array().unwrap();
        assert_eq!(iou.len(), 4, "{r}");
        for c in iou {
            assert!(
                (c["unperturbed"].as_f64().unwrap() - 1.0).abs() < 1e-12,
                "{c}"
            );
            for k in ["drop_top", "drop_bottom"] {
                assert!((0.0..=1.0).contains(&c[k].as_f64().unwrap()), "{c}");
            }
        }
    }
    assert_eq!(json["objects"].as_array().unwrap().len(), regions.len());
    let md = std::fs::read_to_string(out.join("evaluation.md")).unwrap();
    assert!(
        md.contains("pGS-CAM") && md.contains("| lime | 10% |"),
        "{md}"
    );

    let refused = dir.path().join("g");
    let o = run(&["--layer-checks"], &refused);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("labels every point"), "{err}");
    assert!(!refused.exists());
}

/// Item 6: a region's IoU is its points against the points the model gives its class: 1 in the
/// scan as it is (the toy calls the top "top" while the context is there), 0 once the context is
/// gone (the toy then calls the top "rest"), each distinct point counted once.
#[test]
fn a_regions_iou_follows_the_points_the_model_gives_its_class() {
    let toy = toy();
    let cloud: Vec<[f32; 3]> = (0..60)
        .map(|i| {
            let t = i as f32 / 60.0;
            match i % 3 {
                0 => [0.0, t, 0.5],  // top
                1 => [0.0, t, -0.5], // bottom
                _ => [0.8, t, -0.2], // context
            }
        })
        .collect();
    let top: Vec<[f32; 3]> = cloud.iter().copied().filter(|p| p[2] > 0.0).collect();
    let region = Region::keeping(&toy, &top, &cloud).unwrap();
    let without_context: Vec<[f32; 3]> = cloud.iter().copied().filter(|p| p[0] < 0.4).collect();
    let mut repeated = cloud.clone();
    repeated.extend_from_slice(&top);
    let iou = region
        .iou(&[&cloud, &without_context, &repeated], 0)
        .unwrap();
    assert_eq!(iou, [Some(1.0), Some(0.0), Some(1.0)]);
    // "rest" is every point but the top's: no overlap with the region.
    assert_eq!(region.iou(&[&cloud], 1).unwrap(), [Some(0.0)]);
}

/// The toy, trained (say) on windows of `.1` metres of tiles.
struct Windowed(Toy, f64);

impl PerPoint for Windowed {
    fn predict_points(
        &self,
        clouds: &[&[[f32; 3]]],
        output: Output,
    ) -> pointlime::Result<Vec<f32>> {
        self.0.predict_points(clouds, output)
    }
}

impl Classifier for Windowed {
    fn class_names(&self) -> &[String] {
        self.0.class_names()
    }
    fn input_points(&self) -> usize {
        self.0.input_points()
    }
    fn predict(&self, clouds: &[&[[f32; 3]]], output: Output) -> pointlime::Result<Vec<f32>> {
        self.0.predict(clouds, output)
    }
    fn per_point(&self) -> Option<&dyn PerPoint> {
        Some(self)
    }
    fn window(&self) -> Option<f64> {
        Some(self.1)
    }
}

/// Item 7's window rule: a scan wider than the model's window is cut to one window of its size
/// around the located regions (here the scene and a copy of it 100 m away, the window around a
/// point of the copy), recorded as the settings' crop; `point=I` still counts the file's points;
/// class regions are found inside the window; an unlocated or too wide request is refused; a
/// scan that fits one window, or a crop given, is read as asked.
#[test]
fn a_windowed_model_explains_a_wide_scan_in_one_window_around_the_region() {
    let mut cloud = scene();
    let copy = scene();
    cloud
        .positions
        .extend(copy.positions.iter().map(|p| [p[0] + 100.0, p[1], p[2]]));
    for (a, b) in cloud.attributes.iter_mut().zip(&copy.attributes) {
        a.values.extend_from_slice(&b.values);
    }
    let model = Windowed(toy(), 10.0);
    let explain = |cloud: &PointCloud, change: &dyn Fn(&mut ExplainConfig)| {
        explain_cloud(
            cloud,
            "tile.xyz".as_ref(),
            &model,
            "windowed",
            &config(|c| change(c)),
            0,
            None,
        )
    };
    // Point 900 is the copy's 300th: a context point at x ≈ 104, below the middle.
    let asked = cloud.positions[900];
    // The fields travel with the window's points: the labels scored and a label region.
    let r = explain(&cloud, &|c| {
        c.regions.regions = vec![
            RegionSpec::Point(900),
            RegionSpec::Class("top".into()),
            RegionSpec::Label {
                field: "truth".into(),
                value: 2.0,
            },
        ];
        c.regions.labels = Some("truth:top=1;rest=*".into());
    })
    .unwrap()
    .report;
    assert_eq!(
        r.label_scores.as_ref().unwrap().points,
        256,
        "{:?}",
        r.label_scores
    );
    assert_eq!(r.regions[2].target_name, "rest");
    assert_eq!(
        r.scene.cropped, 600,
        "the first copy lies outside the window"
    );
    match r.settings.scene.crop {
        Some(pointlime::scene::Crop::Box { min, max }) => {
            assert!(
                (min[0] - (asked[0] - 5.0)).abs() < 1e-9
                    && (max[1] - (asked[1] + 5.0)).abs() < 1e-9
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(
        r.regions[0].stand_in_distance.unwrap() < 0.5,
        "{:?}",
        r.regions[0]
    );
    assert_eq!(r.regions[0].target_name, "rest");
    assert!(
        (70..=110).contains(&r.regions[1].points),
        "{:?}",
        r.regions[1]
    );

    for (regions, expected) in [
        (vec![], "say where to look"),
        (vec![RegionSpec::Class("top".into())], "say where to look"),
        (vec![RegionSpec::Point(5), RegionSpec::Point(900)], "span"),
        (vec![RegionSpec::Point(5000)], "the scan has 1200 points"),
    ] {
        let err = explain(&cloud, &|c| c.regions.regions = regions.clone()).unwrap_err();
        assert!(err.to_string().contains(expected), "{err}");
    }

    let whole = explain(&scene(), &|_| {}).unwrap().report;
    assert_eq!((whole.settings.scene.crop, whole.scene.cropped), (None, 0));
    let crop: pointlime::scene::Crop = "-1,-1,-3,5,1,3".parse().unwrap();
    let cropped = explain(&cloud, &|c| c.scene.crop = Some(crop))
        .unwrap()
        .report;
    assert_eq!(cropped.settings.scene.crop, Some(crop));
    assert_eq!(cropped.scene.cropped, 600);
}
