"""What the Python callable path costs beyond the network's own forward passes (issue #31's
target: at most 10%), beside the same network exported to ONNX and run by tract in Rust.

    python3 benches/python/callable_overhead.py [SCAN] [--samples 1000] [--points 2048] [--batch 64]

A PyTorch PointNet (per-point convolutions 3-64-128-1024, a max, a 512-256-5 head: the classic
classifier without T-Nets) with fixed random weights; the scan defaults to a DALES object from
../shared/data. Run with the package importable (PYTHONPATH=python after `.ci/run`'s link, or
after `pip install ./python`)."""

import argparse
import json
import os
import pathlib
import tempfile
import time

import numpy as np
import torch

import pointlime

ROOT = pathlib.Path(__file__).resolve().parents[2]


def pointnet():
    torch.manual_seed(0)
    nn = torch.nn

    class PointNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(
                nn.Conv1d(3, 64, 1), nn.ReLU(), nn.Conv1d(64, 128, 1), nn.ReLU(), nn.Conv1d(128, 1024, 1)
            )
            self.head = nn.Sequential(nn.Linear(1024, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU(), nn.Linear(256, 5))

        def forward(self, x):
            return self.head(self.features(x).max(dim=2).values)

    return PointNet().eval()


def main():
    p = argparse.ArgumentParser()
    data = pathlib.Path(os.environ.get("POINTLIME_DATA", ROOT.parent / "shared" / "data"))
    p.add_argument("scan", nargs="?", default=str(data / "dales_objects" / "005.xyz"))
    p.add_argument("--samples", type=int, default=1000)
    p.add_argument("--points", type=int, default=2048)
    p.add_argument("--batch", type=int, default=64)
    a = p.parse_args()
    torch.set_num_threads(os.cpu_count())
    net = pointnet()
    classes = ["building", "car", "fence", "pole", "tree"]
    inside = [0.0, 0]

    def forward(batch):
        t = time.perf_counter()
        with torch.no_grad():
            out = net(torch.from_numpy(batch).transpose(1, 2)).numpy()
        inside[0] += time.perf_counter() - t
        inside[1] += batch.shape[0]
        return out

    settings = dict(samples=a.samples, seed=0, batch_size=a.batch, scoring="generic")
    model = pointlime.Model(forward, classes=classes, points=a.points)
    pointlime.explain(a.scan, model, samples=64, batch_size=a.batch)  # warm-up
    inside[:] = [0.0, 0]
    t = time.perf_counter()
    e = pointlime.explain(a.scan, model, **settings)
    total = time.perf_counter() - t
    clouds = inside[1]

    # The network alone on as many clouds, in the same batches, one call after another: what a
    # Python user's own loop costs at least. (The time inside the callable is no measure: pointlime
    # calls it from two threads, and torch releases the GIL, so calls overlap.)
    rng = np.random.default_rng(0)
    batch = rng.normal(size=(a.batch, a.points, 3)).astype(np.float32)
    t = time.perf_counter()
    left = clouds
    while left > 0:
        forward(batch[: min(left, a.batch)])
        left -= a.batch
    alone = time.perf_counter() - t
    rows = [("the network alone (torch, a plain loop)", alone, None), ("python callable (torch)", total, alone)]

    with tempfile.TemporaryDirectory() as d:
        onnx = pathlib.Path(d) / "net.onnx"
        torch.onnx.export(
            net, torch.zeros(2, 3, a.points), str(onnx), input_names=["points"], output_names=["logits"],
            dynamic_axes={"points": {0: "batch", 2: "n"}, "logits": {0: "batch"}}, opset_version=13,
        )
        onnx.with_suffix(".json").write_text(json.dumps({"class_names": classes, "num_points": a.points}))
        m = pointlime.Model(onnx)
        for scoring in ["generic", "auto"]:
            t = time.perf_counter()
            pointlime.explain(a.scan, m, **dict(settings, scoring=scoring))
            rows.append((f"ONNX in Rust (tract, --scoring {scoring})", time.perf_counter() - t, alone))

    print(f"N = {a.points}, S = {a.samples}, batch {a.batch}, {os.cpu_count()} threads, torch {torch.__version__}")
    print(f"{clouds} clouds evaluated")
    print(f"{'path':44} {'seconds':>8} {'against the network alone':>26}")
    for name, secs, base in rows:
        against = "" if base is None else f"{100 * (secs - base) / base:+.1f}%"
        print(f"{name:44} {secs:8.2f} {against:>26}")
    print(f"coefficients of the callable path: R² {e.report['explanations'][0].get('r2')}")


if __name__ == "__main__":
    main()
