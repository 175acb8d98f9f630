import { probeHost } from '../sandbox/doctor.js';
import { defineCommand } from './command.js';

/** `sandkit doctor`. */
export const doctorCommand = defineCommand({
  name: 'doctor',
  summary: 'show what this host supports',
  options: { json: { type: 'boolean', description: 'print the report as JSON' } },
  run: async () => {
    const report = await probeHost();
    console.log(JSON.stringify(report, null, 2));
    return report.problems.length === 0 ? 0 : 1;
  },
});
