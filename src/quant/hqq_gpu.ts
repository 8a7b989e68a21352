// This module is browser compatible.
/**
 * The WebGPU half of HQQ (`hqq.ts` picks it for a WebGPU backend): init, optimizer steps with the
 * early stop and encoding, all in one submission over row chunks.
 *
 * @module
 */
import { type Gpu, loadShader } from "../gpu/device.ts";
import { gpuRowChunks, workgroupGrid } from "./group_encoder_gpu.ts";
import { type HqqConfig, hqqLevels, hqqSchedule, type HqqTrace } from "./hqq_config.ts";
import type { HqqLayout } from "./hqq_kernel.ts";
import { rowStrideWords } from "./packing.ts";

/**
 * Runs the HQQ optimizer on WebGPU (`shaders/hqq.wgsl`) in one submission, as `hqq.ts` runs it on
 * the CPU pool: returns s', z, the trace (z after the last executed step) and the packed codes.
 */
export async function hqqOptimizeGpu(
  gpu: Gpu,
  w: Float32Array,
  L: HqqLayout,
  c: HqqConfig,
): Promise<{ inv: Float32Array; zero: Float32Array; trace: HqqTrace; codes: Uint32Array }> {
  const { maxV, codeBits } = hqqLevels(c.nbits);
  const code = await loadShader("hqq");
  const pipes = [0, 1, 2, 3].map((st) => gpu.pipeline(`hqq_stage${st}`, code, { STAGE: st }));
  const stride = rowStrideWords(L.cols, codeBits);
  const chunks = gpuRowChunks(gpu, { ...L }, L.cols * 4);
  const gPerRow = L.count / L.rows;
  const iters = c.optimize ? c.iters : 0;
  const { invBeta, thr } = hqqSchedule(c);
  const made: GPUBuffer[] = [];
  const buf = (b: GPUBuffer): GPUBuffer => {
    made.push(b);
    return b;
  };
  try {
    let partTotal = 0;
    const cs = chunks.map(([r0, r1]) => {
      const nG = (r1 - r0) * gPerRow;
      const nWg = Math.ceil(nG / 64);
      const [wx, wy] = workgroupGrid(nWg);
      const ch = {
        r0,
        r1,
        g0: r0 * gPerRow,
        nG,
        wx,
        wy,
        partOffset: partTotal,
        wBuf: buf(gpu.storage(w.subarray(r0 * L.cols, r1 * L.cols), "hqq_w")),
        invBuf: buf(gpu.storage(nG * 4, "hqq_inv")),
        zeroBuf: buf(gpu.storage(nG * 4, "hqq_zero")),
        codeBuf: buf(gpu.storage((r1 - r0) * stride * 4, "hqq_codes")),
      };
      partTotal += wx * wy;
      return ch;
    });
    const partBuf = buf(gpu.storage(Math.max(1, partTotal) * 4, "hqq_partials"));
    const state = new Float32Array(4 + Math.max(1, iters));
    state[0] = 3.0e38;
    const stateBuf = buf(gpu.storage(state, "hqq_state"));
    const uniform = (ch: (typeof cs)[number], it: number): GPUBuffer => {
      const u = new Uint32Array(20);
      const f = new Float32Array(u.buffer);
      u.set([ch.r1 - ch.r0, L.cols, L.g, L.axis, ch.nG, ch.wx, codeBits, stride]);
      f[8] = maxV;
      u[9] = c.roundZero ? 1 : 0;
      u[10] = it;
      u[11] = ch.partOffset;
      f[12] = invBeta[it] ?? 0;
      f[13] = thr[it] ?? 0;
      f[14] = c.lpNorm - 1;
      u[15] = partTotal;
      f[16] = L.rows * L.cols;
      u[17] = c.earlyStop ? 1 : 0;
      return buf(gpu.uniform(u, "hqq_params"));
    };
    const bind = (ch: (typeof cs)[number], u: GPUBuffer): GPUBuffer[] => [
      u,
      ch.wBuf,
      ch.invBuf,
      ch.zeroBuf,
      partBuf,
      stateBuf,
      ch.codeBuf,
    ];
    const dispatches = [];
    for (const ch of cs) {
      dispatches.push({
        pipeline: pipes[0]!,
        buffers: bind(ch, uniform(ch, 0)),
        workgroups: [ch.wx, ch.wy],
      });
    }
    for (let it = 0; it < iters; it++) {
      for (const ch of cs) {
        dispatches.push({
          pipeline: pipes[1]!,
          buffers: bind(ch, uniform(ch, it)),
          workgroups: [ch.wx, ch.wy],
        });
      }
      dispatches.push({
        pipeline: pipes[2]!,
        buffers: bind(cs[0]!, uniform(cs[0]!, it)),
        workgroups: [1],
      });
    }
    for (const ch of cs) {
      dispatches.push({
        pipeline: pipes[3]!,
        buffers: bind(ch, uniform(ch, 0)),
        workgroups: [ch.wx, ch.wy],
      });
    }
    await gpu.runMany("hqq", dispatches, { wait: false });
    const inv = new Float32Array(L.count);
    const zero = new Float32Array(L.count);
    const codes = new Uint32Array(L.rows * stride);
    // Every readback in flight at once: each awaited one costs Deno's ~11 ms device poll.
    const [stRaw, ...got] = await Promise.all([
      gpu.read(stateBuf, state.byteLength),
      ...cs.flatMap((ch) => [
        gpu.read(ch.invBuf, ch.nG * 4),
        gpu.read(ch.zeroBuf, ch.nG * 4),
        gpu.read(ch.codeBuf, (ch.r1 - ch.r0) * stride * 4),
      ]),
    ]);
    cs.forEach((ch, i) => {
      inv.set(new Float32Array(got[3 * i]!), ch.g0);
      zero.set(new Float32Array(got[3 * i + 1]!), ch.g0);
      codes.set(new Uint32Array(got[3 * i + 2]!), ch.r0 * stride);
    });
    const st = new Float32Array(stRaw!);
    const steps = iters > 0 ? st[2]! : 0;
    return {
      inv,
      zero,
      codes,
      trace: {
        errors: Array.from(st.subarray(4, 4 + steps)),
        steps,
        stoppedEarly: st[1]! !== 0,
      },
    };
  } finally {
    for (const b of made) b.destroy();
  }
}
