/**
 * A minimal binding of llama.cpp's C API through `Deno.dlopen`, on the prebuilt libraries of npm
 * `@node-llama-cpp/linux-x64@3.21.1` (llama.cpp release v0.4.0, commit 5b4ebc5; installed by
 * `peers/llamacpp/install.sh`): load a GGUF model and get the logits of every position of a
 * window, with an F32 KV cache and flash attention off (the closest to exact math llama.cpp has);
 * decode on top of the cache for timing ({@linkcode LlamaCpp.eval}); quantize a GGUF file with
 * `llama_model_quantize` ({@linkcode LlamaCpp.quantize}).
 *
 * Struct layouts (checked with `peers/llamacpp/layout.c` compiled against that commit's llama.h):
 * `llama_model_params` 80 bytes (n_gpu_layers at 16); `llama_context_params` 160 bytes (n_ctx 0,
 * n_batch 4, n_ubatch 8, n_seq_max 12, n_threads 28, n_threads_batch 32, flash_attn_type 52, type_k
 * 104, type_v 108, embeddings 128); `llama_batch` 56 bytes (n_tokens 0, token 8, embd 16, pos 24,
 * n_seq_id 32, seq_id 40, logits 48). All three are larger than 16 bytes, so the x86-64 System V
 * ABI passes and returns them in memory whatever their fields: they are declared here as arrays of
 * u64 of the right size, and fields are read and written at the offsets above.
 * {@linkcode LlamaCpp.open} also checks the library's default context parameters at those offsets.
 *
 * @module
 */

/** Where `install.sh` puts the libraries, relative to the repository root. */
export const DEFAULT_LIB_DIR = ".cache/peers/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64";

/** The library folder: `QUANTLAB_LLAMACPP_DIR`, else the install location under `root`. */
export function llamaCppLibDir(root: URL): string {
  return Deno.env.get("QUANTLAB_LLAMACPP_DIR") ?? new URL(DEFAULT_LIB_DIR, root).pathname;
}

const u64s = (n: number) => ({ struct: new Array(n).fill("u64") }) as const;
const MODEL_PARAMS = u64s(10); // 80 bytes
const CONTEXT_PARAMS = u64s(20); // 160 bytes
const BATCH = u64s(7); // 56 bytes
// llama_model_quantize_params (nthread at 0, ftype at 4, output and embedding types at 8 and 12,
// bool flags from 16, then pointers) is under 256 bytes and returned in memory, so a larger
// buffer is safe.
const QUANTIZE_PARAMS = u64s(32);

const LLAMA_SYMBOLS = {
  llama_backend_init: { parameters: [], result: "void" },
  llama_model_default_params: { parameters: [], result: MODEL_PARAMS },
  llama_context_default_params: { parameters: [], result: CONTEXT_PARAMS },
  llama_model_load_from_file: { parameters: ["buffer", MODEL_PARAMS], result: "pointer" },
  llama_init_from_model: { parameters: ["pointer", CONTEXT_PARAMS], result: "pointer" },
  llama_model_get_vocab: { parameters: ["pointer"], result: "pointer" },
  llama_vocab_n_tokens: { parameters: ["pointer"], result: "i32" },
  llama_get_memory: { parameters: ["pointer"], result: "pointer" },
  llama_memory_clear: { parameters: ["pointer", "bool"], result: "void" },
  llama_decode: { parameters: ["pointer", BATCH], result: "i32" },
  llama_get_logits: { parameters: ["pointer"], result: "pointer" },
  llama_free: { parameters: ["pointer"], result: "void" },
  llama_model_quantize_default_params: { parameters: [], result: QUANTIZE_PARAMS },
  llama_model_quantize: { parameters: ["buffer", "buffer", "buffer"], result: "u32" },
  llama_model_free: { parameters: ["pointer"], result: "void" },
} as const;

const GGML_SYMBOLS = {
  ggml_backend_load_all_from_path: { parameters: ["buffer"], result: "void" },
} as const;

const GGML_TYPE_F32 = 0;
const GGML_TYPE_F16 = 1;
const FLASH_ATTN_DISABLED = 0;
const FLASH_ATTN_AUTO = -1;

/** llama.cpp's file types (`enum llama_ftype`) that {@linkcode LlamaCpp.quantize} offers. */
export const LLAMA_FTYPES = { Q4_0: 2, Q2_K: 10, Q4_K_M: 15 } as const;

/** A name of {@linkcode LLAMA_FTYPES}. */
export type LlamaFtype = keyof typeof LLAMA_FTYPES;

const LLAMA_FTYPE_MOSTLY_Q8_0 = 7; // the default of llama_model_quantize_default_params

const cstr = (s: string): Uint8Array => new TextEncoder().encode(s + "\0");

/** Options of {@linkcode LlamaCpp.open}. */
export interface LlamaCppOptions {
  /** Longest window in tokens. */
  maxTokens: number;
  /** CPU threads (default 2). */
  threads?: number;
}

/** A GGUF model loaded in llama.cpp, with one context. */
export class LlamaCpp {
  readonly #ggml: Deno.DynamicLibrary<typeof GGML_SYMBOLS>;
  readonly #lib: Deno.DynamicLibrary<typeof LLAMA_SYMBOLS>;
  readonly #model: Deno.PointerObject;
  readonly #ctx: Deno.PointerObject;
  readonly #maxTokens: number;
  /** Vocabulary size. */
  readonly vocabSize: number;

  private constructor(
    ggml: Deno.DynamicLibrary<typeof GGML_SYMBOLS>,
    lib: Deno.DynamicLibrary<typeof LLAMA_SYMBOLS>,
    model: Deno.PointerObject,
    ctx: Deno.PointerObject,
    maxTokens: number,
  ) {
    this.#ggml = ggml;
    this.#lib = lib;
    this.#model = model;
    this.#ctx = ctx;
    this.#maxTokens = maxTokens;
    this.vocabSize = lib.symbols.llama_vocab_n_tokens(lib.symbols.llama_model_get_vocab(model));
  }

  /** Loads `gguf` with the libraries in `libDir`. */
  static open(libDir: string, gguf: string, opts: LlamaCppOptions): LlamaCpp {
    const ggml = Deno.dlopen(`${libDir}/libggml.v0.4.0.so`, GGML_SYMBOLS);
    const lib = Deno.dlopen(`${libDir}/libllama.v0.4.0.so`, LLAMA_SYMBOLS);
    ggml.symbols.ggml_backend_load_all_from_path(cstr(libDir));
    lib.symbols.llama_backend_init();

    const mp = lib.symbols.llama_model_default_params();
    const mv = new DataView(mp.buffer, mp.byteOffset, mp.byteLength);
    mv.setInt32(16, 0, true); // n_gpu_layers: CPU only
    const model = lib.symbols.llama_model_load_from_file(cstr(gguf), mp);
    if (model === null) throw new Error(`llama.cpp could not load ${gguf}`);

    const cp = lib.symbols.llama_context_default_params();
    const cv = new DataView(cp.buffer, cp.byteOffset, cp.byteLength);
    // The library's own defaults at the offsets this binding uses: a wrong layout fails here.
    const defaults = [cv.getUint32(0, true), cv.getUint32(4, true), cv.getUint32(8, true)];
    const fa = cv.getInt32(52, true);
    const kv = [cv.getInt32(104, true), cv.getInt32(108, true)];
    if (
      defaults.join() !== "512,2048,512" || fa !== FLASH_ATTN_AUTO ||
      kv.join() !== `${GGML_TYPE_F16},${GGML_TYPE_F16}` || cv.getUint32(12, true) !== 1
    ) {
      throw new Error(
        `llama_context_params defaults n_ctx/n_batch/n_ubatch ${defaults}, flash_attn_type ${fa}, ` +
          `type_k/v ${kv} are not v0.4.0's 512,2048,512 / -1 / 1,1: the struct layout differs`,
      );
    }
    const n = Math.ceil(opts.maxTokens / 256) * 256;
    const threads = opts.threads ?? 2;
    cv.setUint32(0, n, true); // n_ctx
    cv.setUint32(4, n, true); // n_batch
    cv.setUint32(8, n, true); // n_ubatch
    cv.setInt32(28, threads, true); // n_threads
    cv.setInt32(32, threads, true); // n_threads_batch
    cv.setInt32(52, FLASH_ATTN_DISABLED, true);
    cv.setInt32(104, GGML_TYPE_F32, true); // type_k
    cv.setInt32(108, GGML_TYPE_F32, true); // type_v
    const ctx = lib.symbols.llama_init_from_model(model, cp);
    if (ctx === null) throw new Error("llama.cpp could not create a context");
    return new LlamaCpp(ggml, lib, model, ctx, opts.maxTokens);
  }

  /**
   * Quantizes the GGUF file `inp` to `type` at `out` with `llama_model_quantize` (llama.cpp's
   * default per-tensor choices for that type, e.g. Q6_K for the output / tied embedding).
   */
  static quantize(libDir: string, inp: string, out: string, type: LlamaFtype, threads = 2): void {
    const ggml = Deno.dlopen(`${libDir}/libggml.v0.4.0.so`, GGML_SYMBOLS);
    const lib = Deno.dlopen(`${libDir}/libllama.v0.4.0.so`, LLAMA_SYMBOLS);
    try {
      ggml.symbols.ggml_backend_load_all_from_path(cstr(libDir));
      lib.symbols.llama_backend_init();
      const p = lib.symbols.llama_model_quantize_default_params();
      const v = new DataView(p.buffer, p.byteOffset, p.byteLength);
      // v0.4.0's defaults: nthread 0, ftype Q8_0, output / embedding types GGML_TYPE_COUNT (43),
      // allow_requantize false, quantize_output_tensor true.
      const seen = [0, 4, 8, 12].map((o) => v.getInt32(o, true)).concat(v.getUint16(16, true));
      if (seen.join() !== `0,${LLAMA_FTYPE_MOSTLY_Q8_0},43,43,256`) {
        throw new Error(
          `llama_model_quantize_params defaults ${seen} are not v0.4.0's ` +
            `0,${LLAMA_FTYPE_MOSTLY_Q8_0},43,43,256: the layout differs`,
        );
      }
      v.setInt32(0, threads, true);
      v.setInt32(4, LLAMA_FTYPES[type], true);
      const rc = lib.symbols.llama_model_quantize(cstr(inp), cstr(out), p);
      if (rc !== 0) throw new Error(`llama_model_quantize(${inp} → ${type}) returned ${rc}`);
    } finally {
      lib.close();
      ggml.close();
    }
  }

  /** Empties the KV cache. */
  clear(): void {
    const s = this.#lib.symbols;
    s.llama_memory_clear(s.llama_get_memory(this.#ctx), true);
  }

  /**
   * Decodes `ids` at positions `pos0, pos0 + 1, …` on top of the KV cache (sequence 0), with
   * logits for every position (`allLogits`) or the last only; the logits stay in llama.cpp
   * (see {@linkcode LlamaCpp.lastLogits}).
   */
  eval(ids: readonly number[], pos0: number, allLogits: boolean): void {
    const n = ids.length;
    if (n === 0 || pos0 + n > this.#maxTokens) {
      throw new Error(`Window of ${n} tokens at position ${pos0} is not valid`);
    }
    const token = Int32Array.from(ids);
    const pos = Int32Array.from({ length: n }, (_, i) => pos0 + i);
    const nSeq = new Int32Array(n).fill(1);
    const seq0 = new Int32Array(1); // sequence 0
    const seqPtrs = new BigUint64Array(n).fill(
      BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(seq0))),
    );
    const out = new Int8Array(n).fill(allLogits ? 1 : 0);
    out[n - 1] = 1;
    const batch = new Uint8Array(56);
    const bv = new DataView(batch.buffer);
    const ptr = (a: BufferSource) =>
      BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(a as ArrayBufferView<ArrayBuffer>)));
    bv.setInt32(0, n, true);
    bv.setBigUint64(8, ptr(token), true);
    bv.setBigUint64(16, 0n, true); // embd: none
    bv.setBigUint64(24, ptr(pos), true);
    bv.setBigUint64(32, ptr(nSeq), true);
    bv.setBigUint64(40, ptr(seqPtrs), true);
    bv.setBigUint64(48, ptr(out), true);
    const rc = this.#lib.symbols.llama_decode(this.#ctx, batch);
    if (rc !== 0) throw new Error(`llama_decode returned ${rc}`);
    // Keep the buffers alive until llama_decode has returned.
    void [token, pos, nSeq, seq0, seqPtrs, out];
  }

  /** The logits of the last `n` positions with logits of the latest {@linkcode LlamaCpp.eval}. */
  lastLogits(n: number): Float32Array {
    const p = this.#lib.symbols.llama_get_logits(this.#ctx);
    if (p === null) throw new Error("llama_get_logits returned NULL");
    const bytes = n * this.vocabSize * 4;
    return new Float32Array(new Deno.UnsafePointerView(p).getArrayBuffer(bytes).slice(0));
  }

  /**
   * The logits of every position of `ids` (row-major [ids.length, vocabSize]), decoded from an empty
   * cache at position 0.
   */
  logits(ids: readonly number[]): Float32Array {
    this.clear();
    this.eval(ids, 0, true);
    return this.lastLogits(ids.length);
  }

  /** Frees the context and the model and closes the libraries. */
  close(): void {
    this.#lib.symbols.llama_free(this.#ctx);
    this.#lib.symbols.llama_model_free(this.#model);
    this.#lib.close();
    this.#ggml.close();
  }
}
