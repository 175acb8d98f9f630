// An interactive problem, judged the way online judges do it: the interactor (the problem's
// checker) and the contestant's solution run in two sandboxes, the solution's stdout wired to
// the interactor's stdin and back through kernel pipes. Node copies nothing between them; it
// only awaits both results and decides the verdict.
// Run it with `node examples/run.mjs judge/interactive`.
import { Sandbox, SandboxPipe, type SpawnResult } from 'sandkit';

// Guess a number from 1 to 1000000 in at most 20 questions; the interactor answers <, > or =.
const interactor = `
import sys
secret, n = int(sys.argv[1]), 0
for line in sys.stdin:
    n += 1
    guess = int(line)
    if guess == secret:
        print('=', flush=True); sys.stderr.write(f'solved in {n} guesses\\n'); sys.exit(0)
    print('<' if secret < guess else '>', flush=True)
    if n == 20: break
sys.stderr.write('too many guesses or gave up\\n'); sys.exit(1)
`;

const solutions: Record<string, string> = {
  'binary search': `
import sys
lo, hi = 1, 1000000
while True:
    mid = (lo + hi) // 2
    print(mid, flush=True)
    answer = input()
    if answer == '=': break
    if answer == '<': hi = mid - 1
    else: lo = mid + 1
`,
  'linear scan': `
i = 1
while True:
    print(i, flush=True)
    if input() == '=': break
    i += 1
`,
  'forgets to flush': `
import time
print(500000)
time.sleep(60)
`,
};

await using judge = new Sandbox(); // the interactor's sandbox: trusted code, still isolated
await using contestant = new Sandbox(); // the solution's sandbox

// A limit the solution hit comes first; then the interactor's word; then how the solution ended.
function verdictOf(solution: SpawnResult, checker: SpawnResult): string {
  if (!['ok', 'nonzero-exit', 'signaled'].includes(solution.status)) return solution.status;
  if (checker.status !== 'ok') return 'wrong answer';
  return solution.status === 'ok' ? 'accepted' : 'runtime error';
}

for (const [name, code] of Object.entries(solutions)) {
  using toSolution = new SandboxPipe(); // interactor → solution
  using toInteractor = new SandboxPipe(); // solution → interactor
  const limits = { wallTime: '2s', memory: '256M' };
  const solution = contestant.spawn(['python3', '-c', code], {
    stdin: toSolution.readEnd,
    stdout: toInteractor.writeEnd,
    limits,
  });
  const checker = judge.spawn(['python3', '-c', interactor, '271828'], {
    stdin: toInteractor.readEnd,
    stdout: toSolution.writeEnd,
    limits,
  });
  const [s, c] = await Promise.all([solution, checker]);
  console.log(
    name.padEnd(17),
    verdictOf(s, c).padEnd(16),
    `solution: ${s.status} in ${s.wallTimeMs.toFixed(0)} ms;`,
    `interactor: ${c.stderr.trim() || c.status}`
  );
}
