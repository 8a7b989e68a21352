#!/usr/bin/env bash
# Re-measures one embedded model's experiments with the commands docs/experiments.md shows, writing
# notebooks/results/<PREFIX>_*.json (what the notebooks and the docs' tables read) and the demo's
# whole-split table, so a retrained model is re-measured with one command. Every step resumes after a
# kill (`--resume`: a finished step is read back, not redone), so rerun the same command to go on;
# delete a result to redo it. Hours on the 2-core VM; never in CI.
#
#   tools/model_results.sh assets/small-llama small 512 4,3,2   # MODEL PREFIX HADAMARD [LEVELS]
#   tools/model_results.sh assets/tiny-llama tiny 256
#
# HADAMARD is the block the KL runs use (the largest power of two dividing the model's widths, ≤ 1024);
# the perplexity table and the allocation-vs-one-grid rows use 256 on both models, as in the docs.
# LEVELS are sensitivity's noise levels (default 6,5,4,3,2; the small model's runs use 4,3,2).
# Scratch checkpoints go to $WORK (default /tmp/ql-results-PREFIX); set NICE to change the priority
# and RESULTS to collect the JSON elsewhere than notebooks/results (e.g. to swap a retrained model's
# whole set in at once, so the notebooks never mix two checkpoints' results).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -lt 3 ]; then
  echo "usage: tools/model_results.sh MODEL PREFIX HADAMARD [LEVELS]" >&2
  exit 2
fi
MODEL=$1 P=$2 H=$3 LEVELS=${4:-6,5,4,3,2}
R=${RESULTS:-notebooks/results} W=${WORK:-/tmp/ql-results-$P}
mkdir -p "$W" "$R"
ql() { nice -n "${NICE:-10}" ./quantlab "$@"; }
say() { echo "== $(date -u +%H:%M:%S) $*"; }
# Runs write into $W (with their resume logs beside them); the finished JSON is copied to $R.
keep() { cp "$W/$1" "$R/${P}_$1"; }
# bits/weight of a checkpoint as `quantlab error` measures it (what a plan must match).
bits() { ql error "$MODEL" "$1" --json | ql deno eval --quiet \
  'const d = JSON.parse(await new Response(Deno.stdin.readable).text()); console.log(d.total.bitsPerWeight)'; }

say "1. the model's own record (eval_record.json) and bits/byte"
ql ppl "$MODEL" --text brown:test --ctx 256 --out "$W/dense_brown.json" --resume -q
ql ppl "$MODEL" --text sotu:test --ctx 256 --out "$W/dense_sotu.json" --resume -q

say "2. the demo's perplexity table over the whole split"
[ -s "$W/demo_full.txt" ] || { ql demo --full --model "$MODEL" -q > "$W/demo_full.part" &&
  mv "$W/demo_full.part" "$W/demo_full.txt"; }
keep demo_full.txt

say "3. sensitivities (KL on random tokens), isotropic and block-shaped noise"
ql sensitivity "$MODEL" --random --windows 4 --levels "$LEVELS" \
  --out "$W/sensitivity_kl.json" --resume -q > /dev/null
ql sensitivity "$MODEL" --random --windows 4 --levels "$LEVELS" --noise-block "$H" \
  --out "$W/sensitivity_kl_block$H.json" --resume -q > /dev/null
keep sensitivity_kl.json && keep "sensitivity_kl_block$H.json"

say "4. one grid everywhere: (2,64) and (2,256), both scale rules; their bits are the budgets"
for rule in rms unbiased; do
  for n in 64 256; do
    ql quantize "$MODEL" --method higgs --n $n --hadamard "$H" --scale-rule $rule \
      --out "$W/u${n}_h${H}_$rule" --resume -q > /dev/null
  done
done
B64=$(bits "$W/u64_h${H}_rms") B256=$(bits "$W/u256_h${H}_rms")
say "   (2,64) = $B64, (2,256) = $B256 bits/weight at Hadamard $H"

say "5. the linearity check by KL: α from isotropic / block-shaped noise × RMS / unbiased scales"
for shape in iso block; do
  sens=$W/sensitivity_kl.json
  [ $shape = block ] && sens=$W/sensitivity_kl_block$H.json
  for rule in rms unbiased; do
    ql linearity "$MODEL" -s "$sens" --random --windows 8 --hadamard "$H" --mixes 4 \
      --budgets "2.5,$B64,3.5,$B256" --scale-rule $rule \
      --out "$W/linearity_kl_${shape}_$rule.json" --resume -q > /dev/null
    keep "linearity_kl_${shape}_$rule.json"
  done
done

say "6. allocation against one grid at (2,64)'s bits, by whole-split perplexity (Hadamard 256)"
for rule in rms unbiased; do
  ql quantize "$MODEL" --method higgs --n 64 --hadamard 256 --scale-rule $rule \
    --out "$W/u64_h256_$rule" --resume -q > /dev/null
done
B64_256=$(bits "$W/u64_h256_rms")
for rule in rms unbiased; do
  [ -s "$W/plan_$rule.json" ] || ql allocate "$W/sensitivity_kl.json" --budget "$B64_256" \
    --hadamard 256 --scale-rule $rule --out "$W/plan_$rule.json" -q > /dev/null
  ql quantize "$MODEL" --plan "$W/plan_$rule.json" --out "$W/opt_$rule" --resume -q > /dev/null
  ql ppl "$W/u64_h256_$rule" --text brown:test --ctx 256 --out "$W/ppl_full_u64_$rule.json" \
    --resume -q > /dev/null
  ql ppl "$W/opt_$rule" --text brown:test --ctx 256 --out "$W/ppl_full_opt_iso_$rule.json" \
    --resume -q > /dev/null
  keep "ppl_full_u64_$rule.json" && keep "ppl_full_opt_iso_$rule.json"
done
ql deno run --allow-read tools/paired_ppl.ts "$W/ppl_full_u64_rms.json" \
  "$W/ppl_full_u64_unbiased.json" "$W/ppl_full_opt_iso_rms.json" "$W/ppl_full_opt_iso_unbiased.json"
say "done: $R/${P}_*; then tools/record_eval.ts, the notebooks and docs/experiments.md's tables"
