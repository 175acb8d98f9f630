// `sandkit worker` as a child process with a state directory of its own: one of these stands
// for one machine of a cluster. Its JSON-lines log is parsed as it comes.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { dist } from '../helpers/dist.js';

export interface WorkerLine {
  event: string;
  jobId?: string;
  [key: string]: unknown;
}

export class WorkerProcess {
  readonly lines: WorkerLine[] = [];
  readonly child: ChildProcess;
  readonly exited: Promise<number | string | null>;
  private stderr = '';
  private waiters: Array<() => void> = [];

  constructor(
    readonly stateDir: string,
    args: string[],
    readonly id: string
  ) {
    mkdirSync(stateDir, { recursive: true });
    this.child = spawn(process.execPath, [dist.cli, 'worker', '--id', id, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, SANDKIT_STATE_DIR: stateDir },
    });
    let buffered = '';
    this.child.stdout!.on('data', (d: Buffer) => {
      buffered += d.toString();
      let nl;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        try {
          this.lines.push(JSON.parse(line) as WorkerLine);
        } catch {
          this.lines.push({ event: 'text', text: line });
        }
        for (const w of this.waiters.splice(0)) w();
      }
    });
    this.child.stderr!.on('data', (d: Buffer) => (this.stderr = (this.stderr + d.toString()).slice(-8000)));
    this.exited = new Promise((resolve) =>
      this.child.once('exit', (code, signal) => {
        for (const w of this.waiters.splice(0)) w();
        resolve(signal ?? code);
      })
    );
  }

  static start(root: string, name: string, redisUrl: string, queue: string, extra: string[] = []): WorkerProcess {
    return new WorkerProcess(
      join(root, name),
      ['--redis', redisUrl, '--queue', queue, '--lock-duration', '2000', '--stalled-interval', '1000', ...extra],
      name
    );
  }

  /** Waits until a logged line satisfies `match` (or the process exits, or time runs out). */
  async waitFor(match: (l: WorkerLine) => boolean, timeoutMs = 60_000): Promise<WorkerLine> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.lines.find(match);
      if (found) return found;
      if (this.child.exitCode !== null || this.child.signalCode !== null)
        throw new Error(`worker ${this.id} exited (${this.child.exitCode ?? this.child.signalCode}): ${this.stderr}`);
      if (Date.now() > deadline)
        throw new Error(`worker ${this.id}: no such line within ${timeoutMs} ms; stderr: ${this.stderr}`);
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 200);
      });
    }
  }

  events(event: string): WorkerLine[] {
    return this.lines.filter((l) => l.event === event);
  }

  /** Jobs it started and did not finish (as it logged). */
  running(): string[] {
    const done = new Set([...this.events('completed'), ...this.events('failed')].map((l) => l.jobId));
    return this.events('started')
      .map((l) => l.jobId!)
      .filter((id) => !done.has(id));
  }

  kill(signal: NodeJS.Signals): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
  }

  get stderrText(): string {
    return this.stderr;
  }
}
