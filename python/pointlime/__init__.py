"""pointlime: explain 3D point-cloud classifiers, from Python.

    import pointlime
    e = pointlime.explain("scan.laz")                 # the built-in model
    e = pointlime.explain("scan.laz", "net.onnx")     # an ONNX file (its FILE.json beside it)
    e = pointlime.explain(points, my_fn, classes=["ground", "tree"], points=1024)
    e.values            # per point, (n,)
    e.segment_values    # per supervoxel, (segments,)
    e.write("scan.explained.ply")

The engine is pointlime's Rust library (the CLI's code); see docs/python.md.
"""

import json as _json
import os as _os

import numpy as _np

from . import _pointlime
from ._errors import (
    InputError,
    InternalError,
    ModelError,
    PointlimeError,
    ScanError,
    SettingsError,
)

__version__ = _pointlime.__version__
__all__ = [
    "Cloud", "Explanation", "Model", "Batch", "read", "explain", "batch", "faithfulness", "Lime", "KernelShap", "Occlusion",
    "PointlimeError", "ScanError", "ModelError", "SettingsError", "InputError", "InternalError",
]


class Cloud:
    """A scan: `xyz` (n, 3) float64 positions and named per-point attributes."""

    def __init__(self, xyz, attributes=None):
        if isinstance(xyz, _pointlime.Cloud):
            self._cloud = xyz
            return
        xyz = _points(xyz)
        names, values = [], []
        for name, v in (attributes or {}).items():
            names.append(str(name))
            values.append(_np.ascontiguousarray(_np.asarray(v, dtype=_np.float64).reshape(-1)))
        self._cloud = _pointlime.Cloud.from_arrays(xyz, names, values)

    def __len__(self):
        return len(self._cloud)

    def __repr__(self):
        where = f" from {self.path}" if self.path else ""
        return f"<pointlime.Cloud of {len(self)} points{where}, attributes {self.names}>"

    @property
    def xyz(self):
        """Positions, (n, 3) float64."""
        return self._cloud.xyz()

    @property
    def names(self):
        """The attributes' names, in the file's order."""
        return self._cloud.names()

    @property
    def attributes(self):
        """Every attribute as a float64 array, by name."""
        return {n: self._cloud.attribute(n) for n in self._cloud.names()}

    def __getitem__(self, name):
        return self._cloud.attribute(name)

    @property
    def path(self):
        """The file it was read from (None for a cloud made from arrays)."""
        return self._cloud.path


def read(path, max_points=None, columns=None):
    """Reads a scan: .ply, .las, .laz, .xyz, .txt or .pts (`columns` names a text scan's)."""
    return Cloud(_pointlime.read(_os.fspath(path), max_points, columns))


def _cloud(scan):
    """A scan given as a Cloud, a path or an (n, 3) array."""
    if isinstance(scan, Cloud):
        return scan
    if isinstance(scan, (str, _os.PathLike)):
        return read(scan)
    return Cloud(scan)


def _points(xyz):
    try:
        a = _np.asarray(xyz, dtype=_np.float64)
    except (TypeError, ValueError) as e:
        raise InputError(f"points must be a numeric (n, 3) array: {e}") from None
    if a.ndim != 2 or a.shape[1] != 3:
        raise InputError(f"points must have shape (n, 3), got {a.shape}")
    return _np.ascontiguousarray(a)


class Model:
    """A classifier to explain.

    - `Model()`: the built-in default model; `Model("models/plants")`: a pointlime model
      directory; `Model("net.onnx")`: an ONNX file, with its settings in net.json beside it.
    - `Model(fn, classes=[...], points=1024, **settings)`: any callable. It receives a float32
      array (B, N, 3) of clouds in the model frame, exactly what an ONNX model receives, and
      returns (B, classes) scores, or (B, N, classes) for `task="segment"`: a numpy array or
      anything `numpy.asarray` takes (a CPU torch tensor without grad). `settings` are the ONNX
      sidecar's: `scores` ("logits", "probabilities", "log_probabilities"), `normalisation`,
      `up`, `task` ("classify", "segment"), `set_function` (True: the clouds keep only their kept
      points and may differ in size; then each is passed alone when sizes differ).
    """

    def __init__(self, model=None, classes=None, points=None, name=None, **settings):
        if isinstance(model, Model):
            self._model = model._model
            return
        if model is None or isinstance(model, (str, _os.PathLike)):
            if points is not None or settings:
                raise SettingsError(
                    "points and model settings are for a callable model; a file model has its own"
                )
            path = None if model is None else _os.fspath(model)
            self._model = _pointlime.Model.open(path, classes)
            return
        if not callable(model):
            raise ModelError(
                f"a model is a path, a callable or None (the built-in model), not {type(model).__name__}"
            )
        sidecar = dict(settings)
        sidecar["num_points"] = int(points) if points is not None else 1024
        sidecar.setdefault("layout", "bnc")
        if sidecar["layout"] != "bnc":
            raise SettingsError("a callable model receives (B, N, 3) clouds: layout is 'bnc'")
        fn = model

        def call(batch):
            return _np.asarray(fn(batch), dtype=_np.float32)

        if classes is None:
            # As for an ONNX model without names: class_0, class_1, … from the output's width.
            probe = call(_np.zeros((1, sidecar["num_points"], 3), dtype=_np.float32))
            classes = [f"class_{i}" for i in range(probe.shape[-1])]
        sidecar["class_names"] = list(classes)

        label = name or "python:" + getattr(model, "__qualname__", type(model).__name__)
        self._model = _pointlime.Model.from_callable(call, _json.dumps(sidecar), label)

    @property
    def class_names(self):
        return self._model.class_names()

    @property
    def input_points(self):
        return self._model.input_points()

    @property
    def name(self):
        return self._model.name

    def __repr__(self):
        return f"<pointlime.Model {self.name}: {self.input_points} points, classes {self.class_names}>"


class Explanation:
    """An explained scan.

    - `values`: per point, the first explained class's importance (NaN for points scene steps
      removed); `fields` holds every new per-point field by name (`importance_<class>`, …).
    - `segment_values`: per segment (supervoxel); `segments`: each point's segment id.
    - `probabilities`, `class_names`, `predicted`, `target`: the decision explained.
    - `report`: the JSON report as a dict, what `pointlime explain` writes.
    """

    def __init__(self, inner):
        self._inner = inner
        self.report = _json.loads(inner.report_json())
        self._cloud = Cloud(inner.cloud())

    def __repr__(self):
        e = self.report["explanations"][0]
        return (
            f"<pointlime.Explanation: {self.report['predicted_name']} "
            f"(p = {self.probabilities[self.report['predicted']]:.3f}), "
            f"{e['method']} over {len(self.segment_values)} segments, target {e['target_name']}>"
        )

    @property
    def values(self):
        return self._cloud["importance"]

    @property
    def fields(self):
        return {n: self._cloud[n] for n in self._cloud.names if _new_field(n)}

    @property
    def segments(self):
        return self._cloud["segment"].astype(_np.int64)

    @property
    def segment_values(self):
        return _np.asarray(self.report["explanations"][0]["coefficients"], dtype=_np.float64)

    @property
    def probabilities(self):
        return _np.asarray(self.report["probabilities"], dtype=_np.float64)

    @property
    def class_names(self):
        return list(self.report["class_names"])

    @property
    def predicted(self):
        return self.report["predicted_name"]

    @property
    def target(self):
        return self.report["explanations"][0]["target_name"]

    @property
    def trusted(self):
        """False when the competence check found the scan unlike the model's training data."""
        return all(e.get("trusted", True) for e in self.report["explanations"])

    @property
    def cloud(self):
        """The explained scan with every field, the input's and the new ones."""
        return self._cloud

    def write(self, out, report=None, ascii=False):
        """Writes the scan with its fields (.ply, .las, .laz) and the report (default: `out`
        with .json), all or nothing, as `pointlime explain` writes them. Returns both paths."""
        return self._inner.write(
            _os.fspath(out), None if report is None else _os.fspath(report), ascii
        )

    def show(self, viewer="pointlime-view"):
        """Opens the explanation in pointlime's viewer (pointlime-view on PATH)."""
        import shutil
        import subprocess
        import tempfile

        exe = shutil.which(viewer)
        if exe is None:
            raise PointlimeError(
                f"{viewer} not found on PATH: build it with `cargo build --release -p pointlime-viewer`"
            )
        d = tempfile.mkdtemp(prefix="pointlime-")
        out, _ = self.write(_os.path.join(d, "explained.ply"))
        subprocess.run([exe, out], check=False)


_NEW = ("importance", "point_importance", "segment", "removed", "predicted", "predicted_probability")


def _new_field(name):
    return any(name == p or name.startswith(p + "_") for p in _NEW)


def explain(
    scan, model=None, *, target=None, settings=None, classes=None, points=None, model_settings=None, **kwargs
):
    """Explains a scan, as `pointlime explain` does.

    - `scan`: a path, a `Cloud`, or an (n, 3) array.
    - `model`: a `Model`, a path (model directory or .onnx), a callable (see `Model`), or None
      for the built-in model. `classes`, `points` and `model_settings` (a dict: scores, task,
      set_function, normalisation, up) go to `Model` for a callable; `classes` also names an ONNX
      model's classes.
    - `target`: the class explained, by name or index (default: the predicted one).
    - keyword arguments: the CLI's flags with `_` for `-`: method, segments, resolution,
      segments_from, min_part_points, samples, seed, output, removal, batch_size, scoring, up,
      coarser_levels, top_labels, drop_invalid, sampling, crop ("x0,y0,z0,x1,y1,z1" or
      "x,y,z,r"), outliers, remove_ground, ground_threshold, largest_cluster, regions (a list of
      "class=C", "label=FIELD:V", "box=…", "sphere=…", "point=I"), min_class_share,
      perturb_region, labels; `method_settings` is a dict of each method's own settings, for
      example {"lime": {"kernel_width": 0.25}}.
    - `settings`: a settings dict or JSON file (the report's `settings` object); keyword
      arguments override it.
    """
    m = _model(model, classes, points, model_settings)
    cloud = _cloud(scan)
    inner = _pointlime.explain(
        cloud._cloud, m._model, _flags(kwargs), _settings_json(settings), None if target is None else str(target)
    )
    return Explanation(inner)


# batch's `explain` argument (the CLI's --no-explain) hides the function there.
_explain = explain


def _model(model, classes, points, model_settings):
    if isinstance(model, Model):
        if classes is not None or points is not None or model_settings:
            raise SettingsError("classes, points and model settings are given to Model(...), not with a Model")
        return model
    if callable(model) and not isinstance(model, (str, _os.PathLike)):
        return Model(model, classes=classes, points=points, **(model_settings or {}))
    if model_settings:
        raise SettingsError("model settings are for a callable model; a file model has its own")
    return Model(model, classes=classes, points=points)


def _settings_json(settings):
    if isinstance(settings, (str, _os.PathLike)):
        with open(settings) as f:
            return f.read()
    return None if settings is None else _json.dumps(settings)


def _flags(kwargs):
    kwargs = dict(kwargs)
    if kwargs.get("method_settings") is not None:
        kwargs["method_settings"] = _json.dumps(kwargs["method_settings"])
    if isinstance(kwargs.get("regions"), str):
        kwargs["regions"] = [kwargs["regions"]]
    return kwargs


class Batch:
    """What `batch` did: `rows`, one dict per scan with the columns of `pointlime batch`'s
    summary (path, status, predicted, probability, competence, r2, top segments, seconds,
    error, …); `explanations` (a list's scans only, in order; None for a failed one);
    `interrupted` (Ctrl-C stopped a directory's run: run again with resume=True); `summary`
    (summary.csv of a directory's run)."""

    def __init__(self, rows, explanations=None, interrupted=False, summary=None):
        self.rows = rows
        self.explanations = explanations
        self.interrupted = interrupted
        self.summary = summary

    def count(self, status):
        return sum(r["status"] == status for r in self.rows)

    def __repr__(self):
        return (
            f"<pointlime.Batch: {len(self.rows)} scans, {self.count('ok')} ok, "
            f"{self.count('failed')} failed, {self.count('skipped')} skipped>"
        )


def batch(
    scans, out=None, model=None, *, jobs=None, resume=False, strict=False, explain=True, ascii=False,
    max_points=None, settings=None, classes=None, points=None, model_settings=None, **flags,
):
    """Scores many scans with one model, as `pointlime batch` does.

    - `scans` a directory: every scan under it is read, classified and explained, `jobs` at a
      time, into `out` (required), mirroring the input tree, with summary.csv and summary.jsonl;
      a scan that fails is its row's error and the others go on; `resume`, `strict`, `explain`
      (False: classify only) and `ascii` are the CLI's flags. Ctrl-C lets the scans in flight
      finish and raises KeyboardInterrupt once the summary is written.
    - `scans` a list of paths, Clouds or (n, 3) arrays: each is explained in turn and kept in
      memory (`Batch.explanations`); a scan that fails is its row's error.
    The model and the keyword arguments are `explain`'s."""
    m = _model(model, classes, points, model_settings)
    if isinstance(scans, (str, _os.PathLike)):
        if out is None:
            raise SettingsError("batch over a directory writes its outputs: give out=DIRECTORY")
        rows, interrupted, warning = _pointlime.batch(
            _os.fspath(scans), _os.fspath(out), m._model, _flags(flags), _settings_json(settings),
            jobs, resume, strict, explain, ascii, max_points,
        )
        if warning:
            import warnings

            warnings.warn(warning)
        return Batch(_json.loads(rows), None, interrupted, _os.path.join(_os.fspath(out), "summary.csv"))
    if out is not None or resume or strict or not explain or ascii:
        raise SettingsError("out, resume, strict, explain and ascii apply to a directory's run")
    rows, explanations = [], []
    for i, scan in enumerate(scans):
        name = _os.fspath(scan) if isinstance(scan, (str, _os.PathLike)) else f"[{i}]"
        try:
            e = _explain(scan, m, settings=settings, **flags)
        except (ScanError, ModelError) as err:
            rows.append({"path": name, "status": "failed", "error": str(err)})
            explanations.append(None)
            continue
        rows.append(_json.loads(e._inner.summary_row(name)))
        explanations.append(e)
    return Batch(rows, explanations)


def faithfulness(
    scan, model=None, *, randomised=None, methods=None, rounds=5, settings=None, classes=None,
    points=None, model_settings=None, **flags,
):
    """How faithful the explanations of one scan are, as `pointlime faithfulness` measures each
    object (see docs/faithfulness.md), for the predicted class. A dict:

    - `methods`: per method, `deletion_auc` (lower is more faithful), `insertion_auc` (higher
      is), `aopc`, the random orders' areas, `drop_top20` against `drop_random20`,
      `seed_spearman` (two seeds' agreement, for a random method) and `randomised_spearman` /
      `randomised_abs_spearman` (agreement with the randomised model's explanation: near 0
      passes Adebayo et al.'s model randomisation check), `seconds`, `evaluations`;
    - `lime`: LIME's own checks (R², held-out R², bootstrap spread, seed top-5 Jaccard).

    `randomised` is the randomised model: required for a callable (the same network with
    re-initialised weights, as a callable taking the same clouds); pointlime's and ONNX models
    re-initialise their own layers when it is not given. `methods` defaults to the CLI's
    (LIME, KernelSHAP, occlusion, and gradients where the model has them)."""
    m = _model(model, classes, points, model_settings)
    r = None
    if randomised is not None:
        r = randomised if isinstance(randomised, Model) else Model(
            randomised, classes=m.class_names, points=m.input_points, **(model_settings or {})
        )
    cloud = _cloud(scan)
    result = _pointlime.faithfulness(
        cloud._cloud, m._model, None if r is None else r._model, _flags(flags), _settings_json(settings),
        None if methods is None else list(methods), rounds,
    )
    out = _json.loads(result)
    out["methods"] = {x["method"]: x for x in out["methods"]}
    return out


class _Attribution:
    """Captum's shape: `Lime(forward_func).attribute(inputs, target=...)`."""

    method = None

    def __init__(self, forward_func, classes=None, points=1024, **model_settings):
        if isinstance(forward_func, Model):
            self.model = forward_func
        else:
            self.model = Model(forward_func, classes=classes, points=points, **model_settings)
        self.last_explanation = None

    def attribute(
        self,
        inputs,
        target=None,
        feature_mask=None,
        n_samples=1000,
        perturbations_per_eval=64,
        return_input_shape=True,
        n_segments=50,
        seed=0,
        **kwargs,
    ):
        """Attributions of one cloud, `inputs` (n, 3) (or (1, n, 3), as Captum batches it).

        Captum's arguments: `target` (class index or name), `feature_mask` (a per-point group
        id: the segments instead of supervoxels), `n_samples`, `perturbations_per_eval` (the
        callable's batch size), `return_input_shape` (True: per point; False: per segment).
        pointlime's: `n_segments`, `seed`, and any keyword argument of `pointlime.explain`.
        The whole explanation is kept as `last_explanation`."""
        pts = _np.asarray(inputs, dtype=_np.float64)
        if pts.ndim == 3 and pts.shape[0] == 1:
            pts = pts[0]
        attributes = {}
        if feature_mask is not None:
            attributes["feature_mask"] = _np.asarray(feature_mask).reshape(-1)
            kwargs.setdefault("segments_from", "feature_mask")
        else:
            kwargs.setdefault("segments", n_segments)
        e = explain(
            Cloud(pts, attributes),
            self.model,
            target=target,
            method=self.method,
            samples=n_samples,
            batch_size=perturbations_per_eval,
            seed=seed,
            **kwargs,
        )
        self.last_explanation = e
        return e.values if return_input_shape else e.segment_values


class Lime(_Attribution):
    """LIME over supervoxels: Captum's `Lime` with pointlime's segments and kernel."""

    method = "lime"


class KernelShap(_Attribution):
    """KernelSHAP over supervoxels (paired coalitions): Captum's `KernelShap`."""

    method = "kernelshap"


class Occlusion(_Attribution):
    """Each supervoxel removed alone: Captum's `FeatureAblation` over the segments."""

    method = "occlusion"
