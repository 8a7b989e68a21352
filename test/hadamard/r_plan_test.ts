import assert from "node:assert/strict";
import {
  planStridedStage,
  planTileStages,
  type RStage,
  sharedSlot,
  stageCode,
  stridedThreads,
} from "../../src/hadamard/r_plan.ts";

// The shader's index arithmetic (hadamard_r_common.wgsl), in TypeScript.
function stBase(q: number, s: RStage): number {
  let g = q;
  for (const b of s.bits) g = (Math.floor(g / 2 ** b) * 2 ** (b + 1)) + (g % 2 ** b);
  return g;
}
function stOff(s: RStage, k: number): number {
  return s.bits.reduce((o, b, i) => o + ((k >> i) & 1) * 2 ** b, 0);
}

/** How many times each index < `size` is visited by `threads` threads of stage `s`. */
function visits(s: RStage, threads: number, size: number): number[] {
  const seen = new Array(size).fill(0);
  for (let q = 0; q < threads; q++) {
    for (let k = 0; k < 2 ** s.bits.length; k++) {
      const i = stBase(q, s) + stOff(s, k);
      if (i < size) seen[i]++;
    }
  }
  return seen;
}

Deno.test("r tile stages butterfly every block bit exactly once and cover the tile once", () => {
  for (const rb of [3, 4]) {
    for (const coalesce of [true, false]) {
      for (let tbits = rb; tbits <= 11; tbits++) {
        for (let vbits = 0; vbits <= Math.min(tbits, 10); vbits++) {
          const stages = planTileStages(vbits, tbits, rb, coalesce);
          const where = `rb ${rb}, vbits ${vbits}, tbits ${tbits}, coalesce ${coalesce}`;
          assert.ok(stages.length <= 4, `${where}: ${stages.length} stages; the kernel has 4`);
          const done = new Array(tbits).fill(0);
          for (const s of stages) {
            assert.equal(s.bits.length, rb, where);
            assert.ok(s.bits.every((b, i) => i === 0 || s.bits[i - 1]! < b), where);
            assert.ok(s.bits.at(-1)! < tbits, where);
            s.bits.forEach((b, i) => {
              if (s.mask & (1 << i)) done[b]++;
            });
            // Every thread holds 2^rb distinct vec4s, together the whole tile.
            assert.ok(visits(s, 2 ** (tbits - rb), 2 ** tbits).every((n) => n === 1), where);
          }
          const want = Array.from({ length: tbits }, (_, b) => (b < vbits ? 1 : 0));
          assert.deepEqual(done, want, where);
          // Global memory is touched with bits 0–2 left to the threads (eight neighbouring
          // threads, 128 bytes in a row) by stage 0 once the block has rb + 3 bits, and by the
          // last stage too with `coalesce` whenever the tile has room.
          const lowToThreads = (s: RStage) => s.bits[0]! >= 3;
          if (vbits >= rb + 3) assert.ok(lowToThreads(stages[0]!), where);
          if (coalesce && stages.length > 1 && tbits >= rb + 3) {
            assert.ok(lowToThreads(stages.at(-1)!), where);
          }
        }
      }
    }
  }
  // Exchange-only stages are added only when needed: 1024-blocks take 3 stages with rb = 3.
  assert.equal(planTileStages(8, 9, 3).length, 3);
  assert.equal(planTileStages(8, 10, 4, false).length, 2);
  assert.equal(planTileStages(8, 10, 4, true).length, 3);
  assert.throws(() => planTileStages(5, 4), /not valid/);
  assert.throws(() => planTileStages(0, 2), /not valid/);
});

Deno.test("r strided stages cover every vec4 once, spare bits below the chunk when possible", () => {
  const cases: [number[], number][] = [
    [[10, 11, 12], 3 * 8192],
    [[10], 2 * 2048],
    [[0, 1], 96],
    [[1], 40],
    [[4, 5, 6], 1000],
  ];
  for (const [chunk, size] of cases) {
    const s = planStridedStage(chunk);
    assert.equal(s.bits.filter((_, i) => s.mask & (1 << i)).join(), chunk.join());
    const seen = visits(s, stridedThreads(s, size), size);
    assert.ok(seen.every((n) => n === 1), `${chunk} over ${size}`);
  }
  assert.deepEqual(planStridedStage([10]).bits, [8, 9, 10]);
  assert.deepEqual(planStridedStage([0]).bits, [0, 1, 2]);
  assert.throws(() => planStridedStage([]), /not valid/);
});

Deno.test("r stage codes pack 5-bit positions and the mask as the shader reads them", () => {
  const c = stageCode({ bits: [3, 17, 30, 31], mask: 13 });
  assert.deepEqual([c & 31, (c >>> 5) & 31, (c >>> 10) & 31, (c >>> 15) & 31, c >>> 20], [
    3,
    17,
    30,
    31,
    13,
  ]);
});

Deno.test("r kernels' workgroup memory: a bijection, no bank conflicts in any stage", () => {
  // NVIDIA serves a warp's 16-byte accesses in phases of eight threads; each phase is conflict-free
  // when its eight slots fall in different groups of four banks (slot mod 8), or are the same slot.
  const worst = (rb: number, vbits: number, slot: (i: number) => number): number => {
    const tbits = Math.max(vbits, rb + 6); // 64 threads, or one block
    const stages = planTileStages(vbits, tbits, rb);
    let w = 1;
    for (const s of stages.length > 1 ? stages : []) {
      for (let k = 0; k < 2 ** rb; k++) {
        for (let ph = 0; ph < 2 ** (tbits - rb); ph += 8) {
          const groups = new Map<number, Set<number>>();
          for (let t = ph; t < ph + 8; t++) {
            const sl = slot(stBase(t, s) + stOff(s, k));
            groups.set(sl & 7, (groups.get(sl & 7) ?? new Set()).add(sl));
          }
          for (const g of groups.values()) w = Math.max(w, g.size);
        }
      }
    }
    return w;
  };
  for (const rb of [3, 4]) {
    for (let vbits = 0; vbits <= 10; vbits++) {
      assert.equal(worst(rb, vbits, sharedSlot), 1, `rb ${rb}, n = ${2 ** (vbits + 2)}`);
    }
  }
  // The plain layout conflicts (r16, n = 1024: threads 16 vec4s apart), so the test can fail.
  assert.ok(worst(4, 8, (i) => i) > 1);
  const size = 4096;
  const seen = new Set(Array.from({ length: size }, (_, i) => sharedSlot(i)));
  assert.equal(seen.size, size);
  assert.ok([...seen].every((v) => v < size));
});
