import { NoiseSource } from '../src/core/rng.js';
import { lincomb3 } from '../src/core/ops.js';
import { Tensor } from '../src/core/tensor.js';
import { GaussianMixture } from '../src/models/gmm.js';
import { ContinuousVPPath } from '../src/paths/vp.js';
import { fft2d } from '../src/core/fft.js';
import { CTOperator, parallelBeamAngles } from '../src/inverse/operators/ct.js';

export const description = 'throughput of the numerics core: RNG, fused elementwise, 2-D FFT, exact mixture denoiser, CT projector';

/** Median seconds per call of fn over `reps` timed calls after one warm-up. */
async function time(fn: () => unknown, reps: number): Promise<number> {
  await fn();
  const ts: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = process.hrtime.bigint();
    await fn();
    ts.push(Number(process.hrtime.bigint() - t0) / 1e9);
  }
  ts.sort((a, b) => a - b);
  return ts[Math.floor(reps / 2)]!;
}

export async function run(opts: { json: boolean; log: (m: string) => void }): Promise<Record<string, unknown>> {
  const n = 16 * 32 * 32;
  const src = new NoiseSource(0);
  const x = Tensor.zeros([16, 1, 32, 32]);
  opts.log('timing RNG, fused lincomb, FFT, mixture denoiser and CT projector ...');
  const rng = await time(() => src.fillNormal(x, 1), 20);
  const a = src.normal([16, 1, 32, 32], 2), b = src.normal([16, 1, 32, 32], 3), out = x.zerosLike();
  const fused = await time(() => lincomb3(out, 0.3, a, 0.5, b, -0.2, x), 50);
  const re = new Float64Array(256 * 256).map((_, i) => Math.sin(i)), im = new Float64Array(256 * 256);
  const fft = await time(() => fft2d(re, im, 256, 256, false), 20);
  const d = 16, K = 8;
  const gmm = new GaussianMixture({
    weights: Array(K).fill(1 / K),
    means: Array.from({ length: K }, (_, k) => Array.from({ length: d }, (_, j) => Math.sin(k + j))),
    covs: Array.from({ length: K }, () => Array.from({ length: d }, (_, i) => Array.from({ length: d }, (_, j) => (i === j ? 0.5 : 0.05)))),
  });
  const den = gmm.asDenoiser(new ContinuousVPPath());
  const xb = src.normal([256, d], 4, 0, 'float64');
  const gm = await time(() => den.predict(xb, 0.5), 5);
  // One projection and one backprojection of a 64 x 64 slice through the cached system matrix (bench inverse's geometry).
  const ctPair = (views: number): Promise<number> => {
    const ct = new CTOperator([1, 64, 64], { angles: parallelBeamAngles(views, 180) });
    const slice = src.normal([1, 1, 64, 64], 5);
    return time(() => ct.adjoint(ct.forward(slice)), 20);
  };
  const ct30 = await ctPair(30), ct60 = await ctPair(60);
  const result = {
    rng_normals_per_s: n / rng,
    lincomb3_elements_per_s: n / fused,
    fft2d_256_ms: fft * 1e3,
    mixture_denoiser_items_per_s_d16_k8: 256 / gm,
    ct_pair_64_30_views_ms: ct30 * 1e3,
    ct_pair_64_60_views_ms: ct60 * 1e3,
  };
  if (!opts.json) {
    process.stdout.write(
      [
        `RNG (Philox normals)          ${(result.rng_normals_per_s / 1e6).toFixed(1)} M/s`,
        `fused lincomb3 (float32)      ${(result.lincomb3_elements_per_s / 1e6).toFixed(0)} M elements/s`,
        `2-D FFT 256 x 256 (float64)   ${result.fft2d_256_ms.toFixed(2)} ms`,
        `mixture denoiser d=16 K=8     ${result.mixture_denoiser_items_per_s_d16_k8.toFixed(0)} items/s`,
        `CT A then A^T, 64 x 64        ${result.ct_pair_64_30_views_ms.toFixed(2)} ms at 30 views, ${result.ct_pair_64_60_views_ms.toFixed(2)} ms at 60`,
      ].join('\n') + '\n',
    );
  }
  return result;
}
