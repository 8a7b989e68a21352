/**
 * The command-line tokenizer behind `parseCommandArgs`: `--name VALUE`, `--name=VALUE`, `-x VALUE`,
 * grouped boolean shorts (`-qh`), `--` ending the options. A value may be a negative number
 * (`--bits -3` reaches the range check and says what would be valid), and an unknown option gets
 * a "did you mean" from the command's own options.
 *
 * @module
 */
import { QuantlabError } from "../core/errors.ts";
import { didYouMean } from "./suggest.ts";

/** What the tokenizer needs to know of one option. */
export interface OptionShape {
  type: "string" | "boolean";
  short?: string;
  multiple?: boolean;
}

/** Raw values (strings, booleans, lists for repeatable options) and positionals. */
export interface RawArgs {
  values: Record<string, string | boolean | string[]>;
  positionals: string[];
}

const NUMBER = /^-(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;

function usage(message: string): QuantlabError {
  return new QuantlabError("bad-argument", message);
}

/**
 * Splits `argv` into option values and positionals. `aliases` maps extra spellings (`-p`,
 * `--group-size`) to option names; they work but are not shown in help.
 *
 * @example
 * ```ts
 * import { tokenizeArgs } from "./parse_args.ts";
 * const r = tokenizeArgs({ bits: { type: "string" }, quiet: { type: "boolean", short: "q" } },
 *   ["m", "--bits", "-3", "-q"]);
 * if (r.values.bits !== "-3" || r.values.quiet !== true || r.positionals[0] !== "m") {
 *   throw new Error();
 * }
 * ```
 */
export function tokenizeArgs(
  options: Record<string, OptionShape>,
  argv: readonly string[],
  aliases: Record<string, string> = {},
): RawArgs {
  const values: RawArgs["values"] = {};
  const positionals: string[] = [];
  const byShort = new Map<string, string>();
  for (const [name, o] of Object.entries(options)) if (o.short) byShort.set(o.short, name);
  const set = (name: string, v: string | boolean): void => {
    const o = options[name]!;
    if (o.multiple && typeof v === "string") {
      const prev = values[name];
      values[name] = [...(Array.isArray(prev) ? prev : []), v];
    } else values[name] = v;
  };
  for (let i = 0; i < argv.length; i++) {
    const tok = argv[i]!;
    if (tok === "--") {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!tok.startsWith("-") || tok === "-" || NUMBER.test(tok)) {
      positionals.push(tok);
      continue;
    }
    const eq = tok.indexOf("=");
    const spelled = eq > 0 ? tok.slice(0, eq) : tok;
    const inline = eq > 0 ? tok.slice(eq + 1) : undefined;
    let name: string | undefined = aliases[spelled];
    if (name === undefined && spelled.startsWith("--")) {
      const long = spelled.slice(2);
      if (Object.hasOwn(options, long)) name = long;
      else {
        throw usage(
          `Unknown option ${spelled}` +
            didYouMean(long, Object.keys(options), (s) => `--${s}`, "; see --help for the options"),
        );
      }
    }
    if (name === undefined) {
      // -x, -xVALUE-free groups of boolean shorts (-qh)
      const letters = spelled.slice(1);
      const names = [...letters].map((c) => byShort.get(c));
      const unknown = names.findIndex((n) => n === undefined);
      if (unknown >= 0) {
        const c = letters[unknown]!;
        const long = Object.hasOwn(options, c) ? `; did you mean --${c}?` : "";
        throw usage(
          `Unknown option -${c}` + (long ||
            didYouMean(
              letters,
              Object.keys(options),
              (s) => `--${s}`,
              "; see --help for the options",
            )),
        );
      }
      if (names.length > 1) {
        for (const n of names) {
          if (options[n!]!.type !== "boolean") {
            throw usage(`Option -${options[n!]!.short} (--${n}) takes a value; give it on its own`);
          }
          set(n!, true);
        }
        continue;
      }
      name = names[0]!;
    }
    const o = options[name]!;
    if (o.type === "boolean") {
      if (inline !== undefined) throw usage(`Option ${spelled} takes no value; got "${inline}"`);
      set(name, true);
      continue;
    }
    if (inline !== undefined) {
      set(name, inline);
      continue;
    }
    const next = argv[i + 1];
    if (next === undefined || (next.startsWith("-") && next !== "-" && !NUMBER.test(next))) {
      throw usage(
        `Option ${spelled} needs a value` +
          (next === undefined
            ? ""
            : ` (got the option ${next}; write ${spelled}=${next} for a value starting with -)`),
      );
    }
    set(name, next);
    i++;
  }
  return { values, positionals };
}
