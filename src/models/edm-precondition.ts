import { lincomb2, scale } from '../core/ops.js';
import type { EDMPath } from '../paths/ve.js';
import type { Denoiser } from './denoiser.js';

/** EDM's c_noise = log(sigma) / 4 (Karras et al. 2022 Table 1). */
export const edmNoise = (sigma: number): number => Math.log(sigma) / 4;
/** CosineDPMSolverMultistepScheduler's c_noise = atan(sigma) 2 / pi (the cosine schedule's time of sigma). */
export const cosineNoise = (sigma: number): number => (Math.atan(sigma) * 2) / Math.PI;

/**
 * A network trained with EDM's preconditioning (Karras et al. 2022, Table 1 and eq. 7; diffusers EDMEulerScheduler's
 * precondition_inputs / precondition_noise / precondition_outputs) read as an x0-prediction denoiser on the EDM path
 * (a = 1, s = sigma, time = sigma): the network sees c_in x, c_in = 1 / sqrt(sigma^2 + sigma_data^2), at time
 * c_noise (log(sigma) / 4; the cosine scheduler's atan(sigma) 2 / pi), and its output F gives D(x) = c_skip x + c_out F with c_skip = sigma_data^2 / (sigma^2 +
 * sigma_data^2) and c_out = sign sigma sigma_data / sqrt(sigma^2 + sigma_data^2) (sign -1 for diffusers'
 * prediction_type v_prediction). So no new prediction type is needed. Gradients (x0Vjp) are not passed through.
 */
export function edmPreconditioned(network: Denoiser, path: EDMPath, outputSign: 1 | -1, cNoise: (sigma: number) => number = edmNoise): Denoiser {
  const sd = path.sigmaData;
  return {
    prediction: 'x0',
    path,
    itemShape: network.itemShape,
    ...(network.layout ? { layout: network.layout } : {}),
    async predict(x, sigma, cond) {
      const q = sigma * sigma + sd * sd;
      const f = await network.predict(scale(x.zerosLike(), 1 / Math.sqrt(q), x), cNoise(sigma), cond);
      return lincomb2(x.zerosLike(), (sd * sd) / q, x, (outputSign * sigma * sd) / Math.sqrt(q), f);
    },
  };
}
