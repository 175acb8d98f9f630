import { mkdirSync, readFileSync, rmdirSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SandboxNameInUseError } from '../errors/sandbox-error.js';
import { isSessionAlive } from '../platform/session.js';

// Sandbox names are unique per state directory across processes: `names/<name>` is made with
// O_EXCL and holds its owner's session and sandbox. A name whose session is gone (kill -9) is
// taken over, under `names/<name>.claim` (mkdir is atomic) so two takers cannot both win.

interface NameRecord {
  session: string;
  sandbox: string;
}

const CLAIM_STALE_MS = 10_000;

/** Takes `name` for `sandbox` of `session`. @throws {SandboxNameInUseError} when a live sandbox has it. */
export function claimName(stateDir: string, name: string, session: string, sandbox: string): void {
  const dir = join(stateDir, 'names');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = join(dir, name);
  const record = JSON.stringify({ session, sandbox } satisfies NameRecord);
  if (tryCreate(file, record)) return;
  const claim = `${file}.claim`;
  try {
    mkdirSync(claim);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    if (!isOld(claim)) throw inUse(name, readRecord(file));
    rmdirSync(claim); // its maker died between mkdir and rmdir
    mkdirSync(claim);
  }
  try {
    const held = readRecord(file);
    // An unreadable record may be one being written this instant: only an old one is stale.
    if (held ? isSessionAlive(held.session) : !isOld(file)) throw inUse(name, held);
    unlinkQuiet(file);
    if (!tryCreate(file, record)) throw inUse(name, readRecord(file));
  } finally {
    rmdirSync(claim);
  }
}

/** Gives the name back, if `sandbox` still holds it. */
export function releaseName(stateDir: string, name: string, sandbox: string): void {
  const file = join(stateDir, 'names', name);
  if (readRecord(file)?.sandbox === sandbox) unlinkQuiet(file);
}

function tryCreate(file: string, record: string): boolean {
  try {
    writeFileSync(file, record, { flag: 'wx', mode: 0o600 });
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
}

function readRecord(file: string): NameRecord | undefined {
  try {
    const text = readFileSync(file, 'utf8');
    if (text.length > 4096) return undefined;
    const r = JSON.parse(text) as Partial<NameRecord>;
    return typeof r.session === 'string' && typeof r.sandbox === 'string' ? (r as NameRecord) : undefined;
  } catch {
    return undefined;
  }
}

function inUse(name: string, held: NameRecord | undefined): SandboxNameInUseError {
  return new SandboxNameInUseError(name, Number(held?.session.split('-')[0] ?? 0), held?.sandbox ?? 'unknown');
}

function isOld(path: string): boolean {
  try {
    return Date.now() - statSync(path).mtimeMs > CLAIM_STALE_MS;
  } catch {
    return true;
  }
}

function unlinkQuiet(file: string): void {
  try {
    unlinkSync(file);
  } catch {
    // already gone
  }
}
