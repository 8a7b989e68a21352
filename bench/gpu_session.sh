#!/usr/bin/env bash
# One prepared session on a machine with a real GPU: the adapter report, the WebGPU benchmarks
# (Hadamard vs copy, LUT GEMV vs dense f16 and copy, Llama prefill/decode), the GPU test suite on
# the real adapter, and the p ≥ 3 grids rebuilt with large final passes on the GPU.
#
#     bash bench/gpu_session.sh OUTDIR
#
# Everything it prints goes to OUTDIR/log.txt; rebuilt grids land in OUTDIR/grids.tar. Offline
# machines: it uses, when present, .devtools/deno.xz (the pinned Deno binary, xz-compressed),
# .devtools/deno_dir (a DENO_DIR with the npm cache), .devtools/debs/*.deb (OpenBLAS, unpacked
# under /tmp/ob) and .gl/*.deb (the Vulkan loader, unpacked into /). Preparing them (both folders
# are kept out of git through .git/info/exclude; together ~45 MB):
#   mkdir -p .devtools/debs .devtools/deno_dir .gl /tmp/amd64/partial
#   xz -T2 -6 -c .deno/node_modules/@deno/*/deno > .devtools/deno.xz
#   cp -r ~/.cache/deno/npm .devtools/deno_dir/
#   o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
#   apt-get $o update; (cd .gl && apt-get $o download libvulkan1 libegl1 libglvnd0 libopengl0 \
#     libgl1 libglx0 libgles2)
#   (cd .devtools/debs && apt-get $o download libopenblas0-pthread libgfortran5 libquadmath0)
# Environment knobs: DEADLINE (seconds, default 480), BENCHES, TESTS_ONLY_GPU=1 (skip the grid
# builds; run only the GPU tests), GRID_FINAL_SAMPLES / GRID_TRAIN_SAMPLES / GRID_FINAL_ITERATIONS.
set -u
OUT=${1:?usage: bash bench/gpu_session.sh OUTDIR}
mkdir -p "$OUT"
exec > >(tee "$OUT/log.txt") 2>&1
cd "$(dirname "$0")/.."
T0=$(date +%s)
stamp() { echo "=== [$(($(date +%s) - T0)) s] $*"; }

stamp setup
if ls .gl/*.deb >/dev/null 2>&1 && ! ldconfig -p | grep -q libvulkan.so.1; then
  for f in .gl/*.deb; do dpkg -x "$f" /; done
  ldconfig
fi
if [ -f .devtools/deno.xz ] && [ ! -x .deno/node_modules/.bin/deno ]; then
  mkdir -p .deno/node_modules/.bin
  xz -dc .devtools/deno.xz > .deno/node_modules/.bin/deno
  chmod +x .deno/node_modules/.bin/deno
fi
[ -d .devtools/deno_dir ] && export DENO_DIR="$PWD/.devtools/deno_dir"
if ls .devtools/debs/*.deb >/dev/null 2>&1; then
  for f in .devtools/debs/*.deb; do dpkg -x "$f" /tmp/ob; done
  export LD_LIBRARY_PATH="/tmp/ob/usr/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}"
  export QUANTLAB_BLAS=/tmp/ob/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.so.0
fi
export NO_COLOR=1 XDG_RUNTIME_DIR=/tmp/xdg
mkdir -p "$XDG_RUNTIME_DIR"
# One BLAS thread: the benches compare against single-thread sgemm.
export OPENBLAS_NUM_THREADS=1
DENO=.deno/node_modules/.bin/deno
nvidia-smi -L 2>/dev/null
nproc
$DENO --version | head -1
$DENO eval '
const a = await navigator.gpu.requestAdapter({ powerPreference: "high-performance" });
if (!a) { console.log("no WebGPU adapter"); Deno.exit(0); }
const i = a.info;
console.log(JSON.stringify({ vendor: i.vendor, architecture: i.architecture, device: i.device,
  description: i.description, fallback: i.isFallbackAdapter,
  features: [...a.features].sort(),
  limits: { maxStorageBufferBindingSize: a.limits.maxStorageBufferBindingSize,
    maxBufferSize: a.limits.maxBufferSize,
    maxComputeWorkgroupStorageSize: a.limits.maxComputeWorkgroupStorageSize,
    maxComputeInvocationsPerWorkgroup: a.limits.maxComputeInvocationsPerWorkgroup } }));'
if [ -n "${WEBGPU_ONLY_INFO:-}" ]; then exit 0; fi

# Deadline for the whole script (seconds from its start); later steps are skipped past it.
DEADLINE=${DEADLINE:-480}
left() { echo $((DEADLINE - ($(date +%s) - T0))); }
# cap N: N seconds, or what is left before the deadline (at least 1: `timeout 0` never stops).
cap() { local l; l=$(left); if [ "$l" -lt "$1" ]; then echo $((l > 1 ? l : 1)); else echo "$1"; fi; }
# BENCHES: the bench files to run (default below); "lut_bench@8192" runs lut_bench at 8192².
for b in ${BENCHES:-hadamard_bench lut_bench lut_bench@8192 llama_bench generate_bench}; do
  stamp "bench $b"
  n=${b#*@}
  [ "$n" = "$b" ] && n=""
  env ${n:+LUT_BENCH_GPU_N=$n} timeout "$(cap 150)" $DENO run -A "bench/${b%@*}.ts"
  echo "exit $?"
done
if [ -n "${TESTS_ONLY_GPU:-}" ]; then
  stamp "GPU tests on the real adapter"
  timeout "$(cap 120)" $DENO test -A --parallel --reporter=dot test/gpu test/hadamard test/lut \
    test/model test/grids/encode_gpu_test.ts > "$OUT/test_log.txt" 2>&1
  echo "tests exit $?"
  tail -30 "$OUT/test_log.txt"
  stamp done
  exit 0
fi

# Grid settings: 2^24 fresh samples in the final pass (65,536 per point at n = 256).
FINAL=${GRID_FINAL_SAMPLES:-16777216}
TRAIN=${GRID_TRAIN_SAMPLES:-2097152}
ITERS=${GRID_FINAL_ITERATIONS:-1500}
stamp "grids (p ≥ 3, n = 256) on the GPU, and the test suite on the CPU + real adapter"
mkdir -p /tmp/grids
cp assets/grids/index.json /tmp/grids/ 2>/dev/null
(
  for p in 3 4 5 6 8; do
    [ "$(left)" -gt 20 ] || { echo "grid p=$p skipped: deadline"; continue; }
    timeout "$(cap 400)" ./quantlab grids build --p $p --n 256 --backend webgpu --out /tmp/grids \
      --train-samples "$TRAIN" --final-samples "$FINAL" --final-iterations "$ITERS" --tol 1e-7
    echo "grid p=$p exit $?"
    tar -C /tmp -cf "$OUT/grids.tar" grids
  done
) > "$OUT/grids_log.txt" 2>&1 &
GRIDS=$!
timeout "$(cap 240)" $DENO test -A --parallel --reporter=dot src/ test/ \
  > "$OUT/test_log.txt" 2>&1
echo "tests exit $?"
tail -40 "$OUT/test_log.txt"
wait $GRIDS
tr '\r' '\n' < "$OUT/grids_log.txt" | grep -v "^grids build \[" | tail -30
stamp done
