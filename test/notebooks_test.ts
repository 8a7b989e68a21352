// Runs every notebook under notebooks/ headless — nbconvert with Deno's own Jupyter kernel (this
// very Deno binary, through a kernelspec in a temporary JUPYTER_PATH, so nothing is installed) —
// and fails on any error output. Skipped, saying so, where Python's nbconvert is missing (CI
// installs Debian's python3-nbconvert).
import assert from "node:assert/strict";
import { skipName } from "./skip.ts";

const NOTEBOOKS = new URL("../notebooks/", import.meta.url);

async function nbconvertPython(): Promise<string | null> {
  for (const py of ["python3", "/usr/bin/python3"]) {
    try {
      const r = await new Deno.Command(py, {
        args: ["-c", "import nbconvert"],
        stdout: "null",
        stderr: "null",
      }).output();
      if (r.success) return py;
    } catch {
      // not installed: try the next
    }
  }
  return null;
}

const python = await nbconvertPython();
if (!python) console.log("notebooks_test: no Python with nbconvert; notebooks not executed");
const notebooks = [...Deno.readDirSync(NOTEBOOKS)]
  .filter((e) => e.isFile && e.name.endsWith(".ipynb"))
  .map((e) => e.name)
  .sort();

interface Output {
  output_type: string;
  ename?: string;
  evalue?: string;
  name?: string;
  text?: string | string[];
}

for (const name of notebooks) {
  Deno.test({
    name: skipName(
      `notebooks/${name} runs headless without an error output`,
      python === null,
      "no python3 with nbconvert",
    ),
    ignore: python === null,
    sanitizeResources: false,
    sanitizeOps: false,
    async fn() {
      const tmp = await Deno.makeTempDir({ prefix: "quantlab-nb-" });
      try {
        await Deno.mkdir(`${tmp}/kernels/deno`, { recursive: true });
        await Deno.writeTextFile(
          `${tmp}/kernels/deno/kernel.json`,
          JSON.stringify({
            argv: [Deno.execPath(), "jupyter", "--kernel", "--conn", "{connection_file}"],
            display_name: "Deno",
            language: "typescript",
          }),
        );
        const out = `${tmp}/${name}`;
        const r = await new Deno.Command(python!, {
          args: [
            "-m",
            "nbconvert",
            "--to",
            "notebook",
            "--execute",
            "--ExecutePreprocessor.timeout=600",
            "--output",
            out,
            name,
          ],
          cwd: NOTEBOOKS,
          env: { JUPYTER_PATH: tmp, NO_COLOR: "1" },
          stdout: "piped",
          stderr: "piped",
        }).output();
        const log = new TextDecoder().decode(r.stderr);
        assert.ok(r.success, `nbconvert failed on ${name}:\n${log.slice(-3000)}`);
        const nb = JSON.parse(await Deno.readTextFile(out));
        let displays = 0;
        for (const cell of nb.cells) {
          for (const o of (cell.outputs ?? []) as Output[]) {
            assert.notEqual(o.output_type, "error", `${name}: ${o.ename}: ${o.evalue}`);
            const text = Array.isArray(o.text) ? o.text.join("") : o.text ?? "";
            assert.ok(o.name !== "stderr" || !/error/i.test(text), `${name} stderr: ${text}`);
            if (o.output_type === "display_data") displays++;
          }
        }
        // Every notebook shows something (a run that silently skipped its cells would not).
        assert.ok(displays > 0, `${name}: no displayed output`);
      } finally {
        await Deno.remove(tmp, { recursive: true });
      }
    },
  });
}
