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
