//! LIME against classifiers whose answer is known (captum's and lime's testing style).

use pointlime::classifier::Output;
use pointlime::cloud::Frame;
use pointlime::explain::{Attribution, Config, LimeConfig, Targets};
use pointlime::perturb::Removal;
use pointlime::pipeline::{explain_cloud, ExplainConfig};
use pointlime::segment::Granularity;

use crate::common::{assert_batch_and_thread_invariant, blobs, lime_on, settings, Additive};

const K: usize = 8;
const WEIGHTS: [f64; K] = [0.20, -0.05, 0.10, 0.0, 0.15, -0.10, 0.05, 0.12];

/// Model-frame points and blob labels for K blobs, with the classifier that scores them.
fn setup(points_per_blob: usize) -> (Vec<[f32; 3]>, Vec<u32>, Additive) {
    let (cloud, centres) = blobs(K, points_per_blob, 3.0, 1);
    let frame = Frame {
        center: [0.0; 3],
        scale: 1.0,
        scan_up: Default::default(),
        model_up: Default::default(),
    };
    let points: Vec<[f32; 3]> = cloud.positions.iter().map(|p| frame.to_model(p)).collect();
    let labels: Vec<u32> = (0..points.len())
        .map(|i| (i / points_per_blob) as u32)
        .collect();
    let model = Additive {
        names: vec!["a".into(), "b".into()],
        centres: centres.iter().map(|c| frame.to_model(c)).collect(),
        radius: 1.0,
        weights: WEIGHTS.to_vec(),
        bias: 0.3,
        points: points.len(),
    };
    (points, labels, model)
}

#[test]
fn lime_recovers_the_coefficients_of_an_additive_classifier() {
    let (points, labels, model) = setup(16);
    let config = settings(|c| c.n_samples = 2000);
    let r = lime_on(
        &model,
        &points,
        &labels,
        K,
        &Targets::Classes(vec![0]),
        &config,
    )
    .unwrap();
    let e = &r.explanations[0];
    let err = e
        .coefficients
        .iter()
        .zip(WEIGHTS)
        .map(|(c, w)| (c - w).abs())
        .fold(0.0, f64::max);
    // Ridge alpha 1 shrinks by about 1 / (1 + Σw·var) — under 1% here.
    assert!(
        err < 0.003,
        "max coefficient error {err}: {:?}",
        e.coefficients
    );
    assert!(
        (e.intercept.unwrap() - 0.3).abs() < 0.01,
        "intercept {:?}",
        e.intercept
    );
    assert!(e.r2.unwrap() > 0.999, "R² {:?}", e.r2);
    assert!((e.local_prediction.unwrap() - e.model_score).abs() < 0.01);
    // The complementary class gets the negated coefficients.
    let r1 = lime_on(
        &model,
        &points,
        &labels,
        K,
        &Targets::Classes(vec![1]),
        &config,
    )
    .unwrap();
    for (a, b) in r1.explanations[0].coefficients.iter().zip(&e.coefficients) {
        assert!((a + b).abs() < 1e-6);
    }
}

#[test]
fn a_planted_informative_segment_ranks_first() {
    let (points, labels, mut model) = setup(16);
    model.weights = vec![0.0; K];
    model.weights[5] = 0.4;
    let r = lime_on(
        &model,
        &points,
        &labels,
        K,
        &Targets::Classes(vec![0]),
        &Config::default(),
    )
    .unwrap();
    assert_eq!(r.explanations[0].ranking()[0], 5);
}

#[test]
fn results_do_not_depend_on_batch_size_or_thread_count() {
    let (points, labels, model) = setup(16);
    let run = |batch_size: usize| {
        let config = settings(|c| {
            c.n_samples = 300;
            c.scoring.batch_size = batch_size;
        });
        lime_on(&model, &points, &labels, K, &Targets::Top(2), &config).unwrap()
    };
    assert_batch_and_thread_invariant("additive classifier", run);
}

#[test]
fn same_seed_same_result_other_seed_other_masks() {
    let (points, labels, model) = setup(16);
    let run = |seed| {
        let config = settings(|c| {
            c.n_samples = 200;
            c.seed = seed;
        });
        lime_on(&model, &points, &labels, K, &Targets::Predicted, &config).unwrap()
    };
    let (a, b) = (run(3), run(3));
    assert_eq!((a.explanations, a.samples), (b.explanations, b.samples));
    let masks = |seed| run(seed).samples.unwrap().masks;
    assert_ne!(masks(3), masks(4));
}

#[test]
fn top_labels_explain_several_classes_from_the_same_samples() {
    let (points, labels, model) = setup(16);
    let r = lime_on(
        &model,
        &points,
        &labels,
        K,
        &Targets::Top(2),
        &Config::default(),
    )
    .unwrap();
    assert_eq!(r.explanations.len(), 2);
    // Class 0 scores 0.3 + 0.47 = 0.77 with everything kept: it is the most probable.
    assert_eq!(r.explanations[0].target, 0);
    assert_eq!(r.explanations[1].target, 1);
    assert!(lime_on(
        &model,
        &points,
        &labels,
        K,
        &Targets::Classes(vec![7]),
        &Config::default()
    )
    .is_err());
}

#[test]
fn centroid_removal_and_logit_output_run_and_all_dropped_masks_do_not_panic() {
    let (points, labels, model) = setup(4);
    // Keep probability near 0: most masks drop everything.
    for removal in [Removal::Drop, Removal::Centroid] {
        let config = settings(|c| {
            c.n_samples = 50;
            c.update(|l: &mut LimeConfig| l.keep_probability = 0.01)
                .unwrap();
            c.scoring.removal = removal;
            c.scoring.output = Output::Logit;
        });
        let r = lime_on(&model, &points, &labels, K, &Targets::Predicted, &config).unwrap();
        assert!(r.explanations[0].coefficients.iter().all(|c| c.is_finite()));
    }
}

/// "yes" when blob 3 of `blobs(6, 300, 4.0, _)` is present, whatever the others do. The pipeline
/// normalises to the unit sphere; the classifier is built in that frame.
fn blob_three_classifier(cloud: &pointlime::cloud::PointCloud, centres: &[[f64; 3]]) -> Additive {
    let frame = Frame::fit(
        &cloud.positions,
        pointlime::cloud::Normalisation::UnitSphere,
    );
    Additive {
        names: vec!["yes".into(), "no".into()],
        centres: centres.iter().map(|c| frame.to_model(c)).collect(),
        radius: 0.6 / frame.scale as f32 * 1.5,
        weights: vec![0.0, 0.0, 0.0, 0.5, 0.0, 0.0],
        bias: 0.2,
        points: 512,
    }
}

#[test]
fn end_to_end_explanation_finds_the_informative_blob_and_maps_back_to_every_point() {
    let (cloud, centres) = blobs(6, 300, 4.0, 2);
    let model = blob_three_classifier(&cloud, &centres);
    let mut config = ExplainConfig::default();
    config.segments.target = Granularity::Count(6);
    config.explainer.n_samples = 400;
    let explained = explain_cloud(
        &cloud,
        "blobs.xyz".as_ref(),
        &model,
        "additive",
        &config.seeded(),
        0,
        None,
    )
    .unwrap();
    let report = &explained.report;
    assert_eq!(report.segments.len(), 6);
    let top = report.explanations[0].ranking()[0];
    let c = report.segments[top].centroid;
    assert!(
        (c[0] - centres[3][0]).abs() < 0.5,
        "top segment centred at {c:?}"
    );
    // Every original point (1800), not only the 512 sampled, gets an importance.
    let annotated = explained.annotate(cloud.clone());
    let imp = annotated.attribute("importance").unwrap();
    assert_eq!(imp.values.len(), cloud.len());
    let in_blob3 = (3 * 300..4 * 300)
        .map(|i| imp.values[i])
        .collect::<Vec<_>>();
    assert!(in_blob3.iter().all(|&v| v == in_blob3[0] && v > 0.4));
}

#[test]
fn auto_samples_doubles_until_the_top_five_settle_and_respects_the_cap() {
    let (points, labels, model) = setup(16);
    let run = |n_samples, auto_samples_max| {
        let config = settings(|c| {
            c.n_samples = n_samples;
            c.update(|l: &mut LimeConfig| l.auto_samples_max = auto_samples_max)
                .unwrap();
        });
        lime_on(
            &model,
            &points,
            &labels,
            K,
            &Targets::Classes(vec![0]),
            &config,
        )
        .unwrap()
    };
    let auto = run(100, Some(6400));
    let used = auto.explanations[0].n_samples;
    assert!([200, 400, 800, 1600, 3200, 6400].contains(&used), "{used}");
    // The same masks as a fixed run of that size: one seeded stream, prefixes of each other.
    assert_eq!(auto.explanations, run(used, None).explanations);
    // The cost counts every attempt (100, 200, …, used samples).
    assert_eq!(
        auto.cost.clouds_evaluated as usize,
        (used / 100 * 2 - 1) * 100
    );
    // Settled: the previous size's top five are the same.
    let top5 = |r: &Attribution| r.explanations[0].ranking()[..5].to_vec();
    assert_eq!(top5(&run(used / 2, None)), top5(&auto));
    // The cap holds even when the ranking never settles that fast.
    assert_eq!(run(100, Some(150)).explanations[0].n_samples, 150);
    let bad = settings(|c| {
        c.n_samples = 1000;
        c.update(|l: &mut LimeConfig| l.auto_samples_max = Some(500))
            .unwrap();
    });
    assert!(lime_on(&model, &points, &labels, K, &Targets::Predicted, &bad).is_err());
}

/// Issue #14, item 2: a scan's up axis is turned onto the model's before the network sees it.
/// The classifier says "tall" when its input is longer along z than across; the scan is a
/// column along y, as plant scans stand.
#[test]
fn the_scans_up_axis_is_turned_onto_the_models() {
    use pointlime::classifier::{Classifier, Output};
    use pointlime::cloud::{Axis, FileFormat, PointCloud};
    use pointlime::pipeline::{explain_cloud, ExplainConfig};
    struct Tall(Vec<String>, Axis);
    impl Classifier for Tall {
        fn class_names(&self) -> &[String] {
            &self.0
        }
        fn input_points(&self) -> usize {
            64
        }
        fn up(&self) -> Axis {
            self.1
        }
        fn predict(&self, clouds: &[&[[f32; 3]]], _: Output) -> pointlime::Result<Vec<f32>> {
            let up = self.1.index();
            Ok(clouds
                .iter()
                .flat_map(|c| {
                    let extent = |a: usize| {
                        let (lo, hi) = c
                            .iter()
                            .fold((f32::MAX, f32::MIN), |(l, h), p| (l.min(p[a]), h.max(p[a])));
                        hi - lo
                    };
                    let across = (0..3).filter(|&a| a != up).map(extent).fold(0.0, f32::max);
                    let tall = (extent(up) > 2.0 * across) as u8 as f32;
                    [0.1 + 0.8 * tall, 0.9 - 0.8 * tall]
                })
                .collect())
        }
    }
    let column: Vec<[f64; 3]> = (0..200)
        .map(|i| [(i % 3) as f64 * 0.1, i as f64 * 0.05, (i % 5) as f64 * 0.1])
        .collect();
    let names = vec!["tall".to_string(), "flat".to_string()];
    let explain = |format, up, model_up| {
        let cloud = PointCloud::from_positions(column.clone(), format);
        let mut config = ExplainConfig {
            up,
            ..Default::default()
        };
        config.method = pointlime::explain::occlusion::OCCLUSION;
        config.segments.target = pointlime::segment::Granularity::Count(4);
        explain_cloud(
            &cloud,
            "column".as_ref(),
            &Tall(names.clone(), model_up),
            "tall",
            &config.seeded(),
            0,
            None,
        )
        .unwrap()
        .report
    };
    // Told that y is up, the column stands on the model's z.
    let r = explain(FileFormat::Xyz, Some(Axis::Y), Axis::Z);
    assert_eq!(r.predicted_name, "tall");
    assert_eq!((r.frame.scan_up, r.frame.model_up), (Axis::Y, Axis::Z));
    // Not told, a text scan is taken to stand like the model's training data: here z, so the
    // column lies down; a model trained with y up sees it standing.
    assert_eq!(
        explain(FileFormat::Xyz, None, Axis::Z).predicted_name,
        "flat"
    );
    let r = explain(FileFormat::Xyz, None, Axis::Y);
    assert_eq!(
        (r.predicted_name.as_str(), r.frame.scan_up),
        ("tall", Axis::Y)
    );
    // LAS is z up by convention, whatever the model.
    let r = explain(FileFormat::Las, None, Axis::Y);
    assert_eq!(
        (r.predicted_name.as_str(), r.frame.scan_up),
        ("flat", Axis::Z)
    );
}

/// Issue #14, item 5: on a "plant" whose classifier looks only at the stem (blob 3), the stem gets
/// all the positive importance, many times its share of points, and LIME over supervoxels and
/// over organs agree that the stem comes first.
#[test]
fn organ_check_finds_the_organ_the_classifier_looks_at() {
    use pointlime::cloud::{Attribute, ScalarKind};
    use pointlime::faithfulness::organs::check_organs;
    let (mut cloud, centres) = blobs(6, 300, 4.0, 2);
    // Organ ids: blob 3 is the stem (2), the others leaves 3, 5, 7, 9, 11.
    let organ: Vec<f64> = (0..cloud.len())
        .map(|i| match i / 300 {
            3 => 2.0,
            b => 3.0 + 2.0 * b as f64,
        })
        .collect();
    cloud.attributes.push(Attribute {
        name: "label".into(),
        kind: ScalarKind::U8,
        values: organ,
    });
    let model = blob_three_classifier(&cloud, &centres);
    let mut config = ExplainConfig::default();
    config.segments.target = Granularity::Count(12);
    config.explainer.n_samples = 400;
    let check = |stem: f64| {
        check_organs(
            &cloud,
            "plant.txt".as_ref(),
            "yes",
            &model,
            &config.clone().seeded(),
            "label",
            stem,
        )
    };
    let c = check(2.0).unwrap();
    assert_eq!(c.organs, 6);
    assert!((c.stem_points - 1.0 / 6.0).abs() < 1e-12);
    assert!(c.stem_importance.unwrap() > 0.9, "{c:?}");
    assert!(
        c.stem_enrichment.unwrap() > 5.0 && c.leaf_enrichment.unwrap() < 0.2,
        "{c:?}"
    );
    assert!(
        c.top_organ_agrees && c.top_organ_is_stem && c.top_organ == 2.0,
        "{c:?}"
    );
    // Called a leaf the stem, the same explanation puts almost nothing on it.
    let leaf = check(3.0).unwrap();
    assert!(
        leaf.stem_importance.unwrap() < 0.1 && !leaf.top_organ_is_stem,
        "{leaf:?}"
    );
    // The library names no file; the caller that read it names it once (#28 item 5).
    let e = check(4.0).unwrap_err();
    assert!(matches!(e, pointlime::Error::Scan(_)), "{e:?}");
    let e = e.in_file("plant.txt").to_string();
    assert!(
        e.starts_with("plant.txt: no point has the stem's value 4")
            && e.matches("plant.txt").count() == 1,
        "{e}"
    );
}

/// Issue #28: reports carry their format's version; a report without one (written before it
/// existed) reads as version 1, and one of a later version is refused in one line.
#[test]
fn reports_carry_a_schema_version_that_readers_check() {
    use pointlime::pipeline::{Report, REPORT_SCHEMA_VERSION};
    let (cloud, centres) = blobs(6, 100, 4.0, 3);
    let model = blob_three_classifier(&cloud, &centres);
    let mut config = ExplainConfig::default();
    config.segments.target = Granularity::Count(6);
    config.explainer.n_samples = 50;
    let report = explain_cloud(
        &cloud,
        "b.xyz".as_ref(),
        &model,
        "m",
        &config.seeded(),
        0,
        None,
    )
    .unwrap()
    .report;
    let mut json: serde_json::Value = serde_json::to_value(&report).unwrap();
    assert_eq!(json["schema_version"], REPORT_SCHEMA_VERSION);
    let path = std::path::Path::new("r.json");
    json.as_object_mut().unwrap().remove("schema_version");
    let old = Report::from_json(&json.to_string(), path).unwrap();
    assert_eq!(old.schema_version, 1);
    json["schema_version"] = REPORT_SCHEMA_VERSION.into();
    let new = Report::from_json(&json.to_string(), path).unwrap();
    assert_eq!(
        old,
        Report {
            schema_version: 1,
            ..new
        }
    );
    json["schema_version"] = (REPORT_SCHEMA_VERSION + 1).into();
    let err = Report::from_json(&json.to_string(), path)
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("r.json: ") && err.contains("newer pointlime"),
        "{err}"
    );
    // Inside a batch file too.
    let batch = serde_json::json!({ "report": json }).to_string();
    assert!(Report::from_json(&batch, path).is_err());
}

/// Issue #28, item 3: a per-point model plugs in beside the per-cloud classifiers. A toy
/// segmentation model calls a point "high" by its own height, more surely when the cloud holds a
/// context blob (3 ≤ x < 6); read through [`Region`] as the classifier of the points it calls
/// high, the unchanged LIME finds that context blob, and not an unrelated one, behind the call.
#[test]
fn a_per_point_model_is_explained_through_its_region() {
    use pointlime::classifier::{Classifier, PerPoint, Region};

    struct Toy(Vec<String>);
    impl PerPoint for Toy {
        fn predict_points(&self, clouds: &[&[[f32; 3]]], _: Output) -> pointlime::Result<Vec<f32>> {
            Ok(clouds
                .iter()
                .flat_map(|c| {
                    // A maximum over points, as PointNet's: whether any context point is there.
                    let context = if c.iter().any(|p| (3.0..6.0).contains(&p[0])) {
                        1.0
                    } else {
                        0.0
                    };
                    c.iter().flat_map(move |p| {
                        let high = if p[2] > 0.5 { 0.3 + 0.6 * context } else { 0.1 };
                        [high, 1.0 - high]
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
            96
        }
        fn predict(&self, clouds: &[&[[f32; 3]]], output: Output) -> pointlime::Result<Vec<f32>> {
            // As a classifier of the whole cloud: the mean over all its points.
            let all: Vec<[f32; 3]> = clouds.iter().flat_map(|c| c.iter().copied()).collect();
            Region::new(self, &all).unwrap().predict(clouds, output)
        }
        fn per_point(&self) -> Option<&dyn PerPoint> {
            Some(self)
        }
    }

    // Three blobs of 32 points: the region (high, at x = 0), the context (x = 4), another (x = 8,
    // low, irrelevant).
    let mut points = Vec::new();
    let mut labels = Vec::new();
    for (blob, centre) in [[0.0f32, 0.0, 1.0], [4.0, 0.0, 0.0], [8.0, 0.0, 0.0]]
        .iter()
        .enumerate()
    {
        for i in 0..32 {
            let t = i as f32 * 0.19;
            points.push([
                centre[0] + 0.2 * t.cos(),
                centre[1] + 0.2 * t.sin(),
                centre[2] + 0.01 * i as f32,
            ]);
            labels.push(blob as u32);
        }
    }
    let toy = Toy(vec!["high".into(), "low".into()]);
    let region: Vec<[f32; 3]> = points[..32].to_vec();
    let model = Region::new(&toy, &region).unwrap();
    // The region's score is its own points' mean, not the cloud's.
    let whole = toy.predict(&[&points], Output::Probability).unwrap();
    let of_region = model.predict(&[&points], Output::Probability).unwrap();
    assert!((of_region[0] - 0.9).abs() < 1e-6, "{of_region:?}");
    assert!(whole[0] < of_region[0]);
    // A cloud without the region scores 0.
    assert_eq!(
        model
            .predict(&[&points[32..]], Output::Probability)
            .unwrap(),
        [0.0, 0.0]
    );

    let config = settings(|c| {
        c.n_samples = 300;
        c.seed = 5;
    });
    let a = lime_on(
        &model,
        &points,
        &labels,
        3,
        &Targets::Classes(vec![0]),
        &config,
    )
    .unwrap();
    let v = &a.explanations[0].coefficients;
    assert!(
        v[1] > 0.1 && v[1] > 5.0 * v[2].abs(),
        "the context, not the other blob: {v:?}"
    );
    assert!(
        Region::new(&model, &region).is_none(),
        "a region is no per-point model"
    );
}

/// Issue #28, item 2: reports written by the last version 1 binary (`data/reports-v1/`, see its
/// README) read through the one legacy reader as the reports this build writes for the same
/// scans and settings, timings aside; their settings, given back to `--config`, reproduce the run.
#[test]
fn version_1_reports_read_as_the_reports_written_now() {
    use pointlime::model::{Backend, PointNetClassifier};
    use pointlime::pipeline::{legacy, Report, REPORT_SCHEMA_VERSION};
    let model = PointNetClassifier::load_builtin(Backend::Flex).unwrap();
    let dir = std::path::Path::new("data/reports-v1");
    // What a run measured of itself (seconds, peak memory, the runtime's name, recorded since
    // version 1) is left out; what it computed is compared. So is the competence: it is the
    // model's statistics', recorded again since (issue #32, the eleven-number shape).
    let without_timings = |r: &Report| {
        let mut v = serde_json::to_value(r).unwrap();
        v.as_object_mut().unwrap().remove("timings");
        v.as_object_mut().unwrap().remove("competence");
        let cost = v["cost"].as_object_mut().unwrap();
        cost.remove("runtime");
        cost.remove("peak_memory_bytes");
        for l in v["levels"].as_array_mut().into_iter().flatten() {
            l.as_object_mut().unwrap().remove("seconds");
        }
        v
    };
    let mut seen = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let raw: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert!(raw.get("schema_version").is_none() || raw["schema_version"] == 1);
        assert!(
            raw["settings"].get("lime").is_some(),
            "{}: not version 1",
            path.display()
        );
        let old = Report::from_json(&text, &path).unwrap();
        let config = legacy::read_settings(raw["settings"].clone()).unwrap();
        assert_eq!(config, old.settings);
        let input = std::path::PathBuf::from(&old.input);
        let cloud = pointlime::io::read(&input).unwrap();
        let now = explain_cloud(&cloud, &input, &model, &old.model, &config, 0, None).unwrap();
        assert_eq!(now.report.schema_version, REPORT_SCHEMA_VERSION);
        let settings = serde_json::to_value(&now.report.settings).unwrap();
        assert!(settings.get("lime").is_none() && settings["explainer"]["methods"].is_object());
        let mut old_v = without_timings(&old);
        old_v["schema_version"] = REPORT_SCHEMA_VERSION.into();
        // Through text on both sides: serde_json's parsing of floats can be one unit in the last
        // place off, the same for both.
        let now_text = serde_json::to_string(&now.report).unwrap();
        let now = Report::from_json(&now_text, &path).unwrap();
        // Written on another CPU (see data/reports-v1/README.md): numbers agree to f32 rounding.
        crate::common::assert_json_close(
            &without_timings(&now),
            &old_v,
            1e-5,
            &path.display().to_string(),
        );
        seen.push(old.settings.method.name());
    }
    seen.sort();
    // The payloads of both kinds (a tree, sufficient sets) and a method's own settings are among them.
    assert_eq!(seen, ["ballocclusion", "lime", "lime", "sag"]);
}
