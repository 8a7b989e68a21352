import assert from "node:assert/strict";
import {
  planStridedStage,
  planTileStages,
  type R8Stage,
  stageCode,
  stridedThreads,
} from "../../src/hadamard/r8_plan.ts";

// The shader's index arithmetic (hadamard_r8_common.wgsl), in TypeScript.
function stBase(q: number, s: R8Stage): number {
  let g = q;
  for (const b of s.bits) g = (Math.floor(g / 2 ** b) * 2 ** (b + 1)) + (g % 2 ** b);
  return g;
}
function stOff(s: R8Stage, k: number): number {
  return s.bits.reduce((o, b, i) => o + ((k >> i) & 1) * 2 ** b, 0);
}

/** How many times each index < `size` is visited by `threads` threads of stage `s`. */
function visits(s: R8Stage, threads: number, size: number): number[] {
  const seen = new Array(size).fill(0);
  for (let q = 0; q < threads; q++) {
    for (let k = 0; k < 8; k++) {
      const i = stBase(q, s) + stOff(s, k);
      if (i < size) seen[i]++;
    }
  }
  return seen;
}

Deno.test("r8 tile stages butterfly every block bit exactly once and cover the tile once", () => {
  for (let tbits = 3; tbits <= 11; tbits++) {
    for (let vbits = 0; vbits <= Math.min(tbits, 10); vbits++) {
      const stages = planTileStages(vbits, tbits);
      const where = `vbits ${vbits}, tbits ${tbits}`;
      assert.ok(stages.length <= 4, `${where}: ${stages.length} stages; the kernel has 4`);
      const done = new Array(tbits).fill(0);
      for (const s of stages) {
        assert.ok(s.bits[0] < s.bits[1] && s.bits[1] < s.bits[2] && s.bits[2] < tbits, where);
        s.bits.forEach((b, i) => {
          if (s.mask & (1 << i)) done[b]++;
        });
        // Every thread of the tile holds eight distinct vec4s, together the whole tile.
        assert.ok(visits(s, 2 ** (tbits - 3), 2 ** tbits).every((n) => n === 1), where);
      }
      assert.deepEqual(done, Array.from({ length: tbits }, (_, b) => (b < vbits ? 1 : 0)), where);
      // Stage 0 (from global memory) and, from seven bits up, the last stage (to global memory)
      // leave bits 0–2 to the threads, so eight neighbouring threads touch 128 bytes in a row.
      const lowToThreads = (s: R8Stage) => s.bits[0] >= 3;
      if (vbits >= 7) assert.ok(lowToThreads(stages[0]!) && lowToThreads(stages.at(-1)!), where);
    }
  }
  assert.throws(() => planTileStages(5, 4), /not valid/);
  assert.throws(() => planTileStages(0, 2), /not valid/);
});

Deno.test("r8 strided stages cover every vec4 once, spare bits below the chunk when possible", () => {
  for (
    const [chunk, size] of [[[10, 11, 12], 3 * 8192], [[10], 2 * 2048], [[0, 1], 96], [
      [1],
      40,
    ], [[4, 5, 6], 1000]] as [number[], number][]
  ) {
    const s = planStridedStage(chunk);
    assert.equal(s.bits.filter((_, i) => s.mask & (1 << i)).join(), chunk.join());
    const threads = stridedThreads(s, size);
    const seen = visits(s, threads, size);
    assert.ok(seen.every((n) => n === 1), `${chunk} over ${size}`);
  }
  assert.deepEqual(planStridedStage([10]).bits, [8, 9, 10]);
  assert.deepEqual(planStridedStage([0]).bits, [0, 1, 2]);
  assert.throws(() => planStridedStage([]), /not valid/);
});

Deno.test("r8 stage codes pack three 5-bit positions and the mask as the shader reads them", () => {
  const s: R8Stage = { bits: [3, 17, 31], mask: 5 };
  const c = stageCode(s);
  assert.deepEqual([c & 31, (c >> 5) & 31, (c >> 10) & 31, c >> 15], [3, 17, 31, 5]);
});
