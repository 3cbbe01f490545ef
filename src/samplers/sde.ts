import { fail } from '../core/errors.js';
import { lincomb2, lincomb3, scale } from '../core/ops.js';
import { Stream, type NoiseSource } from '../core/rng.js';
import type { Tensor } from '../core/tensor.js';
import { estimateBuffers, type Estimate, type ModelFn } from '../models/model-fn.js';
import type { GridPoint, Path } from '../paths/path.js';
import { ALL_PREDICTIONS } from './common.js';
import { defineSampler, type SamplerDef } from './types.js';

/**
 * Reverse-SDE samplers of Score-SDE (Song et al. 2021; yang-song/score_sde_pytorch sampling.py) on the
 * centered variable. The forward SDE is dz = f z dt + g dw with f = a'/a and g^2 = d(s^2)/dt - 2 f s^2
 * (Path.drift / Path.diffusion2), the score is -eps/s, and the reverse SDE (eq. 6) is
 * dz = [f z - g^2 score] dt + g dw_bar, integrated with dt = t' - t < 0 over the grid's times.
 *
 * Final step (score_sde's get_pc_sampler with denoise = True returns x_mean of the last step, the
 * "noise removal" step): into a clean point (s = 0) the step returns the x0 estimate z' = a' x0 (the
 * reverse SDE has no finite step into s = 0 on every path: VE's clean time is -inf); into a noisy last
 * point the step returns its mean without noise unless `denoise` is false.
 */

/** Refuse a start at a = 0, where the reverse SDE's drift f = a'/a and diffusion g^2 are infinite. */
function refuseAZero(name: string, p: GridPoint, what: string): never {
  return fail(
    'UNSUPPORTED',
    `${name}: ${what} is infinite at the grid's first point (t = ${p.t}, a = 0: pure noise, f = a'/a = inf); start the grid before that point (e.g. tStart = 0.999 on rectified flow)` +
      (name === 'pc' ? ' or use predictor = reverse-diffusion' : ' or use pc with predictor = reverse-diffusion'),
  );
}

/** One Euler-Maruyama step of the reverse SDE from `from` to `to` (s_to > 0): z <- z + dt (f z + g^2 eps / s) + g sqrt(|dt|) xi. */
function eulerMaruyama(path: Path, z: Tensor, eps: Tensor, xi: Tensor | null, from: GridPoint, to: GridPoint): void {
  const dt = to.t - from.t;
  const f = path.drift(from.t), g2 = Math.max(0, path.diffusion2(from.t));
  if (xi) lincomb3(z, 1 + dt * f, z, (dt * g2) / from.s, eps, Math.sqrt(g2 * -dt), xi);
  else lincomb2(z, 1 + dt * f, z, (dt * g2) / from.s, eps);
}

/**
 * score_sde's ReverseDiffusionPredictor on the discretization between consecutive grid points: the forward
 * step z_from = alpha z_to + sqrt(beta) w (alpha = a_from/a_to, beta = s_from^2 - alpha^2 s_to^2) read as
 * f_disc = (alpha - 1) z, G^2 = beta; then z <- z - f_disc + G^2 score + G xi = (2 - alpha) z - (beta/s) eps + G xi.
 * On VP this is score_sde's (2 - sqrt(1 - beta_i)) x + beta_i score; on VE x + (sigma_i^2 - sigma_{i-1}^2) score.
 */
function reverseDiffusion(z: Tensor, eps: Tensor, xi: Tensor | null, from: GridPoint, to: GridPoint): void {
  const alpha = from.a / to.a;
  const beta = Math.max(0, from.s * from.s - alpha * alpha * to.s * to.s);
  if (xi) lincomb3(z, 2 - alpha, z, -beta / from.s, eps, Math.sqrt(beta), xi);
  else lincomb2(z, 2 - alpha, z, -beta / from.s, eps);
}

export const sdeEuler = defineSampler({
  name: 'sde-euler',
  description: 'Reverse-SDE Euler-Maruyama (Song et al. 2021, score_sde EulerMaruyamaPredictor): dz = [f z - g^2 score] dt + g dw_bar on the grid times',
  order: 1,
  nfePerStep: 1,
  stochastic: true,
  predictions: ALL_PREDICTIONS,
  params: {
    denoise: { type: 'boolean', default: true, doc: 'when the grid ends at a noisy point, return the last step\'s mean without noise (score_sde noise_removal); a clean last point always gets the x0 estimate' },
  },
  notes: 'weak order 1 (strong 0.5). The step into s = 0 returns the x0 estimate. Refuses a start at a = 0 (f and g^2 infinite there).',
  async run({ fn, path, grid, z, noise, params, report }) {
    if (grid[0]!.a === 0) refuseAZero('sde-euler', grid[0]!, 'the reverse SDE\'s drift');
    const denoise = params.denoise;
    const steps = grid.length - 1;
    const xi = z.zerosLike(), est = estimateBuffers(z);
    for (let i = 0; i < steps; i++) {
      const from = grid[i]!, to = grid[i + 1]!;
      const { x0, eps } = await fn.estimate(z, from, false, est);
      if (to.s === 0) scale(z, to.a, x0);
      else {
        const addNoise = !(denoise && i === steps - 1);
        if (addNoise) noise.fillNormal(xi, i, Stream.noise);
        eulerMaruyama(path, z, eps, addNoise ? xi : null, from, to);
      }
      await report(i + 1, i + 1, z, x0);
    }
    return z;
  },
});

/**
 * Langevin corrector (score_sde LangevinCorrector, Song et al. 2021 Alg. 4/5) at point p: n steps of
 * z <- z + e grad + sqrt(2 e) xi with grad = -eps/s and e = 2 alpha (snr ||xi|| / ||grad||)^2.
 * norms 'sample': each sample's own norms, so a sample does not depend on the rest of its batch;
 * 'batch': the norms averaged over the batch, exactly score_sde. Corrector draw j of step i uses stream
 * Stream.corrector + 256 j.
 */
async function langevin(fn: ModelFn, noise: NoiseSource, z: Tensor, xi: Tensor, est: Estimate, p: GridPoint, alpha: number, snr: number, n: number, step: number, batchNorms: boolean): Promise<void> {
  const m = z.itemSize, B = z.batch, zd = z.data, xd = xi.data;
  const gns = new Float64Array(B), nns = new Float64Array(B);
  for (let j = 0; j < n; j++) {
    const { eps } = await fn.estimate(z, p, false, est);
    noise.fillNormal(xi, step, Stream.corrector + 256 * j);
    const ed = eps.data;
    for (let b = 0; b < B; b++) {
      let gn = 0, nn = 0;
      for (let k = b * m; k < (b + 1) * m; k++) {
        gn += ed[k]! * ed[k]!;
        nn += xd[k]! * xd[k]!;
      }
      // ||grad|| = ||eps|| / s
      gns[b] = Math.sqrt(gn) / p.s;
      nns[b] = Math.sqrt(nn);
    }
    if (batchNorms) {
      let g = 0, q = 0;
      for (let b = 0; b < B; b++) {
        g += gns[b]! / B;
        q += nns[b]! / B;
      }
      gns.fill(g);
      nns.fill(q);
    }
    for (let b = 0; b < B; b++) {
      const e = gns[b]! > 0 ? 2 * alpha * ((snr * nns[b]!) / gns[b]!) ** 2 : 0;
      const cg = -e / p.s, cn = Math.sqrt(2 * e);
      for (let k = b * m; k < (b + 1) * m; k++) zd[k] = zd[k]! + cg * ed[k]! + cn * xd[k]!;
    }
  }
}

export const pc = defineSampler({
  name: 'pc',
  description: 'Predictor-corrector (Song et al. 2021 Alg. 2/3, score_sde get_pc_sampler): Langevin corrector then reverse-diffusion or Euler-Maruyama predictor at each grid point',
  order: 1,
  nfePerStep: '1 + corrector_steps',
  stochastic: true,
  predictions: ALL_PREDICTIONS,
  params: {
    predictor: { type: 'choice', default: 'reverse-diffusion', values: ['reverse-diffusion', 'euler-maruyama'], doc: 'reverse-diffusion: score_sde ReverseDiffusionPredictor on the discretization between grid points; euler-maruyama: the sde-euler step' },
    snr: { type: 'number', default: 0.16, min: 0, doc: 'Langevin signal-to-noise ratio (score_sde default_cifar10_configs: 0.16; its CelebA config 0.17, LSUN/FFHQ 256 configs 0.075)' },
    corrector_steps: { type: 'number', default: 1, min: 0, integer: true, doc: 'Langevin corrector steps per grid point (score_sde n_steps_each; 0 turns the corrector off as its VP configs do)' },
    denoise: { type: 'boolean', default: true, doc: 'when the grid ends at a noisy point, return the last predictor step\'s mean without noise (score_sde noise_removal); a clean last point always gets the x0 estimate' },
    norms: { type: 'choice', default: 'sample', values: ['sample', 'batch'], doc: 'Langevin step-size norms: per sample (a sample does not depend on its batch) or averaged over the batch (exactly score_sde)' },
  },
  notes:
    'weak order 1. NFE per step = 1 + corrector_steps, except where the corrector step size is 0 (alpha = 0 at a = 0) and the corrector is skipped. ' +
    'The corrector step 2 alpha (snr ||xi|| / ||grad||)^2 uses alpha = (a(t_i) / a(t_{i+1}))^2, the discretization\'s 1 - beta on VP and 1 on VE/EDM as in score_sde, with per-sample norms by default. ' +
    'Per sample, ||xi||^2 / ||grad||^2 is roughly F(d, d)-distributed near the data: heavy-tailed for tiny d (infinite mean at d = 2), so low-dimensional toys see occasional large corrector kicks; use norms = batch there.',
  async run({ fn, path, grid, z, noise, params, report }) {
    const predictor = params.predictor, snr = params.snr;
    const n = params.corrector_steps, denoise = params.denoise;
    if (predictor === 'euler-maruyama' && grid[0]!.a === 0) refuseAZero('pc', grid[0]!, 'the euler-maruyama predictor\'s drift');
    const steps = grid.length - 1;
    const xi = z.zerosLike(), est = estimateBuffers(z);
    for (let i = 0; i < steps; i++) {
      const from = grid[i]!, to = grid[i + 1]!;
      const ratio = from.a / to.a;
      const alpha = ratio * ratio;
      if (n > 0 && alpha > 0 && snr > 0) {
        await langevin(fn, noise, z, xi, est, from, alpha, snr, n, i, params.norms === 'batch');
      }
      const { x0, eps } = await fn.estimate(z, from, false, est);
      if (to.s === 0) scale(z, to.a, x0);
      else {
        const addNoise = !(denoise && i === steps - 1);
        if (addNoise) noise.fillNormal(xi, i, Stream.noise);
        if (predictor === 'euler-maruyama') eulerMaruyama(path, z, eps, addNoise ? xi : null, from, to);
        else reverseDiffusion(z, eps, addNoise ? xi : null, from, to);
      }
      await report(i + 1, i + 1, z, x0);
    }
    return z;
  },
});

export const SDE_SAMPLERS: readonly SamplerDef[] = [sdeEuler, pc];
