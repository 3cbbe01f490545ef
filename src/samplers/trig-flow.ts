import type { Tensor } from '../core/tensor.js';
import type { Estimate, ModelFn } from '../models/model-fn.js';
import type { GridPoint, Path } from '../paths/path.js';

/**
 * The probability-flow ODE in the "TrigFlow" variables: rho = sqrt(a^2 + s^2), phi = atan2(s, a) in [0, pi/2],
 * y = z / rho = cos(phi) x0 + sin(phi) eps, dy/dphi = cos(phi) eps - sin(phi) x0 = (a eps - s x0) / rho
 * (substitute x~ = y / cos(phi), sigma = tan(phi) into dx~/dsigma = eps). Shared by rk45 and the likelihood ODE.
 */
export const phiOf = (p: GridPoint): number => Math.atan2(p.s, p.a);

/** The PF-ODE right-hand side in (phi, y), with the model input kept in the state's dtype. */
export class TrigFlowRhs {
  /** x0 estimate of the latest evaluation. */
  lastX0: Tensor | null = null;
  /** The model input z = rho y of the latest evaluation. */
  readonly input: Tensor;
  constructor(
    private readonly fn: ModelFn,
    private readonly path: Path,
    template: Tensor,
    private readonly ends: readonly GridPoint[],
  ) {
    this.input = template.zerosLike();
  }

  /** The path point at phi (the given end points exactly). */
  point(phi: number): GridPoint {
    for (const p of this.ends) if (phiOf(p) === phi) return p;
    return this.path.point(this.path.tOfLambda(Math.log(Math.cos(phi)) - Math.log(Math.sin(phi))));
  }

  /** out = F(phi, y) for the state's first input.size values. */
  async eval(phi: number, y: Float64Array, out: Float64Array): Promise<void> {
    const p = this.point(phi);
    const rho = Math.hypot(p.a, p.s);
    const zd = this.input.data;
    for (let i = 0; i < zd.length; i++) zd[i] = rho * y[i]!;
    const est: Estimate = await this.fn.estimate(this.input, p);
    const ca = p.a / rho, cs = p.s / rho, x0 = est.x0.data, eps = est.eps.data;
    for (let i = 0; i < zd.length; i++) out[i] = ca * eps[i]! - cs * x0[i]!;
    this.lastX0 = est.x0;
  }
}
