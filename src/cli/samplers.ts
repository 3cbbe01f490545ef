import { SAMPLERS } from '../samplers/registry.js';
import { command } from './options.js';
import { methodRow } from './params.js';
import { jsonOption } from './shared-options.js';

export const samplersCommand = command({
  name: 'samplers',
  summary: 'list the samplers',
  usage: '[--json]',
  description: 'List the samplers with their order, model evaluations per step, whether they are deterministic, the prediction types they accept and their options.',
  options: { json: jsonOption('an array of {"name", "order", "nfe_per_step", "deterministic", "inverse", "predictions", "params", "description"}') },
  async run({ values }) {
    const rows = SAMPLERS.map((s) => ({
      name: s.name,
      order: s.order,
      deterministic: !s.stochastic,
      inverse: Boolean(s.inverse),
      predictions: [...s.predictions],
      ...methodRow(s),
    }));
    if (values.json) return void process.stdout.write(JSON.stringify(rows) + '\n');
    const kindOf = (r: (typeof rows)[number]) => (r.inverse ? 'inversion' : r.deterministic ? 'deterministic' : 'stochastic');
    const table = rows.map((r) => [r.name, String(r.order), String(r.nfe_per_step), kindOf(r), Object.keys(r.params).join(', ')]);
    const header = ['name', 'order', 'NFE/step', 'kind', 'options'];
    const widths = header.map((h, c) => Math.max(h.length, ...table.map((row) => (c < 4 ? row[c]!.length : 0))));
    const fmt = (row: string[]) => row.map((v, c) => (c < 4 ? v.padEnd(widths[c]!) : v)).join('  ');
    const lines = [fmt(header), ...table.map(fmt)];
    lines.push('', `every sampler accepts predictions: ${rows[0]?.predictions.join(', ')}`);
    process.stdout.write(lines.join('\n') + '\n');
  },
});
