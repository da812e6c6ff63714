#!/usr/bin/python3
"""Issue #30: the networks users bring, at their papers' sizes, timed in PyTorch and in pointlime
(tract) in one run on the same machine.

Builds DGCNN (k = 20, edges 64-64-128-256, embedding 1024, head 512) and PointNet++ SSG (512 and
128 centres, 1024-wide global feature, head 512) from data/onnx/make_neighbourhood_fixtures.py
with random weights (the time does not depend on them), exports each with dynamic batch and point
axes (opset 13) to --out, times PyTorch's forward pass on N-point clouds at batch 1 and batch 10
with --threads threads (median of --reps), then runs

    pointlime bench --model OUT/NAME.onnx --points N --samples S --segments 50 --repeat 1

and prints both per cloud. Run from the repository root after `cargo build --release`:

    /usr/bin/python3 benches/peers/neighbourhood_nets.py --points 1024 --samples 64
"""
import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import tempfile
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

spec = importlib.util.spec_from_file_location(
    "fixtures", os.path.join(ROOT, "data/onnx/make_neighbourhood_fixtures.py")
)
fixtures = importlib.util.module_from_spec(spec)
spec.loader.exec_module(fixtures)


def networks():
    return {
        "dgcnn": fixtures.DGCNN(classes=5, k=20, edges=(64, 64, 128, 256), embedding=1024, head=512),
        "pointnet2_ssg": fixtures.PointNet2SSG(
            classes=5,
            sa1=(512, 0.2, 32, [64, 64, 128]),
            sa2=(128, 0.4, 64, [128, 128, 256]),
            global_width=1024,
            head=512,
        ),
    }


def time_torch(model, n, batch, reps):
    x = torch.rand(batch, 3, n) * 2 - 1
    with torch.no_grad():
        model(x)  # warm-up
        times = []
        for _ in range(reps):
            start = time.perf_counter()
            model(x)
            times.append(time.perf_counter() - start)
    return statistics.median(times) / batch


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--points", type=int, default=1024)
    ap.add_argument("--samples", type=int, default=64)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=None)
    ap.add_argument("--pointlime", default=os.path.join(ROOT, "target/release/pointlime"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    out = args.out or tempfile.mkdtemp(prefix="pointlime-nets-")
    os.makedirs(out, exist_ok=True)
    rows = []
    for name, model in networks().items():
        model.eval()
        path = os.path.join(out, f"{name}.onnx")
        torch.onnx.export(
            model,
            torch.rand(2, 3, args.points),
            path,
            input_names=["points"],
            output_names=["logits"],
            dynamic_axes={"points": {0: "batch", 2: "n"}, "logits": {0: "batch"}},
            opset_version=13,
        )
        t1 = time_torch(model, args.points, 1, args.reps)
        t10 = time_torch(model, args.points, 10, args.reps)
        report = os.path.join(out, f"{name}.bench.json")
        run = subprocess.run(
            [args.pointlime, "bench", "--model", path, "--classes", "a,b,c,d,e",
             "--points", str(args.points), "--samples", str(args.samples), "--segments", "50",
             "--repeat", "1", "--threads", str(args.threads), "--json", report],
            capture_output=True, text=True,
        )
        if run.returncode != 0:
            raise SystemExit(f"pointlime bench failed on {name}: {run.stderr.strip()}")
        bench = json.load(open(report))
        row = bench[0] if isinstance(bench, list) else bench["rows"][0]
        rows.append((name, t1, t10, row))
        print(f"{name}: PyTorch {1000 * t1:.1f} ms per cloud at batch 1, {1000 * t10:.1f} at batch 10;"
              f" pointlime bench row: {json.dumps(row)}", flush=True)
    print(f"exports and bench JSON in {out}")


if __name__ == "__main__":
    main()
