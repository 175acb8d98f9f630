// Compiles seccomp rules to a classic BPF program (`struct sock_filter[]`) for one architecture.
import { SYSCALLS_AARCH64 } from './syscalls-aarch64.js';
import { SYSCALLS_X86_64 } from './syscalls-x86_64.js';

/** Architectures a filter can be compiled for. */
export type SeccompArch = 'x86_64' | 'aarch64';

/**
 * What a matching rule does: fail the call with an errno, or kill the whole process tree.
 * `'kill'` compiles to SECCOMP_RET_USER_NOTIF: the spawn's reaper holds the filter's listener,
 * so the call waits for an answer that never comes while the reaper kills the tree and reports
 * the call's number (SECCOMP_RET_KILL_PROCESS would lose it). Without a listener the kernel
 * fails such a call with ENOSYS, so it is denied whatever happens.
 */
export type BpfAction = { errno: number } | 'kill';

/** A test on one argument, on its low 32 bits (all the kernel reads of the int arguments tested). */
export type ArgTest =
  | {
      /** Which argument of the call, 0 to 5. */
      arg: number;
      /** Whether the argument must be one of `values`, or none of them. */
      op: 'in' | 'notIn';
      /** The values to compare with. */
      values: readonly number[];
    }
  | {
      /** Which argument of the call, 0 to 5. */
      arg: number;
      /** Matches when the argument has any bit of `mask` set. */
      op: 'maskAny';
      /** The bits to test. */
      mask: number;
    };

/** Argument tests that must all match (one test, or a list of them). */
export type ArgTests = ArgTest | readonly ArgTest[];

/** One compiled rule: the call, an optional argument test, the action when it matches. */
export interface BpfRule {
  nr: number;
  test?: ArgTests;
  action: BpfAction;
}

export interface ArchInfo {
  audit: number;
  table: Readonly<Record<string, number>>;
  x32: boolean;
}

export const ARCHES: Readonly<Record<SeccompArch, ArchInfo>> = {
  x86_64: { audit: 0xc000003e, table: SYSCALLS_X86_64, x32: true },
  aarch64: { audit: 0xc00000b7, table: SYSCALLS_AARCH64, x32: false },
};

export const AUDIT_ARCH_I386 = 0x40000003;
export const X32_SYSCALL_BIT = 0x40000000;

export const SECCOMP_RET_KILL_PROCESS = 0x80000000;
export const SECCOMP_RET_USER_NOTIF = 0x7fc00000;
export const SECCOMP_RET_ERRNO = 0x00050000;
export const SECCOMP_RET_ALLOW = 0x7fff0000;

// Classic BPF opcodes.
export const BPF_LD_W_ABS = 0x20;
export const BPF_JMP_JA = 0x05;
export const BPF_JEQ_K = 0x15;
export const BPF_JGT_K = 0x25;
export const BPF_JGE_K = 0x35;
export const BPF_JSET_K = 0x45;
export const BPF_RET_K = 0x06;

/** Offsets in `struct seccomp_data`. */
export const OFF_NR = 0;
export const OFF_ARCH = 4;
export const offArgLow = (i: number): number => 16 + 8 * i;

export interface Insn {
  code: number;
  jt: number;
  jf: number;
  k: number;
}

const ld = (k: number): Insn => ({ code: BPF_LD_W_ABS, jt: 0, jf: 0, k });
const jmp = (code: number, k: number, jt: number, jf: number): Insn => ({ code, jt, jf, k: k >>> 0 });
const ret = (k: number): Insn => ({ code: BPF_RET_K, jt: 0, jf: 0, k: k >>> 0 });

/** The return value of an action. */
export function actionValue(a: BpfAction): number {
  return a === 'kill' ? SECCOMP_RET_USER_NOTIF : (SECCOMP_RET_ERRNO | (a.errno & 0xffff)) >>> 0;
}

const ja = (k: number): Insn => ({ code: BPF_JMP_JA, jt: 0, jf: 0, k });

function jumpable(n: number): number {
  if (n > 255) throw new Error('seccomp: an argument test is too long');
  return n;
}

/** Instructions that fall through when `test` matches and skip the next `skip` ones otherwise. */
function requireMatch(test: ArgTest, skip: number): Insn[] {
  const out = [ld(offArgLow(test.arg))];
  if (test.op === 'maskAny') return [...out, jmp(BPF_JSET_K, test.mask, 0, jumpable(skip))];
  const n = test.values.length;
  if (n === 0) return test.op === 'in' ? [ja(skip)] : [];
  test.values.forEach((v, i) => {
    if (test.op === 'notIn') out.push(jmp(BPF_JEQ_K, v, jumpable(n - 1 - i + skip), 0));
    else if (i < n - 1) out.push(jmp(BPF_JEQ_K, v, jumpable(n - 1 - i), 0));
    else out.push(jmp(BPF_JEQ_K, v, 0, jumpable(skip)));
  });
  return out;
}

/** Instructions that return `action` when every test matches and fall through otherwise. */
function allOfInsns(tests: readonly ArgTest[], action: number): Insn[] {
  let block = [ret(action)];
  for (let i = tests.length - 1; i >= 0; i--) block = [...requireMatch(tests[i]!, block.length), ...block];
  return block;
}

/** Instructions that return `action` when `test` matches and fall through otherwise. */
function testInsns(test: ArgTests | undefined, action: number): Insn[] {
  if (!test) return [ret(action)];
  if (isTestList(test)) return allOfInsns(test, action);
  const out = [ld(offArgLow(test.arg))];
  if (test.op === 'maskAny') return [...out, jmp(BPF_JSET_K, test.mask, 0, 1), ret(action)];
  if (test.op === 'in') {
    for (const v of test.values) out.push(jmp(BPF_JEQ_K, v, 0, 1), ret(action));
    return out;
  }
  test.values.forEach((v, i) => out.push(jmp(BPF_JEQ_K, v, test.values.length - i, 0)));
  return [...out, ret(action)];
}

function isTestList(t: ArgTests): t is readonly ArgTest[] {
  return Array.isArray(t);
}

/**
 * The program: a foreign architecture (i386 via int 0x80 on x86_64) or an x32 call gets
 * `foreign`; a number above the table gets ENOSYS (libc falls back from calls it does not
 * know); then one block per listed call, in number order; everything else is allowed.
 */
export function compileRules(arch: SeccompArch, rules: readonly BpfRule[], foreign: BpfAction, enosys: number): Insn[] {
  const info = ARCHES[arch];
  const maxNr = Math.max(...Object.values(info.table));
  const prog: Insn[] = [ld(OFF_ARCH), jmp(BPF_JEQ_K, info.audit, 1, 0), ret(actionValue(foreign)), ld(OFF_NR)];
  if (info.x32) prog.push(jmp(BPF_JGE_K, X32_SYSCALL_BIT, 0, 1), ret(actionValue(foreign)));
  prog.push(jmp(BPF_JGT_K, maxNr, 0, 1), ret(actionValue({ errno: enosys })));
  const byNr = new Map<number, BpfRule[]>();
  for (const r of rules) byNr.set(r.nr, [...(byNr.get(r.nr) ?? []), r]);
  for (const [nr, list] of [...byNr].sort((a, b) => a[0] - b[0])) {
    const unconditional = list.find((r) => !r.test);
    const body = unconditional
      ? [ret(actionValue(unconditional.action))]
      : [...list.flatMap((r) => testInsns(r.test, actionValue(r.action))), ret(SECCOMP_RET_ALLOW)];
    if (body.length > 255) throw new Error(`seccomp: the rules for call ${nr} are too long`);
    prog.push(jmp(BPF_JEQ_K, nr, 0, body.length), ...body);
    // Every block ends in a return, so the accumulator still holds the number for the next.
  }
  prog.push(ret(SECCOMP_RET_ALLOW));
  return prog;
}

/** `struct sock_filter[]` in host byte order (little endian on both architectures). */
export function encodeProgram(prog: readonly Insn[]): Buffer {
  const buf = Buffer.alloc(prog.length * 8);
  prog.forEach((p, i) => {
    buf.writeUInt16LE(p.code, i * 8);
    buf.writeUInt8(p.jt, i * 8 + 2);
    buf.writeUInt8(p.jf, i * 8 + 3);
    buf.writeUInt32LE(p.k >>> 0, i * 8 + 4);
  });
  return buf;
}

/** Decodes `struct sock_filter[]` (for tests and debugging). */
export function decodeProgram(buf: Uint8Array): Insn[] {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  const out: Insn[] = [];
  for (let o = 0; o + 8 <= b.length; o += 8)
    out.push({ code: b.readUInt16LE(o), jt: b[o + 2]!, jf: b[o + 3]!, k: b.readUInt32LE(o + 4) });
  return out;
}

/** The architecture of this Node process, or undefined where seccomp filters are not compiled. */
export function hostArch(): SeccompArch | undefined {
  return process.arch === 'x64' ? 'x86_64' : process.arch === 'arm64' ? 'aarch64' : undefined;
}
