/**
 * Shared helpers of the model tests: error metrics and a few small configurations.
 *
 * @module
 */
import assert from "node:assert/strict";
import { type LlamaConfig, llamaConfig } from "../../src/model/config.ts";

/** sqrt(Σ(a − b)² / Σ b²). */
export function relError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let num = 0, den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i]! - b[i]!) ** 2;
    den += b[i]! ** 2;
  }
  return Math.sqrt(num / den);
}

/** max |a − b|. */
export function maxAbs(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** Asserts relative error ≤ tol, naming `what`. */
export function assertClose(a: ArrayLike<number>, b: ArrayLike<number>, tol: number, what: string) {
  const e = relError(a, b);
  assert.ok(e <= tol, `${what}: relative error ${e} > ${tol}`);
}

/** Token ids 0…n−1 spread over the vocabulary deterministically. */
export function tokens(n: number, vocab: number, seed = 1): number[] {
  return Array.from({ length: n }, (_, i) => (i * 37 + seed * 11 + ((i * i) % 7)) % vocab);
}

/** Small configurations covering the supported variants (odd shapes included). */
export const CONFIGS: Record<string, LlamaConfig> = {
  llama3: llamaConfig({
    numKvHeads: 2,
    ropeTheta: 500000,
    ropeScaling: {
      type: "llama3",
      factor: 8,
      lowFreqFactor: 1,
      highFreqFactor: 4,
      originalMaxPositionEmbeddings: 16,
    },
    tieWordEmbeddings: true,
  }),
  qwen2: llamaConfig({
    architecture: "Qwen2ForCausalLM",
    vocabSize: 101,
    hiddenSize: 48,
    numHeads: 3,
    numKvHeads: 1,
    intermediateSize: 70,
    rmsNormEps: 1e-6,
  }),
  mistral: llamaConfig({
    architecture: "MistralForCausalLM",
    numKvHeads: 1,
    slidingWindow: 3,
    headDim: 16,
    numHeads: 2,
    ropeScaling: { type: "linear", factor: 2 },
  }),
};
