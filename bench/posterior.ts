import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SOLVERS } from '../src/inverse/solvers/registry.js';
import { FlowPath } from '../src/paths/ve.js';
import { TweedieError } from '../src/core/errors.js';
import { packageRoot } from '../src/package-root.js';
import { posteriorProblem, scoreSolver, type PosteriorScore } from './lib/posterior.js';

export const description = 'every posterior solver against the exact mixture posterior (d = 16 and 64, random dense operator, noise 0.1): SWD and posterior-mean error';

const STEPS = 50;

export async function run(opts: { json: boolean; log: (m: string) => void }): Promise<Record<string, unknown>> {
  const problems = [
    { label: 'd=16, m=8', pb: posteriorProblem(16, 8, 0.1), n: 2000 },
    { label: 'd=64, m=32', pb: posteriorProblem(64, 32, 0.1), n: 1000 },
  ];
  const rows: { solver: string; problem: string; score: PosteriorScore | null; note?: string }[] = [];
  for (const def of SOLVERS.filter((s) => !s.needs.noPrior && !s.needs.zeroFilledCondition)) {
    for (const { label, pb, n } of problems) {
      opts.log(`  ${def.name} on ${label}`);
      try {
        rows.push({ solver: def.needs.flow ? `${def.name} (flow path)` : def.name, problem: label, score: await scoreSolver(pb, def, STEPS, {}, def.needs.flow ? new FlowPath() : undefined, n) });
      } catch (e) {
        if (!(e instanceof TweedieError)) throw e;
        rows.push({ solver: def.name, problem: label, score: null, note: e.message.split(';')[0]! });
      }
    }
  }
  const md = [
    `| solver | problem | SWD to exact posterior | floor (exact vs exact) | posterior-mean error | NFE |`,
    `|---|---|---|---|---|---|`,
    ...rows.map((r) => r.score
      ? `| ${r.solver} | ${r.problem} | ${r.score.swd.toFixed(3)} | ${r.score.floor.toFixed(3)} | ${r.score.meanError.toFixed(3)} | ${r.score.nfe} |`
      : `| ${r.solver} | ${r.problem} | - | - | - | ${r.note} |`),
  ].join('\n');
  const dir = join(packageRoot, 'docs');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'posterior-table.md'), `# Posterior solvers against the exact posterior\n\nMixture prior (4 components), random Gaussian m x d operator (entries N(0, 1/d)), noise sigma 0.1, ${STEPS} steps on the continuous VP path (log-SNR grid; a solver defined on rectified flow only runs on that path, with the mixture's exact velocity, from t = 0.995), default options; produced by \`npx tweedie bench posterior\`.\n\n${md}\n`);
  if (!opts.json) process.stdout.write(md + '\n');
  return { steps: STEPS, rows };
}
