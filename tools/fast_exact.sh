#!/usr/bin/env bash
# Measures the `fast` CPU LUT kernels' cost in quality on one model (docs/performance.md, "The fast
# kernels' cost in quality"): each format that has a `fast` kernel is quantized once, its perplexity
# taken over the whole of Brown's test split (ctx 256) with `--kernel exact` and `--kernel fast`, and
# the two compared window by window (tools/paired_ppl.ts: fast − exact, Δ mean NLL ± SE, z). Every
# step resumes after a kill (a finished checkpoint or perplexity file is kept, not redone), so rerun
# the same command to go on. After a change of the fast kernels delete $W/ppl_*_fast.json* (the run
# key names the kernel, not its code). Never in CI.
#
#   tools/fast_exact.sh assets/tiny-llama tiny          # MODEL PREFIX
#   FORMATS="nf4 rtn4" tools/fast_exact.sh assets/small-llama small
#
# FORMATS picks formats (default all, in this order): nf4 (NF4 g64), higgs16 and higgs256 (HIGGS
# (2,16) and (2,256), Hadamard 256, one scale per block), rtn4 (RTN 4-bit g64), rtn2 and hqq2 (RTN
# and HQQ 2-bit g64, T-MAC's bit-plane kernel). Scratch checkpoints and results go to $WORK
# (default /tmp/ql-fast-PREFIX); NICE sets the priority (default 19). About an hour for all six
# on the tiny model when the VM is not shared; three to four times that under a training run.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -ne 2 ]; then
  echo "usage: tools/fast_exact.sh MODEL PREFIX" >&2
  exit 2
fi
MODEL=$1 P=$2 W=${WORK:-/tmp/ql-fast-$2}
FORMATS=${FORMATS:-nf4 higgs16 higgs256 rtn4 rtn2 hqq2}
ql() { nice -n "${NICE:-19}" ./quantlab "$@"; }
say() { echo "== $(date -u +%H:%M:%S) $*"; }

# The quantize flags of a format (each one has a `fast` kernel: src/lut/int8_format.ts).
flags() {
  case $1 in
    nf4) echo "--method nf4 --group 64" ;;
    rtn4) echo "--method rtn --bits 4 --group 64" ;;
    rtn2) echo "--method rtn --bits 2 --group 64" ;;
    hqq2) echo "--method hqq --bits 2 --group 64" ;;
    higgs16) echo "--method higgs --p 2 --n 16 --hadamard 256" ;;
    higgs256) echo "--method higgs --p 2 --n 256 --hadamard 256" ;;
    *)
      echo "unknown format '$1' in FORMATS (valid: nf4 higgs16 higgs256 rtn4 rtn2 hqq2)" >&2
      exit 2
      ;;
  esac
}
for f in $FORMATS; do flags "$f" > /dev/null; done
mkdir -p "$W"
# A retrained model in the same folder must not resume the old one's checkpoints and results.
id=$(cat "$MODEL"/*.safetensors | sha256sum | cut -c1-16)
if [ -s "$W/model.id" ] && [ "$(cat "$W/model.id")" != "$id" ]; then
  echo "$W holds results of another $MODEL (weights $(cat "$W/model.id"), now $id): delete it or set WORK" >&2
  exit 2
fi
echo "$id" > "$W/model.id"

for f in $FORMATS; do
  say "$f: quantize ($(flags "$f")), then ppl exact and fast over brown:test, ctx 256"
  # shellcheck disable=SC2046 # the flags are words
  ql quantize "$MODEL" --out "$W/$f" --resume -q $(flags "$f") > /dev/null
  for k in exact fast; do
    ql ppl "$W/$f" --text brown:test --ctx 256 --kernel $k --out "$W/ppl_${f}_$k.json" \
      --resume -q > /dev/null
  done
done

say "paired, fast − exact (positive = fast worse), whole split, $MODEL"
for f in $FORMATS; do
  ql deno run --allow-read tools/paired_ppl.ts "$W/ppl_${f}_exact.json" "$W/ppl_${f}_fast.json"
done
say "done: $W"
