"""The package as a user calls it: reading, explaining with each kind of model, writing, and the
settings' names (the CLI's flags)."""

import json

import numpy as np
import pytest

import pointlime


def tall(batch):
    """Scores "tall" by the highest point present: removing the top of an object lowers it."""
    top = batch[:, :, 2].max(axis=1)
    return np.stack([top, -top], axis=1)


def test_read_gives_positions_and_attributes(data):
    c = pointlime.read(data / "dales_objects" / "003.xyz")
    assert c.xyz.shape == (len(c), 3) and c.xyz.dtype == np.float64
    assert len(c) > 1000
    las = sorted((data / "lidar_scenes").rglob("*.la[sz]"))[0]
    scene = pointlime.read(las)
    assert "classification" in scene.names
    assert scene["classification"].shape == (len(scene),)


def test_cloud_from_arrays_keeps_attributes():
    xyz = np.random.default_rng(0).normal(size=(500, 3))
    c = pointlime.Cloud(xyz, {"label": np.arange(500) % 3})
    assert np.array_equal(c.xyz, xyz)
    assert np.array_equal(c["label"], np.arange(500) % 3)


def test_builtin_model_explains_a_dales_object(data):
    e = pointlime.explain(data / "dales_objects" / "003.xyz", samples=300, seed=1)
    assert e.values.shape == (len(pointlime.read(data / "dales_objects" / "003.xyz")),)
    assert len(e.segment_values) == len(e.report["segments"])
    # Every point carries its segment's value.
    assert np.allclose(e.values, e.segment_values[e.segments])
    assert e.predicted in e.class_names
    assert e.probabilities.shape == (len(e.class_names),)
    assert e.report["settings"]["seed"] == 1


def test_the_top_segment_of_tall_is_the_highest():
    column = np.stack([np.zeros(400), np.zeros(400), np.arange(400) * 0.01], axis=1)
    e = pointlime.explain(column, tall, classes=["tall", "short"], points=256, segments=4, samples=200)
    top = int(np.argmax(e.segment_values))
    highest = max(e.report["segments"], key=lambda s: s["centroid"][2])
    assert top == highest["id"]
    assert e.target == "tall"
    assert e.report["cost"]["runtime"] == "python callable"


def test_same_seed_same_result_whatever_the_batch_size(data):
    scan = data / "dales_objects" / "007.xyz"
    a = pointlime.explain(scan, tall, classes=["tall", "short"], samples=200, seed=5, batch_size=7)
    b = pointlime.explain(scan, tall, classes=["tall", "short"], samples=200, seed=5, batch_size=64)
    assert np.array_equal(a.segment_values, b.segment_values)
    c = pointlime.explain(scan, tall, classes=["tall", "short"], samples=200, seed=6, batch_size=64)
    assert not np.array_equal(a.segment_values, c.segment_values)


def test_the_callable_gets_batches_of_the_models_points(data):
    shapes = []

    def spy(batch):
        shapes.append((batch.shape, batch.dtype))
        return tall(batch)

    pointlime.explain(data / "dales_objects" / "003.xyz", spy, classes=["tall", "short"], points=300, samples=100, batch_size=32)
    # One probe of the unperturbed cloud and ceil(100 / 32) batches of perturbed ones, at most.
    assert all(s[1:] == (300, 3) and d == np.float32 for s, d in shapes)
    assert max(s[0] for s, _ in shapes) == 32


def test_settings_are_the_clis_flags(data):
    scan = data / "dales_objects" / "003.xyz"
    e = pointlime.explain(scan, method="kernelshap", segments=20, samples=128, output="probability", remove_ground=True)
    s = e.report["settings"]
    assert s["method"] == "kernelshap" and s["explainer"]["n_samples"] == 128
    assert s["explainer"]["scoring"]["output"] == "probability"
    assert s["scene"]["ground"] is not None
    # A settings dict is read as --config reads a file; keyword arguments override it.
    e2 = pointlime.explain(scan, settings=s, samples=64)
    assert e2.report["settings"]["explainer"]["n_samples"] == 64
    assert e2.report["settings"]["method"] == "kernelshap"


def test_write_is_what_the_cli_writes(data, tmp_path):
    e = pointlime.explain(data / "dales_objects" / "003.xyz", samples=100)
    out, report = e.write(tmp_path / "o.ply")
    assert json.loads(open(report).read())["explanations"][0]["coefficients"] == e.report["explanations"][0]["coefficients"]
    back = pointlime.read(out)
    assert np.allclose(back["importance"], e.values.astype(np.float32))


def test_per_point_callable_explains_regions():
    rng = np.random.default_rng(1)
    xyz = rng.uniform(-1, 1, size=(2000, 3))

    def upper_lower(batch):
        up = batch[:, :, 2:3] > 0
        return np.concatenate([up * 2.0 - 1.0, 1.0 - up * 2.0], axis=2)

    e = pointlime.explain(xyz, upper_lower, classes=["upper", "lower"], points=512, model_settings={"task": "segment"}, samples=100, segments=16)
    names = {r["target_name"] for r in e.report["regions"]}
    assert names == {"upper", "lower"}
    assert "predicted" in e.fields


def test_captum_shaped_lime_and_kernelshap():
    column = np.stack([np.zeros(400), np.zeros(400), np.arange(400) * 0.01], axis=1)
    lime = pointlime.Lime(tall, classes=["tall", "short"], points=256)
    per_point = lime.attribute(column, target=0, n_samples=200, n_segments=4)
    assert per_point.shape == (400,)
    per_segment = lime.attribute(column[None], target="tall", n_samples=200, n_segments=4, return_input_shape=False)
    assert per_segment.shape == (4,)
    # feature_mask: the user's groups are the segments.
    mask = (np.arange(400) // 100)
    shap = pointlime.KernelShap(tall, classes=["tall", "short"], points=256)
    v = shap.attribute(column, target=0, feature_mask=mask, n_samples=64, return_input_shape=False)
    assert v.shape == (4,)
    assert int(np.argmax(v)) == 3


def test_batch_over_a_directory_writes_what_the_cli_writes(data, tmp_path):
    scans = tmp_path / "scans"
    (scans / "sub").mkdir(parents=True)
    for name in ["003.xyz", "105.xyz"]:
        (scans / name).symlink_to(data / "dales_objects" / name)
    (scans / "sub" / "308.xyz").symlink_to(data / "dales_objects" / "308.xyz")
    (scans / "broken.ply").write_bytes(b"ply\nformat ascii 1.0\nend_header\n")
    out = tmp_path / "out"
    b = pointlime.batch(scans, out, samples=100, jobs=2)
    assert b.count("ok") == 3 and b.count("failed") == 1
    failed = next(r for r in b.rows if r["status"] == "failed")
    assert failed["path"] == "broken.ply" and "broken.ply" in failed["error"]
    assert (out / "summary.csv").is_file() and (out / "summary.jsonl").is_file()
    assert (out / "sub" / "308.xyz.explained.ply").is_file()
    # The same rows as the summary file, which the CLI's `report` and `merge` read.
    lines = [json.loads(l) for l in (out / "summary.jsonl").read_text().splitlines()]
    assert sorted(r["path"] for r in lines) == sorted(r["path"] for r in b.rows)
    # resume keeps what is done.
    again = pointlime.batch(scans, out, samples=100, resume=True)
    assert again.count("ok") == 3


def test_batch_over_a_list_of_arrays_gives_summary_rows():
    rng = np.random.default_rng(2)
    clouds = [rng.normal(size=(300, 3)), np.full((300, 3), np.nan), rng.normal(size=(400, 3))]
    b = pointlime.batch(clouds, model=tall, classes=["tall", "short"], points=128, samples=64, segments=8)
    assert [r["status"] for r in b.rows] == ["ok", "failed", "ok"]
    assert b.rows[0]["predicted"] == "tall" and b.explanations[1] is None
    assert b.rows[1]["path"] == "[1]" and "NaN" in b.rows[1]["error"]
    assert np.array_equal(b.explanations[2].segment_values, pointlime.explain(clouds[2], tall, classes=["tall", "short"], points=128, samples=64, segments=8).segment_values)


def test_faithfulness_of_a_callable_with_its_randomised_twin():
    column = np.stack([np.zeros(400), np.zeros(400), np.arange(400) * 0.01], axis=1)
    rng = np.random.default_rng(3)
    w = rng.normal(size=(3, 2)).astype(np.float32)

    def scrambled(batch):  # no learned height: a fixed random projection of the mean point
        return batch.mean(axis=1) @ w

    f = pointlime.faithfulness(column, tall, randomised=scrambled, classes=["tall", "short"], points=256, segments=8, samples=200, methods=["lime", "occlusion"])
    lime = f["methods"]["lime"]
    # Removing the top segments first lowers "tall" at once: a faithful deletion order.
    assert lime["deletion_auc"] < lime["random_deletion_auc"]
    assert lime["insertion_auc"] > lime["random_insertion_auc"]
    assert -1 <= lime["seed_spearman"] <= 1
    assert lime["randomised_spearman"] is None or abs(lime["randomised_spearman"]) < 0.9
    assert f["lime"]["r2"] > 0.5
    with pytest.raises(pointlime.SettingsError, match="randomised"):
        pointlime.faithfulness(column, tall, classes=["tall", "short"], points=256, segments=8, samples=100)


def test_faithfulness_of_the_builtin_model_randomises_its_own_layers(data):
    f = pointlime.faithfulness(data / "dales_objects" / "003.xyz", samples=200, methods=["lime"], segments=20)
    assert set(f["methods"]) == {"lime"}
    assert f["methods"]["lime"]["randomised_abs_spearman"] is not None


def test_a_set_function_gets_only_the_kept_points(data):
    sizes = []

    def spy(batch):
        sizes.append(batch.shape[1])
        return tall(batch)

    pointlime.explain(data / "dales_objects" / "003.xyz", spy, classes=["tall", "short"], points=300, samples=60, model_settings={"set_function": True})
    # The unperturbed cloud at full size, perturbed ones smaller (their removed points dropped,
    # not refilled), each passed alone when the sizes in a batch differ.
    assert max(sizes) == 300 and min(sizes) < 300
