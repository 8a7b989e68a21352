// This module is browser compatible.
/**
 * AdamW (Loshchilov & Hutter) on a flat f32 parameter buffer, and the learning-rate schedule the
 * project trains with: linear warmup, then cosine decay to a floor.
 *
 * @module
 */
import { QuantlabError } from "../core/errors.ts";

/** AdamW hyperparameters. */
export interface AdamWOptions {
  /** β₁ (default 0.9). */
  beta1?: number;
  /** β₂ (default 0.95). */
  beta2?: number;
  /** ε (default 1e-8). */
  eps?: number;
  /** Decoupled weight decay (default 0.1), applied where `decayMask` is 1. */
  weightDecay?: number;
  /** 1 where weight decay applies (matrices), 0 elsewhere (norms); default everywhere. */
  decayMask?: Uint8Array;
}

/**
 * AdamW state for one parameter buffer.
 *
 * @example Minimizes a quadratic
 * ```ts
 * import { AdamW } from "./adamw.ts";
 * const p = new Float32Array([5, -3]);
 * const opt = new AdamW(p.length, { weightDecay: 0 });
 * for (let i = 0; i < 500; i++) opt.step(p, p.map((v) => 2 * v), 0.05);
 * if (Math.abs(p[0]!) > 0.05 || Math.abs(p[1]!) > 0.05) throw new Error(p.join());
 * ```
 */
export class AdamW {
  readonly #m: Float32Array;
  readonly #v: Float32Array;
  readonly #o: Required<Omit<AdamWOptions, "decayMask">> & { decayMask?: Uint8Array };
  #t = 0;

  /** State for `n` parameters. */
  constructor(n: number, opts: AdamWOptions = {}) {
    this.#m = new Float32Array(n);
    this.#v = new Float32Array(n);
    this.#o = {
      beta1: opts.beta1 ?? 0.9,
      beta2: opts.beta2 ?? 0.95,
      eps: opts.eps ?? 1e-8,
      weightDecay: opts.weightDecay ?? 0.1,
      ...(opts.decayMask ? { decayMask: opts.decayMask } : {}),
    };
    if (opts.decayMask && opts.decayMask.length !== n) {
      throw new QuantlabError(
        "bad-shape",
        `Weight-decay mask holds ${opts.decayMask.length} entries for ${n} parameters`,
      );
    }
  }

  /** Steps taken. */
  get steps(): number {
    return this.#t;
  }

  /** The moment estimates and step count (for checkpoints); the arrays are live views. */
  state(): { m: Float32Array; v: Float32Array; steps: number } {
    return { m: this.#m, v: this.#v, steps: this.#t };
  }

  /** Restores {@linkcode state} from a checkpoint. */
  load(m: Float32Array, v: Float32Array, steps: number): void {
    if (m.length !== this.#m.length || v.length !== this.#v.length) {
      throw new QuantlabError(
        "bad-shape",
        `AdamW state holds ${m.length}/${v.length} values; this optimizer has ${this.#m.length}`,
      );
    }
    this.#m.set(m);
    this.#v.set(v);
    this.#t = steps;
  }

  /** One update of `params` in place from `grads` at learning rate `lr`. */
  step(params: Float32Array, grads: Float32Array, lr: number): void {
    const { beta1, beta2, eps, weightDecay, decayMask } = this.#o;
    if (params.length !== this.#m.length || grads.length !== this.#m.length) {
      throw new QuantlabError(
        "bad-shape",
        `AdamW holds ${this.#m.length} parameters; got ${params.length} and ${grads.length} gradients`,
      );
    }
    this.#t++;
    const c1 = 1 - beta1 ** this.#t, c2 = 1 - beta2 ** this.#t;
    const m = this.#m, v = this.#v;
    for (let i = 0; i < params.length; i++) {
      const g = grads[i]!;
      m[i] = beta1 * m[i]! + (1 - beta1) * g;
      v[i] = beta2 * v[i]! + (1 - beta2) * g * g;
      const decay = decayMask && !decayMask[i] ? 0 : weightDecay;
      params[i] = params[i]! -
        lr * ((m[i]! / c1) / (Math.sqrt(v[i]! / c2) + eps) + decay * params[i]!);
    }
  }
}

/**
 * The learning rate at `step` (0-based) of `total`: linear warmup over `warmup` steps to `peak`,
 * then cosine decay to `peak · floor`.
 *
 * @example
 * ```ts
 * import { cosineSchedule } from "./adamw.ts";
 * if (cosineSchedule(0, 100, 10, 1e-3) !== 1e-4) throw new Error();
 * if (Math.abs(cosineSchedule(99, 100, 10, 1e-3, 0.1) - 1e-4) > 1e-6) throw new Error();
 * ```
 */
export function cosineSchedule(
  step: number,
  total: number,
  warmup: number,
  peak: number,
  floor = 0.1,
): number {
  if (step < warmup) return (peak * (step + 1)) / warmup;
  const p = Math.min(1, (step - warmup) / Math.max(1, total - 1 - warmup));
  return peak * (floor + (1 - floor) * 0.5 * (1 + Math.cos(Math.PI * p)));
}
