#!/bin/bash
# The competence check of every shipped per-scan model measured as an out-of-distribution
# detector (issue #32; docs/competence.md has the tables this writes). From the project root:
#     benches/ood/evaluate.sh OUT [PATH/TO/pointlime]
# Needs POINTLIME_DATA (default ../shared/data) and Debian's python3 with numpy and h5py for the
# ModelNet and BIMNet10 scans (benches/ood/foreign_shapes.py writes them under OUT/foreign).
# Writes OUT/MODEL.ood.md (the tables) and OUT/MODEL.ood.json (with every scan's scores).
set -euo pipefail
out=${1:?usage: evaluate.sh OUT [pointlime binary]}
bin=${2:-target/release/pointlime}
data=${POINTLIME_DATA:-../shared/data}
mkdir -p "$out"
[ -d "$out/foreign/bimnet10" ] || POINTLIME_DATA=$data /usr/bin/python3 benches/ood/foreign_shapes.py "$out/foreign"
common=(
    --foreign "modelnet:z=$out/foreign/modelnet"
    --foreign "bimnet10:z=$out/foreign/bimnet10"
    --foreign "las-conformance=$data/las_conformance"
    --foreign "ply-conformance=$data/ply_conformance"
    --composites "$data/dales_objects"
)
# The default model as ONNX, with statistics of its own (recorded as for any ONNX model).
"$bin" export --model models/default --onnx "$out/default.onnx" >/dev/null
"$bin" competence --model "$out/default.onnx" --fit "$data/dales_objects" >/dev/null
for model in models/default models/tnet "$out/default.onnx"; do
    name=$(basename "$model" .onnx)
    [ "$name" = default ] && [ "$model" != models/default ] && name=default-onnx
    "$bin" competence --model "$model" --evaluate "$data/dales_objects" \
        --foreign "plants:y=models/plants/split.csv" "${common[@]}" \
        --json "$out/$name.ood.json" --markdown "$out/$name.ood.md"
done
"$bin" competence --model models/plants --evaluate models/plants/split.csv \
    --foreign "dales:z=$data/dales_objects" "${common[@]}" \
    --json "$out/plants.ood.json" --markdown "$out/plants.ood.md"
