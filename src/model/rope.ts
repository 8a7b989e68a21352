// This module is browser compatible.
/**
 * Rotary position embeddings as Hugging Face computes them: inverse frequencies
 * `θ^(−2i/d)` (scaled by `rope_scaling` of type `linear` or `llama3`), the angle `pos · f` rounded
 * to f32, and the "rotate half" pairing (element i with element i + d/2 of each head).
 *
 * @module
 */
import type { LlamaConfig, RopeScaling } from "./config.ts";

/**
 * The `headDim / 2` inverse frequencies after scaling, in f32 like HF.
 *
 * @example
 * ```ts
 * import { ropeInvFreq } from "./rope.ts";
 * const f = ropeInvFreq(8, 10000, { type: "linear", factor: 2 });
 * if (f.length !== 4 || f[0] !== 0.5) throw new Error("unexpected");
 * ```
 */
export function ropeInvFreq(headDim: number, theta: number, scaling: RopeScaling): Float32Array {
  const half = headDim / 2;
  const f = new Float32Array(half);
  for (let i = 0; i < half; i++) f[i] = 1 / Math.fround(Math.pow(theta, (2 * i) / headDim));
  if (scaling.type === "linear") {
    for (let i = 0; i < half; i++) f[i] = f[i]! / scaling.factor;
  } else if (scaling.type === "llama3") {
    const { factor, lowFreqFactor: lo, highFreqFactor: hi, originalMaxPositionEmbeddings: old } =
      scaling;
    const lowWavelen = old / lo;
    const highWavelen = old / hi;
    for (let i = 0; i < half; i++) {
      const inv = f[i]!;
      const wavelen = (2 * Math.PI) / inv;
      if (wavelen > lowWavelen) {
        f[i] = inv / factor; // long wavelengths: fully interpolated
      } else if (wavelen >= highWavelen) {
        const smooth = (old / wavelen - lo) / (hi - lo);
        f[i] = (1 - smooth) * (inv / factor) + smooth * inv; // smooth blend in between
      } // short wavelengths keep their frequency
    }
  }
  return f;
}

/**
 * Cosine and sine tables `[positions, headDim / 2]` for a configuration, grown on demand.
 *
 * @example
 * ```ts
 * import { RopeTable } from "./rope.ts";
 * import { llamaConfig } from "./config.ts";
 * const t = new RopeTable(llamaConfig());
 * t.ensure(16);
 * if (t.cos[0] !== 1 || t.sin[0] !== 0) throw new Error("unexpected");
 * ```
 */
export class RopeTable {
  /** `headDim / 2`. */
  readonly half: number;
  /** Inverse frequencies. */
  readonly invFreq: Float32Array;
  /** cos(pos · f_i) at `[pos * half + i]`. */
  cos: Float32Array = new Float32Array(0);
  /** sin(pos · f_i) at `[pos * half + i]`. */
  sin: Float32Array = new Float32Array(0);
  /** Positions the tables cover. */
  positions = 0;

  /** Builds the inverse frequencies of `config`. */
  constructor(config: Pick<LlamaConfig, "headDim" | "ropeTheta" | "ropeScaling">) {
    this.half = config.headDim / 2;
    this.invFreq = ropeInvFreq(config.headDim, config.ropeTheta, config.ropeScaling);
  }

  /** Makes the tables cover positions `[0, n)` (doubling, so growth is amortised). */
  ensure(n: number): void {
    if (n <= this.positions) return;
    const positions = Math.max(n, this.positions * 2, 64);
    const half = this.half;
    const cos = new Float32Array(positions * half);
    const sin = new Float32Array(positions * half);
    cos.set(this.cos);
    sin.set(this.sin);
    for (let p = this.positions; p < positions; p++) {
      for (let i = 0; i < half; i++) {
        const a = Math.fround(p * this.invFreq[i]!);
        cos[p * half + i] = Math.cos(a);
        sin[p * half + i] = Math.sin(a);
      }
    }
    this.cos = cos;
    this.sin = sin;
    this.positions = positions;
  }
}

/**
 * Rotates `x` (rows of `heads · headDim`, row r at position `pos0 + r`) in place:
 * `(a, b) → (a·cos − b·sin, b·cos + a·sin)` for the pair (i, i + headDim/2) of each head.
 *
 * @example
 * ```ts
 * import { applyRope, RopeTable } from "./rope.ts";
 * const t = new RopeTable({ headDim: 2, ropeTheta: 10000, ropeScaling: { type: "none" } });
 * const x = new Float32Array([1, 0]);
 * applyRope(x, 1, 1, 2, 1, t); // position 1, frequency 1: rotate by 1 radian
 * if (Math.abs(x[1]! - Math.sin(1)) > 1e-6) throw new Error("unexpected");
 * ```
 */
export function applyRope(
  x: Float32Array,
  rows: number,
  heads: number,
  headDim: number,
  pos0: number,
  table: RopeTable,
): void {
  table.ensure(pos0 + rows);
  const half = headDim / 2;
  const { cos, sin } = table;
  for (let r = 0; r < rows; r++) {
    const tb = (pos0 + r) * half;
    for (let h = 0; h < heads; h++) {
      const base = (r * heads + h) * headDim;
      for (let i = 0; i < half; i++) {
        const c = cos[tb + i]!;
        const s = sin[tb + i]!;
        const a = x[base + i]!;
        const b = x[base + half + i]!;
        x[base + i] = a * c - b * s;
        x[base + half + i] = b * c + a * s;
      }
    }
  }
}
