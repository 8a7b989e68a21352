// PRNG throughput (normals/s) next to copy bandwidth on the same buffer, in the same run.
import { fillNormal, fillUniform } from "../src/core/prng.ts";

const n = 1 << 20;
const a = new Float32Array(n);
const b = new Float32Array(n);

function measure(fn: () => void, reps = 20): number {
  fn();
  const t0 = performance.now();
  for (let r = 0; r < reps; r++) fn();
  return (performance.now() - t0) / 1000 / reps;
}

const copy = measure(() => a.set(b), 200);
const normal = measure(() => fillNormal(a, 1));
console.log(
  `prng: ${(n / normal / 1e6).toFixed(1)} M normals/s (${
    ((4 * n) / normal / 1e9).toFixed(2)
  } GB/s ` +
    `written) vs copy ${((8 * n) / copy / 1e9).toFixed(2)} GB/s moved: ratio ${
      ((4 * n / normal) / (8 * n / copy)).toFixed(3)
    }`,
);

Deno.bench("fillNormal 1M f32", () => {
  fillNormal(a, 1);
});
Deno.bench("fillUniform 1M f32", () => {
  fillUniform(a, 1);
});
Deno.bench("copy 4 MiB (Float32Array.set)", { baseline: true }, () => {
  a.set(b);
});
