import { fail } from './errors.js';

/**
 * The most values one array may hold: 2^27 = 134,217,728 (e.g. 512 x 512 x 512 voxels), 512 MiB
 * as float32 and at most 1 GiB of 8-byte raw data. File readers check headers against it before
 * allocating, model folders check the item shape they declare, and a run's output (n items) is held
 * to it too, so whatever tweedie writes it can read back.
 */
export const MAX_VALUES = 2 ** 27;

/**
 * The most steps a sampling grid may have: 10,000. Diffusers models are trained on 1000 timesteps
 * (DDPM's ancestral sampler, the slowest in use, takes all 1000), so 10,000 leaves ten times that;
 * a grid is built up front, and 1e9 steps would take gigabytes before the first model call.
 */
export const MAX_STEPS = 10_000;

/**
 * The most training timesteps a scheduler config may declare: 100,000, a hundred times diffusers'
 * 1000 (IR-SDE trains on 100, ResShift on 15). The path tabulates every timestep when it is built.
 */
export const MAX_TRAIN_TIMESTEPS = 100_000;

/**
 * Refuse a run of n items of `itemShape` whose output would hold more than MAX_VALUES values, before
 * anything is allocated. `name` is how the caller spells the count (n for the API, -n on the command
 * line); with `fix` (advice other than a smaller count) it names the input the items come from.
 */
export function checkItemCount(n: number, itemShape: readonly number[], name: string, fix?: string): void {
  const size = itemShape.reduce((p, q) => p * q, 1);
  if (n * size <= MAX_VALUES) return;
  const most = Math.floor(MAX_VALUES / size);
  fail(
    'USAGE',
    `${fix ? name : `${name} ${n}`}: ${n} items of shape [${itemShape.join(', ')}] are ${n * size} values, more than the ${MAX_VALUES} (2^27, 512 MiB as float32) one run may return; ` +
      (fix ?? (most >= 1 ? `use ${name} ${most} or less` : 'the items alone are too large')),
  );
}

/**
 * The largest item (values) whose likelihood may use the exact trace: 1024 (a 32 x 32 image). The exact trace
 * takes one JVP per value at every ODE evaluation; beyond that, Hutchinson probes are the practical estimator.
 */
export const MAX_EXACT_TRACE_DIM = 1024;
