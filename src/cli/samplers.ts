import { SAMPLERS } from '../samplers/registry.js';
import { parseCommand } from './args.js';

export const samplersHelp = `tweedie samplers [--json]

List the samplers with their order, model evaluations per step, whether they are
deterministic, the prediction types they accept and their options.`;

export async function samplersCommand(argv: string[]): Promise<void> {
  const { values } = parseCommand('samplers', argv, { json: { type: 'boolean' } });
  if (values.help) return void process.stdout.write(samplersHelp + '\n');
  const rows = SAMPLERS.map((s) => ({
    name: s.name,
    order: s.order,
    nfe_per_step: s.nfePerStep,
    deterministic: !s.stochastic,
    inverse: Boolean(s.inverse),
    predictions: [...s.predictions],
    params: Object.fromEntries(Object.entries(s.params).map(([k, p]) => [k, { default: p.default, doc: p.doc }])),
    description: s.description,
    ...(s.notes ? { notes: s.notes } : {}),
  }));
  if (values.json) return void process.stdout.write(JSON.stringify(rows) + '\n');
  const w = Math.max(...rows.map((r) => r.name.length));
  const lines = [`${'name'.padEnd(w)}  order  NFE/step  kind           options`];
  for (const r of rows) {
    const kind = r.inverse ? 'inversion' : r.deterministic ? 'deterministic' : 'stochastic';
    lines.push(`${r.name.padEnd(w)}  ${String(r.order).padEnd(5)}  ${String(r.nfe_per_step).padEnd(8)}  ${kind.padEnd(13)}  ${Object.keys(r.params).join(', ')}`);
  }
  lines.push('', `every sampler accepts predictions: ${rows[0]?.predictions.join(', ')}`);
  process.stdout.write(lines.join('\n') + '\n');
}
