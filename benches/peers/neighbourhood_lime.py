#!/usr/bin/env python3
"""Issue #30, item 3: a whole LIME explanation of DGCNN (k = 20, the paper's sizes, random
weights) by a Python user, PyTorch + the `lime` package (the shared peer's `explain_lime_base`:
LimeBase with lime_image's defaults, k-means segments), beside `pointlime explain` on the same
network exported to ONNX, at N = 1024, K = 50, S = 1000, in one run.

    VENV/bin/python benches/peers/neighbourhood_lime.py [--batch 1] [--samples 1000]

Needs Debian's python3-torch, python3-numpy and python3-sklearn, and lime (a venv with
--system-site-packages, then `pip install --no-deps lime`: its own numpy and scikit-learn wheels
shadow Debian's, and Debian's torch then fails with "Numpy is not available"), and the release
binary. The peer's batch
defaults to 1, its fastest per cloud on these networks (neighbourhood_nets.py: 287 ms a cloud at
batch 1 against 392 at batch 10 on the development machine).
"""
import argparse
import importlib.util
import json
import pathlib
import resource
import subprocess
import tempfile
import time

import numpy as np
import torch

import neighbourhood_nets as nets  # beside this script, which Python puts first on sys.path

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--points", type=int, default=1024)
    p.add_argument("--segments", type=int, default=50)
    p.add_argument("--samples", type=int, default=1000)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    peer = load("peer", ROOT.parent / "shared" / "peers" / "pointnet_lime_peer.py")
    peer.BATCH = a.batch
    net = nets.networks()["dgcnn"].eval()
    cloud = peer.synthetic_cloud(a.points)

    t = time.perf_counter()
    _, weights, tm = peer.explain_lime_base(cloud, a.segments, a.samples, net)
    python_s = time.perf_counter() - t
    python_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    with tempfile.TemporaryDirectory() as d:
        d = pathlib.Path(d)
        torch.onnx.export(
            net, torch.zeros(1, 3, a.points), str(d / "dgcnn.onnx"), input_names=["points"],
            output_names=["logits"], dynamic_axes={"points": {0: "batch", 2: "n"}, "logits": {0: "batch"}},
            opset_version=13,
        )
        (d / "dgcnn.json").write_text(json.dumps({"num_points": a.points}))
        scan = d / "cloud.xyz"
        np.savetxt(scan, cloud)
        exe = ROOT / "target" / "release" / "pointlime"
        t = time.perf_counter()
        run = subprocess.run(
            ["/usr/bin/time", "-f", "%M", str(exe), "explain", str(scan), "--model", str(d / "dgcnn.onnx"),
             "--segments", str(a.segments), "--samples", str(a.samples), "--threads", str(a.threads),
             "--out", str(d / "out.ply")],
            capture_output=True, text=True, check=True,
        )
        rust_s = time.perf_counter() - t
        rust_rss = int(run.stderr.strip().splitlines()[-1]) / 1024
        report = json.loads((d / "out.json").read_text())
    print(f"DGCNN, N = {a.points}, K = {a.segments}, S = {a.samples}, {a.threads} threads, torch {torch.__version__}")
    print(f"PyTorch + lime (batch {a.batch}): {python_s:.1f} s, peak {python_rss:.0f} MiB "
          f"(forward passes {python_s - tm['fit_s'] - tm['segment_s'] - tm['perturb_s']:.1f} s)")
    print(f"pointlime (tract): {rust_s:.1f} s, peak {rust_rss:.0f} MiB, "
          f"{report['cost']['clouds_evaluated']} forward passes, runtime {report['cost']['runtime']}")
    print(f"ratio (Python / pointlime): {python_s / rust_s:.2f}")


if __name__ == "__main__":
    main()
