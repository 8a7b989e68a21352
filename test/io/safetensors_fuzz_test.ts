/**
 * Fuzzing the safetensors parser with mutated and truncated files from a seeded generator: every
 * input must either parse to tensors that survive a re-serialisation round trip, or throw a
 * QuantlabError ("bad-file" or "unsupported") — never another error, never hang.
 */
import assert from "node:assert/strict";
import { QuantlabError } from "../../src/core/errors.ts";
import { type DType, DTYPE_BYTES, numel, Tensor, viewAs } from "../../src/core/tensor.ts";
import {
  type ParsedSafetensors,
  parseSafetensors,
  SafetensorsFile,
  serializeSafetensors,
} from "../../src/io/safetensors.ts";
import { tensorBytes } from "../../src/io/safetensors_format.ts";

const ALL_DTYPES = Object.keys(DTYPE_BYTES) as DType[];
const ODD_DTYPES = ["F8_E4M3", "F8_E5M2", "F4", "X", "", "f32", "F32 ", "BF16\u0000"];
const INTERESTING = [
  0x00,
  0x20,
  0x22,
  0x2c,
  0x2d,
  0x30,
  0x31,
  0x39,
  0x3a,
  0x5b,
  0x5c,
  0x5d,
  0x7b,
  0x7d,
  0x80,
  0xc3,
  0xff,
];

/** xorshift32: a deterministic stream; `below(n)` is uniform enough for fuzzing. */
class Rng {
  #s: number;
  constructor(seed: number) {
    this.#s = seed >>> 0 || 1;
  }
  next(): number {
    let s = this.#s;
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    this.#s = s >>> 0;
    return this.#s;
  }
  below(n: number): number {
    return this.next() % n;
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.below(xs.length)]!;
  }
}

function randomFile(rng: Rng): Uint8Array {
  const tensors = new Map<string, Tensor>();
  const count = rng.below(5);
  for (let i = 0; i < count; i++) {
    const dtype = rng.pick(ALL_DTYPES);
    const shape = Array.from({ length: rng.below(4) }, () => rng.below(5));
    const bytes = new Uint8Array(numel(shape) * DTYPE_BYTES[dtype]);
    for (let j = 0; j < bytes.length; j++) bytes[j] = rng.next() & 0xff;
    tensors.set(
      rng.pick(["w", "b", "layer.0", "10", "ü", 'a"b', ""]) + i,
      new Tensor(shape, dtype, viewAs(dtype, bytes)),
    );
  }
  const meta: Record<string, string> = rng.below(2) ? { format: "pt", n: String(count) } : {};
  return serializeSafetensors(tensors, meta);
}

function headerLength(bytes: Uint8Array): number {
  return Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
}

function withHeader(json: string, buffer: Uint8Array, fixLength: boolean, old: number): Uint8Array {
  const h = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + h.length + buffer.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(fixLength ? h.length : old), true);
  out.set(h, 8);
  out.set(buffer, 8 + h.length);
  return out;
}

/** Structural edits of the header JSON. */
function editJson(rng: Rng, bytes: Uint8Array): Uint8Array {
  const n = bytes.length >= 8 ? headerLength(bytes) : Infinity;
  const text = n <= bytes.length - 8 ? new TextDecoder().decode(bytes.subarray(8, 8 + n)) : "";
  let header: Record<string, Record<string, unknown>>;
  try {
    header = JSON.parse(text);
    if (typeof header !== "object" || header === null || Array.isArray(header)) throw 0;
  } catch {
    // Not editable as JSON (an earlier mutation broke it): truncate instead.
    return bytes.slice(0, rng.below(bytes.length + 1));
  }
  const buffer = bytes.subarray(8 + n);
  const names = Object.keys(header).filter((k) => k !== "__metadata__");
  const name = names.length > 0 ? rng.pick(names) : "w";
  const entry = header[name] ?? (header[name] = { dtype: "U8", shape: [1], data_offsets: [0, 1] });
  const delta = () => rng.pick([-8, -4, -2, -1, 1, 2, 4, 8, 1e9, -1e9]);
  let json: string | undefined;
  try {
    switch (rng.below(12)) {
      case 0: {
        const o = entry.data_offsets as number[];
        const k = rng.below(2);
        o[k] = o[k]! + delta();
        break;
      }
      case 1: {
        const s = entry.shape as number[];
        const k = rng.below(Math.max(1, s.length));
        if (s.length > 0) s[k] = s[k]! + rng.pick([-1, 1, 2, 2 ** 40]);
        else s.push(rng.pick([0, 1, 2]));
        break;
      }
      case 2:
        entry.dtype = rng.below(2) ? rng.pick(ALL_DTYPES) : rng.pick(ODD_DTYPES);
        break;
      case 3:
        delete entry[rng.pick(["dtype", "shape", "data_offsets"])];
        break;
      case 4:
        delete header[name];
        break;
      case 5:
        entry[rng.pick(["extra", "offsets", "shape2"])] = rng.pick([1, "x", null, [1]]);
        break;
      case 6: // duplicate a key textually
        json = text.trimEnd().replace(/^\{/, `{${JSON.stringify(name)}:${JSON.stringify(entry)},`);
        break;
      case 7:
        header.__metadata__ = rng.pick([{ a: 1 }, { a: "b" }, null, [], "x"]) as Record<
          string,
          unknown
        >;
        break;
      case 8: {
        const other = header[rng.pick(names.length > 0 ? names : ["w"])]!;
        [entry.data_offsets, other.data_offsets] = [other.data_offsets, entry.data_offsets];
        break;
      }
      case 9:
        header["__metadata__x" + rng.below(3)] = entry;
        break;
      case 10:
        entry.shape = rng.pick([null, "2", [-1], [1.5], [2 ** 53], {}, [[1]]]);
        break;
      default:
        entry.data_offsets = rng.pick([[0], [0, 1, 2], null, [-1, 0], ["0", 1], [0, 2 ** 53]]);
    }
  } catch {
    // The header has an unexpected structure from an earlier mutation: truncate instead.
    return bytes.slice(0, rng.below(bytes.length + 1));
  }
  json ??= JSON.stringify(header);
  if (rng.below(3) === 0) json += " ".repeat(rng.below(8));
  return withHeader(json, buffer, rng.below(5) !== 0, n);
}

function mutate(rng: Rng, input: Uint8Array): Uint8Array {
  let bytes: Uint8Array = input.slice();
  const n = bytes.length >= 8 ? headerLength(bytes) : 0;
  const headerEnd = Math.min(bytes.length, 8 + n);
  const pos =
    () => (rng.below(10) < 7 && headerEnd > 0
      ? rng.below(headerEnd)
      : rng.below(Math.max(1, bytes.length)));
  const kind = rng.below(8);
  switch (kind) {
    case 0: // bit flips
      for (let i = 1 + rng.below(4); i > 0 && bytes.length > 0; i--) {
        bytes[pos()]! ^= 1 << rng.below(8);
      }
      break;
    case 1: // byte overwrites
      for (let i = 1 + rng.below(3); i > 0 && bytes.length > 0; i--) {
        bytes[pos()] = rng.below(2) ? rng.pick(INTERESTING) : rng.next() & 0xff;
      }
      break;
    case 2: { // header-length field
      const dv = new DataView(bytes.buffer);
      if (bytes.length < 8) break;
      const choice = rng.below(5);
      if (choice === 0) {
        dv.setBigUint64(0, BigInt(Math.max(0, n + rng.pick([-16, -8, -1, 1, 8, 16]))), true);
      } else if (choice === 1) dv.setUint32(0, rng.next(), true);
      else if (choice === 2) dv.setUint32(4, rng.next(), true);
      else if (choice === 3) {
        dv.setBigUint64(
          0,
          BigInt(rng.pick([0, 100_000_000, 100_000_001, bytes.length - 8, bytes.length])),
          true,
        );
      } else bytes[rng.below(8)] = rng.next() & 0xff;
      break;
    }
    case 3:
    case 4:
      bytes = editJson(rng, bytes);
      break;
    case 5: // truncation
      bytes = bytes.slice(0, rng.below(bytes.length + 1));
      break;
    case 6: { // append, insert or delete bytes
      const at = rng.below(bytes.length + 1);
      const len = 1 + rng.below(9);
      if (rng.below(2)) {
        const extra = Uint8Array.from({ length: len }, () => rng.pick(INTERESTING));
        const out = new Uint8Array(bytes.length + len);
        out.set(bytes.subarray(0, at));
        out.set(extra, at);
        out.set(bytes.subarray(at), at + len);
        bytes = out;
      } else {
        bytes = Uint8Array.from([...bytes.subarray(0, at), ...bytes.subarray(at + len)]);
      }
      break;
    }
    default: // two mutations
      bytes = mutate(rng, mutate(rng, bytes));
  }
  return bytes;
}

type Outcome = { ok: true; parsed: ParsedSafetensors } | { ok: false; code: string };

function outcome(bytes: Uint8Array): Outcome {
  try {
    return { ok: true, parsed: parseSafetensors(bytes, "fuzz.safetensors") };
  } catch (e) {
    if (!(e instanceof QuantlabError)) {
      throw new Error(
        `non-QuantlabError for input ${JSON.stringify([...bytes.subarray(0, 200)])}`,
        { cause: e },
      );
    }
    assert.ok(e.code === "bad-file" || e.code === "unsupported", e.message);
    assert.ok(e.message.includes("fuzz.safetensors"), e.message);
    return { ok: false, code: e.code };
  }
}

/** An accepted file must be internally consistent and survive a round trip. */
function checkAccepted(bytes: Uint8Array, p: ParsedSafetensors): void {
  const h = p.header;
  assert.equal(h.fileLength, bytes.length);
  let covered = 0;
  for (const [name, info] of h.tensors) {
    assert.ok(
      info.byteOffset >= h.dataStart && info.byteOffset + info.byteLength <= bytes.length,
      name,
    );
    assert.equal(info.byteLength, numel(info.shape) * DTYPE_BYTES[info.dtype]);
    covered += info.byteLength;
  }
  assert.equal(covered, bytes.length - h.dataStart);
  const again = parseSafetensors(serializeSafetensors(p.tensors, p.metadata));
  assert.deepEqual(again.metadata, p.metadata);
  assert.deepEqual([...again.tensors.keys()].sort(), [...p.tensors.keys()].sort());
  for (const [name, t] of p.tensors) {
    const u = again.tensors.get(name)!;
    assert.equal(u.dtype, t.dtype);
    assert.deepEqual(u.shape, t.shape);
    assert.deepEqual(tensorBytes(u), tensorBytes(t));
  }
}

Deno.test("fuzz: 12,000 mutated or truncated files parse consistently or throw QuantlabError", () => {
  const rng = new Rng(0xc0ffee);
  const bases = Array.from({ length: 40 }, () => randomFile(rng));
  const counts = { accepted: 0, badFile: 0, unsupported: 0 };
  for (let i = 0; i < 12_000; i++) {
    const bytes = mutate(rng, bases[i % bases.length]!);
    const r = outcome(bytes);
    if (r.ok) {
      counts.accepted++;
      checkAccepted(bytes, r.parsed);
      // Parsing is deterministic.
      const r2 = outcome(bytes);
      assert.ok(r2.ok);
      assert.deepEqual([...r2.parsed.tensors.keys()], [...r.parsed.tensors.keys()]);
    } else if (r.code === "bad-file") {
      counts.badFile++;
    } else {
      counts.unsupported++;
    }
  }
  // Every kind of outcome occurs often enough for the test to mean something.
  assert.ok(counts.accepted > 500, JSON.stringify(counts));
  assert.ok(counts.badFile > 5000, JSON.stringify(counts));
  assert.ok(counts.unsupported > 20, JSON.stringify(counts));
});

Deno.test("fuzz: 300 mutated files give the same outcome through SafetensorsFile as in memory", async () => {
  const rng = new Rng(0xbadf11e);
  const bases = Array.from({ length: 10 }, () => randomFile(rng));
  const dir = await Deno.makeTempDir();
  try {
    for (let i = 0; i < 300; i++) {
      const bytes = mutate(rng, bases[i % bases.length]!);
      const path = `${dir}/f${i}.safetensors`;
      await Deno.writeFile(path, bytes);
      const mem = outcome(bytes);
      let file: SafetensorsFile | undefined;
      try {
        file = await SafetensorsFile.open(path);
      } catch (e) {
        assert.ok(e instanceof QuantlabError, String(e));
        assert.equal(mem.ok, false, `file rejected (${e.message}) but memory accepted`);
        if (!mem.ok) assert.equal(e.code, mem.code);
        continue;
      }
      try {
        assert.ok(mem.ok, "file accepted but memory rejected");
        if (!mem.ok) continue;
        assert.deepEqual(file.names(), [...mem.parsed.tensors.keys()]);
        assert.deepEqual(file.metadata, mem.parsed.metadata);
        for (const [name, t] of mem.parsed.tensors) {
          assert.deepEqual(tensorBytes(await file.read(name)), tensorBytes(t));
        }
      } finally {
        file.close();
      }
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
