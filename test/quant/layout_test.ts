// Every method says before quantizing what it will store (`Quantizer.layout`), so a checkpoint
// run can plan its files: the planned layout equals the layout of the quantized result, and the
// planned safetensors tensors equal what `quantizedToTensors` writes, for each method and the
// options that change the stored structure (padding, asymmetric zeros, 8-bit meta scales).
import assert from "node:assert/strict";
import { layoutOf } from "../../src/quant/format.ts";
import type { QuantOptions } from "../../src/quant/quantizer.ts";
import { availableMethods, getQuantizer } from "../../src/quant/registry.ts";
import { quantizedToTensors } from "../../src/io/quantized_tensors.ts";
import { layoutTensorSpecs } from "../../src/io/quantized_layout.ts";

const CASES: [string, number, number, QuantOptions][] = [
  // Every registered method with its defaults (a new method is covered without a new case) …
  ...availableMethods().map((m): [string, number, number, QuantOptions] => [m, 8, 256, {}]),
  // … and the options that change what is stored.
  ["higgs", 8, 256, { bits: 2, p: 2 }],
  ["higgs", 4, 200, { bits: 3, p: 2, hadamard: 64 }], // padded to 256 columns
  ["rtn", 8, 128, { bits: 4 }],
  ["rtn", 8, 128, { bits: 3, groupSize: 4, axis: 0, extra: { symmetric: true } }],
  ["hqq", 8, 128, { bits: 4 }],
  ["hqq", 8, 128, { bits: 3, extra: { quantScale: true, quantZero: true } }],
  ["hqq", 8, 128, { bits: 2, extra: { quantZero: true, offloadMeta: true } }],
  ["nf4", 8, 128, {}],
  ["af4", 4, 128, { groupSize: 32 }],
  ["fp4", 8, 128, { extra: { doubleQuant: true, doubleQuantGroup: 8 } }],
];

Deno.test("Quantizer.layout equals the stored layout of the quantized tensor, for every method", async () => {
  let x = 1;
  for (const [method, rows, cols, opts] of CASES) {
    const q = getQuantizer(method);
    const w = Float32Array.from({ length: rows * cols }, () => {
      x = (x * 1103515245 + 12345) % 2 ** 31;
      return x / 2 ** 31 - 0.5;
    });
    const planned = q.layout!(rows, cols, opts, "w");
    const qt = await q.quantize(w, rows, cols, opts, undefined, "w");
    assert.deepEqual(planned, layoutOf(qt), `${method} ${JSON.stringify(opts)}`);
    const written = quantizedToTensors("w", qt).tensors.map(([n, t]) => ({
      name: n,
      dtype: t.dtype,
      shape: [...t.shape],
    }));
    assert.deepEqual(layoutTensorSpecs("w", planned), written, `${method} tensors`);
  }
});
