/**
 * Compares `quantlab ppl --out` results window by window (`pairedCompare`, `src/eval/paired.ts`):
 * each of B… against A, on the same text, ctx and stride.
 *
 * ```sh
 * ./quantlab deno run --allow-read tools/paired_ppl.ts A.json B.json [C.json …]
 * ```
 *
 * Prints per B: PPL of both, ΔPPL, Δ mean NLL per token ± its standard error, and z.
 *
 * @module
 */
import { pairedCompare } from "../src/eval/paired.ts";
import type { WindowResult } from "../src/eval/perplexity.ts";

interface PplResults {
  result: { ppl: number };
  windows: WindowResult[];
}

const read = async (p: string): Promise<PplResults> => JSON.parse(await Deno.readTextFile(p));

if (import.meta.main) {
  const [a, ...bs] = Deno.args;
  if (a === undefined || bs.length === 0) {
    console.error("usage: tools/paired_ppl.ts A.json B.json [C.json …] (quantlab ppl --out files)");
    Deno.exit(2);
  }
  const A = await read(a);
  for (const b of bs) {
    const B = await read(b);
    const c = pairedCompare(A, B);
    console.log(
      `${b} − ${a}: PPL ${B.result.ppl.toFixed(3)} − ${A.result.ppl.toFixed(3)} = ` +
        `${c.deltaPpl!.toFixed(3)}; Δ mean NLL ${c.deltaMeanNll!.toFixed(5)} ± ` +
        `${c.deltaMeanNllSe!.toFixed(5)} nats/token over ${c.n} windows, z ${c.z!.toFixed(1)}`,
    );
  }
}
