use super::*;

#[test]
fn metrics_on_hand_built_confusion() {
    // 3 classes: class 0 has 4 samples (3 right), class 1 has 2 (2 right), class 2 has 4 (1 right).
    let mut c = Confusion::new(3);
    for (t, p) in [
        (0, 0),
        (0, 0),
        (0, 0),
        (0, 1),
        (1, 1),
        (1, 1),
        (2, 2),
        (2, 0),
        (2, 1),
        (2, 1),
    ] {
        c.add(t, p);
    }
    let m = c.metrics();
    assert!((m.overall_accuracy - 0.6).abs() < 1e-12);
    assert_eq!(m.per_class_accuracy, vec![0.75, 1.0, 0.25]);
    assert!((m.mean_class_accuracy - (0.75 + 1.0 + 0.25) / 3.0).abs() < 1e-12);
}
