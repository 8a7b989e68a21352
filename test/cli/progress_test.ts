import assert from "node:assert/strict";
import { progress } from "../../src/cli/progress.ts";

Deno.test("progress() off a TTY: a line per ~10 %, and a status note after the heartbeat", () => {
  const lines: string[] = [];
  let ms = 1000; // a fake clock: the test decides how much time passes between ticks
  const now = () => ms;
  const p = progress("job", 1, { tty: false, sink: (s) => lines.push(s), heartbeatMs: 20, now });
  p.tick(0, "phase a"); // within the heartbeat: nothing
  assert.equal(lines.length, 0);
  ms += 30;
  p.tick(0); // no note: still nothing
  assert.equal(lines.length, 0);
  p.tick(0, "phase b"); // a note after the heartbeat: one line
  assert.equal(lines.length, 1);
  assert.match(lines[0]!, /^job \[\.+\] 0\/1 0\.0s phase b\n$/);
  p.tick(0, "phase c"); // right after: nothing
  assert.equal(lines.length, 1);
  p.tick(1); // 100 % done, but within 2 s of the last line: nothing
  assert.equal(lines.length, 1);
  ms += 1500;
  p.done("finished");
  assert.equal(lines.length, 2);
  assert.match(lines[1]!, /^job \[#{24}\] 1\/1 1\.5s finished\n$/);
});

Deno.test("progress() of a resumed run counts the resumed units, its ETA only this run's rate", () => {
  const lines: string[] = [];
  let ms = 0;
  const p = progress("train", 1000, {
    tty: false,
    sink: (s) => lines.push(s),
    now: () => ms,
    startAt: 500,
  });
  ms = 10_000;
  p.tick(250); // 250 steps in 10 s here: 25 steps/s, 250 left → 10 s (not 250 / (750/10 s))
  assert.equal(lines.length, 1);
  assert.equal(lines[0], `train [${"#".repeat(18)}${".".repeat(6)}] 750/1000 10.0s eta 10s\n`);
});
