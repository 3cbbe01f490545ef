import { fail } from '../core/errors.js';
import type { Path } from './path.js';
import { DiscreteVPPath, ContinuousVPPath } from './vp.js';
import { EDMPath, FlowPath, VEPath } from './ve.js';
import { MeanRevertingPath, RDDMPath, ResShiftPath } from './restoration.js';

/** Paths by the names the CLI's --path takes, each with its usual defaults. */
export const PATH_NAMES = ['vp', 'vp-linear', 'vp-cosine', 'scaled-linear', 'cosine-discrete', 've', 'edm', 'flow', 'mean-reverting', 'resshift', 'rddm'] as const;
export type PathName = (typeof PATH_NAMES)[number];

export function pathByName(name: string): Path {
  switch (name) {
    case 'vp':
      return new DiscreteVPPath({ numTrainTimesteps: 1000, schedule: 'linear' });
    case 'scaled-linear':
      return new DiscreteVPPath({ numTrainTimesteps: 1000, betaStart: 0.00085, betaEnd: 0.012, schedule: 'scaled_linear' });
    case 'cosine-discrete':
      return new DiscreteVPPath({ numTrainTimesteps: 1000, schedule: 'squaredcos_cap_v2' });
    case 'vp-linear':
      return new ContinuousVPPath({ schedule: 'linear' });
    case 'vp-cosine':
      return new ContinuousVPPath({ schedule: 'cosine' });
    case 've':
      return new VEPath();
    case 'edm':
      return new EDMPath();
    case 'flow':
      return new FlowPath();
    case 'mean-reverting':
      return new MeanRevertingPath();
    case 'resshift':
      return new ResShiftPath();
    case 'rddm':
      return new RDDMPath();
    default:
      return fail('USAGE', `unknown path "${name}"; use one of ${PATH_NAMES.join(', ')}`);
  }
}
