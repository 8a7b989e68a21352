import assert from "node:assert/strict";
import { getCode, packCodes, rowStrideWords, unpackCodes } from "../../src/quant/packing.ts";
import { randU32 } from "../../src/core/prng.ts";
import { QuantlabError } from "../../src/core/errors.ts";

Deno.test("packCodes() round-trips exactly for every width 1–16 on random shapes", () => {
  let seed = 1;
  for (let bits = 1; bits <= 16; bits++) {
    for (const [rows, cpr] of [[1, 1], [3, 7], [5, 33], [2, 100], [7, 31]] as const) {
      const n = rows * cpr;
      const codes = new Uint16Array(n);
      for (let i = 0; i < n; i++) codes[i] = randU32(seed, i) & ((1 << bits) - 1);
      seed++;
      const packed = packCodes(codes, rows, cpr, bits);
      assert.equal(packed.length, rows * rowStrideWords(cpr, bits));
      assert.deepEqual(unpackCodes(packed, rows, cpr, bits), codes, `bits=${bits}`);
      const stride = rowStrideWords(cpr, bits);
      for (let i = 0; i < n; i += 3) {
        assert.equal(getCode(packed, stride, Math.floor(i / cpr), i % cpr, bits), codes[i]);
      }
    }
  }
});

Deno.test("packCodes() uses the documented little-endian layout", () => {
  // 4-bit codes 1,2,3 → nibbles from the least significant end: 0x321.
  assert.deepEqual([...packCodes([1, 2, 3], 1, 3, 4)], [0x321]);
  // 3-bit codes straddle: code 10 (bits 30..32) of value 7 sets bits 30, 31 and bit 0 of word 1.
  const codes = new Array(11).fill(0);
  codes[10] = 7;
  assert.deepEqual([...packCodes(codes, 1, 11, 3)], [0xc0000000, 1]);
  // Each row starts on a word boundary.
  assert.deepEqual([...packCodes([1, 1], 2, 1, 2)], [1, 1]);
});

Deno.test("packCodes() rejects codes that do not fit and wrong lengths", () => {
  assert.throws(
    () => packCodes([4], 1, 1, 2),
    (e: unknown) =>
      e instanceof QuantlabError && /Code 4 at index 0 does not fit in 2 bits/.test(e.message),
  );
  assert.throws(() => packCodes([1, 2, 3], 2, 2, 2), QuantlabError);
  assert.throws(() => unpackCodes(new Uint32Array(1), 2, 2, 2), QuantlabError);
  assert.throws(() => rowStrideWords(4, 17), /Code width 17 is not valid/);
  assert.throws(() => rowStrideWords(4, 0), QuantlabError);
});
