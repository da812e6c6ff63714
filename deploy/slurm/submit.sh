#!/usr/bin/env bash
# Submits a pointlime batch job array of N shards and a merge job that runs when every shard has
# completed (afterok). Prints the two job ids.
#
#   deploy/slurm/submit.sh N INPUT_DIR OUT_DIR [pointlime batch flags…]
#
# Environment: POINTLIME (the binary, default `pointlime` on the PATH), SBATCH_FLAGS (extra flags
# for both jobs, e.g. "--partition=cpu --account=lab"), POINTLIME_MODEL (a model directory; by
# default the model built into the binary).
set -euo pipefail
if [ $# -lt 3 ]; then
    echo "usage: $0 N INPUT_DIR OUT_DIR [pointlime batch flags…]" >&2
    exit 2
fi
n=$1
input=$(realpath "$2")
out=$(realpath -m "$3")
shift 3
here=$(dirname "$(realpath "$0")")
pointlime=${POINTLIME:-pointlime}
mkdir -p "$out/logs"
# shellcheck disable=SC2086
array=$(sbatch --parsable ${SBATCH_FLAGS:-} --array="0-$((n - 1))" \
    --output="$out/logs/shard-%a.log" \
    "$here/pointlime-batch.sbatch" "$input" "$out" "$@")
summaries=""
for ((i = 0; i < n; i++)); do
    summaries+=" $out/summary.shard-$i-of-$n.jsonl"
done
# shellcheck disable=SC2086
# A shard that fails fatally makes the dependency unsatisfiable: cancel the merge then, rather than
# leave it pending forever; resubmit the failed shards and the merge (README).
merge=$(sbatch --parsable ${SBATCH_FLAGS:-} --dependency="afterok:$array" --kill-on-invalid-dep=yes \
    --job-name=pointlime-merge --cpus-per-task=1 --mem=256M \
    --output="$out/logs/merge.log" \
    --wrap="\"$pointlime\" merge $summaries --out \"$out\"")
echo "$array $merge"
