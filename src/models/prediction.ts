import { fail } from '../core/errors.js';
import { Tensor } from '../core/tensor.js';
import type { GridPoint, Path } from '../paths/path.js';

/**
 * What a network predicts. With z = x - b mu = a x0 + s eps (the centered variable):
 * eps; x0; v = a eps - s x0; score = grad log p_t(x) = -eps / s; velocity = a' x0 + b' mu + s' eps;
 * residual = mu - x0 (RDDM's I_res, only with an anchor).
 */
export type PredictionType = 'eps' | 'x0' | 'v' | 'score' | 'velocity' | 'residual';
export const PREDICTION_TYPES: readonly PredictionType[] = ['eps', 'x0', 'v', 'score', 'velocity', 'residual'];

function needAnchor(anchor: Tensor | null): Tensor {
  return anchor ?? fail('UNSUPPORTED', 'a residual prediction (mu - x0) needs the anchor mu: pass the degraded image (a restoration model on an anchored path)');
}

/** Time derivatives of the path coefficients, needed only for velocity predictions. */
export interface PointDerivatives {
  da: number;
  db: number;
  ds: number;
}

export function derivativesAt(path: Path, t: number): PointDerivatives {
  return { da: path.da(t), db: path.db(t), ds: path.ds(t) };
}

/**
 * The one place where predictions convert: from a model output to (x0, eps) given the noisy input x,
 * the point's coefficients and the anchor mu. Writes into x0Out and epsOut (one fused pass).
 */
export function toX0Eps(
  type: PredictionType,
  pred: Tensor,
  x: Tensor,
  p: GridPoint,
  anchor: Tensor | null,
  deriv: PointDerivatives | null,
  x0Out: Tensor,
  epsOut: Tensor,
): void {
  const P = pred.data, X = x.data, M = anchor?.data, x0 = x0Out.data, ep = epsOut.data;
  const { a, b, s } = p;
  const n = X.length;
  const mu = (i: number) => (M ? b * M[i]! : 0);
  switch (type) {
    case 'eps':
      for (let i = 0; i < n; i++) {
        const z = X[i]! - mu(i), e = P[i]!;
        ep[i] = e;
        x0[i] = (z - s * e) / a;
      }
      return;
    case 'x0':
      for (let i = 0; i < n; i++) {
        const z = X[i]! - mu(i), d = P[i]!;
        x0[i] = d;
        ep[i] = (z - a * d) / s;
      }
      return;
    case 'residual': {
      const A = needAnchor(anchor).data;
      for (let i = 0; i < n; i++) {
        const z = X[i]! - mu(i), d = A[i]! - P[i]!;
        x0[i] = d;
        ep[i] = (z - a * d) / s;
      }
      return;
    }
    case 'score':
      for (let i = 0; i < n; i++) {
        const z = X[i]! - mu(i), e = -s * P[i]!;
        ep[i] = e;
        x0[i] = (z - s * e) / a;
      }
      return;
    case 'v': {
      // a z - s v = (a^2 + s^2) x0 ; s z + a v = (a^2 + s^2) eps
      const r = 1 / (a * a + s * s);
      for (let i = 0; i < n; i++) {
        const z = X[i]! - mu(i), v = P[i]!;
        x0[i] = (a * z - s * v) * r;
        ep[i] = (s * z + a * v) * r;
      }
      return;
    }
    case 'velocity': {
      if (!deriv) return fail('UNSUPPORTED', 'velocity predictions need the path derivatives at the model time');
      const { da, db, ds } = deriv;
      // Solve [a s; a' s'] [x0; eps] = [z; velocity - b' mu].
      const det = a * ds - s * da;
      const Mv = M;
      for (let i = 0; i < n; i++) {
        const z = X[i]! - mu(i), w = P[i]! - (Mv ? db * Mv[i]! : 0);
        x0[i] = (ds * z - s * w) / det;
        ep[i] = (a * w - da * z) / det;
      }
      return;
    }
    default:
      fail('UNSUPPORTED', `unknown prediction type "${String(type)}"; use one of ${PREDICTION_TYPES.join(', ')}`);
  }
}

/**
 * Every conversion is affine in (z, pred): x0 = cz z + cp pred + (anchor terms). The two coefficients at p, read
 * off toX0Eps itself with a zero anchor, so that d x0 / d x = cz I + cp d pred / d x for any prediction type.
 */
export function x0Coefficients(type: PredictionType, p: GridPoint, deriv: PointDerivatives | null): { cz: number; cp: number } {
  const x0At = (z: number, pred: number): number => {
    const x0 = Tensor.zeros([1], 'float64');
    toX0Eps(type, new Tensor([1], Float64Array.of(pred)), new Tensor([1], Float64Array.of(z)), p, Tensor.zeros([1], 'float64'), deriv, x0, Tensor.zeros([1], 'float64'));
    return x0.data[0]!;
  };
  return { cz: x0At(1, 0), cp: x0At(0, 1) };
}

/** The inverse map: express (x0, eps) as a prediction of the given type. */
export function fromX0Eps(
  type: PredictionType,
  x0: Tensor,
  eps: Tensor,
  p: GridPoint,
  anchor: Tensor | null,
  deriv: PointDerivatives | null,
  out: Tensor,
): Tensor {
  const X0 = x0.data, E = eps.data, O = out.data, M = anchor?.data;
  const { a, s } = p;
  const n = O.length;
  switch (type) {
    case 'eps':
      O.set(E);
      break;
    case 'x0':
      O.set(X0);
      break;
    case 'residual': {
      const A = needAnchor(anchor).data;
      for (let i = 0; i < n; i++) O[i] = A[i]! - X0[i]!;
      break;
    }
    case 'score':
      for (let i = 0; i < n; i++) O[i] = -E[i]! / s;
      break;
    case 'v':
      for (let i = 0; i < n; i++) O[i] = a * E[i]! - s * X0[i]!;
      break;
    case 'velocity': {
      if (!deriv) return fail('UNSUPPORTED', 'velocity predictions need the path derivatives at the model time');
      for (let i = 0; i < n; i++) O[i] = deriv.da * X0[i]! + deriv.ds * E[i]! + (M ? deriv.db * M[i]! : 0);
      break;
    }
    default:
      fail('UNSUPPORTED', `unknown prediction type "${String(type)}"`);
  }
  return out;
}

export function parsePredictionType(name: string, where: string): PredictionType {
  const aliases: Record<string, PredictionType> = {
    eps: 'eps', epsilon: 'eps', noise: 'eps', x0: 'x0', sample: 'x0', x_start: 'x0', data: 'x0',
    v: 'v', v_prediction: 'v', score: 'score', velocity: 'velocity', flow: 'velocity', flow_prediction: 'velocity',
    residual: 'residual', res: 'residual', pred_res: 'residual',
  };
  const t = aliases[name];
  if (!t) return fail('BAD_CONFIG', `${where}: unknown prediction type "${name}"; use one of ${PREDICTION_TYPES.join(', ')}`);
  return t;
}
