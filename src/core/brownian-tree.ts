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
 *
 * The midpoints of the last descent are kept level by level, so a query reuses the levels its path shares with the
 * previous one (the dyadic intervals both times lie in) and draws only below where they part; nothing is allocated
 * after the first queries. A new time still costs about DEPTH - (shared levels) normal vectors of batch x itemSize:
 * the price of a path fixed by (seed, sample, t) alone. torchsde's tolerance (1e-6 in t) would be 24-28 levels on
 * the usual sigma ranges, 7-20% fewer draws, not worth changing every dpm++sde sample for: DEPTH stays 30.
 */
export class BrownianTree {
  /** Values of the last CACHE queried times, most recently used last. */
  private readonly cache = new Map<number, Float64Array>();
  private readonly spare: Float64Array[] = [];
  private readonly n: number;
  private readonly w0: Float64Array;
  private readonly w1: Float64Array;
  /** W at the midpoint of the level-d interval of the last descent, and that interval's heap node (0: none yet). */
  private readonly mids: Float64Array[] = [];
  private readonly pathNodes = new Float64Array(DEPTH);

  constructor(
    readonly t0: number,
    readonly t1: number,
    private readonly noise: NoiseSource,
    private readonly batch: number,
    private readonly itemSize: number,
  ) {
    if (!(Number.isFinite(t0) && Number.isFinite(t1) && t1 > t0)) fail('BAD_INPUT', `Brownian tree needs finite t0 < t1, got ${t0}, ${t1}`);
    this.n = batch * itemSize;
    this.w0 = new Float64Array(this.n);
    this.w1 = new Float64Array(this.n);
    this.drawInto(this.w1, 1, this.w0, this.w0, 0, Math.sqrt(t1 - t0));
  }

  /**
   * out = lo + f (hi - lo) + scale Z_node for every batch item (at a midpoint, f = 'mid': 0.5 (lo + hi)), the draws
   * of node `node` written into out first and combined in place.
   */
  private drawInto(out: Float64Array, node: number, lo: Float64Array, hi: Float64Array, f: number | 'mid', scale: number): void {
    const m = this.itemSize;
    for (let b = 0; b < this.batch; b++) fillNormal(out, b * m, m, this.noise.seed, this.noise.firstSample + b, node, Stream.brownian);
    const n = this.n;
    if (f === 'mid') for (let i = 0; i < n; i++) out[i] = 0.5 * (lo[i]! + hi[i]!) + scale * out[i]!;
    else for (let i = 0; i < n; i++) out[i] = lo[i]! + f * (hi[i]! - lo[i]!) + scale * out[i]!;
  }

  /**
   * W(t) for every batch item (batch x itemSize, row-major), t in [t0, t1]. The array is the tree's own and holds W(t)
   * until CACHE other times have been asked since: copy it to keep it longer.
   */
  at(t: number): Float64Array {
    if (!(t >= this.t0 && t <= this.t1)) fail('BAD_INPUT', `Brownian tree asked at ${t}, outside [${this.t0}, ${this.t1}]`);
    const hit = this.cache.get(t);
    if (hit) {
      this.cache.delete(t);
      this.cache.set(t, hit);
      return hit;
    }
    if (this.cache.size >= CACHE) {
      const [oldest, values] = this.cache.entries().next().value!;
      this.cache.delete(oldest);
      this.spare.push(values);
    }
    const w = this.spare.pop() ?? new Float64Array(this.n);
    this.cache.set(t, w);
    const width = this.t1 - this.t0, u = (t - this.t0) / width;
    if (u === 0 || u === 1) {
      w.set(u === 0 ? this.w0 : this.w1);
      return w;
    }
    // Node 1 is the root draw W(t1); the midpoint of heap node k (interval at depth d) is node 2k, its halves 2k and 2k + 1 below.
    let lo = this.w0, hi = this.w1, l = 0, r = 1, node = 1;
    for (let d = 0; d < DEPTH; d++) {
      const m = 0.5 * (l + r);
      if (this.pathNodes[d] !== node) {
        this.mids[d] ??= new Float64Array(this.n);
        this.drawInto(this.mids[d]!, 2 * node, lo, hi, 'mid', 0.5 * Math.sqrt((r - l) * width));
        this.pathNodes[d] = node;
      }
      const mid = this.mids[d]!;
      if (u === m) {
        w.set(mid);
        return w;
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
    const f = (u - l) / (r - l);
    this.drawInto(w, 2 * node, lo, hi, f, Math.sqrt(f * (1 - f) * (r - l) * width));
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
