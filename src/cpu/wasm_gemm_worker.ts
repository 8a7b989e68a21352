// This module is browser compatible.
/**
 * A helper thread of the WebAssembly SIMD GEMM (`wasm_gemm_threads.ts`): instantiates the kernels
 * on the shared memory it is sent, then serves jobs through its control block without ever
 * returning to its event loop (the caller is blocked in `Atomics.wait` meanwhile, so messages
 * could not be answered anyway). After `HELPER_IDLE_MS` without a job it marks itself exited and
 * closes, so a finished script can end.
 *
 * @module
 */
import {
  type GemmVariant,
  gemmWasmModule,
  instantiateGemm,
  runRegion,
} from "./wasm_gemm_kernels.ts";
import { BUSY, EXITED, HELPER_IDLE_MS, IDLE, readJob, STATE, STOP } from "./wasm_gemm_control.ts";

interface Init {
  variant: GemmVariant;
  mem: WebAssembly.Memory;
  ctrl: SharedArrayBuffer;
}

// deno-lint-ignore no-explicit-any
const scope = globalThis as any;
scope.onmessage = (ev: MessageEvent<Init>) => {
  const { variant, mem, ctrl } = ev.data;
  const i32 = new Int32Array(ctrl);
  const m = gemmWasmModule(variant);
  if (m === null) {
    Atomics.store(i32, STATE, EXITED);
    scope.close();
    return;
  }
  const k = instantiateGemm(m.module, mem);
  Atomics.store(i32, STATE, IDLE);
  Atomics.notify(i32, STATE);
  for (;;) {
    if (Atomics.wait(i32, STATE, IDLE, HELPER_IDLE_MS) === "timed-out") {
      if (Atomics.compareExchange(i32, STATE, IDLE, EXITED) === IDLE) break;
      continue; // a job arrived at the same moment
    }
    const state = Atomics.load(i32, STATE);
    if (state === STOP) break;
    if (state !== BUSY) continue;
    const { job, r0, r1, c0, c1, scratch } = readJob(ctrl);
    try {
      runRegion(k, job, r0, r1, c0, c1, scratch);
    } catch {
      Atomics.store(i32, STATE + 1, 1); // error flag
    }
    Atomics.store(i32, STATE, IDLE);
    Atomics.notify(i32, STATE);
  }
  Atomics.store(i32, STATE, EXITED);
  scope.close();
};
