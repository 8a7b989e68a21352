#!/bin/sh
# Times `./quantlab demo` with OpenBLAS and with the library hidden (QUANTLAB_BLAS=none: the
# WebAssembly SIMD GEMM takes over), in one run on the same machine, and prints the ratio
# (issue 23's goal: ≤ 1.5×). Optional: a third run with the TypeScript GEMM
# (QUANTLAB_GEMM=typescript) when called with --typescript. Output of the demos goes to
# $TMPDIR/quantlab-demo-*.log.
# Run: sh bench/demo_without_blas.sh [--typescript]
set -e
ROOT=$(CDPATH= cd -- "$(dirname -- "$0")/.." && pwd)
LOG="${TMPDIR:-/tmp}/quantlab-demo"
now() { date +%s.%N; }
run() { # name, env assignments...
  name=$1
  shift
  t0=$(now)
  env "$@" "$ROOT/quantlab" demo >"$LOG-$name.log" 2>&1 || {
    echo "demo ($name) failed; see $LOG-$name.log" >&2
    exit 1
  }
  t1=$(now)
  echo "$t1 - $t0" | bc
}
"$ROOT/quantlab" info | grep "dense matmul" || true
with=$(run openblas QUANTLAB_BLAS=)
echo "demo with OpenBLAS:           ${with} s"
without=$(run wasm QUANTLAB_BLAS=none)
echo "demo with OpenBLAS hidden:    ${without} s (WebAssembly SIMD GEMM)"
echo "ratio (hidden / OpenBLAS):    $(echo "scale=2; $without / $with" | bc)"
if [ "${1:-}" = "--typescript" ]; then
  ts=$(run typescript QUANTLAB_BLAS=none QUANTLAB_GEMM=typescript)
  echo "demo with the TypeScript GEMM: ${ts} s; ratio $(echo "scale=2; $ts / $with" | bc)"
fi
uptime
