// This module is browser compatible.
/**
 * The trainer's grouped-query causal attention (`llama_train.ts`), forward and backward, per
 * (sequence, head): the scores Q·Kᵀ, P·V and their gradients are one `sgemm` each, the causal
 * softmax and its backward are the workspace's element-wise kernels. Query head h reads KV head
 * ⌊h / group⌋.
 *
 * @module
 */
import { sgemm } from "../cpu/matmul.ts";
import type { TrainKernels } from "./train_wasm.ts";
import type { LayerCache, TrainWorkspace } from "./workspace.ts";

/** The attention's shape: B sequences of T positions, H query heads of hd values. */
export interface AttentionDims {
  /** Sequences. */
  B: number;
  /** Positions per sequence. */
  T: number;
  /** Query heads. */
  H: number;
  /** Query heads per KV head. */
  group: number;
  /** Values per head. */
  hd: number;
  /** Query row width H·hd. */
  qd: number;
  /** Key / value row width KV·hd. */
  kvd: number;
  /** Score scale 1/√hd. */
  scale: number;
}

/** Forward: s.p = causal softmax(scale·Q·Kᵀ) per (sequence, head), then s.att = P·V. */
export function attentionForward(s: LayerCache, K: TrainKernels, a: AttentionDims): void {
  const { B, T, H, group, hd, qd, kvd, scale } = a;
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const kv = Math.floor(h / group);
      sgemm({
        transB: true,
        M: T,
        N: T,
        K: hd,
        alpha: scale,
        A: s.q.subarray(b * T * qd + h * hd),
        lda: qd,
        B: s.k.subarray(b * T * kvd + kv * hd),
        ldb: kvd,
        C: s.p.subarray((b * H + h) * T * T, (b * H + h + 1) * T * T),
      });
    }
  }
  K.softmaxCausal(s.p, T, B * H);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const kv = Math.floor(h / group);
      sgemm({
        M: T,
        N: hd,
        K: T,
        A: s.p.subarray((b * H + h) * T * T, (b * H + h + 1) * T * T),
        B: s.v.subarray(b * T * kvd + kv * hd),
        ldb: kvd,
        C: s.att.subarray(b * T * qd + h * hd),
        ldc: qd,
      });
    }
  }
}

/**
 * Backward, from dO in `ws.datt`: dQ into `ws.dq`, dK and dV into `ws.dk` and `ws.dv` (zeroed
 * first, then summed over the query heads of each KV head); `ws.dP` is scratch.
 */
export function attentionBackward(s: LayerCache, ws: TrainWorkspace, a: AttentionDims): void {
  const { B, T, H, group, hd, qd, kvd, scale } = a;
  const K = ws.kernels;
  ws.dk.fill(0);
  ws.dv.fill(0);
  const dP = ws.dP;
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const P = s.p.subarray((b * H + h) * T * T, (b * H + h + 1) * T * T);
      const kv = Math.floor(h / group);
      const qo = b * T * qd + h * hd, ko = b * T * kvd + kv * hd;
      // dP = dO·Vᵀ; dV += Pᵀ·dO.
      sgemm({
        transB: true,
        M: T,
        N: T,
        K: hd,
        A: ws.datt.subarray(qo),
        lda: qd,
        B: s.v.subarray(ko),
        ldb: kvd,
        C: dP,
      });
      sgemm({
        transA: true,
        M: T,
        N: hd,
        K: T,
        A: P,
        B: ws.datt.subarray(qo),
        ldb: qd,
        C: ws.dv.subarray(ko),
        ldc: kvd,
        beta: 1,
      });
      // dS = P ⊙ (dP − Σ_s P·dP), in place in dP.
      K.softmaxBwd(P, dP, T, 1);
      // dQ = dS·K·scale; dK += dSᵀ·Q·scale.
      sgemm({
        M: T,
        N: hd,
        K: T,
        alpha: scale,
        A: dP,
        B: s.k.subarray(ko),
        ldb: kvd,
        C: ws.dq.subarray(qo),
        ldc: qd,
      });
      sgemm({
        transA: true,
        M: T,
        N: hd,
        K: T,
        alpha: scale,
        A: dP,
        B: s.q.subarray(qo),
        ldb: qd,
        C: ws.dk.subarray(ko),
        ldc: kvd,
        beta: 1,
      });
    }
  }
}
