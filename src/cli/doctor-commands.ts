import { probeHost, type HostCheck, type HostReport } from '../sandbox/doctor.js';
import { defineCommand } from './command.js';

/** `sandkit doctor`: what works here, what each missing piece would enable, how to get it. */
export const doctorCommand = defineCommand({
  name: 'doctor',
  summary: 'show what this host supports',
  description:
    'Exits 0 when the core works (the helper, user namespaces, overlayfs, the state directory:\na sandbox starts); missing extras (cgroups, networking tools, ...) are warnings.',
  options: { json: { type: 'boolean', description: 'print the whole report as JSON' } },
  run: async ({ values }) => {
    const report = await probeHost();
    if (values.json) console.log(JSON.stringify(report, null, 2));
    else console.log(formatReport(report, process.stdout.isTTY === true));
    return report.coreWorks ? 0 : 1;
  },
});

/** The table: ✔/✘ (⚠ for a missing extra), the feature, what it enables, and for a missing one its fix. */
export function formatReport(report: HostReport, color: boolean): string {
  const paint = (code: number, text: string) => (color ? `\x1b[${code}m${text}\x1b[0m` : text);
  const mark = (c: HostCheck) => (c.ok ? paint(32, '✔') : c.core ? paint(31, '✘') : paint(33, '✘'));
  const width = Math.max(...report.checks.map((c) => c.feature.length));
  const lines = [
    `sandkit doctor: ${report.root ? 'root' : `uid ${process.getuid?.() ?? '?'} (rootless)`}, state in ${report.stateDir}`,
    '',
  ];
  for (const c of report.checks) {
    lines.push(`${mark(c)} ${c.feature.padEnd(width)}  ${c.enables}${c.core ? '' : ''}`);
    lines.push(`  ${''.padEnd(width)}  ${paint(2, c.detail)}`);
    if (!c.ok && c.hint)
      lines.push(`  ${''.padEnd(width)}  fix: ${c.hint}${c.package ? ` (Debian: ${c.package})` : ''}`);
  }
  const missing = report.checks.filter((c) => !c.ok);
  const core = missing.filter((c) => c.core);
  lines.push(
    '',
    core.length > 0
      ? paint(31, `Sandboxes cannot run here: ${core.map((c) => c.feature).join(', ')}.`)
      : `Sandboxes run here${missing.length > 0 ? `; ${missing.length} extra(s) missing: ${missing.map((c) => c.feature).join(', ')}` : ', with everything'}.`
  );
  return lines.join('\n');
}
