// Quick start: one sandbox, a program with its own environment whose output is streamed, then
// two programs that share the sandbox's files. Run it with `node examples/run.mjs quickstart`.
import { Image, Sandbox } from 'sandkit';

// The host's own /usr, read-only, under a private writable layer; no network but loopback.
// `await using` destroys the sandbox (every process, every directory) when the block ends.
await using sandbox = new Sandbox({ image: Image.host(), network: 'none' });

// spawn() returns at once; the handle streams output and is awaitable for the result.
const proc = sandbox.spawn(['sh', '-c', 'echo "hello, $NAME, from $(hostname) as uid $(id -u)"'], {
  env: { NAME: 'world' },
});
proc.stdout.pipe(process.stdout);
const result = await proc;
console.log(`exit code ${result.exitCode} after ${result.wallTimeMs.toFixed(1)} ms`);

// Programs in one sandbox share its root filesystem: a file one makes, the next one sees.
// Nothing written here reaches the host.
await sandbox.run(['touch', '/root/made-in-the-sandbox']);
const ls = await sandbox.run(['ls', '-l', '/root']);
console.log(ls.stdout.trimEnd());
