// This module is browser compatible.
/**
 * Stage plans of the register-blocked WebGPU Hadamard kernels (`shaders/hadamard_r8*.wgsl`): each
 * thread holds the eight vec4s whose indices differ in three chosen bits of the vec4 index and
 * does butterflies on some of those bits. A plan says which bits, stage by stage, so that every
 * bit of the block gets its butterflies exactly once (the transform is the product of one H₂ per
 * bit, in any order) and neighbouring threads touch neighbouring vec4s where it matters.
 *
 * @module
 */

/** One stage: three ascending vec4-index bit positions, and which of them get butterflies. */
export interface R8Stage {
  /** Ascending bit positions of the vec4 index. */
  bits: [number, number, number];
  /** Bit i set: butterflies on `bits[i]`. */
  mask: number;
}

/** The override constant of a stage: positions in bits 0–14 (5 each), the mask in 15–17. */
export function stageCode(s: R8Stage): number {
  const [a, b, c] = s.bits;
  return a | (b << 5) | (c << 10) | (s.mask << 15);
}

/** A stage on `chunk` (≤ 3 positions), topped up with `spare` positions (in order) to three. */
function stageOf(chunk: number[], spare: number[]): R8Stage {
  const held = [...chunk];
  for (const b of spare) {
    if (held.length === 3) break;
    if (!held.includes(b)) held.push(b);
  }
  if (held.length !== 3) throw new Error(`r8 stage: no room for three bits around ${chunk}`);
  const bits = held.sort((x, y) => x - y) as [number, number, number];
  let mask = 0;
  bits.forEach((b, i) => {
    if (chunk.includes(b)) mask |= 1 << i;
  });
  return { bits, mask };
}

function range(lo: number, hi: number): number[] {
  return Array.from({ length: Math.max(0, hi - lo) }, (_, i) => lo + i);
}

/**
 * Stages of the workgroup kernel for blocks of 2^vbits vec4s in tiles of 2^tbits vec4s
 * (tbits ≥ max(vbits, 3)). Stage 0 (loaded from global memory) takes the block's top three bits,
 * so the threads' own bits are the low ones and loads are coalesced; the rest go up from bit 0 in
 * threes, which leaves bits 0–2 to the threads in the last stage (stores coalesced to 128 bytes)
 * whenever there are at least seven bits (with six, 3 + 3, each thread stores 128 bytes in a row
 * instead). Spare places are filled with the tile's highest bits.
 */
export function planTileStages(vbits: number, tbits: number): R8Stage[] {
  if (!(tbits >= 3 && tbits >= vbits && vbits >= 0 && vbits <= 11)) {
    throw new Error(`r8 plan: block 2^${vbits} vec4s in a tile of 2^${tbits} is not valid`);
  }
  const spare = range(0, tbits).reverse();
  const chunks = [range(Math.max(0, vbits - 3), vbits)];
  for (let b = 0; b < vbits - 3; b += 3) chunks.push(range(b, Math.min(b + 3, vbits - 3)));
  return chunks.map((c) => stageOf(c, spare));
}

/**
 * The stage of one pass through global memory on vec4-index bits `chunk` (1–3 positions): the
 * spare places take the highest bits below the chunk (so the threads' own bits are the low ones),
 * else the lowest above it.
 */
export function planStridedStage(chunk: number[]): R8Stage {
  if (chunk.length < 1 || chunk.length > 3 || chunk.some((b) => b < 0 || b > 28)) {
    throw new Error(`r8 plan: strided bits ${chunk} are not valid`);
  }
  const lo = Math.min(...chunk);
  const hi = Math.max(...chunk);
  return stageOf(chunk, [...range(0, lo).reverse(), ...range(hi + 1, hi + 4)]);
}

/**
 * Threads a strided pass needs to cover `vec4s` vec4s: every run of 2^(top bit + 1) vec4s takes
 * 2^(top bit − 2) threads, and the last run may be partial.
 */
export function stridedThreads(s: R8Stage, vec4s: number): number {
  const run = 2 ** (s.bits[2] + 1);
  return Math.ceil(vec4s / run) * (run / 8);
}
