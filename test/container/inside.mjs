// Runs inside the container-like host (test/container/enter-container.sh): the jobs a user of
// sandkit in a container does, each reported as one JSON line `{ check, ...facts }` or
// `{ check, error: { name, message } }`, for container.test.ts to judge.
import { spawnSync } from 'node:child_process';
const dist = process.argv[2];
const { Sandbox } = await import(`${dist}/index.js`);
const out = (check, facts) => process.stdout.write(JSON.stringify({ check, ...facts }) + '\n');
async function check(name, fn) {
  try {
    out(name, await fn());
  } catch (e) {
    out(name, { error: { name: e?.constructor?.name, message: String(e?.message ?? e) } });
  }
}
const text = (r) => ({ status: r.status, stdout: r.stdout.toString() });

await check('cli', () => {
  const r = spawnSync(process.execPath, [`${dist}/cli.js`, 'run', '--', 'sh', '-c', 'echo $((6*7))'], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
});
await check('doctor', () => {
  const r = spawnSync(process.execPath, [`${dist}/cli.js`, 'doctor', '--json'], { encoding: 'utf8', timeout: 60_000 });
  return { report: JSON.parse(r.stdout) };
});
for (const limits of [undefined, 'unlimited']) {
  await check(`snapshot+files (limits ${limits ?? 'default'})`, async () => {
    const build = new Sandbox({ network: 'none', limitFallback: 'rlimit', limits });
    try {
      await build.run(['sh', '-c', 'echo built > /root/out']);
      await build.files.write('/root/in.txt', 'from the files API');
      const viaRun = text(await build.run(['cat', '/root/in.txt']));
      const viaFiles = await build.files.readText('/root/out');
      const snap = await build.snapshot();
      const next = new Sandbox({ image: snap, network: 'none', limitFallback: 'rlimit', limits });
      try {
        return { viaRun, viaFiles, fromSnapshot: text(await next.run(['cat', '/root/out', '/root/in.txt'])) };
      } finally {
        await next.destroy();
      }
    } finally {
      await build.destroy();
    }
  });
}
await check('verdicts', async () => {
  const sb = new Sandbox({ network: 'none', limitFallback: 'rlimit', limits: { disk: '8M' } });
  try {
    const wall = (await sb.run(['sleep', '5'], { limits: { wallTime: '300ms' } })).status;
    const cpu = (await sb.run(['sh', '-c', 'while :; do :; done'], { limits: { cpuTime: '300ms' } })).status;
    const output = (await sb.run(['sh', '-c', 'yes'], { limits: { output: '64K' } })).status;
    const disk = text(await sb.run(['sh', '-c', 'dd if=/dev/zero of=/root/fill bs=1M count=32 2>/dev/null; echo $?']));
    return { wall, cpu, output, disk };
  } finally {
    await sb.destroy();
  }
});
await check('full state dir', async () => {
  const sb = new Sandbox({ network: 'none', stateDir: '/full/state' });
  try {
    return { status: (await sb.run(['true'])).status };
  } finally {
    await sb.destroy();
  }
});
