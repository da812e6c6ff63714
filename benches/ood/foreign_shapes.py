#!/usr/bin/env python3
"""Foreign-domain scans for `pointlime competence --evaluate` that pointlime cannot read as they
are shipped: the ModelNet meshes (OFF, inside zip files) and BIMNet10 (HDF5) of
`$POINTLIME_DATA/modelnet_meta`, written as `x y z` text scans under OUT:

- OUT/modelnet/<name>.xyz: each ModelNet10/40 mesh sampled to 2048 points, uniformly by area
  (a triangle by its area, then a uniform point in it), numpy seed 0;
- OUT/bimnet10/<split>_<index>_<label>.xyz: every BIMNet10 building element, its 2048 points.

Both are z up as stored. Usage (Debian's python3 with python3-numpy and python3-h5py):
    /usr/bin/python3 benches/ood/foreign_shapes.py OUT
"""
import io
import os
import sys
import zipfile

import h5py
import numpy as np

POINTS = 2048


def read_off(text):
    """Vertices and triangles (fans of larger faces) of an OFF mesh. ModelNet's files sometimes
    run the counts into the header line ("OFF123 456 0")."""
    words = text.split()
    if words[0] == "OFF":
        words = words[1:]
    elif words[0].startswith("OFF"):
        words[0] = words[0][3:]
    else:
        raise ValueError("not an OFF file")
    nv, nf = int(words[0]), int(words[1])
    at = 3
    vertices = np.array(words[at:at + 3 * nv], dtype=np.float64).reshape(nv, 3)
    at += 3 * nv
    triangles = []
    for _ in range(nf):
        k = int(words[at])
        face = [int(w) for w in words[at + 1:at + 1 + k]]
        at += 1 + k
        triangles += [(face[0], face[i], face[i + 1]) for i in range(1, k - 1)]
    return vertices, np.array(triangles, dtype=np.int64)


def sample(vertices, triangles, n, rng):
    a, b, c = (vertices[triangles[:, i]] for i in range(3))
    area = 0.5 * np.linalg.norm(np.cross(b - a, c - a), axis=1)
    pick = rng.choice(len(area), size=n, p=area / area.sum())
    u, v = rng.random(n), rng.random(n)
    flip = u + v > 1
    u[flip], v[flip] = 1 - u[flip], 1 - v[flip]
    return a[pick] + u[:, None] * (b[pick] - a[pick]) + v[:, None] * (c[pick] - a[pick])


def write_xyz(path, points):
    np.savetxt(path, points, fmt="%.6f")


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    data = os.environ.get("POINTLIME_DATA", "../shared/data")
    meta = os.path.join(data, "modelnet_meta")
    rng = np.random.default_rng(0)
    os.makedirs(os.path.join(out, "modelnet"), exist_ok=True)
    meshes = 0
    for name in ("ModelNet10.zip", "ModelNet40.zip"):
        with zipfile.ZipFile(os.path.join(meta, "Flux3D_test_assets", name)) as z:
            for member in sorted(z.namelist()):
                if not member.endswith(".off"):
                    continue
                text = io.TextIOWrapper(z.open(member), encoding="ascii").read()
                vertices, triangles = read_off(text)
                stem = os.path.splitext(os.path.basename(member))[0]
                prefix = name.split(".")[0].lower()
                write_xyz(os.path.join(out, "modelnet", f"{prefix}_{stem}.xyz"),
                          sample(vertices, triangles, POINTS, rng))
                meshes += 1
    os.makedirs(os.path.join(out, "bimnet10"), exist_ok=True)
    elements = 0
    for split in ("train", "test"):
        with h5py.File(os.path.join(meta, "BIMNet10", f"bimnet10_{split}.h5"), "r") as f:
            for i, (points, label) in enumerate(zip(f["data"][:], f["label"][:])):
                write_xyz(os.path.join(out, "bimnet10", f"{split}_{i:03d}_{int(label)}.xyz"), points)
                elements += 1
    print(f"wrote {meshes} ModelNet meshes and {elements} BIMNet10 elements under {out}")


if __name__ == "__main__":
    main()
