import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Tensor } from '../src/core/tensor.js';
import { diagnose, formatReport, type DiagnoseReport } from '../src/diagnostics/diagnose.js';
import { diagnosticPlots } from '../src/diagnostics/plots.js';
import { readNpy } from '../src/io/npy.js';
import { fitGaussian, gaussianFitFromMoments, type GaussianFit } from '../src/models/gaussian-fit.js';
import { loadMixture } from '../src/models/gmm-file.js';
import { OnnxDenoiser } from '../src/models/onnx.js';
import { packageRoot } from '../src/package-root.js';
import { fmnistTest } from './lib/fmnist.js';

export const description = 'score-field diagnostics of the shipped models (non-conservativity, intrinsic dimension, Gaussian departure) on real data; SVGs in docs/diagnostics/<model>/';

/** Each shipped generative model with its data and its Gaussian fit (the restoration models are conditional on their anchor and have no data distribution to diagnose). */
function setups(): { name: string; data: () => Tensor; fit: (data: Tensor) => GaussianFit; krylov: number; note: string }[] {
  const prior = () => loadMixture(join(packageRoot, 'weights', 'gaussian-exact', 'prior.json'));
  return [
    {
      name: 'fmnist-32', data: () => fmnistTest(1000), fit: (d) => fitGaussian(d), krylov: 1024,
      note: 'the first 1000 Fashion-MNIST test images (fit: their full covariance); diagnosed at the first 4',
    },
    {
      name: 'brain-64', data: () => readNpy(join(packageRoot, 'weights', 'brain-64', 'heldout.npy')).toDtype('float32'), fit: (d) => fitGaussian(d, { rank: d.batch - 1 }), krylov: 512,
      note: 'the 16 held-out slices of the one training subject (weights/brain-64/heldout.npy; fit: their rank-15 covariance); diagnosed at the first 4',
    },
    {
      name: 'gaussian-exact', data: () => prior().sample(2048, 0, 'float32'), fit: () => { const m = prior().moments(); return gaussianFitFromMoments(m.mean, m.cov); }, krylov: 64,
      note: "2048 samples of its prior.json (fit: the prior's exact moments); diagnosed at the first 4: the float32 floor",
    },
  ];
}

export async function run(opts: { json: boolean; log: (m: string) => void }): Promise<Record<string, unknown>> {
  const results: Record<string, unknown> = {};
  const md: string[] = [];
  for (const s of setups()) {
    const model = await OnnxDenoiser.load(join(packageRoot, 'weights', s.name));
    const data = s.data();
    opts.log(`${s.name}: fitting the Gaussian to ${data.batch} items ...`);
    const fit = s.fit(data);
    const report: DiagnoseReport = await diagnose(model, data.sliceBatch(0, 4), {
      fit, krylov: s.krylov, onProgress: (stage) => opts.log(`${s.name}: ${stage}`),
    });
    const dir = join(packageRoot, 'docs', 'diagnostics', s.name);
    mkdirSync(dir, { recursive: true });
    for (const f of diagnosticPlots(report, s.name)) writeFileSync(join(dir, f.name), f.svg);
    const text = formatReport(report);
    md.push(`## ${s.name}\n\nData: ${s.note}; Krylov dimension ${s.krylov}.\n\n\`\`\`\n${text}\n\`\`\`\n`);
    if (!opts.json) process.stdout.write(`${s.name} (${s.note})\n${text}\n\n`);
    results[s.name] = { ...report, levels: report.levels.map((l) => ({ ...l, ...(l.lid ? { lid: { ...l.lid, singularValues: undefined } } : {}) })) };
  }
  writeFileSync(join(packageRoot, 'docs', 'diagnostics', 'README.md'), `# Score-field diagnostics of the shipped models\n\nProduced by \`npx tweedie bench diagnose\` (defaults of \`tweedie diagnose\`: 10 levels, 4 points, 8 probe pairs, LID at the 3 smallest levels, departure threshold 0.1, seed 0).\n\n${md.join('\n')}`);
  return results;
}
