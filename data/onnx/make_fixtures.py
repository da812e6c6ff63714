#!/usr/bin/python3
"""ONNX fixtures from a real exporter (issue #15, item 5): small PointNets built and exported by
PyTorch's own torch.onnx.export, with dynamic batch and point axes, and the logits PyTorch gave
for fixed clouds, so that pointlime's tests check tract against PyTorch with no Python.

Run from the repository root with Debian's python3-torch and python3-onnx:

    /usr/bin/python3 data/onnx/make_fixtures.py

It writes, next to itself:
  pointnet_tnet.onnx    PointNet with input and feature T-Nets, layout [B, 3, N], 3 classes
  pointnet_plain.onnx   the same without T-Nets (per-point layers, max over points, head)
  pointnet_rgb.onnx     the plain one reading x, y, z, red, green, blue per point ([B, 6, N])
  pointnet_seg.onnx     a PointNet segmentation network: one score per point and class,
                        output [B, 3, N] (issue #29)
  reference.json        the fixed clouds, their colours, and each model's logits for them (for
                        pointnet_seg, per point: N rows of 3)
"""

import json
import os

import torch
import torch.nn as nn

torch.manual_seed(0)
HERE = os.path.dirname(os.path.abspath(__file__))


def conv_bn(i, o):
    return nn.Sequential(nn.Conv1d(i, o, 1), nn.BatchNorm1d(o), nn.ReLU())


def fc_bn(i, o):
    return nn.Sequential(nn.Linear(i, o), nn.BatchNorm1d(o), nn.ReLU())


class TNet(nn.Module):
    """Per-point layers, a max over points, a head regressing a k x k matrix plus identity."""

    def __init__(self, k):
        super().__init__()
        self.k = k
        self.points = nn.Sequential(conv_bn(k, 16), conv_bn(16, 32))
        self.head = nn.Sequential(fc_bn(32, 16), nn.Linear(16, k * k))

    def forward(self, x):  # [B, k, N] -> [B, k, k]
        g = self.points(x).max(dim=2)[0]
        m = self.head(g) + torch.eye(self.k).flatten()
        # The batch size read from the tensor, as most PointNet code writes it: exported as
        # Shape/Gather/Unsqueeze/Concat/Reshape, the dynamic-shape pattern of real exports.
        return m.view(x.size(0), self.k, self.k)


class PointNet(nn.Module):
    def __init__(self, classes=3, tnets=True, channels=3):
        super().__init__()
        self.input_tnet = TNet(3) if tnets else None
        self.first = conv_bn(channels, 16)
        self.feature_tnet = TNet(16) if tnets else None
        self.rest = nn.Sequential(conv_bn(16, 32), conv_bn(32, 64))
        self.head = nn.Sequential(fc_bn(64, 32), nn.Dropout(0.3), nn.Linear(32, classes))

    def forward(self, x):  # [B, 3, N] -> [B, classes] logits
        if self.input_tnet is not None:
            x = torch.bmm(self.input_tnet(x).transpose(1, 2), x)
        h = self.first(x)
        if self.feature_tnet is not None:
            h = torch.bmm(self.feature_tnet(h).transpose(1, 2), h)
        g = self.rest(h).max(dim=2)[0]
        return self.head(g)


class PointNetSeg(nn.Module):
    """PointNet's segmentation network (Qi et al. 2017, figure 2): every point's own feature
    beside the max-pooled global feature, then a per-point head."""

    def __init__(self, classes=3):
        super().__init__()
        self.local = nn.Sequential(conv_bn(3, 16), conv_bn(16, 32))
        self.wide = conv_bn(32, 64)
        self.head = nn.Sequential(conv_bn(32 + 64, 32), conv_bn(32, 16), nn.Conv1d(16, classes, 1))

    def forward(self, x):  # [B, 3, N] -> [B, classes, N] logits
        h = self.local(x)
        g = self.wide(h).max(dim=2, keepdim=True)[0].expand(-1, -1, x.size(2))
        return self.head(torch.cat([h, g], dim=1))


def clouds():
    """Two fixed clouds of 64 points and one of 100: a helix, a flat disc, a noisy ball."""
    t = torch.linspace(0, 1, 64)
    helix = torch.stack([torch.cos(12 * t), torch.sin(12 * t), 2 * t - 1])
    r, a = torch.sqrt(t), 40 * t
    disc = torch.stack([r * torch.cos(a), r * torch.sin(a), 0.05 * torch.sin(7 * a)])
    g = torch.Generator().manual_seed(1)
    ball = torch.randn(3, 100, generator=g)
    ball = ball / ball.norm(dim=0).max()
    return [helix, disc, ball]


def main():
    reference = {"layout": "[B, 3, N]", "clouds": [], "models": {}}
    inputs = clouds()
    reference["clouds"] = [c.t().tolist() for c in inputs]  # N x 3, as pointlime holds points
    for name, tnets in [("pointnet_tnet", True), ("pointnet_plain", False)]:
        model = PointNet(tnets=tnets)
        # Running statistics that are not the identity, so that batch norm is exercised.
        model.train()
        with torch.no_grad():
            for _ in range(20):
                model(torch.randn(8, 3, 64))
        model.eval()
        path = os.path.join(HERE, f"{name}.onnx")
        torch.onnx.export(
            model,
            torch.randn(2, 3, 64),
            path,
            input_names=["points"],
            output_names=["logits"],
            dynamic_axes={"points": {0: "batch", 2: "n"}, "logits": {0: "batch"}},
            opset_version=13,
        )
        with torch.no_grad():
            logits = [model(c.unsqueeze(0))[0].tolist() for c in inputs]
        reference["models"][name] = {"file": f"{name}.onnx", "logits": logits}
        print(name, logits)
    # Colour in [0, 1] from position, as a scan's red, green, blue fields scaled by pointlime.
    colours = [((c + 1) / 2).clamp(0, 1) for c in inputs]
    reference["colours"] = [c.t().tolist() for c in colours]
    model = PointNet(tnets=False, channels=6)
    model.train()
    with torch.no_grad():
        for _ in range(20):
            model(torch.rand(8, 6, 64))
    model.eval()
    torch.onnx.export(
        model,
        torch.randn(2, 6, 64),
        os.path.join(HERE, "pointnet_rgb.onnx"),
        input_names=["points"],
        output_names=["logits"],
        dynamic_axes={"points": {0: "batch", 2: "n"}, "logits": {0: "batch"}},
        opset_version=13,
    )
    with torch.no_grad():
        logits = [
            model(torch.cat([c, k]).unsqueeze(0))[0].tolist() for c, k in zip(inputs, colours)
        ]
    reference["models"]["pointnet_rgb"] = {"file": "pointnet_rgb.onnx", "logits": logits}
    print("pointnet_rgb", logits)
    model = PointNetSeg()
    model.train()
    with torch.no_grad():
        for _ in range(20):
            model(torch.randn(8, 3, 64))
    model.eval()
    torch.onnx.export(
        model,
        torch.randn(2, 3, 64),
        os.path.join(HERE, "pointnet_seg.onnx"),
        input_names=["points"],
        output_names=["logits"],
        dynamic_axes={"points": {0: "batch", 2: "n"}, "logits": {0: "batch", 2: "n"}},
        opset_version=13,
    )
    with torch.no_grad():
        logits = [model(c.unsqueeze(0))[0].t().tolist() for c in inputs]
    reference["models"]["pointnet_seg"] = {"file": "pointnet_seg.onnx", "logits": logits}
    print("pointnet_seg", [row[:2] for row in logits])
    with open(os.path.join(HERE, "reference.json"), "w") as f:
        json.dump(reference, f, indent=1)


if __name__ == "__main__":
    main()
