// A judge's inner loop: run each submitted program on an input, under limits, and report what
// happened. A program that fails or hits a limit is a fact on its result, not an exception.
// Run it with `node examples/run.mjs judge-like`.
import { Sandbox } from 'sandkit';

const input = '2 3\n';
const expected = '5';
const submissions: Record<string, string> = {
  correct: 'read a b; echo $((a + b))',
  wrong: 'read a b; echo $((a * b))',
  crashes: 'read a b; kill -SEGV $$',
  loops: 'while :; do :; done',
};

await using sandbox = new Sandbox(); // the host's system read-only, no network

for (const [name, program] of Object.entries(submissions)) {
  const result = await sandbox.run(['sh', '-c', program], {
    stdin: input,
    limits: { wallTime: '1s', output: '64k' }, // hitting one kills the program's whole tree
  });
  const verdict =
    result.status !== 'ok' ? result.status : result.stdout.trim() === expected ? 'accepted' : 'wrong answer';
  console.log(
    name.padEnd(8),
    verdict.padEnd(16),
    JSON.stringify({
      exitCode: result.exitCode,
      signal: result.signal,
      stdout: result.stdout,
      wallTimeMs: result.wallTimeMs,
      cpuTimeMs: result.cpuTimeMs.total,
      maxRssBytes: result.maxRssBytes,
      limitExceeded: result.limitExceeded,
    })
  );
}
