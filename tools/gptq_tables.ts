/**
 * Prints docs/experiments.md's GPTQ tables (markdown) from the files `tools/gptq_results.sh` leaves
 * in its work folders, one per model: bits per weight and the layer objective from the `quantize
 * --json` reports, perplexities and window-paired differences (`pairedCompare`) from the `ppl --out`
 * results. A row whose files are missing yet is left out.
 *
 * ```sh
 * ./quantlab deno run --allow-read tools/gptq_tables.ts tiny=/tmp/ql-gptq-tiny small=/tmp/ql-gptq-small
 * ```
 *
 * @module
 */
import { pairedCompare } from "../src/eval/paired.ts";
import type { WindowResult } from "../src/eval/perplexity.ts";

interface Ppl {
  result: { ppl: number };
  windows: WindowResult[];
}
interface Report {
  bitsPerWeight: { total: number };
  gptq?: { outputError: { gptq: number; dataFree: number; lowerOn: number; projections: number } };
}

const readJson = async <T>(p: string): Promise<T | null> => {
  try {
    return JSON.parse(await Deno.readTextFile(p)) as T;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
};

/** "Δppl, Δnll ± se, z" of B − A (negative: B better), or null when a file is missing. */
async function paired(dir: string, a: string, b: string) {
  const [A, B] = [
    await readJson<Ppl>(`${dir}/ppl_${a}.json`),
    await readJson<Ppl>(`${dir}/ppl_${b}.json`),
  ];
  if (A === null || B === null) return null;
  const c = pairedCompare(A, B);
  const sign = (x: number, d: number) => (x >= 0 ? "+" : "−") + Math.abs(x).toFixed(d);
  return {
    a: A.result.ppl.toFixed(3),
    b: B.result.ppl.toFixed(3),
    text:
      `${sign(c.deltaPpl!, 3)}, ${sign(c.deltaMeanNll!, 5)} ± ${c.deltaMeanNllSe!.toFixed(5)}, ` +
      `z ${sign(c.z!, 1)}`,
    z: `z ${sign(c.z!, 1)}`,
    n: c.n,
  };
}

const row = (cells: (string | number)[]) => `| ${cells.join(" | ")} |`;
const header = (cells: string[]) => [row(cells), row(cells.map(() => "---"))].join("\n");

if (import.meta.main) {
  const models = Deno.args.map((a) => a.split("=") as [string, string]);
  if (models.length === 0 || models.some((m) => m.length !== 2)) {
    console.error("usage: tools/gptq_tables.ts NAME=WORKDIR … (tools/gptq_results.sh's folders)");
    Deno.exit(2);
  }
  const bits = async (dir: string, name: string) =>
    (await readJson<Report>(`${dir}/${name}.json`))?.bitsPerWeight.total.toFixed(3);

  console.log("GPTQ-HIGGS against data-free HIGGS\n");
  console.log(
    header([
      "model, grid, bits/weight",
      "windows",
      "HIGGS",
      "GPTQ-HIGGS",
      "GPTQ − HIGGS: ΔPPL, Δ mean NLL ± SE, z",
    ]),
  );
  for (const [m, dir] of models) {
    for (const p of [2, 1]) {
      for (const b of [2, 3, 4]) {
        const name = `higgs_p${p}_b${b}`;
        const r = await paired(dir, name, `gptq_${name}`);
        if (r === null) continue;
        const grid = `(${p},${2 ** (p * b)})`;
        console.log(row([`${m}, higgs ${grid}, ${await bits(dir, name)}`, r.n, r.a, r.b, r.text]));
      }
    }
  }

  console.log("\nGPTQ-int (group 128) against RTN and HQQ\n");
  console.log(
    header([
      "model, bits/weight",
      "windows",
      "RTN",
      "GPTQ-int",
      "HQQ",
      "GPTQ − RTN: ΔPPL, Δ mean NLL ± SE, z",
      "GPTQ − HQQ",
      "HQQ − RTN",
    ]),
  );
  for (const [m, dir] of models) {
    for (const b of [3, 4]) {
      const vsRtn = await paired(dir, `rtn_b${b}`, `gptq_rtn_b${b}`);
      const vsHqq = await paired(dir, `hqq_b${b}`, `gptq_rtn_b${b}`);
      const hqqRtn = await paired(dir, `rtn_b${b}`, `hqq_b${b}`);
      if (vsRtn === null || vsHqq === null || hqqRtn === null) continue;
      const label = `${m} int${b} g128, ${await bits(dir, `gptq_rtn_b${b}`)}`;
      console.log(row([label, vsRtn.n, vsRtn.a, vsRtn.b, vsHqq.a, vsRtn.text, vsHqq.z, hqqRtn.z]));
    }
  }

  console.log("\nVariants at 3 bits (GPTQ-HIGGS (2,64)) against the default run\n");
  console.log(
    header([
      "model, variant",
      "windows",
      "default",
      "variant",
      "variant − default: ΔPPL, Δ mean NLL ± SE, z",
    ]),
  );
  const variants: [string, string][] = [
    ["actorder", "act-order"],
    ["c32", "32 calibration windows"],
    ["c512", "512 calibration windows"],
    ["seed1", "calibration seed 1"],
    ["seed2", "calibration seed 2"],
  ];
  for (const [m, dir] of models) {
    for (const [suffix, what] of variants) {
      const r = await paired(dir, "gptq_higgs_p2_b3", `gptq_higgs_p2_b3_${suffix}`);
      if (r !== null) console.log(row([`${m}, ${what}`, r.n, r.a, r.b, r.text]));
    }
  }

  console.log("\nThe layer objective on the calibration inputs (Σ‖(W − Ŵ)X‖² / Σ‖WX‖²)\n");
  console.log(
    header([
      "model, run",
      "GPTQ",
      "data-free",
      "GPTQ / data-free",
      "projections where GPTQ is lower",
    ]),
  );
  for (const [m, dir] of models) {
    const names = [...Deno.readDirSync(dir)].map((e) => e.name)
      .filter((n) => n.startsWith("gptq_") && n.endsWith(".json")).sort();
    for (const name of names) {
      const o = (await readJson<Report>(`${dir}/${name}`))?.gptq?.outputError;
      if (!o) continue;
      console.log(row([
        `${m}, ${name.slice(0, -5)}`,
        o.gptq.toFixed(5),
        o.dataFree.toFixed(5),
        (o.gptq / o.dataFree).toFixed(3),
        `${o.lowerOn} of ${o.projections}`,
      ]));
    }
  }
}
