#!/usr/bin/env python3
"""What models/organs looks at when it calls a point stem (its MODEL_CARD.md's last section).

Explains every third held-out laser scan (tomato, tobacco, sorghum) for the region the model calls
stem, with the organs themselves as segments (`--segments-from column_3`, where 2 is the stem
system and every other value one leaf), twice: with the stem's own points perturbed too, and with
the stem kept and only its context perturbed. Then reads the batch reports:

- perturbed: in how many scans the stem organ is the top segment, and its share of the positive
  mass;
- kept: how many leaves raise the stem score, and the Spearman correlation of a leaf's
  coefficient with its height (y is up) per scan.

Usage: benches/organs_looks_at.py POINTLIME MODEL_DIR WORK_DIR  (run from the repository root;
the manifest is models/organs/split.csv, whose paths are relative to it).
"""
import csv
import json
import os
import statistics
import subprocess
import sys


def spearman(a, b):
    def ranks(v):
        order = sorted(range(len(v)), key=lambda i: v[i])
        r = [0.0] * len(v)
        i = 0
        while i < len(order):
            j = i
            while j + 1 < len(order) and v[order[j + 1]] == v[order[i]]:
                j += 1
            for k in range(i, j + 1):
                r[order[k]] = (i + j) / 2.0
            i = j + 1
        return r

    ra, rb = ranks(a), ranks(b)
    ma, mb = statistics.fmean(ra), statistics.fmean(rb)
    num = sum((x - ma) * (y - mb) for x, y in zip(ra, rb))
    den = (sum((x - ma) ** 2 for x in ra) * sum((y - mb) ** 2 for y in rb)) ** 0.5
    return num / den if den > 0 else None


def main():
    binary, model, work = sys.argv[1:4]
    manifest = "models/organs/split.csv"
    base = os.path.dirname(manifest)
    scans = os.path.join(work, "scans")
    os.makedirs(scans, exist_ok=True)
    with open(manifest) as f:
        rows = [r for r in csv.DictReader(f) if r["split"] == "test" and r["class"] != "soybean"]
    for r in rows[::3]:
        src = os.path.abspath(os.path.join(base, r["path"]))
        dst = os.path.join(scans, os.path.basename(src))
        if not os.path.exists(dst):
            os.symlink(src, dst)
    results = {}
    for mode, extra in [("perturbed", ["--perturb-region"]), ("kept", [])]:
        out = os.path.join(work, mode)
        subprocess.run(
            [binary, "batch", scans, "--model", model, "--region", "class=stem",
             "--segments-from", "column_3", "--out", out] + extra,
            check=True,
        )
        # Each scan's NAME.json holds its summary row and, under `report`, the full report.
        reports = [
            json.load(open(os.path.join(out, name))).get("report")
            for name in sorted(os.listdir(out))
            if name.endswith(".json")
        ]
        results[mode] = [r for r in reports if r and r.get("explanations") and r.get("segments")]
    top, shares, coefs = 0, [], []
    for r in results["perturbed"]:
        c = r["explanations"][0]["coefficients"]
        stem = [i for i, s in enumerate(r["segments"]) if s.get("field_value") == 2.0]
        if not stem:
            continue
        s = stem[0]
        top += max(range(len(c)), key=lambda i: c[i]) == s
        positive = sum(v for v in c if v > 0)
        shares.append(max(c[s], 0.0) / positive if positive > 0 else 0.0)
        coefs.append(c[s])
    print(f"perturbed: {len(shares)} scans; the stem organ is the top segment in {top}; "
          f"median share of the positive mass {statistics.median(shares):.2f}; "
          f"median stem coefficient {statistics.median(coefs):.3f}")
    raising, leaves, rhos = 0, 0, []
    for r in results["kept"]:
        c = r["explanations"][0]["coefficients"]
        leaf = [i for i, s in enumerate(r["segments"]) if s.get("field_value") not in (None, 2.0)]
        leaves += len(leaf)
        raising += sum(c[i] > 0 for i in leaf)
        if len(leaf) >= 3:
            rho = spearman([c[i] for i in leaf], [r["segments"][i]["centroid"][1] for i in leaf])
            if rho is not None:
                rhos.append(rho)
    print(f"kept: {raising} of {leaves} leaves raise the stem score; Spearman of leaf "
          f"coefficient with height: median {statistics.median(rhos):.2f}, negative in "
          f"{sum(r < 0 for r in rhos)} of {len(rhos)} scans")


if __name__ == "__main__":
    main()
