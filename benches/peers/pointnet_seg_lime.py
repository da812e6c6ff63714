#!/usr/bin/env python3
"""Python peer for issue #29 item 5: a PyTorch PointNet segmentation network explained by LIME
(the `lime` package's LimeBase, lime_image defaults) for one region's score, timed end to end on
CPU, to set beside `pointlime explain --region` on the same scan and sizes.

The network has the architecture of models/organs: shared per-point layers 64-64-128-512 (1x1
convolutions, batch norm, ReLU), the max-pooled 512-wide global feature concatenated to each
point's first-layer (64) feature, a per-point head 256-128 and 2 classes; random weights
(torch.manual_seed), eval(). Timing does not depend on the weights.

What a Python user does: KMeans (K clusters, n_init=1) on xyz; masks drawn as lime_image draws
them (row 0 all on); each perturbed cloud drops the points of "off" clusters, puts the region's
points back (only its context is perturbed, as pointlime's default), refills to N points by
repeating kept points, and runs the whole network; the score is the mean logit of the class over
the region's points; LimeBase fits the kernel-weighted ridge surrogate.

    python3 benches/peers/pointnet_seg_lime.py --scan SCAN.txt --region-column 3 --region-value 7 \
        --points 2048 --segments 50 --samples 1000 --reps 3
"""
import argparse
import json
import statistics
import time
from functools import partial

import numpy as np
import torch
import torch.nn as nn

BATCH = 64


class PointNetSeg(nn.Module):
    def __init__(self, classes=2, point_layers=(64, 64, 128, 512), head_layers=(256, 128)):
        super().__init__()
        widths = (3,) + tuple(point_layers)
        self.points = nn.ModuleList(
            nn.Sequential(nn.Conv1d(a, b, 1), nn.BatchNorm1d(b), nn.ReLU())
            for a, b in zip(widths, widths[1:]))
        head = (point_layers[0] + point_layers[-1],) + tuple(head_layers)
        self.head = nn.ModuleList(
            nn.Sequential(nn.Conv1d(a, b, 1), nn.BatchNorm1d(b), nn.ReLU())
            for a, b in zip(head, head[1:]))
        self.out = nn.Conv1d(head[-1], classes, 1)

    def forward(self, x):  # (B, 3, N) -> (B, classes, N)
        local = None
        for i, layer in enumerate(self.points):
            x = layer(x)
            if i == 0:
                local = x
        g = x.max(2, keepdim=True)[0].expand(-1, -1, x.shape[2])
        h = torch.cat([local, g], 1)
        for layer in self.head:
            h = layer(h)
        return self.out(h)


def explain(points, region, k, num_samples, model, seed=0):
    import sklearn.metrics
    from lime.lime_base import LimeBase
    from sklearn.cluster import KMeans
    from sklearn.utils import check_random_state

    tm = {}
    t0 = time.perf_counter()
    labels = KMeans(n_clusters=k, n_init=1, random_state=0).fit_predict(points)
    tm["segment_s"] = time.perf_counter() - t0
    n = points.shape[0]
    with torch.no_grad():
        logits = model(torch.from_numpy(points).T.unsqueeze(0))[0]  # (classes, N)
    target = int(logits[:, region].mean(1).argmax())
    random_state = check_random_state(seed)
    kernel_fn = partial(lambda d, w: np.sqrt(np.exp(-(d ** 2) / w ** 2)), w=0.25)
    base = LimeBase(kernel_fn, verbose=False, random_state=random_state)
    rng = np.random.default_rng(seed)
    in_region = np.zeros(n, bool)
    in_region[region] = True
    forward_s = [0.0]

    def classifier_fn(masks):
        clouds = np.empty((masks.shape[0], n, 3), dtype=np.float32)
        # The region's points sit first in every cloud, so its scores are the first rows.
        r = len(region)
        for i, row in enumerate(masks):
            kept = np.flatnonzero(row.astype(bool)[labels] & ~in_region)
            keep = np.concatenate([region, kept])
            if keep.size < n:
                keep = np.concatenate([keep, rng.choice(keep, n - keep.size, replace=True)])
            clouds[i] = points[keep]
        t = time.perf_counter()
        with torch.no_grad():
            out = model(torch.from_numpy(clouds).transpose(1, 2))  # (b, classes, N)
        forward_s[0] += time.perf_counter() - t
        return out[:, :, :r].mean(2).numpy()

    data = random_state.randint(0, 2, num_samples * k).reshape((num_samples, k))
    data[0, :] = 1
    preds = np.concatenate([classifier_fn(data[s:s + BATCH]) for s in range(0, num_samples, BATCH)])
    distances = sklearn.metrics.pairwise_distances(data, data[0].reshape(1, -1), metric="cosine").ravel()
    t = time.perf_counter()
    base.explain_instance_with_data(data, preds, distances, target, num_features=100000,
                                    feature_selection="auto")
    tm["fit_s"] = time.perf_counter() - t
    tm["forward_s"] = forward_s[0]
    return tm


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--scan", required=True)
    ap.add_argument("--region-column", type=int, default=3, help="0-based column of the region's field")
    ap.add_argument("--region-value", type=float, required=True)
    ap.add_argument("--points", type=int, default=2048)
    ap.add_argument("--segments", type=int, default=50)
    ap.add_argument("--samples", type=int, default=1000)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    data = np.loadtxt(a.scan, dtype=np.float64)
    pick = np.random.default_rng(0).choice(len(data), a.points, replace=len(data) < a.points)
    data = data[pick]
    points = data[:, :3].astype(np.float32)
    points -= points.mean(0)
    points /= np.linalg.norm(points, axis=1).max()
    region = np.flatnonzero(data[:, a.region_column] == a.region_value)
    model = PointNetSeg().eval()
    explain(points, region, a.segments, 64, model)  # warm-up
    runs = []
    for _ in range(a.reps):
        t = time.perf_counter()
        tm = explain(points, region, a.segments, a.samples, model)
        tm["total_s"] = time.perf_counter() - t
        runs.append(tm)
    res = {
        "torch": torch.__version__, "threads": a.threads, "points": a.points, "region_points": int(len(region)),
        "segments": a.segments, "samples": a.samples, "runs": runs,
        "median_total_s": statistics.median(r["total_s"] for r in runs),
        "median_forward_s": statistics.median(r["forward_s"] for r in runs),
    }
    print(json.dumps(res, indent=1))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
