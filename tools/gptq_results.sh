#!/usr/bin/env bash
# Re-measures docs/experiments.md's GPTQ tables for one embedded model on the whole of Brown's test
# split, paired window by window: data-free HIGGS against GPTQ-HIGGS (p = 1 and 2, 2/3/4 bits),
# GPTQ-int3/int4 (group 128) against RTN and HQQ with the same groups, and at 3 bits the variants
# (act-order, 32 and 512 calibration windows, two more calibration seeds: the spread between draws).
# Every step resumes after a kill (a finished checkpoint or perplexity file is kept, not redone), so
# rerun the same command to go on. Hours on the 2-core VM; never in CI.
#
#   tools/gptq_results.sh assets/tiny-llama tiny      # MODEL PREFIX
#
# Scratch checkpoints and results go to $WORK (default /tmp/ql-gptq-PREFIX); the `quantize --json`
# reports (the layer objective, gptq.outputError) are kept beside them as NAME.json. Set NICE to
# change the priority.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -lt 2 ]; then
  echo "usage: tools/gptq_results.sh MODEL PREFIX" >&2
  exit 2
fi
MODEL=$1 P=$2 W=${WORK:-/tmp/ql-gptq-$2}
mkdir -p "$W"
ql() { nice -n "${NICE:-10}" ./quantlab "$@"; }
say() { echo "== $(date -u +%H:%M:%S) $*"; }

# quant NAME ARGS…: one checkpoint (its --json report kept as NAME.json), then its whole-split PPL.
quant() {
  local name=$1
  shift
  if [ ! -s "$W/$name.json" ]; then
    ql quantize "$MODEL" --out "$W/$name" --resume -q --json "$@" > "$W/$name.part"
    mv "$W/$name.part" "$W/$name.json"
  fi
  ql ppl "$W/$name" --text brown:test --ctx 256 --out "$W/ppl_$name.json" --resume -q > /dev/null
}
gptq() { quant "$1" --method gptq --calib brown:train --calib-ctx 256 "${@:2}"; }
paired() { ql deno run --allow-read tools/paired_ppl.ts "$@"; }

say "1. HIGGS data-free against GPTQ-HIGGS, p = 2 and 1, 2/3/4 bits"
for p in 2 1; do
  for b in 2 3 4; do
    quant "higgs_p${p}_b$b" --method higgs --p $p --bits $b
    gptq "gptq_higgs_p${p}_b$b" --grid "higgs:p=$p,bits=$b" --calib-samples 128
  done
done

say "2. GPTQ-int3/int4 g128 against RTN and HQQ with the same groups"
for b in 3 4; do
  quant "rtn_b$b" --method rtn --bits $b --group 128
  quant "hqq_b$b" --method hqq --bits $b --group 128
  gptq "gptq_rtn_b$b" --grid "rtn:bits=$b,group=128" --calib-samples 128
done

say "3. 3-bit variants: act-order, calibration size, calibration seed"
gptq gptq_higgs_p2_b3_actorder --grid higgs:p=2,bits=3 --calib-samples 128 --act-order
gptq gptq_higgs_p2_b3_c32 --grid higgs:p=2,bits=3 --calib-samples 32
gptq gptq_higgs_p2_b3_c512 --grid higgs:p=2,bits=3 --calib-samples 512
for s in 1 2; do
  gptq "gptq_higgs_p2_b3_seed$s" --grid higgs:p=2,bits=3 --calib-samples 128 --calib-seed $s
done

say "paired (B − A; negative = B better), whole split"
for p in 2 1; do
  for b in 2 3 4; do paired "$W/ppl_higgs_p${p}_b$b.json" "$W/ppl_gptq_higgs_p${p}_b$b.json"; done
done
for b in 3 4; do
  paired "$W/ppl_rtn_b$b.json" "$W/ppl_gptq_rtn_b$b.json" "$W/ppl_hqq_b$b.json"
  paired "$W/ppl_hqq_b$b.json" "$W/ppl_gptq_rtn_b$b.json"
done
paired "$W/ppl_gptq_higgs_p2_b3.json" "$W/ppl_gptq_higgs_p2_b3_actorder.json" \
  "$W/ppl_gptq_higgs_p2_b3_c32.json" "$W/ppl_gptq_higgs_p2_b3_c512.json" \
  "$W/ppl_gptq_higgs_p2_b3_seed1.json" "$W/ppl_gptq_higgs_p2_b3_seed2.json"
say "done: $W"
