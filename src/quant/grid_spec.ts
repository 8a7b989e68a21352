// This module is browser compatible.
/**
 * Grid specs: one string naming a quantlab format and its options, for `--grid` (GPTQ's inner
 * quantizer) and anywhere else a format is chosen in one word:
 *
 *     higgs:p=2,bits=3        rtn:bits=4,group=128        nf4:group=64        hqq:bits=3
 *     higgs:n=64,p=2,h=512    rtn:bits=3,group=channel,symmetric=true
 *
 * Syntax: `METHOD[:KEY=VALUE,…]`. Common keys: `bits`, `group` (an integer or `channel`),
 * `scale` (`f16` | `f32`); HIGGS: `p`, `n` (grid size), `h` (Hadamard size, 0 = none), `seed`
 * (an integer or `none`), `table` (`f16` | `f32`), `rule` (`rms` | `unbiased`); RTN: `symmetric`,
 * `roundZero`, `clipSearch`, `clipGrid`, `clipMaxShrink`; HQQ: `optimize`, `roundZero`, `lpNorm`,
 * `beta`, `kappa`, `iters`, `earlyStop`; NF4/AF4/FP4: `doubleQuant`, `doubleQuantGroup`, and
 * `criterion` for AF4. Values are checked when the spec is used (by the method's own option
 * resolution); the parser rejects what it can name here: no method, an unknown method or key, a
 * key given twice, a value that is not a number or boolean where one is needed.
 *
 * @module
 */
import { QuantlabError } from "../core/errors.ts";
import { QUANT_METHODS, type QuantMethod } from "./format.ts";
import type { QuantOptions } from "./quantizer.ts";

/** A parsed grid spec: the method and its quantizer options. */
export interface GridSpec {
  /** The format (quantizer) name. */
  method: QuantMethod;
  /** Options for that quantizer. */
  opts: QuantOptions;
}

type Kind = "number" | "integer" | "boolean" | "string";

/** Keys of `extra` per method, with their types. */
const EXTRA: Record<QuantMethod, Record<string, Kind>> = {
  higgs: {},
  rtn: {
    symmetric: "boolean",
    roundZero: "boolean",
    clipSearch: "boolean",
    clipGrid: "integer",
    clipMaxShrink: "number",
  },
  hqq: {
    optimize: "boolean",
    roundZero: "boolean",
    lpNorm: "number",
    beta: "number",
    kappa: "number",
    iters: "integer",
    earlyStop: "boolean",
  },
  nf4: { doubleQuant: "boolean", doubleQuantGroup: "integer" },
  af4: { doubleQuant: "boolean", doubleQuantGroup: "integer", criterion: "string" },
  fp4: { doubleQuant: "boolean", doubleQuantGroup: "integer" },
};

const COMMON = ["bits", "group", "scale"];
const HIGGS_KEYS = ["p", "n", "h", "seed", "table", "rule"];

/**
 * Parses a grid spec (see the module doc). Errors are `bad-argument`, one sentence naming the
 * spec, the bad part and what is valid.
 *
 * @example
 * ```ts
 * import { parseGridSpec } from "./grid_spec.ts";
 * const s = parseGridSpec("higgs:p=2,bits=3");
 * if (s.method !== "higgs" || s.opts.p !== 2 || s.opts.bits !== 3) throw new Error();
 * const r = parseGridSpec("rtn:bits=4,group=channel,symmetric=true");
 * if (r.opts.groupSize !== null || r.opts.extra?.symmetric !== true) throw new Error();
 * ```
 */
export function parseGridSpec(spec: string): GridSpec {
  const fail = (msg: string): never => {
    throw new QuantlabError("bad-argument", `Grid spec "${spec}": ${msg}`);
  };
  if (typeof spec !== "string" || spec.trim() === "") {
    throw new QuantlabError(
      "bad-argument",
      `Grid spec ${JSON.stringify(spec)} names no format; use METHOD[:KEY=VALUE,…] with METHOD ` +
        `one of ${QUANT_METHODS.join(", ")}, e.g. higgs:p=2,bits=3`,
    );
  }
  const colon = spec.indexOf(":");
  const head = (colon < 0 ? spec : spec.slice(0, colon)).trim();
  const rest = colon < 0 ? "" : spec.slice(colon + 1);
  if (head === "") fail(`names no format; start with one of ${QUANT_METHODS.join(", ")}`);
  if (!(QUANT_METHODS as readonly string[]).includes(head)) {
    fail(`"${head}" is not a format; use one of ${QUANT_METHODS.join(", ")}`);
  }
  const method = head as QuantMethod;
  const extraKeys = EXTRA[method];
  const valid = [...COMMON, ...(method === "higgs" ? HIGGS_KEYS : []), ...Object.keys(extraKeys)];
  const opts: QuantOptions = {};
  const extra: Record<string, string | number | boolean> = {};
  const seen = new Set<string>();
  if (colon >= 0 && rest.trim() === "") fail(`nothing follows "${head}:"; give KEY=VALUE pairs`);
  for (const part of colon < 0 ? [] : rest.split(",")) {
    const eq = part.indexOf("=");
    const key = (eq < 0 ? part : part.slice(0, eq)).trim();
    const raw = eq < 0 ? "" : part.slice(eq + 1).trim();
    if (eq < 0 || key === "" || raw === "") fail(`"${part.trim()}" is not KEY=VALUE`);
    if (!valid.includes(key)) {
      fail(`"${key}" is not an option of ${method}; use ${valid.join(", ")}`);
    }
    if (seen.has(key)) fail(`"${key}" is given twice`);
    seen.add(key);
    const num = (integer: boolean): number => {
      const v = Number(raw);
      if (!Number.isFinite(v) || (integer && !Number.isInteger(v))) {
        fail(`${key}=${raw} is not ${integer ? "an integer" : "a number"}`);
      }
      return v;
    };
    const dtype = (): "F16" | "F32" => {
      const v = raw.toUpperCase();
      if (v !== "F16" && v !== "F32") fail(`${key}=${raw} is not valid; use f16 or f32`);
      return v as "F16" | "F32";
    };
    switch (key) {
      case "bits":
        opts.bits = num(false);
        break;
      case "group":
        opts.groupSize = raw === "channel" ? null : num(true);
        break;
      case "scale":
        opts.scaleDtype = dtype();
        break;
      case "p":
        opts.p = num(true);
        break;
      case "n":
        opts.gridSize = num(true);
        break;
      case "h":
        opts.hadamard = num(true);
        break;
      case "seed":
        opts.seed = raw === "none" ? null : num(true);
        break;
      case "table":
        extra.tableDtype = dtype();
        break;
      case "rule":
        if (raw !== "rms" && raw !== "unbiased") {
          fail(`rule=${raw} is not valid; use rms or unbiased`);
        }
        extra.scaleRule = raw;
        break;
      default: {
        const kind = extraKeys[key]!;
        if (kind === "boolean") {
          if (raw !== "true" && raw !== "false") {
            fail(`${key}=${raw} is not valid; use true or false`);
          }
          extra[key] = raw === "true";
        } else if (kind === "string") extra[key] = raw;
        else extra[key] = num(kind === "integer");
      }
    }
  }
  if (Object.keys(extra).length > 0) opts.extra = extra;
  return { method, opts };
}

/**
 * The spec string of a parsed grid spec (keys in a fixed order), for reports and checkpoint
 * metadata; `parseGridSpec(formatGridSpec(s))` gives `s` back.
 *
 * @example
 * ```ts
 * import { formatGridSpec, parseGridSpec } from "./grid_spec.ts";
 * if (formatGridSpec(parseGridSpec("higgs:bits=3,p=2")) !== "higgs:bits=3,p=2") throw new Error();
 * ```
 */
export function formatGridSpec(s: GridSpec): string {
  const o = s.opts;
  const parts: string[] = [];
  if (o.bits !== undefined) parts.push(`bits=${o.bits}`);
  if (o.groupSize !== undefined) {
    parts.push(`group=${o.groupSize === null ? "channel" : o.groupSize}`);
  }
  if (o.scaleDtype !== undefined) parts.push(`scale=${o.scaleDtype.toLowerCase()}`);
  if (o.p !== undefined) parts.push(`p=${o.p}`);
  if (o.gridSize !== undefined) parts.push(`n=${o.gridSize}`);
  if (o.hadamard !== undefined) parts.push(`h=${o.hadamard}`);
  if (o.seed !== undefined) parts.push(`seed=${o.seed === null ? "none" : o.seed}`);
  for (const [k, v] of Object.entries(o.extra ?? {})) {
    if (k === "tableDtype") parts.push(`table=${String(v).toLowerCase()}`);
    else if (k === "scaleRule") parts.push(`rule=${v}`);
    else parts.push(`${k}=${v}`);
  }
  return parts.length ? `${s.method}:${parts.join(",")}` : s.method;
}
