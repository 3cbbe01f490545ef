import { fail } from './errors.js';
import { fillNormal, Stream, type NoiseSource } from './rng.js';
import type { Tensor } from './tensor.js';

/** Levels of dyadic midpoints a query descends: leaves are 2^-30 of the interval wide. */
const DEPTH = 30;
/** How many queried times keep their values (a step asks at most three distinct times, the next step reuses one). */
const CACHE = 4;

/**
 * A Brownian motion W on [t0, t1] per batch item, with W(t0) = 0, that is a fixed function of (seed, sample, t): the
 * value at a time does not depend on which other times were asked or in what order, so a sampler that queries it on
 * a finer grid sees the same path (what torchsde's BrownianTree gives k-diffusion's BrownianTreeNoiseSampler, written
 * here on tweedie's counter-based Philox draws instead of torchsde's).
 *
 * Levy's construction: W(t1) = sqrt(t1 - t0) Z_root; given W at the ends of a dyadic interval of width w, W at its
 * midpoint is the mean of the ends plus sqrt(w) / 2 Z_node (the Brownian bridge's law there), each Z_node the Philox
 * normal draw of (seed, sample, node id, Stream.brownian). A query descends DEPTH levels to the leaf holding it, then
 * takes the bridge's law inside the leaf, W(l) + f (W(r) - W(l)) + sqrt(f (1 - f) w) Z_leaf with f its position in the
 * leaf (the leaf's own draw, one level further down). Increments over intervals whose ends lie in different leaves
 * are exactly independent N(0, length); two times in one leaf (closer than 2^-30 of the interval) share Z_leaf.
 */
export class BrownianTree {
  private readonly cache = new Map<number, Float64Array>();
  private readonly draw: Float64Array;

  constructor(
    readonly t0: number,
    readonly t1: number,
    private readonly noise: NoiseSource,
    private readonly batch: number,
    private readonly itemSize: number,
  ) {
    if (!(Number.isFinite(t0) && Number.isFinite(t1) && t1 > t0)) fail('BAD_INPUT', `Brownian tree needs finite t0 < t1, got ${t0}, ${t1}`);
    this.draw = new Float64Array(itemSize);
  }

  /** Z of tree node `node` for every batch item, added times `scale` into `out` (batch x itemSize). */
  private addDraw(out: Float64Array, node: number, scale: number): void {
    const m = this.itemSize;
    for (let b = 0; b < this.batch; b++) {
      fillNormal(this.draw, 0, m, this.noise.seed, this.noise.firstSample + b, node, Stream.brownian);
      for (let j = 0; j < m; j++) out[b * m + j]! += scale * this.draw[j]!;
    }
  }

  /** W(t) for every batch item (batch x itemSize, row-major), t in [t0, t1]. */
  at(t: number): Float64Array {
    if (!(t >= this.t0 && t <= this.t1)) fail('BAD_INPUT', `Brownian tree asked at ${t}, outside [${this.t0}, ${this.t1}]`);
    const hit = this.cache.get(t);
    if (hit) return hit;
    const n = this.batch * this.itemSize, width = this.t1 - this.t0;
    // Node 1 is the root draw W(t1); the midpoint of heap node k (interval at depth d) is node 2k, its halves 2k and 2k + 1 below.
    let lo = new Float64Array(n), hi = new Float64Array(n);
    this.addDraw(hi, 1, Math.sqrt(width));
    let l = 0, r = 1, node = 1;
    const u = (t - this.t0) / width;
    let w: Float64Array;
    if (u === 0) w = lo;
    else if (u === 1) w = hi;
    else {
      for (let d = 0; d < DEPTH; d++) {
        const m = 0.5 * (l + r), mid = new Float64Array(n);
        for (let i = 0; i < n; i++) mid[i] = 0.5 * (lo[i]! + hi[i]!);
        this.addDraw(mid, 2 * node, 0.5 * Math.sqrt((r - l) * width));
        if (u === m) {
          lo = hi = mid;
          break;
        }
        if (u < m) {
          hi = mid;
          r = m;
          node = 2 * node;
        } else {
          lo = mid;
          l = m;
          node = 2 * node + 1;
        }
      }
      if (lo === hi) w = lo;
      else {
        const f = (u - l) / (r - l);
        w = new Float64Array(n);
        for (let i = 0; i < n; i++) w[i] = lo[i]! + f * (hi[i]! - lo[i]!);
        this.addDraw(w, 2 * node, Math.sqrt(f * (1 - f) * (r - l) * width));
      }
    }
    if (this.cache.size >= CACHE) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(t, w);
    return w;
  }

  /**
   * (W(b) - W(a)) / sqrt(|b - a|) into `out` (batch x itemSize): a standard normal draw for the step from a to b, as
   * k-diffusion's BrownianTreeNoiseSampler(sigma, sigma_next) returns.
   */
  increment(out: Tensor, a: number, b: number): Tensor {
    const wa = this.at(a), wb = this.at(b), c = 1 / Math.sqrt(Math.abs(b - a)), o = out.data;
    for (let i = 0; i < o.length; i++) o[i] = c * (wb[i]! - wa[i]!);
    return out;
  }
}
