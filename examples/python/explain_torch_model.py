"""A PyTorch DGCNN, written in plain torch (k-NN by topk, EdgeConv), trained here on the DALES
objects and explained through pointlime's callable door on a held-out object.

    python3 examples/python/explain_torch_model.py [--data ../shared/data] [--epochs 15]

Needs torch, numpy and the pointlime package (`pip install ./python`, or PYTHONPATH=python with
the extension linked as docs/python.md says). The weights are cached in --weights (trained when
the file is missing: a few minutes on 2 cores). The split is the data's own suggestion: within each
class, files whose number ends in 0–7 train, 8–9 test.
"""

import argparse
import os
import pathlib
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

import pointlime

CLASSES = ["building", "car", "fence", "pole", "tree"]


def knn(x, k):
    """Indices of each point's k nearest neighbours (itself included), x: [B, C, N]."""
    inner = -2 * torch.matmul(x.transpose(2, 1), x)
    xx = torch.sum(x**2, dim=1, keepdim=True)
    return (-xx - inner - xx.transpose(2, 1)).topk(k=k, dim=-1)[1]


def edge_features(x, k):
    """[B, 2C, N, k]: each neighbour's offset and the point itself (DGCNN's EdgeConv input)."""
    b, c, n = x.shape
    idx = (knn(x, k) + torch.arange(b).view(-1, 1, 1) * n).view(-1)
    pts = x.transpose(2, 1).contiguous()
    nb = pts.view(b * n, -1)[idx].view(b, n, k, c)
    centre = pts.view(b, n, 1, c).expand(-1, -1, k, -1)
    return torch.cat([nb - centre, centre], dim=3).permute(0, 3, 1, 2)


class DGCNN(nn.Module):
    def __init__(self, k=16, classes=len(CLASSES)):
        super().__init__()
        self.k = k
        self.e1 = nn.Sequential(nn.Conv2d(6, 32, 1, bias=False), nn.BatchNorm2d(32), nn.LeakyReLU(0.2))
        self.e2 = nn.Sequential(nn.Conv2d(64, 32, 1, bias=False), nn.BatchNorm2d(32), nn.LeakyReLU(0.2))
        self.e3 = nn.Sequential(nn.Conv2d(64, 64, 1, bias=False), nn.BatchNorm2d(64), nn.LeakyReLU(0.2))
        self.mix = nn.Sequential(nn.Conv1d(128, 256, 1, bias=False), nn.BatchNorm1d(256), nn.LeakyReLU(0.2))
        self.head = nn.Sequential(
            nn.Linear(512, 128, bias=False), nn.BatchNorm1d(128), nn.LeakyReLU(0.2), nn.Dropout(0.5),
            nn.Linear(128, classes),
        )

    def forward(self, x):  # [B, 3, N]
        x1 = self.e1(edge_features(x, self.k)).max(dim=-1)[0]
        x2 = self.e2(edge_features(x1, self.k)).max(dim=-1)[0]
        x3 = self.e3(edge_features(x2, self.k)).max(dim=-1)[0]
        f = self.mix(torch.cat([x1, x2, x3], dim=1))
        return self.head(torch.cat([f.max(dim=-1)[0], f.mean(dim=-1)], dim=1))


def model_frame(xyz, n, rng):
    """n points drawn at random, centred on the scan's centroid and scaled into the unit sphere:
    pointlime's default model frame (unit-sphere normalisation, z up), which is what the callable
    receives at explanation time."""
    centred = xyz - xyz.mean(axis=0)
    centred /= np.sqrt((centred**2).sum(axis=1).max())
    pick = rng.choice(len(centred), n, replace=len(centred) < n)
    return centred[pick].astype(np.float32)


def load(data, test):
    scans = []
    for i in range(500):
        path = data / "dales_objects" / f"{i:03d}.xyz"
        if path.is_file() and ((i % 10) >= 8) == test:
            scans.append((path, i // 100))
    return scans


def train(net, scans, points, epochs, seed):
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    clouds = [(pointlime.read(p).xyz, y) for p, y in scans]
    opt = torch.optim.Adam(net.parameters(), lr=2e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    for epoch in range(epochs):
        net.train()
        order = rng.permutation(len(clouds))
        t, seen, right = time.time(), 0, 0
        for start in range(0, len(order), 16):
            batch = [clouds[j] for j in order[start : start + 16]]
            # Augmented as such scans vary: a turn about z and a little scale.
            x = []
            for xyz, _ in batch:
                a = rng.uniform(0, 2 * np.pi)
                rot = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
                x.append(model_frame(xyz @ rot.T, points, rng) * rng.uniform(0.85, 1.15))
            x = torch.from_numpy(np.stack(x)).transpose(1, 2)
            y = torch.tensor([c for _, c in batch])
            logits = net(x)
            loss = F.cross_entropy(logits, y, label_smoothing=0.1)
            opt.zero_grad()
            loss.backward()
            opt.step()
            seen += len(batch)
            right += int((logits.argmax(1) == y).sum())
        sched.step()
        print(f"epoch {epoch + 1}/{epochs}: train accuracy {right / seen:.3f}, {time.time() - t:.0f} s", flush=True)


def main():
    root = pathlib.Path(__file__).resolve().parents[2]
    p = argparse.ArgumentParser()
    p.add_argument("--data", type=pathlib.Path, default=pathlib.Path(os.environ.get("POINTLIME_DATA", root.parent / "shared" / "data")))
    p.add_argument("--weights", type=pathlib.Path, default=pathlib.Path("dgcnn_dales.pt"))
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--points", type=int, default=512)
    p.add_argument("--scan", default="308.xyz", help="a test object (number ending in 8 or 9)")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    torch.set_num_threads(os.cpu_count())
    net = DGCNN()
    if a.weights.is_file():
        net.load_state_dict(torch.load(a.weights))
    else:
        train(net, load(a.data, test=False), a.points, a.epochs, a.seed)
        torch.save(net.state_dict(), a.weights)
    net.eval()

    # Test accuracy, on pointlime's own model frame.
    rng = np.random.default_rng(a.seed)
    test = load(a.data, test=True)
    with torch.no_grad():
        x = torch.from_numpy(np.stack([model_frame(pointlime.read(q).xyz, a.points, rng) for q, _ in test]))
        pred = net(x.transpose(1, 2)).argmax(1).numpy()
    print(f"test accuracy {np.mean(pred == np.array([y for _, y in test])):.3f} on {len(test)} held-out objects")

    # The callable: pointlime hands it float32 [B, N, 3] clouds in the model frame.
    def forward(batch):
        with torch.no_grad():
            return net(torch.from_numpy(batch).transpose(1, 2))

    scan = a.data / "dales_objects" / a.scan
    t = time.time()
    e = pointlime.explain(scan, forward, classes=CLASSES, points=a.points, samples=1000, seed=a.seed, batch_size=64)
    took = time.time() - t
    ex = e.report["explanations"][0]
    print(f"{scan.name}: predicted {e.predicted} (p = {e.probabilities.max():.3f}); "
          f"{ex['method']} over {len(e.segment_values)} segments, R² = {ex['r2']:.3f}, in {took:.1f} s")
    top = np.argsort(-e.segment_values)[:3]
    for s in top:
        seg = e.report["segments"][s]
        print(f"  segment {s}: {e.segment_values[s]:+.3f}, {seg['points']} points, height {seg['centroid'][2] - e.cloud.xyz[:, 2].min():.1f} m above the lowest point")
    out, report = e.write(scan.stem + ".dgcnn.explained.ply")
    print(f"wrote {out} and {report}")


if __name__ == "__main__":
    main()
