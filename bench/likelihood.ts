import { join } from 'node:path';
import type { GradientRoute } from '../src/models/denoiser.js';
import { OnnxDenoiser } from '../src/models/onnx.js';
import { likelihoodData } from '../src/likelihood/data.js';
import { likelihoodSummary } from '../src/likelihood/summary.js';
import { packageRoot } from '../src/package-root.js';
import { fmnistTestLevels } from './lib/fmnist.js';

export const description = 'bits/dim of fmnist-32 on the first Fashion-MNIST test images through the PF-ODE (dequantized, 1 Rademacher probe) at rtol = atol = 1e-3 and 1e-5, J u by the exported gradient and by differences: NFE and seconds per image';

/**
 * Images (env TWEEDIE_BENCH_N, default 16), tolerances (env TWEEDIE_BENCH_TOLS, default "1e-3,1e-5") and gradient
 * routes (env TWEEDIE_BENCH_ROUTES, default "exported,differences").
 */
const N = Number(process.env.TWEEDIE_BENCH_N ?? 16);
const TOLS = (process.env.TWEEDIE_BENCH_TOLS ?? '1e-3,1e-5').split(',').map(Number);
const ROUTES = (process.env.TWEEDIE_BENCH_ROUTES ?? 'exported,differences').split(',') as GradientRoute[];

export async function run(opts: { json: boolean; log: (m: string) => void }): Promise<Record<string, unknown>> {
  const model = await OnnxDenoiser.load(join(packageRoot, 'weights', 'fmnist-32'));
  const data = likelihoodData(fmnistTestLevels(N), true, model.itemShape, model.spec.valueRange, 'Fashion-MNIST t10k');
  const rows = [];
  for (const tol of TOLS) for (const gradient of ROUTES) {
    opts.log(`  rtol = atol = ${tol}, J u by ${gradient}: ${N} images`);
    const r = await likelihoodSummary(model, data, model.spec.valueRange, { rtol: tol, atol: tol, gradient, batch: 16 });
    rows.push({ tol, gradient, n: N, bits_per_dim: r.meanBitsPerDim, standard_error: r.standardError, nfe_per_image: r.nfePerItem, ode_evaluations_per_image: r.odeEvaluationsPerItem, seconds_per_image: r.seconds / N });
  }
  if (!opts.json) {
    process.stdout.write(['| rtol = atol | J u | images | bits/dim | NFE / image | ODE evaluations / image | s / image |', '|---|---|---|---|---|---|---|',
      ...rows.map((r) => `| ${r.tol} | ${r.gradient} | ${r.n} | ${r.bits_per_dim.toFixed(4)} +- ${r.standard_error.toFixed(4)} | ${r.nfe_per_image.toFixed(0)} | ${r.ode_evaluations_per_image.toFixed(0)} | ${r.seconds_per_image.toFixed(2)} |`)].join('\n') + '\n');
  }
  return { model: 'fmnist-32', probes: 1, probe: 'rademacher', rows };
}
