use super::*;
use pointlime::view::ClassView;

fn explained(values: Vec<f32>, segments: Vec<u32>) -> ExplainedScan {
    let n = values.len();
    ExplainedScan {
        path: "x.ply".into(),
        positions: (0..n).map(|i| [i as f32, 0.0, 0.0]).collect(),
        centre: [0.0; 3],
        segments: Some(segments),
        classes: vec![ClassView {
            name: "pole".into(),
            probability: Some(0.9),
            r2: Some(0.5),
            method: Some("lime".into()),
            importance: values,
            point_importance: None,
            coefficients: None,
            structure: None,
            trusted: true,
        }],
        rgb: None,
        intensity: None,
        classification: None,
        predicted: None,
        report: None,
        report_path: None,
    }
}

#[test]
fn colour_modes_follow_the_values() {
    let data = explained(vec![-2.0, 0.0, 1.0, 2.0, f32::NAN], vec![0, 1, 2, 3, 3]);
    let mut style = Style::default();
    let c = colours(&data, &style);
    assert_eq!(c[0], diverging(-1.0));
    assert_eq!(c[1], diverging(0.0));
    assert_eq!(c[2], diverging(0.5));
    assert_eq!(c[3], diverging(1.0));
    assert_eq!(c[4], NO_VALUE);

    style.mode = Mode::TopK;
    style.top_k = 1;
    let c = colours(&data, &style);
    // Segment 3 has the largest value (2.0): only its points keep their colour.
    assert_eq!(c[3], diverging(1.0));
    assert_eq!(&c[..3], &[NO_VALUE; 3]);

    style.mode = Mode::Threshold;
    style.threshold = 0.75;
    let c = colours(&data, &style);
    assert_eq!(c[0], diverging(-1.0));
    assert_eq!(c[2], NO_VALUE);
    assert_eq!(c[3], diverging(1.0));

    style.mode = Mode::Absolute;
    let c = colours(&data, &style);
    assert_eq!(c[0], c[3]);
    assert_eq!(c[1], sequential(0.0));

    style.mode = Mode::Segments;
    let c = colours(&data, &style);
    assert_eq!(c[3], c[4]);
    assert_ne!(c[2], c[3]);
}

#[test]
fn modes_without_data_are_skipped() {
    let data = explained(vec![1.0, 2.0], vec![0, 1]);
    // No rgb, intensity, classification or point values: Segments → TopK.
    assert_eq!(Mode::Segments.next(&data, 0), Mode::TopK);
    assert_eq!(Mode::Threshold.next(&data, 0), Mode::Signed);
    assert!("top-k".parse::<Mode>().is_ok());
    assert!("nope".parse::<Mode>().is_err());
}

#[test]
fn legend_is_symmetric_with_the_largest_value_at_the_ends() {
    let data = explained(vec![-0.02, 0.05, 0.01], vec![0, 1, 2]);
    let l = legend(&data, &Style::default()).unwrap();
    let labels: Vec<&str> = l.ticks.iter().map(|t| t.1.as_str()).collect();
    assert_eq!(labels, ["-0.0500", "-0.0250", "0", "0.0250", "0.0500"]);
    assert_eq!(l.ticks[2].0, 0.5);
    assert_eq!(l.stops.first().unwrap().1, diverging(-1.0));
    assert_eq!(l.stops.last().unwrap().1, diverging(1.0));
    assert!(legend(
        &data,
        &Style {
            mode: Mode::Segments,
            ..Style::default()
        }
    )
    .is_none());
}

#[test]
fn points_the_scene_steps_removed_are_grey_and_in_no_segment() {
    // Two explained points in segments 0 and 1, and a removed point (NaN, NO_SEGMENT).
    let data = explained(vec![1.0, -1.0, f32::NAN], vec![0, 1, NO_SEGMENT]);
    assert_eq!(segment_values(&data, 0), [1.0, -1.0]);
    for mode in [Mode::Signed, Mode::Segments, Mode::Threshold] {
        let c = colours(
            &data,
            &Style {
                mode,
                ..Style::default()
            },
        );
        assert_eq!(c[2], NO_VALUE, "{mode:?}");
        assert_ne!(c[0], NO_VALUE, "{mode:?}");
    }
    assert!(describe_segment(&data, 0, NO_SEGMENT).contains("removed"));
}

#[test]
fn values_are_formatted_with_three_significant_digits() {
    assert_eq!(format_value(0.123_456), "0.123");
    assert_eq!(format_value(-12.345), "-12.3");
    assert_eq!(format_value(1234.0), "1234");
    assert_eq!(format_value(0.000_012_3), "1.23e-5");
    assert_eq!(format_value(0.0), "0");
}

#[test]
fn top_segments_and_descriptions() {
    assert_eq!(top_segments(&[0.1, 0.5, -0.3, 0.5], 2), [1, 3]);
    let data = explained(vec![-2.0, 0.0, 1.0, 2.0, 2.0], vec![0, 1, 2, 3, 3]);
    assert_eq!(
        describe_segment(&data, 0, 3),
        "segment 3: importance 2.00 for pole, rank 1 of 4, 2 points"
    );
}

/// A report explaining "pole" over 4 supervoxels, with the sufficient sets {1} and {2, 3}
/// and one coarser level joining supervoxels {0, 1} and {2, 3}.
fn report_with_sets_and_a_level() -> pointlime::pipeline::Report {
    let structure = r#"{"threshold":0.9,"original_probability":0.8,"empty_probability":0.1,
        "sets":[{"segments":[1],"probability":0.79,"children":[{"removed":1,"probability":0.1}]},
                {"segments":[2,3],"probability":0.75,"children":[
                    {"removed":2,"probability":0.2},{"removed":3,"probability":0.3}]}],
        "evaluations":12,"budget_exhausted":false}"#;
    let json = format!(
        r#"{{"input":"x.ply","model":"m","class_names":["pole","tree"],
        "probabilities":[0.8,0.2],"predicted":0,"predicted_name":"pole","points":5,
        "dropped_invalid":0,"frame":{{"center":[0,0,0],"scale":1}},"settings":{{}},
        "explanations":[{{"method":"sag","target":0,"target_name":"pole",
            "coefficients":[0,0.69,0.55,0.45],"intercept":null,"r2":null,
            "local_prediction":null,"model_score":0.8,"n_samples":12,"seed":1,
            "structure":{structure}}}],
        "segments":[],
        "levels":[{{"level":1,"segments":2,"parent":[0,0,1,1],
            "coefficients":[[0.25,-0.5]],"rank_correlation":[-1.0],"seconds":0.1}}],
        "timings":{{"segmentation":0,"sampling":0,"inference":0,"surrogate_fit":0,"total":0}},
        "cost":{{"scoring":"exact_max_pool","points_evaluated":1,"clouds_evaluated":12}}}}"#
    );
    pointlime::pipeline::Report::from_json(&json, "x.json".as_ref()).unwrap()
}

#[test]
fn a_scan_outside_the_models_domain_is_said_so_in_the_heading() {
    let mut data = explained(vec![0.0, 1.0], vec![0, 1]);
    let mut report = report_with_sets_and_a_level();
    data.report = Some(report.clone());
    assert_eq!(
        heading(&data, &Style::default())[1],
        "predicted pole (p = 0.800)"
    );
    let competence = |score: f64| pointlime::competence::Competence {
        score,
        in_domain: score > 0.01,
        alarm_level: 0.01,
        feature_score: score / 2.0,
        shape_score: 0.5,
        distance: 80.0,
        nearest_class: "pole".into(),
        percentile: 99.9,
    };
    report.competence = Some(competence(0.005));
    data.report = Some(report.clone());
    assert!(heading(&data, &Style::default())[1]
        .contains("OUTSIDE WHAT THE MODEL WAS TRAINED ON (competence 0.005)"));
    report.competence = Some(competence(0.4));
    data.report = Some(report);
    assert_eq!(
        heading(&data, &Style::default())[1],
        "predicted pole (p = 0.800), competence 0.400"
    );
}

#[test]
fn sets_mode_shows_one_set_at_a_time_and_dims_the_rest() {
    let mut data = explained(
        vec![0.0, 0.69, 0.55, 0.45, f32::NAN],
        vec![0, 1, 2, 3, NO_SEGMENT],
    );
    assert!(!Mode::Sets.available(&data, 0));
    let report = report_with_sets_and_a_level();
    data.classes[0].structure = report.explanations[0]
        .payload
        .as_ref()
        .and_then(pointlime::explain::Payload::structure)
        .cloned();
    data.report = Some(report);
    assert!(Mode::Sets.available(&data, 0));
    let mut style = Style {
        mode: Mode::Sets,
        ..Style::default()
    };
    let c = colours(&data, &style);
    let range = 0.69;
    assert_eq!(c[1], diverging(0.69 / range));
    assert_eq!([c[0], c[2], c[3], c[4]], [dim(NO_VALUE); 4]);
    assert!(heading(&data, &style)[3]
        .contains("set 1/2: supervoxels {1} alone give p = 0.790 (threshold 0.720)"));
    // G: the next set, then around again.
    style.set = 1;
    let c = colours(&data, &style);
    assert_eq!(c[2], diverging(0.55 / range));
    assert_eq!(c[1], dim(NO_VALUE));
    style.set = 2;
    assert_eq!(current_set(&data, &style).unwrap().0, 0);
    assert!(legend(&data, &style)
        .unwrap()
        .title
        .contains("lost without it"));
}

#[test]
fn a_coarser_level_colours_points_by_their_parent_segment() {
    let mut data = explained(
        vec![0.0, 0.69, 0.55, 0.45, f32::NAN],
        vec![0, 1, 2, 3, NO_SEGMENT],
    );
    data.report = Some(report_with_sets_and_a_level());
    assert_eq!(level_count(&data), 1);
    let mut style = Style::default();
    assert!(level_view(&data, &style).is_none());
    style.level = 1;
    let l = level_view(&data, &style).unwrap();
    let (values, segments) = l.per_point(data.segments.as_ref().unwrap());
    assert_eq!(values[..4], [0.25, 0.25, -0.5, -0.5]);
    assert!(values[4].is_nan());
    assert_eq!(segments, [0, 0, 1, 1, NO_SEGMENT]);
    let c = colours(&data, &style);
    assert_eq!(c[0], diverging(0.5));
    assert_eq!(c[3], diverging(-1.0));
    style.mode = Mode::Segments;
    let c = colours(&data, &style);
    assert_eq!(c[0], c[1]);
    assert_ne!(c[1], c[2]);
    assert!(
        heading(&data, &style)
            .iter()
            .any(|h| h
                .contains("level 1 of 1: 2 segments, rank agreement with the supervoxels -1.00"))
    );
}

#[test]
fn segments_from_a_field_are_named_by_their_value() {
    let mut data = explained(vec![0.5, 0.25], vec![0, 1]);
    let mut report = report_with_sets_and_a_level();
    report.settings.segments.from_field = Some("organ".into());
    report.segments = (0..2)
        .map(|id| pointlime::pipeline::SegmentReport {
            id,
            centroid: [0.0; 3],
            points: 1,
            sampled_points: 1,
            coefficients: vec![0.0],
            field_value: Some(10.0 * (id + 1) as f64),
        })
        .collect();
    data.report = Some(report);
    let line = describe_segment(&data, 0, 1);
    assert!(line.starts_with("segment 1 (organ 20):"), "{line}");
}

#[test]
fn predicted_classes_take_asprs_colours_when_named_so() {
    let mut data = explained(vec![0.0; 3], vec![0, 0, 0]);
    assert!(!Mode::Predicted.available(&data, 0));
    data.predicted = Some(vec![0, 1, pointlime::pipeline::NO_CLASS]);
    assert!(Mode::Predicted.available(&data, 0));
    let names = |n: &[&str]| n.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    // LAS class names get their code's colour, others a categorical one; a removed point none.
    let c = predicted_colours(&data, &names(&["Ground", "stem"]));
    assert_eq!(c[0], classification_colour(2));
    assert_eq!(c[1], categorical(1));
    assert_eq!(c[2], NO_VALUE);
}

#[test]
fn the_key_names_each_predicted_class_and_every_region_marking_the_one_on_view() {
    use pointlime::pipeline::{RegionReport, RegionSpec};
    let mut data = explained(vec![0.0; 4], vec![0, 0, 1, 1]);
    data.predicted = Some(vec![0, 1, 1, pointlime::pipeline::NO_CLASS]);
    let mut report = report_with_sets_and_a_level();
    report.class_names = vec!["ground".into(), "stem".into()];
    report.regions = ["class=stem", "point=3"]
        .iter()
        .enumerate()
        .map(|(i, spec)| RegionReport {
            name: format!("r{i}"),
            spec: spec.parse::<RegionSpec>().unwrap(),
            points: 2 + i,
            target: 1,
            target_name: "stem".into(),
            probabilities: vec![0.25, 0.75],
            stand_in_distance: None,
        })
        .collect();
    data.report = Some(report);
    let mut style = Style {
        mode: Mode::Predicted,
        ..Style::default()
    };
    style.class = 1;
    let key = key(&data, &style);
    let texts: Vec<&str> = key.iter().map(|l| l.text.as_str()).collect();
    // Shares of the points the model scored (the removed one left out).
    assert_eq!(texts[1], "ground: 1 points (33.3%)");
    assert_eq!(texts[2], "stem: 2 points (66.7%)");
    assert_eq!(key[1].colour, Some(classification_colour(2)));
    assert_eq!(texts[3], "regions explained");
    assert_eq!(texts[4], "class=stem: why stem, 2 points, p = 0.75");
    assert!(!key[4].current && key[5].current);
    assert!(texts[5].starts_with("point=3"), "{texts:?}");
    // Other modes keep the regions and drop the classes.
    style.mode = Mode::Signed;
    assert_eq!(key_len(&data, &style), 3);
}

fn key_len(data: &ExplainedScan, style: &Style) -> usize {
    key(data, style).len()
}
