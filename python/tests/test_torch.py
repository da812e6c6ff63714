"""A PyTorch network as a callable gives the coefficients its ONNX export gives through the CLI:
the same clouds reach both (same seed, same settings), so only the runtimes' float rounding
differs. Required in CI (POINTLIME_REQUIRE_TORCH=1)."""

import json
import subprocess

import numpy as np
import pytest

import pointlime

CLASSES = ["building", "car", "fence", "pole", "tree"]
POINTS = 512


def pointnet(torch):
    """A small PointNet (per-point convolutions, a max over points, a classifier head), with
    fixed random weights: what matters here is that both paths run the same numbers."""
    torch.manual_seed(0)
    nn = torch.nn

    class PointNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(
                nn.Conv1d(3, 32, 1), nn.ReLU(), nn.Conv1d(32, 64, 1), nn.ReLU(), nn.Conv1d(64, 128, 1)
            )
            self.head = nn.Sequential(nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, len(CLASSES)))

        def forward(self, x):  # [B, 3, N]
            return self.head(self.features(x).max(dim=2).values)

    return PointNet().eval()


def test_torch_callable_gives_the_clis_onnx_coefficients(torch, data, cli, tmp_path):
    net = pointnet(torch)
    onnx = tmp_path / "net.onnx"
    torch.onnx.export(
        net, torch.zeros(2, 3, POINTS), str(onnx), input_names=["points"], output_names=["logits"],
        dynamic_axes={"points": {0: "batch", 2: "n"}, "logits": {0: "batch"}}, opset_version=13,
    )
    (tmp_path / "net.json").write_text(json.dumps({"class_names": CLASSES, "num_points": POINTS}))
    scan = data / "dales_objects" / "005.xyz"
    settings = dict(samples=300, seed=11, segments=30, scoring="full")
    subprocess.run(
        [str(cli), "explain", str(scan), "--model", str(onnx), "--samples", "300", "--seed", "11",
         "--segments", "30", "--scoring", "full", "--out", str(tmp_path / "cli.ply")],
        check=True, capture_output=True,
    )
    expected = json.loads((tmp_path / "cli.json").read_text())["explanations"][0]["coefficients"]

    def forward(batch):  # [B, N, 3] float32, as an ONNX model receives it
        with torch.no_grad():
            return net(torch.from_numpy(batch).transpose(1, 2))

    e = pointlime.explain(scan, forward, classes=CLASSES, points=POINTS, **settings)
    got = e.segment_values
    expected = np.asarray(expected)
    assert got.shape == expected.shape
    # Relative to the largest coefficient: near-zero ones carry the runtimes' rounding alone.
    assert np.max(np.abs(got - expected)) <= 1e-5 * np.max(np.abs(expected))
    # And the same model through the package's ONNX door gives the CLI's numbers exactly.
    via_onnx = pointlime.explain(scan, onnx, **settings)
    assert np.array_equal(via_onnx.segment_values, expected)
