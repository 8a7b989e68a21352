// The recipes of docs/scale-out.md: the Slurm array script and the Kubernetes Indexed Job hold
// command lines quantlab accepts, whose shards from the scheduler's environment are 1 … N and
// which pass --resume (a retried task continues its shard instead of being refused); the local
// `xargs -P` recipe runs on the embedded model and merges into a single run's folder, and runs
// again after a failed shard.
import assert from "node:assert/strict";
import { parseAllDocuments } from "yaml";
import { COMMANDS } from "../../src/cli/main.ts";
import { parseCommandArgs, type ParsedArgs } from "../../src/cli/command.ts";
import { quantOptionsFromArgs } from "../../src/cli/commands/quantize.ts";
import { shardFromArgs } from "../../src/cli/shard_flags.ts";
import { quantizeCheckpoint } from "../../src/jobs/quantize_checkpoint.ts";
import { splitCommandLine } from "./run_cli.ts";

const ROOT = new URL("../../", import.meta.url);
const DOC = await Deno.readTextFile(new URL("docs/scale-out.md", ROOT));

/** The fenced code blocks of the page, with their language. */
function codeBlocks(md: string): { lang: string; code: string }[] {
  const re = /^```(\S*)[^\n]*\n([\s\S]*?)^```\s*$/gm;
  return [...md.matchAll(re)].map((m) => ({ lang: m[1] ?? "", code: m[2] ?? "" }));
}

/** The one sh block that contains `marker`. */
function shBlock(marker: string): string {
  const found = codeBlocks(DOC).filter((b) => b.lang === "sh" && b.code.includes(marker));
  assert.equal(found.length, 1, `one sh block with ${marker}`);
  return found[0]!.code;
}

/** Parses a quantlab command line (argv after `./quantlab`) as the CLI does, options included. */
function parseQuantlab(argv: readonly string[]): { name: string; args: ParsedArgs } {
  const [name, ...rest] = argv;
  const cmd = COMMANDS.find((c) => c.name === name);
  assert.ok(cmd, `quantlab has no command ${name}`);
  const args = parseCommandArgs(cmd.flags, rest, cmd.aliases);
  if (name === "quantize") quantOptionsFromArgs(args); // --bits, --p … in range
  return { name: name!, args };
}

/** The `./quantlab …` lines of a shell script (continuations joined, $VARS given values). */
function quantlabLines(script: string, vars: Record<string, string>): string[][] {
  const joined = script.replace(/\\\n\s*/g, " ");
  return joined.split("\n").map((l) => l.replace(/#.*$/, "").trim()).filter((l) =>
    l.startsWith("./quantlab ")
  ).map((l) => {
    const line = l.replace(/\$(\w+)/g, (_, v: string) => vars[v] ?? `$${v}`);
    return splitCommandLine(line).slice(1);
  });
}

Deno.test("the Slurm array script's quantlab lines parse, and array tasks 1 … N are shards 1 … N", () => {
  const script = shBlock("#SBATCH");
  const array = /^#SBATCH --array=(\d+)-(\d+)$/m.exec(script);
  assert.ok(array, "the script sets --array=A-B");
  const [min, max] = [Number(array[1]), Number(array[2])];
  const vars = { MODEL: "/m", OUT: "/o" };
  const [line, ...more] = quantlabLines(script, vars);
  assert.equal(more.length, 0);
  const { name, args } = parseQuantlab(line!);
  assert.equal(name, "quantize");
  assert.equal(args.values.out, "/o");
  assert.equal(args.values.resume, true, "a requeued task continues its shard");
  const n = max - min + 1;
  for (let id = min; id <= max; id++) {
    const env = {
      SLURM_ARRAY_TASK_ID: String(id),
      SLURM_ARRAY_TASK_MIN: String(min),
      SLURM_ARRAY_TASK_COUNT: String(n),
    };
    assert.deepEqual(shardFromArgs(args, env), { index: id - min + 1, count: n });
  }
  // The merge it submits afterwards, and the sensitivity variant, are command lines too.
  const submit = shBlock("sbatch --dependency");
  const wrap = /--wrap '([^']+)'/.exec(submit)![1]!;
  const merge = parseQuantlab(splitCommandLine(wrap).slice(1));
  assert.equal(merge.name, "merge");
  assert.deepEqual(merge.args.positionals, [/OUT=(\S+)/.exec(script)![1]]);
  const [sens] = quantlabLines(shBlock("./quantlab sensitivity"), vars);
  const s = parseQuantlab(sens!);
  assert.equal(s.name, "sensitivity");
  assert.equal(s.args.values.resume, true);
  assert.deepEqual(shardFromArgs(s.args, { SLURM_ARRAY_TASK_ID: "8", SLURM_ARRAY_TASK_MIN: "1" }), {
    index: 8,
    count: 8,
  });
});

Deno.test("the Kubernetes Indexed Job parses as YAML; its command is quantlab's, with shards 1 … completions", () => {
  const blocks = codeBlocks(DOC).filter((b) => b.lang === "yaml");
  assert.equal(blocks.length, 1);
  const docs = parseAllDocuments(blocks[0]!.code).map((d) => {
    assert.deepEqual(d.errors, []);
    return d.toJS();
  });
  assert.equal(docs.length, 2);
  const [job, mergeJob] = docs;
  assert.equal(job.kind, "Job");
  assert.equal(job.spec.completionMode, "Indexed");
  const n = job.spec.completions;
  assert.ok(Number.isInteger(n) && n > 1);
  const [container] = job.spec.template.spec.containers;
  const [launcher, ...argv] = container.command as string[];
  assert.equal(launcher, "./quantlab");
  assert.equal(container.workingDir, "/opt/quantlab");
  const { name, args } = parseQuantlab(argv);
  assert.equal(name, "quantize");
  assert.equal(args.values.resume, true, "a retried index continues its shard");
  for (let i = 0; i < n; i++) {
    assert.deepEqual(shardFromArgs(args, { JOB_COMPLETION_INDEX: String(i) }), {
      index: i + 1,
      count: n,
    });
  }
  // The merge Job merges that output, with the source (for the dense tensors) mounted.
  const [m] = mergeJob.spec.template.spec.containers;
  const merge = parseQuantlab((m.command as string[]).slice(1));
  assert.equal(merge.name, "merge");
  assert.deepEqual(merge.args.positionals, [args.values.out]);
  const mounts = (m.volumeMounts as { mountPath: string }[]).map((v) => v.mountPath);
  assert.ok(mounts.includes("/models") && mounts.includes("/out"), mounts.join());
});

Deno.test("the local xargs -P recipe runs 3 shard processes at once on the tiny model, again after a failed shard; the merge equals a single run", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ql-xargs-" });
  try {
    const out = `${dir}/sharded`;
    // An earlier run of the recipe: shard 1 finished, shard 2 failed after 2 tensors, shard 3
    // never started. The recipe run again finishes the run.
    const tiny = new URL("assets/tiny-llama", ROOT).pathname;
    const rtn = { method: "rtn", options: {} };
    await quantizeCheckpoint(tiny, out, { ...rtn, shard: { index: 1, count: 3 } });
    let done = 0;
    await assert.rejects(
      quantizeCheckpoint(tiny, out, {
        ...rtn,
        shard: { index: 2, count: 3 },
        onTensorDone: () => {
          if (++done === 2) throw new Error("failed");
        },
      }),
      /failed/,
    );
    const r = await new Deno.Command("sh", {
      args: ["-c", shBlock("xargs -P")],
      cwd: ROOT,
      env: { N: "3", MODEL: "assets/tiny-llama", OUT: out },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const err = new TextDecoder().decode(r.stderr);
    assert.equal(r.code, 0, err);
    assert.match(new TextDecoder().decode(r.stdout), /merged +3 quantize shards \(28 tensors\)/);
    await quantizeCheckpoint(tiny, `${dir}/single`, rtn);
    const names = [...Deno.readDirSync(`${dir}/single`)].map((e) => e.name).sort();
    assert.deepEqual([...Deno.readDirSync(out)].map((e) => e.name).sort(), names);
    for (const f of names) {
      assert.deepEqual(
        await Deno.readFile(`${out}/${f}`),
        await Deno.readFile(`${dir}/single/${f}`),
        f,
      );
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
