/**
 * Writes the records the tests pin the embedded model and the demo to, so that a retrained
 * `assets/tiny-llama` (or a deliberate change of a quantizer) is re-recorded with one command:
 *
 * ```sh
 * ./quantlab deno run --allow-all tools/record_eval.ts
 * ```
 *
 * - `assets/<model>/eval_record.json` for every embedded model (`EMBEDDED_MODELS`): its NLL per
 *   window on fixed windows of Brown's test split (and, for the default, on the `quantlab ppl
 *   --text brown:valid` case of the CLI test), with the perplexity;
 *   `test/jobs/embedded_models_test.ts` checks each window within 1e-4 nats per token and the
 *   perplexity within ±2 %.
 * - `assets/demo_record.json`: the rows of `runDemo()` on the test's matrix;
 *   `test/jobs/demo_test.ts` checks each error within ±3 %.
 *
 * @module
 */
import { loadBrown } from "../src/data/brown.ts";
import { evaluatePerplexity } from "../src/eval/perplexity.ts";
import { runDemo } from "../src/jobs/demo.ts";
import { EMBEDDED_MODELS, type EmbeddedModel, TINY_LLAMA } from "../src/jobs/embedded_models.ts";
import { loadModel, loadTokenizer } from "../src/model/loader.ts";

/** The windows the tiny model is recorded on. */
export const TINY_EVAL = { split: "test", ctx: 256, windows: 4 } as const;
/** The CLI test's case: `quantlab ppl --text brown:valid --max-tokens 600 --ctx 300`. */
export const TINY_CLI_EVAL = { split: "valid", tokens: 600, ctx: 300 } as const;
/** The demo test's matrix. */
export const DEMO_EVAL = { rows: 64, cols: 4096, seed: 5 } as const;

/** Where a model's record lives. */
export const recordUrl = (m: EmbeddedModel): URL => new URL("eval_record.json", m.url);
/** The default model's record. */
export const TINY_RECORD_URL: URL = recordUrl(TINY_LLAMA);
export const DEMO_RECORD_URL: URL = new URL("../assets/demo_record.json", import.meta.url);

/** One window of the record. */
export interface WindowRecord {
  begin: number;
  end: number;
  scored: number;
  /** Mean NLL per scored token (nats). */
  meanNll: number;
}

/** The tiny model's record. */
export interface TinyEvalRecord {
  schema: "quantlab.tiny-eval";
  test: typeof TINY_EVAL & { windowsNll: WindowRecord[]; ppl: number };
  cli: typeof TINY_CLI_EVAL & { ppl: number };
}

/** The demo's record. */
export interface DemoRecord {
  schema: "quantlab.demo-record";
  matrix: typeof DEMO_EVAL;
  rows: { label: string; relError: number; bitsPerWeight: number }[];
}

/** Evaluates an embedded model (default: the tiny one) on the recorded windows. */
export async function tinyEval(m: EmbeddedModel = TINY_LLAMA): Promise<TinyEvalRecord> {
  const dir = m.url.pathname;
  const tok = await loadTokenizer(dir);
  const model = await loadModel(dir);
  const testIds = tok.encode(await loadBrown(TINY_EVAL.split)).slice(
    0,
    TINY_EVAL.windows * TINY_EVAL.ctx,
  );
  const r = await evaluatePerplexity(model, testIds, { ctx: TINY_EVAL.ctx });
  const validIds = tok.encode(await loadBrown(TINY_CLI_EVAL.split)).slice(0, TINY_CLI_EVAL.tokens);
  const v = await evaluatePerplexity(model, validIds, { ctx: TINY_CLI_EVAL.ctx });
  return {
    schema: "quantlab.tiny-eval",
    test: {
      ...TINY_EVAL,
      windowsNll: r.windows.map((w) => ({
        begin: w.begin,
        end: w.end,
        scored: w.scored,
        meanNll: w.nll / w.scored,
      })),
      ppl: r.ppl,
    },
    cli: { ...TINY_CLI_EVAL, ppl: v.ppl },
  };
}

/** The demo's rows on the recorded matrix. */
export async function demoEval(): Promise<DemoRecord> {
  const rows = await runDemo({ ...DEMO_EVAL });
  return {
    schema: "quantlab.demo-record",
    matrix: DEMO_EVAL,
    rows: rows.map((r) => ({
      label: r.label,
      relError: r.relError,
      bitsPerWeight: r.bitsPerWeight,
    })),
  };
}

if (import.meta.main) {
  for (const m of EMBEDDED_MODELS) {
    const rec = await tinyEval(m);
    await Deno.writeTextFile(recordUrl(m), JSON.stringify(rec, null, 2) + "\n");
    console.log(`wrote ${recordUrl(m).pathname}: test ppl ${rec.test.ppl.toFixed(4)}`);
  }
  const demo = await demoEval();
  await Deno.writeTextFile(DEMO_RECORD_URL, JSON.stringify(demo, null, 2) + "\n");
  console.log(`wrote ${DEMO_RECORD_URL.pathname}: ${demo.rows.length} rows`);
}
