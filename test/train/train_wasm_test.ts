import assert from "node:assert/strict";
import { type ArenaView, TrainArena, TS_KERNELS } from "../../src/train/train_wasm.ts";

const arena = (sizes: number[]) => new TrainArena(sizes.map((n) => ({ type: "f32" as const, n })));
const f32 = (a: TrainArena) => a.views as Float32Array[];
const rand = (a: ArenaView, seed: number, scale = 1) => {
  for (let i = 0; i < a.length; i++) a[i] = Math.sin(seed * 1000 + i * 12.9898) * scale;
};

/** Largest |a − b| relative to max(|b|, floor). */
function relErr(a: ArrayLike<number>, b: ArrayLike<number>, floor = 1e-3): number {
  let e = 0;
  for (let i = 0; i < b.length; i++) {
    e = Math.max(e, Math.abs(a[i]! - b[i]!) / Math.max(Math.abs(b[i]!), floor));
  }
  return e;
}

Deno.test("the trainer's WebAssembly kernels agree with the TypeScript ones to 1e-5 (odd sizes: scalar tails)", () => {
  const rows = 5, d = 19, t = 7, blocks = 3, v = 23, n = 37;
  const a = arena([
    rows * d,
    d,
    rows * d,
    rows,
    rows * d,
    rows * d,
    d,
    n,
    n,
    n,
    n,
    blocks * t * t,
    blocks * t * t,
  ]);
  assert.equal(a.kernels.kind, "wasm", "WebAssembly SIMD is available in Deno");
  const [x, w, y, r, dy, dx, dw, g, u, h, dh, p, dp] = f32(a);
  for (const [i, arr] of [x, w, dy, dx, g, u, dh, p, dp].entries()) rand(arr!, i + 1, 3);
  const ref = [x, w, y, r, dy, dx, dw, g, u, h, dh, p, dp].map((arr) => arr!.slice());
  const [rx, rw, ry, rr, rdy, rdx, rdw, rg, ru, rh, rdh, rp, rdp] = ref;

  a.kernels.rmsnormFwd(x!, w!, y!, r!, rows, d, 1e-5);
  TS_KERNELS.rmsnormFwd(rx!, rw!, ry!, rr!, rows, d, 1e-5);
  assert.ok(relErr(y!, ry!) < 1e-5 && relErr(r!, rr!) < 1e-5, "rmsnorm forward");
  a.kernels.rmsnormBwd(x!, r!, w!, dy!, dx!, dw!, rows, d);
  TS_KERNELS.rmsnormBwd(rx!, rr!, rw!, rdy!, rdx!, rdw!, rows, d);
  // dx cancels two terms (f32 in WebAssembly, f64 in TypeScript): a looser bound.
  assert.ok(relErr(dx!, rdx!) < 1e-4, `rmsnorm backward dx ${relErr(dx!, rdx!)}`);
  assert.ok(relErr(dw!, rdw!) < 1e-5, `rmsnorm backward dw ${relErr(dw!, rdw!)}`);

  a.kernels.swigluFwd(g!, u!, h!, n);
  TS_KERNELS.swigluFwd(rg!, ru!, rh!, n);
  assert.ok(relErr(h!, rh!) < 1e-5, "swiglu forward");
  a.kernels.swigluBwd(dh!, g!, u!, n);
  TS_KERNELS.swigluBwd(rdh!, rg!, ru!, n);
  assert.ok(relErr(g!, rg!) < 1e-5 && relErr(u!, ru!) < 1e-5, "swiglu backward");

  a.kernels.softmaxCausal(p!, t, blocks);
  TS_KERNELS.softmaxCausal(rp!, t, blocks);
  assert.ok(relErr(p!, rp!) < 1e-5, "causal softmax");
  for (let i = 0; i < blocks * t * t; i++) {
    if (i % t > Math.floor(i / t) % t) assert.equal(p![i], 0, `masked ${i}`);
  }
  a.kernels.softmaxBwd(p!, dp!, t, blocks);
  TS_KERNELS.softmaxBwd(rp!, rdp!, t, blocks);
  assert.ok(relErr(dp!, rdp!) < 1e-5, "softmax backward");

  for (const scale of [0, 0.25]) {
    const b = new TrainArena([{ type: "f32", n: 3 * v }, { type: "i32", n: 3 }, {
      type: "f64",
      n: 6,
    }]);
    const [lg, tg, out] = b.views as [Float32Array, Int32Array, Float64Array];
    rand(lg, 9, 4);
    tg.set([4, -1, 22]);
    const rlg = lg.slice(), rout = new Float64Array(6);
    b.kernels.xentRows(lg, 3, v, tg, scale, out);
    TS_KERNELS.xentRows(rlg, 3, v, tg, scale, rout);
    assert.ok(relErr(out, rout) < 1e-5, `cross-entropy statistics (scale ${scale})`);
    assert.ok(relErr(lg, rlg) < 1e-5, `cross-entropy gradient (scale ${scale})`);
    if (scale > 0) {
      let s = 0;
      for (let j = 0; j < v; j++) s += lg[j]!;
      assert.ok(Math.abs(s) < 1e-6, `a gradient row sums to 0 (${s})`);
      assert.ok(lg.subarray(v, 2 * v).every((z) => z === 0), "no target: zero row");
    }
  }
});
