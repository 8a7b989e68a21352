#!/bin/sh
# Training throughput of quantlab's CPU trainer against PyTorch on the same model, batch and
# sequence length, measured back to back in one run on this machine (issue 20: the goal is
# ≥ 0.5× PyTorch's tokens/s). The model is the embedded tiny Llama's shape (d 256, 4 layers,
# 4 heads, SwiGLU 768, vocab 4096, tied embeddings, RMSNorm, RoPE, causal attention); a step
# is forward, backward and AdamW on a batch of random tokens (plus global-norm clipping in
# PyTorch, as in the recipe). Both run on --threads threads (PyTorch's intra-op threads;
# OpenBLAS's threads for quantlab). Each round runs PyTorch then quantlab; the script prints
# every measurement, the medians and their ratio.
#
# Installs Debian's python3-torch with apt-get when `import torch` fails (never needed by CI).
#
# Usage: bench/train_vs_torch.sh [--batch 32] [--ctx 256] [--steps 5] [--rounds 2] [--threads 2]
set -e
BATCH=32 CTX=256 STEPS=5 ROUNDS=2 THREADS=2
while [ $# -gt 0 ]; do
  case "$1" in
    --batch) BATCH=$2; shift 2 ;;
    --ctx) CTX=$2; shift 2 ;;
    --steps) STEPS=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    *) echo "train_vs_torch.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
ROOT=$(CDPATH= cd -- "$(dirname -- "$0")/.." && pwd)
cd "$ROOT"

# Debian's python3-torch is for the system Python (a pyenv python3 may come first on PATH).
PY=python3
for p in python3 /usr/bin/python3; do
  if "$p" -c "import torch" 2>/dev/null; then PY=$p; break; fi
done
if ! "$PY" -c "import torch" 2>/dev/null; then
  echo "train_vs_torch.sh: installing python3-torch (apt-get)" >&2
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get install -y python3-torch >&2 || {
    $SUDO apt-get update >&2 && $SUDO apt-get install -y python3-torch >&2
  }
  PY=/usr/bin/python3
fi

torch_run() {
  "$PY" - "$BATCH" "$CTX" "$STEPS" "$THREADS" <<'PY'
import json, math, sys, time
import torch
import torch.nn as nn
import torch.nn.functional as F

B, T, steps, threads = (int(a) for a in sys.argv[1:5])
torch.set_num_threads(threads)
torch.manual_seed(1)
d, L, H, I, V = 256, 4, 4, 768, 4096
hd = d // H


class RMSNorm(nn.Module):
    def __init__(self, n, eps=1e-5):
        super().__init__()
        self.w, self.eps = nn.Parameter(torch.ones(n)), eps

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.w


inv = 1.0 / (10000.0 ** (torch.arange(0, hd, 2).float() / hd))
ang = torch.outer(torch.arange(T).float(), inv)
cos, sin = torch.cat([ang.cos()] * 2, -1), torch.cat([ang.sin()] * 2, -1)


def rope(x):
    a, b = x[..., : hd // 2], x[..., hd // 2 :]
    return x * cos + torch.cat([-b, a], -1) * sin


class Layer(nn.Module):
    def __init__(self):
        super().__init__()
        self.n1, self.n2 = RMSNorm(d), RMSNorm(d)
        self.q, self.k, self.v, self.o = (nn.Linear(d, d, bias=False) for _ in range(4))
        self.gate, self.up = nn.Linear(d, I, bias=False), nn.Linear(d, I, bias=False)
        self.down = nn.Linear(I, d, bias=False)

    def forward(self, x, mask):
        h = self.n1(x)
        q, k, v = (p(h).view(B, T, H, hd).transpose(1, 2) for p in (self.q, self.k, self.v))
        s = (rope(q) @ rope(k).transpose(-1, -2)) / math.sqrt(hd)
        a = s.masked_fill(mask, float("-inf")).softmax(-1) @ v
        x = x + self.o(a.transpose(1, 2).reshape(B, T, d))
        h = self.n2(x)
        return x + self.down(F.silu(self.gate(h)) * self.up(h))


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(V, d)
        self.layers = nn.ModuleList(Layer() for _ in range(L))
        self.norm = RMSNorm(d)

    def forward(self, ids):
        mask = torch.ones(T, T, dtype=torch.bool).triu(1)
        x = self.emb(ids)
        for layer in self.layers:
            x = layer(x, mask)
        return self.norm(x) @ self.emb.weight.t()  # tied LM head


model = Model()
opt = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.95), weight_decay=0.1)
ids = torch.randint(0, V, (B, T))


def step():
    logits = model(ids)
    loss = F.cross_entropy(logits[:, :-1].reshape(-1, V), ids[:, 1:].reshape(-1))
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()


step()
t0 = time.perf_counter()
for _ in range(steps):
    step()
sec = time.perf_counter() - t0
print(json.dumps({"impl": "torch " + torch.__version__, "batch": B, "ctx": T, "steps": steps,
                  "seconds": sec, "tokensPerSecond": steps * B * T / sec}))
PY
}

quantlab_run() {
  OPENBLAS_NUM_THREADS=$THREADS ./quantlab deno run -A bench/train_throughput.ts \
    --batch "$BATCH" --ctx "$CTX" --steps "$STEPS" | tail -n 1
}

RESULTS=$(mktemp)
trap 'rm -f "$RESULTS"' EXIT
i=1
while [ "$i" -le "$ROUNDS" ]; do
  t=$(torch_run)
  echo "round $i: $t" >&2
  echo "$t" >>"$RESULTS"
  q=$(quantlab_run)
  echo "round $i: $q" >&2
  echo "$q" >>"$RESULTS"
  i=$((i + 1))
done
"$PY" - "$RESULTS" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
med = lambda impl: statistics.median(r["tokensPerSecond"] for r in rows if r["impl"].startswith(impl))
t, q = med("torch"), med("quantlab")
print(f"torch    {t:8.0f} tok/s")
print(f"quantlab {q:8.0f} tok/s")
print(f"ratio    {q / t:8.2f}× (quantlab / torch, medians of {len(rows) // 2} rounds)")
PY
