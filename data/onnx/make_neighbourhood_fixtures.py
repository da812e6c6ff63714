#!/usr/bin/python3
"""ONNX fixtures of the networks users bring (issue #30, item 1): a small DGCNN and a small
PointNet++ (single-scale grouping), written in plain PyTorch as their reference implementations
write them, exported by torch.onnx.export with dynamic batch and point axes (opset 13), with the
logits PyTorch gave for the fixed clouds of reference.json, so that pointlime's tests check tract
against PyTorch with no Python.

Run from the repository root with Debian's python3-torch and python3-onnx:

    /usr/bin/python3 data/onnx/make_neighbourhood_fixtures.py

It writes, next to itself:
  dgcnn.onnx               DGCNN (Wang et al. 2019): four EdgeConv layers on the k = 16 nearest
                           neighbours (found by topk on pairwise distances, in feature space after
                           the first layer), max + mean pooling, a head; [B, 3, N] -> [B, 3]
  pointnet2_ssg.onnx       PointNet++ SSG (Qi et al. 2017b): farthest point sampling in plain
                           PyTorch (a loop the exporter unrolls), ball query by a masked topk,
                           two set abstractions and a global one; [B, 3, N] -> [B, 3]
  reference_neighbourhood.json   each model's logits for reference.json's clouds (N >= 32)
"""

import json
import os

import torch
import torch.nn as nn

torch.manual_seed(0)
HERE = os.path.dirname(os.path.abspath(__file__))
K = 16


def conv2d_bn(i, o):
    return nn.Sequential(nn.Conv2d(i, o, 1, bias=False), nn.BatchNorm2d(o), nn.LeakyReLU(0.2))


def knn(x, k):
    """Indices of each point's k nearest points (itself included), x [B, C, N] -> [B, N, k]."""
    inner = -2 * torch.matmul(x.transpose(2, 1), x)
    xx = torch.sum(x ** 2, dim=1, keepdim=True)
    neg_dist = -xx - inner - xx.transpose(2, 1)
    return neg_dist.topk(k=k, dim=-1)[1]


def graph_feature(x, k):
    """EdgeConv's input: [x_j - x_i, x_i] for the k neighbours j of every point i."""
    b, c, n = x.size()
    idx = knn(x, k)
    idx = (idx + torch.arange(0, b).view(-1, 1, 1) * n).view(-1)
    xt = x.transpose(2, 1).contiguous()
    neighbours = xt.view(b * n, -1)[idx, :].view(b, n, k, c)
    centre = xt.view(b, n, 1, c).repeat(1, 1, k, 1)
    return torch.cat((neighbours - centre, centre), dim=3).permute(0, 3, 1, 2).contiguous()


class DGCNN(nn.Module):
    """The fixture's widths by default; the paper's are edges (64, 64, 128, 256), embedding
    1024, head 512 (benches/peers/neighbourhood_nets.py builds that one)."""

    def __init__(self, classes=3, k=K, edges=(16, 16, 32, 32), embedding=64, head=32):
        super().__init__()
        self.k = k
        layers, i = [], 3
        for o in edges:
            layers.append(conv2d_bn(2 * i, o))
            i = o
        self.edges = nn.ModuleList(layers)
        self.fuse = nn.Sequential(
            nn.Conv1d(sum(edges), embedding, 1, bias=False), nn.BatchNorm1d(embedding), nn.LeakyReLU(0.2)
        )
        self.head = nn.Sequential(
            nn.Linear(2 * embedding, head, bias=False), nn.BatchNorm1d(head), nn.LeakyReLU(0.2),
            nn.Dropout(0.5), nn.Linear(head, classes),
        )

    def forward(self, x):  # [B, 3, N] -> [B, classes]
        outs = []
        for edge in self.edges:
            x = edge(graph_feature(x, self.k)).max(dim=-1)[0]
            outs.append(x)
        h = self.fuse(torch.cat(outs, dim=1))
        g = torch.cat([h.max(dim=-1)[0], h.mean(dim=-1)], dim=1)
        return self.head(g)


def square_distance(a, b):
    """[B, S, 3] x [B, N, 3] -> [B, S, N] squared distances."""
    return (
        torch.sum(a ** 2, -1).unsqueeze(-1)
        + torch.sum(b ** 2, -1).unsqueeze(1)
        - 2 * torch.matmul(a, b.transpose(1, 2))
    )


def gather_points(points, idx):
    """points [B, N, C], idx [B, S, ...] -> [B, S, ..., C]."""
    b, _, c = points.shape
    flat = idx.reshape(b, -1, 1).expand(-1, -1, c)
    return torch.gather(points, 1, flat).reshape(list(idx.shape) + [c])


def farthest_point_sample(xyz, npoint):
    """Farthest point sampling from the first point, xyz [B, N, 3] -> [B, npoint] indices."""
    b, n, _ = xyz.shape
    distance = torch.ones(b, n) * 1e10
    farthest = torch.zeros(b, dtype=torch.long)
    chosen = []
    for _ in range(npoint):
        chosen.append(farthest)
        centroid = gather_points(xyz, farthest.view(b, 1))
        distance = torch.min(distance, torch.sum((xyz - centroid) ** 2, -1))
        farthest = torch.max(distance, -1)[1]
    return torch.stack(chosen, 1)


def ball_query(radius, nsample, xyz, centres):
    """The nsample nearest points within radius of each centre (topk over distances with the
    points outside masked away); missing ones repeat the nearest. -> [B, S, nsample]."""
    d = square_distance(centres, xyz)
    masked = torch.where(d > radius ** 2, torch.full_like(d, 1e10), d)
    values, idx = (-masked).topk(nsample, dim=-1)
    nearest = idx[:, :, :1].expand_as(idx)
    return torch.where(values < -1e9, nearest, idx)


class SetAbstraction(nn.Module):
    def __init__(self, npoint, radius, nsample, channels, widths):
        super().__init__()
        self.npoint, self.radius, self.nsample = npoint, radius, nsample
        layers, i = [], channels + 3
        for o in widths:
            layers += [nn.Conv2d(i, o, 1), nn.BatchNorm2d(o), nn.ReLU()]
            i = o
        self.mlp = nn.Sequential(*layers)

    def forward(self, xyz, features):  # [B, N, 3], [B, N, C] or None
        centres = gather_points(xyz, farthest_point_sample(xyz, self.npoint))
        idx = ball_query(self.radius, self.nsample, xyz, centres)
        grouped = gather_points(xyz, idx) - centres.unsqueeze(2)
        if features is not None:
            grouped = torch.cat([grouped, gather_points(features, idx)], dim=-1)
        h = self.mlp(grouped.permute(0, 3, 1, 2)).max(dim=-1)[0]  # [B, C', S]
        return centres, h.transpose(1, 2)


class PointNet2SSG(nn.Module):
    """The fixture's sizes by default; the paper's classification network is sa1 = (512, 0.2,
    32, [64, 64, 128]), sa2 = (128, 0.4, 64, [128, 128, 256]), global 1024, head 512
    (benches/peers/neighbourhood_nets.py builds that one)."""

    def __init__(self, classes=3, sa1=(32, 0.4, 16, [16, 16, 32]), sa2=(8, 0.8, 8, [32, 64]),
                 global_width=64, head=32):
        super().__init__()
        self.sa1 = SetAbstraction(sa1[0], sa1[1], sa1[2], 0, sa1[3])
        self.sa2 = SetAbstraction(sa2[0], sa2[1], sa2[2], sa1[3][-1], sa2[3])
        self.global_mlp = nn.Sequential(
            nn.Conv1d(sa2[3][-1] + 3, global_width, 1), nn.BatchNorm1d(global_width), nn.ReLU()
        )
        self.head = nn.Sequential(
            nn.Linear(global_width, head), nn.BatchNorm1d(head), nn.ReLU(), nn.Dropout(0.4),
            nn.Linear(head, classes),
        )

    def forward(self, x):  # [B, 3, N] -> [B, classes]
        xyz = x.transpose(1, 2).contiguous()
        xyz, h = self.sa1(xyz, None)
        xyz, h = self.sa2(xyz, h)
        g = self.global_mlp(torch.cat([xyz, h], dim=-1).transpose(1, 2)).max(dim=-1)[0]
        return self.head(g)


def main():
    with open(os.path.join(HERE, "reference.json")) as f:
        clouds = [torch.tensor(c).t() for c in json.load(f)["clouds"]]
    reference = {"layout": "[B, 3, N]", "clouds": "reference.json", "models": {}}
    for name, model in [("dgcnn", DGCNN()), ("pointnet2_ssg", PointNet2SSG())]:
        # Running statistics that are not the identity, so that batch norm is exercised.
        model.train()
        with torch.no_grad():
            for _ in range(20):
                model(torch.randn(8, 3, 64))
        model.eval()
        torch.onnx.export(
            model,
            torch.randn(2, 3, 64),
            os.path.join(HERE, f"{name}.onnx"),
            input_names=["points"],
            output_names=["logits"],
            dynamic_axes={"points": {0: "batch", 2: "n"}, "logits": {0: "batch"}},
            opset_version=13,
        )
        with torch.no_grad():
            logits = [model(c.unsqueeze(0))[0].tolist() for c in clouds]
            # A batch of two equal-sized clouds gives each its own logits (no cross-talk).
            both = model(torch.stack([clouds[0], clouds[1]]))
            assert torch.allclose(both[0], torch.tensor(logits[0]), atol=1e-5)
        reference["models"][name] = {"file": f"{name}.onnx", "logits": logits}
        print(name, logits)
    with open(os.path.join(HERE, "reference_neighbourhood.json"), "w") as f:
        json.dump(reference, f, indent=1)


if __name__ == "__main__":
    main()
