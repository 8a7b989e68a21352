import assert from "node:assert/strict";
import { QuantlabError } from "../../src/core/errors.ts";
import { randUniform } from "../../src/core/prng.ts";
import {
  allocateBits,
  type AllocationLayer,
  type AllocationOption,
  continuousAllocation,
} from "../../src/jobs/allocation.ts";

/** A stream of uniforms in (0, 1) from the project's PRNG. */
function uniforms(seed: number): () => number {
  let i = 0;
  return () => randUniform(seed, i++);
}

/** Every choice, the best within the budget (the specification). */
function bruteForce(layers: AllocationLayer[], options: AllocationOption[], budget: number) {
  const total = layers.reduce((s, l) => s + l.size, 0);
  let best = Infinity;
  const choice = new Array(layers.length).fill(0);
  const visit = (l: number, bits: number, value: number): void => {
    if (bits > budget * total + 1e-9) return;
    if (l === layers.length) {
      best = Math.min(best, value);
      return;
    }
    for (let j = 0; j < options.length; j++) {
      choice[l] = j;
      const e = layers[l]!.errors ? layers[l]!.errors![j]! : options[j]!.error!;
      visit(l + 1, bits + layers[l]!.size * options[j]!.bits, value + layers[l]!.alpha * e);
    }
  };
  visit(0, 0, 0);
  return best;
}

const GRIDS: AllocationOption[] = [
  { name: "2-bit", bits: 2.016, error: 0.1175 },
  { name: "3-bit", bits: 3.016, error: 0.0345 },
  { name: "4-bit", bits: 4.018, error: 0.0093 },
  { name: "5-bit", bits: 5.25, error: 0.0025 },
];

Deno.test("allocateBits() equals brute force on random problems, within the budget", () => {
  const rand = uniforms(7);
  for (let trial = 0; trial < 60; trial++) {
    const L = 1 + Math.floor(rand() * 6);
    const layers: AllocationLayer[] = Array.from({ length: L }, (_, l) => ({
      name: `l${l}`,
      alpha: rand() < 0.1 ? 0 : Math.exp(4 * rand()),
      size: 64 * (1 + Math.floor(rand() * 8)),
      errors: trial % 3 === 0 ? GRIDS.map((g) => g.error! * (0.5 + rand())) : undefined,
    }));
    const budget = 2.016 + rand() * 3.5;
    const a = allocateBits(layers, GRIDS, budget);
    const want = bruteForce(layers, GRIDS, budget);
    assert.ok(a.exact, `trial ${trial}: small integer costs should be solved exactly`);
    assert.ok(a.bitsPerWeight <= budget + 1e-12, `trial ${trial}: ${a.bitsPerWeight} > ${budget}`);
    assert.ok(
      Math.abs(a.predictedIncrease - want) <= 1e-12 * Math.max(1, want),
      `trial ${trial}: ${a.predictedIncrease} vs brute force ${want}`,
    );
  }
});

Deno.test("allocateBits() with rounded costs stays within the budget and near the optimum", () => {
  const rand = uniforms(11);
  // Sizes of real projections (4096², 4096×14336…): exact costs too fine, so the budget is
  // discretized; the answer must still fit and lose little against brute force.
  const layers: AllocationLayer[] = Array.from({ length: 6 }, (_, l) => ({
    name: `l${l}`,
    alpha: Math.exp(3 * rand()),
    size: [16777216, 58720256, 4194304][l % 3]! + l,
  }));
  for (const budget of [2.5, 3.0, 3.25, 4.0]) {
    const a = allocateBits(layers, GRIDS, budget, { resolution: 2000 });
    assert.equal(a.exact, false);
    assert.ok(a.bitsPerWeight <= budget, `${a.bitsPerWeight} > ${budget}`);
    const want = bruteForce(layers, GRIDS, budget);
    assert.ok(a.predictedIncrease <= want * 1.05 + 1e-12, `${a.predictedIncrease} vs ${want}`);
  }
});

Deno.test("allocateBits(): more budget never predicts more loss; sensitive layers get more bits", () => {
  const layers: AllocationLayer[] = [
    { name: "flat", alpha: 0.5, size: 1024 },
    { name: "sensitive", alpha: 40, size: 1024 },
    { name: "dead", alpha: 0, size: 1024 },
  ];
  let last = Infinity;
  for (let b = 2.016; b <= 5.25; b += 0.1) {
    const a = allocateBits(layers, GRIDS, b);
    assert.ok(a.predictedIncrease <= last + 1e-15, `budget ${b}`);
    last = a.predictedIncrease;
    assert.ok(a.choice[1]! >= a.choice[0]!, `budget ${b}: ${a.choice}`);
    assert.equal(a.choice[2], 0, "a layer with α = 0 takes the cheapest option");
  }
  // Everything at the top when the budget allows it.
  assert.deepEqual(allocateBits(layers.slice(0, 2), GRIDS, 5.25).choice, [3, 3]);
});

Deno.test("allocateBits() refuses bad input with errors that name the value", () => {
  const l: AllocationLayer[] = [{ name: "q", alpha: 1, size: 10 }];
  const bad = (f: () => unknown, re: RegExp) =>
    assert.throws(f, (e: unknown) => e instanceof QuantlabError && re.test(e.message));
  bad(() => allocateBits(l, GRIDS, 1.5), /1\.5 per weight is below the cheapest option \(2\.016/);
  bad(() => allocateBits(l, [], 3), /at least one option/);
  bad(() => allocateBits([], GRIDS, 3), /at least one layer/);
  bad(() => allocateBits([{ ...l[0]!, alpha: NaN }], GRIDS, 3), /"q" has sensitivity α = NaN/);
  bad(() => allocateBits([{ ...l[0]!, size: 2.5 }], GRIDS, 3), /"q" has 2\.5 weights/);
  bad(() => allocateBits([{ ...l[0]!, errors: [1] }], GRIDS, 3), /gives 1 errors for 4 options/);
  bad(() => allocateBits(l, [{ name: "x", bits: 3 }], 3), /option "x": error t² = undefined/);
  bad(() => allocateBits(l, [{ name: "x", bits: 0, error: 1 }], 3), /"x" costs 0 bits/);
  bad(() => allocateBits(l, GRIDS, 3, { resolution: 0 }), /resolution 0 is not valid/);
});

Deno.test("continuousAllocation() is b_l = budget + ½log₂α_l − the size-weighted mean", () => {
  const layers: AllocationLayer[] = [
    { name: "a", alpha: 1, size: 3 },
    { name: "b", alpha: 64, size: 1 },
  ];
  const b = continuousAllocation(layers, 4);
  // mean of ½log₂α weighted 3:1 = (0·3 + 3·1)/4 = 0.75 → 4 − 0.75, 4 + 3 − 0.75.
  assert.deepEqual(b, [3.25, 6.25]);
  // It spends exactly the budget.
  assert.equal((3 * b[0]! + b[1]!) / 4, 4);
  assert.throws(() => continuousAllocation([{ name: "z", alpha: 0, size: 1 }], 3), /α > 0/);
});
