import { SOLVERS } from '../inverse/solvers/registry.js';
import { command } from './options.js';
import { methodRow } from './params.js';
import { jsonOption } from './shared-options.js';

export const solversCommand = command({
  name: 'solvers',
  summary: 'list the posterior solvers and baselines',
  usage: '[--json]',
  description: 'List the posterior solvers and baselines with what they need (an SVD, gradients, particles).',
  options: { json: jsonOption('an array of {"name", "needs", "nfe_per_step", "stochastic", "params", "description"}') },
  async run({ values }) {
    const rows = SOLVERS.map((s) => ({
      name: s.name,
      needs: Object.entries(s.needs).filter(([, v]) => v).map(([k]) => k),
      stochastic: s.stochastic,
      ...methodRow(s),
    }));
    if (values.json) return void process.stdout.write(JSON.stringify(rows) + '\n');
    const w = Math.max(...rows.map((r) => r.name.length), 4);
    const lines = [`${'name'.padEnd(w)}  ${'needs'.padEnd(22)}  options`];
    for (const r of rows) lines.push(`${r.name.padEnd(w)}  ${(r.needs.join(', ') || '-').padEnd(22)}  ${Object.keys(r.params).join(', ')}`);
    process.stdout.write(lines.join('\n') + '\n');
  },
});
