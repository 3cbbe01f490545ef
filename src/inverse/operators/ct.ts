import { Tensor } from '../../core/tensor.js';
import { fail } from '../../core/errors.js';
import { fft1d } from '../../core/fft.js';
import { NoiseSource } from '../../core/rng.js';
import { LinearOperator, MEASUREMENT_STREAM, checkBatch } from './operator.js';
import { imageShape, type OperatorDef, type SpecItems } from './spec-grammar.js';
import { CTMatrixCache, applyCsr, buildCTSystemMatrix, ctMatrixBytesBound, type CTSystemMatrix } from './ct-system-matrix.js';

/**
 * Parallel-beam CT. Geometry: pixel (i, j) of an H x W image sits at x = j - (W-1)/2,
 * y = (H-1)/2 - i (pixel units, y up); the ray at angle theta and detector offset t is
 * {x cos(theta) + y sin(theta) = t}; bin d is at t = d - (D-1)/2, with D detector bins,
 * by default ceil(sqrt(H^2 + W^2)) + 1 so every pixel projects inside the detector.
 *
 * The projector is pixel-driven: each pixel, whose centre lands at detector position
 * p = t + (D-1)/2, spreads its value over the nearby bins with weights that sum to 1.
 * - 'footprint' (default): the exact footprint of the unit-square pixel, a trapezoid made of
 *   boxes of widths |cos| and |sin| (the separable-footprint model of Long, Fessler & Balter
 *   2010), integrated over each bin: the sinogram is the exact Radon transform of the
 *   pixelated image averaged over the bins.
 * - 'linear': linear interpolation, (1 - frac(p)) to bin floor(p) and frac(p) to the next.
 *   Simpler, but the triangle footprint aliases near 45 degrees (a +-10% ripple on a disc).
 * Either way the adjoint applies the very same weights in the other direction (a pixel
 * gathers sum_bins weight * y[bin]), so it is the exact transpose of the discrete matrix,
 * not a scaled backprojection. Sinogram values are line integrals in pixel units (each pixel
 * carries unit area), y of shape [C, views, D].
 *
 * FBP (`fbp`): Ram-Lak filtering with the band-limited spatial kernel of Kak & Slaney
 * (h[0] = 1/4, h[odd k] = -1/(pi k)^2, zero padding to a power of two >= max(64, 2D)),
 * optionally apodised by a Hann window, then the backprojection (= adjoint) times the
 * angular step (pi / views for views equally spaced in [0, pi)).
 */

export type FbpFilter = 'ramlak' | 'hann';
export type CTProjector = 'footprint' | 'linear';

/**
 * CDF of the trapezoid density of U(-A/2, A/2) + U(-B/2, B/2), A >= B >= 0 (the projection
 * of a unit square at an angle with |cos|, |sin| = A, B).
 */
export function trapezoidCdf(t: number, A: number, B: number): number {
  const x = Math.abs(t), c1 = (A - B) / 2, c2 = (A + B) / 2;
  let g: number;
  if (x >= c2) g = 0.5;
  else if (x <= c1) g = x / A;
  else g = c1 / A + (c2 * (x - c1) - 0.5 * (x * x - c1 * c1)) / (A * B);
  return t >= 0 ? 0.5 + g : 0.5 - g;
}

/** The most views a CT operator takes: clinical scanners record about 1,000-2,000 per rotation. */
export const MAX_CT_VIEWS = 10_000;

/** `views` angles k * span / views, k = 0..views-1 (radians); span in degrees, default 180. */
export function parallelBeamAngles(views: number, spanDeg = 180): Float64Array {
  if (!Number.isInteger(views) || views < 1) fail('BAD_CONFIG', `ct views=${views}: the number of views must be a positive integer, e.g. views=60`);
  if (views > MAX_CT_VIEWS) fail('BAD_CONFIG', `ct views=${views}: at most ${MAX_CT_VIEWS} views (clinical scanners record about 1,000-2,000); use fewer views`);
  if (!(spanDeg > 0 && spanDeg <= 180)) fail('BAD_CONFIG', `ct angle=${spanDeg}: the angular range must lie in (0, 180] degrees, e.g. angle=120 for limited angle`);
  return Float64Array.from({ length: views }, (_, k) => (k * spanDeg * Math.PI) / (180 * views));
}

export interface PoissonCountsModel {
  /** Incident photons per detector bin (blank scan), e.g. 1e4. */
  i0: number;
  /** Attenuation per unit of A x (default 1 / max(H, W): the image spans unit length). */
  scale?: number;
}

export interface CTOptions {
  /** Projection angles in radians. */
  angles: ArrayLike<number>;
  /** Detector bins (default ceil(sqrt(H^2 + W^2)) + 1). */
  detectors?: number;
  noiseSigma?: number;
  /** Poisson counts noise for `measure` (replaces the Gaussian noise there). */
  poisson?: PoissonCountsModel;
  /** FBP angular weight (default: the spacing of the angles when equally spaced, else pi / views). */
  angleStep?: number;
  /** Default filter of `fbp` (default ramlak). */
  filter?: FbpFilter;
  /** Pixel weights (default 'footprint'). */
  projector?: CTProjector;
  /**
   * true (default): project through the precomputed sparse system matrix (`ct-system-matrix.ts`), cached
   * per geometry, when it fits MAX_CT_MATRIX_BYTES; false: compute the weights on the fly at every call.
   */
  systemMatrix?: boolean;
  /** Where the one line goes when the matrix is over the cap (default console.warn, stderr in Node). */
  warn?: (msg: string) => void;
  label?: string;
}

/**
 * The most bytes the system matrix of one geometry (A and A^T, `ctMatrixBytesBound`) may take, and the
 * budget of the cache they share: 256 MiB. Footprint weights, bound / built: 64 x 64 at 60 views 17.7 / 13.3 MB,
 * 128 x 128 at 180 views 212.5 / 161.1 MB; 256 x 256 at 180 views could take 849.9 MB, so it projects on the fly.
 */
export const MAX_CT_MATRIX_BYTES = 256 * 2 ** 20;

/** System matrices by geometry, shared by every CT operator, least recently used dropped first. */
export const CT_MATRIX_CACHE = new CTMatrixCache(MAX_CT_MATRIX_BYTES);

export class CTOperator extends LinearOperator {
  readonly kind = 'ct' as const;
  readonly name: string;
  readonly angles: Float64Array;
  readonly detectors: number;
  readonly angleStep: number;
  readonly poisson: Required<PoissonCountsModel> | undefined;
  readonly filter: FbpFilter;
  readonly projector: CTProjector;
  /** Whether forward and adjoint go through the cached sparse system matrix (else on the fly). */
  readonly usesSystemMatrix: boolean;
  private readonly cos: Float64Array;
  private readonly sin: Float64Array;
  private readonly geometryKey: string;

  constructor(shape: readonly number[], options: CTOptions) {
    if (shape.length !== 3) fail('BAD_SHAPE', `ct expects an image shape [C, H, W], got [${shape.join(', ')}]`);
    const [c, h, w] = shape as [number, number, number];
    const angles = Float64Array.from(options.angles);
    if (angles.length === 0) fail('BAD_CONFIG', 'ct needs at least one projection angle; use views=N with N >= 1');
    const det = options.detectors ?? Math.ceil(Math.sqrt(h * h + w * w)) + 1;
    if (!Number.isInteger(det) || det < 1) fail('BAD_CONFIG', `ct det=${det}: the number of detector bins must be a positive integer`);
    super(shape, [c, angles.length, det], options.noiseSigma ?? 0);
    this.angles = angles;
    this.detectors = det;
    this.cos = angles.map(Math.cos);
    this.sin = angles.map(Math.sin);
    this.angleStep = options.angleStep ?? defaultAngleStep(angles);
    this.filter = options.filter ?? 'ramlak';
    this.projector = options.projector ?? 'footprint';
    if (this.projector !== 'footprint' && this.projector !== 'linear') fail('BAD_CONFIG', `ct projector=${String(this.projector)}: use footprint or linear`);
    if (this.filter !== 'ramlak' && this.filter !== 'hann') fail('BAD_CONFIG', `ct filter=${String(this.filter)}: unknown FBP filter; use ramlak or hann`);
    if (options.poisson) {
      const { i0, scale = 1 / Math.max(h, w) } = options.poisson;
      if (!(i0 > 0) || !Number.isFinite(i0)) fail('BAD_CONFIG', `ct poisson=${i0}: the incident count I0 must be a number > 0, e.g. poisson=1e4`);
      if (!(scale > 0) || !Number.isFinite(scale)) fail('BAD_CONFIG', `ct poisson scale=${scale} must be a number > 0`);
      this.poisson = { i0, scale };
    }
    this.name = `ct(${options.label ?? `${angles.length} views`}, ${det} bins, ${this.projector}, ${c}x${h}x${w})`;
    this.geometryKey = `${h}x${w} ${det} ${this.projector} ${angles.join(',')}`;
    const bound = ctMatrixBytesBound(h * w, angles.length, det, this.projector === 'linear' ? 2 : 3);
    this.usesSystemMatrix = (options.systemMatrix ?? true) && bound <= MAX_CT_MATRIX_BYTES;
    if ((options.systemMatrix ?? true) && !this.usesSystemMatrix) {
      const warn = options.warn ?? ((m: string) => console.warn(`warning: ${m}`));
      warn(`${this.name}: its system matrix could take ${(bound / 2 ** 20).toFixed(0)} MiB, over the ${MAX_CT_MATRIX_BYTES / 2 ** 20} MiB cap, so it projects on the fly (slower); fewer views or a smaller image use the fast projector`);
    }
  }

  /** The cached system matrix of this geometry (built on first use), or null when projecting on the fly. */
  private systemMatrix(): CTSystemMatrix | null {
    if (!this.usesSystemMatrix) return null;
    const [, h, w] = this.inShape as [number, number, number];
    return CT_MATRIX_CACHE.get(this.geometryKey, () => buildCTSystemMatrix(h * w, this.angles.length, this.detectors, (a, first, wts) => this.weightsAt(a, first, wts)));
  }

  /**
   * The weights of every pixel of an H x W plane at angle index a on three consecutive bins:
   * first[k] = first bin, wts[3k .. 3k+2] the weights (the third is 0 for linear). Bins
   * outside [0, D) get weight 0 here, so forward and adjoint drop the same entries. The
   * footprint's half-width (|cos| + |sin|)/2 <= 0.71 < 1, so a pixel centred at bin r + u
   * (|u| <= 1/2) touches bins r-1, r, r+1 only, with weights F(-1/2 - u), F(1/2 - u) -
   * F(-1/2 - u), 1 - F(1/2 - u), F the footprint's CDF.
   */
  private weightsAt(a: number, first: Int32Array, wts: Float64Array): void {
    const [, h, w] = this.inShape as [number, number, number];
    const D = this.detectors, cx = (w - 1) / 2, cy = (h - 1) / 2, dc = (D - 1) / 2;
    const ca = this.cos[a]!, sa = this.sin[a]!;
    const linear = this.projector === 'linear';
    const A = Math.max(Math.abs(ca), Math.abs(sa)), B = Math.min(Math.abs(ca), Math.abs(sa));
    for (let i = 0, k = 0; i < h; i++) {
      const p0 = -cx * ca + (cy - i) * sa + dc;
      for (let j = 0; j < w; j++, k++) {
        const pos = p0 + j * ca;
        let d: number, w0: number, w1: number, w2: number;
        if (linear) {
          d = Math.floor(pos);
          w1 = pos - d;
          w0 = 1 - w1;
          w2 = 0;
        } else {
          const r = Math.round(pos), u = pos - r;
          d = r - 1;
          const fLo = trapezoidCdf(-0.5 - u, A, B), fHi = trapezoidCdf(0.5 - u, A, B);
          w0 = fLo;
          w1 = fHi - fLo;
          w2 = 1 - fHi;
        }
        if (d < 0 || d >= D) w0 = 0;
        if (d + 1 < 0 || d + 1 >= D) w1 = 0;
        if (d + 2 < 0 || d + 2 >= D) w2 = 0;
        // A pixel that misses the detector (fewer bins than the default) points at bins -1 .. 1 instead.
        first[k] = w0 === 0 && w1 === 0 && w2 === 0 ? -1 : d;
        wts[3 * k] = w0;
        wts[3 * k + 1] = w1;
        wts[3 * k + 2] = w2;
      }
    }
  }

  protected forwardInto(x: Tensor, y: Tensor, batch: number): void {
    const [c, h, w] = this.inShape as [number, number, number];
    const matrix = this.systemMatrix();
    if (matrix) return applyCsr(matrix.forward, x.data, y.data, batch * c);
    const nA = this.angles.length, D = this.detectors, n = h * w;
    // row is offset by two so that bins -2 and -1 (always weight 0) stay inside the buffer.
    const row = new Float64Array(D + 4), first = new Int32Array(n), wts = new Float64Array(3 * n), xd = x.data, yd = y.data;
    for (let a = 0; a < nA; a++) {
      this.weightsAt(a, first, wts);
      for (let p = 0; p < batch * c; p++) {
        const xo = p * n;
        row.fill(0);
        for (let k = 0; k < n; k++) {
          const v = xd[xo + k]!, d = first[k]! + 2;
          row[d] += wts[3 * k]! * v;
          row[d + 1] += wts[3 * k + 1]! * v;
          row[d + 2] += wts[3 * k + 2]! * v;
        }
        const yo = (p * nA + a) * D;
        for (let d = 0; d < D; d++) yd[yo + d] = row[d + 2]!;
      }
    }
  }

  protected adjointInto(y: Tensor, x: Tensor, batch: number): void {
    const [c, h, w] = this.inShape as [number, number, number];
    const matrix = this.systemMatrix();
    if (matrix) return applyCsr(matrix.adjoint, y.data, x.data, batch * c);
    const nA = this.angles.length, D = this.detectors, n = h * w;
    const img = new Float64Array(batch * c * n), row = new Float64Array(D + 4), first = new Int32Array(n), wts = new Float64Array(3 * n);
    const xd = x.data, yd = y.data;
    for (let a = 0; a < nA; a++) {
      this.weightsAt(a, first, wts);
      for (let p = 0; p < batch * c; p++) {
        const yo = (p * nA + a) * D, io = p * n;
        for (let d = 0; d < D; d++) row[d + 2] = yd[yo + d]!;
        for (let k = 0; k < n; k++) {
          const d = first[k]! + 2;
          img[io + k] += wts[3 * k]! * row[d]! + wts[3 * k + 1]! * row[d + 1]! + wts[3 * k + 2]! * row[d + 2]!;
        }
      }
    }
    for (let k = 0; k < img.length; k++) xd[k] = img[k]!;
  }

  /** Unfiltered backprojection A^T y (the exact adjoint). */
  backproject(y: Tensor): Tensor {
    return this.adjoint(y);
  }

  /** The filter's frequency response on `length` (a power of two) FFT bins. */
  static filterResponse(length: number, filter: FbpFilter = 'ramlak'): Float64Array {
    const re = new Float64Array(length), im = new Float64Array(length);
    re[0] = 0.25;
    for (let k = 1; k <= length / 2; k += 2) {
      const v = -1 / (Math.PI * k) ** 2;
      re[k] = v;
      re[length - k] = v;
    }
    fft1d(re, im);
    if (filter === 'hann') {
      for (let k = 0; k < length; k++) {
        const nu = (k <= length / 2 ? k : k - length) / length;
        re[k] = re[k]! * 0.5 * (1 + Math.cos(2 * Math.PI * nu));
      }
    } else if (filter !== 'ramlak') {
      fail('BAD_CONFIG', `ct filter=${String(filter)}: unknown FBP filter; use ramlak or hann`);
    }
    return re;
  }

  /** Filtered backprojection (see the module comment); an approximate inverse, not A^+. */
  fbp(y: Tensor, filter: FbpFilter = this.filter): Tensor {
    const batch = checkBatch(y, this.outShape, `${this.name} fbp`);
    const D = this.detectors;
    let P = 64;
    while (P < 2 * D) P *= 2;
    const g = CTOperator.filterResponse(P, filter);
    const rows = batch * this.outSize / D;
    const filtered = Tensor.zeros(y.shape, 'float64');
    const re = new Float64Array(P), im = new Float64Array(P);
    for (let r = 0; r < rows; r++) {
      re.fill(0);
      im.fill(0);
      for (let d = 0; d < D; d++) re[d] = y.data[r * D + d]!;
      fft1d(re, im);
      for (let k = 0; k < P; k++) {
        re[k] = re[k]! * g[k]!;
        im[k] = im[k]! * g[k]!;
      }
      fft1d(re, im, true);
      for (let d = 0; d < D; d++) filtered.data[r * D + d] = re[d]!;
    }
    const x = this.adjoint(filtered);
    const out = Tensor.zeros(x.shape, y.dtype);
    for (let i = 0; i < x.data.length; i++) out.data[i] = x.data[i]! * this.angleStep;
    return out;
  }

  /**
   * With the Poisson model: counts N ~ Poisson(I0 exp(-scale A x)) and the log transform
   * y = -ln(max(N, 1) / I0) / scale, so y ~ A x with per-bin variance about
   * exp(scale y) / (I0 scale^2). Otherwise A x plus Gaussian noise of noiseSigma.
   */
  override measure(x: Tensor, noise: NoiseSource, step = 0): Tensor {
    if (!this.poisson) return super.measure(x, noise, step);
    const { i0, scale } = this.poisson;
    const y = this.forward(x), m = this.outSize;
    for (let b = 0; b < y.batch; b++) {
      const u = noise.uniform(m, b, step, MEASUREMENT_STREAM);
      for (let k = 0; k < m; k++) {
        const o = b * m + k;
        const counts = poissonSample(i0 * Math.exp(-scale * y.data[o]!), u[k]!);
        y.data[o] = -Math.log(Math.max(counts, 1) / i0) / scale;
      }
    }
    return y;
  }
}

function defaultAngleStep(angles: Float64Array): number {
  const n = angles.length;
  if (n < 2) return Math.PI;
  const step = (angles[n - 1]! - angles[0]!) / (n - 1);
  for (let k = 1; k < n; k++) if (Math.abs(angles[k]! - angles[k - 1]! - step) > 1e-9) return Math.PI / n;
  return Math.abs(step);
}

// ---------------------------------------------------------------------------------------
// Poisson sampling by inversion from the mode (exact for every mean, O(sqrt(lambda)) steps).

const LOG_FACT_TABLE = (() => {
  const t = new Float64Array(32);
  for (let k = 1; k < 32; k++) t[k] = t[k - 1]! + Math.log(k);
  return t;
})();

/** ln(k!) : a table below 32, Stirling's series (error < 1e-15 relative) above. */
export function logFactorial(k: number): number {
  if (k < 32) return LOG_FACT_TABLE[k]!;
  const k2 = k * k;
  return k * Math.log(k) - k + 0.5 * Math.log(2 * Math.PI * k) + 1 / (12 * k) - 1 / (360 * k * k2) + 1 / (1260 * k * k2 * k2);
}

/**
 * The Poisson(lambda) quantile of u in (0, 1], walking outwards from the mode (alternately
 * up and down) and accumulating probabilities until they reach u: an exact sampler whose
 * cost grows like sqrt(lambda).
 */
export function poissonSample(lambda: number, u: number): number {
  if (!(lambda > 0)) return 0;
  const mode = Math.floor(lambda);
  const pMode = Math.exp(mode * Math.log(lambda) - lambda - logFactorial(mode));
  let cum = pMode;
  if (u <= cum) return mode;
  let hi = mode + 1, lo = mode - 1, pHi = pMode, pLo = pMode;
  const limit = 64 + 40 * Math.sqrt(lambda);
  for (let it = 0; it < limit; it++) {
    pHi = (pHi * lambda) / hi;
    cum += pHi;
    if (u <= cum) return hi;
    hi++;
    if (lo >= 0) {
      pLo = (pLo * (lo + 1)) / lambda;
      cum += pLo;
      if (u <= cum) return lo;
      lo--;
    }
  }
  return mode; // u beyond the accumulated mass by rounding only
}

// ---------------------------------------------------------------------------------------
// Spec: ct:views=60[,angle=120,det=,filter=ramlak|hann,projector=footprint|linear,poisson=1e4,scale=]

export interface CTConfig {
  kind: 'ct';
  noise: number;
  views: number;
  /** Angular range in degrees, (0, 180]. */
  angle: number;
  det?: number;
  filter: FbpFilter;
  projector: CTProjector;
  /** Poisson counts noise: incident photons i0, attenuation scale. */
  poisson?: { i0: number; scale?: number };
}

export const ctDef: OperatorDef<CTConfig> = {
  name: 'ct',
  aliases: ['tomography'],
  keys: ['views', 'angle', 'det', 'filter', 'projector', 'poisson', 'scale', 'noise'],
  image: true,
  doc: 'ct:views=60[,angle=120,det=,filter=ramlak|hann,projector=footprint|linear,poisson=1e4,scale=]   parallel-beam CT',
  parse: parseCT,
  build: (config, inShape, bad) => {
    imageShape('ct', inShape, bad);
    const { views, angle } = config;
    return new CTOperator(inShape, {
      angles: parallelBeamAngles(views, angle),
      detectors: config.det,
      noiseSigma: config.noise,
      poisson: config.poisson === undefined ? undefined : { i0: config.poisson.i0, scale: config.poisson.scale },
      filter: config.filter,
      projector: config.projector,
      label: angle < 180 ? `${views} views over ${angle} deg` : `${views} views`,
    });
  },
};

function parseCT(items: SpecItems): CTConfig {
  const { bad } = items;
  const views = items.int('views', 180);
  if (views < 1) bad(`views=${views}: use at least one view`);
  if (views > MAX_CT_VIEWS) bad(`views=${views}: at most ${MAX_CT_VIEWS} views (clinical scanners record about 1,000-2,000); use fewer views`);
  const angle = items.num('angle', 180);
  if (!(angle > 0 && angle <= 180)) bad(`angle=${angle}: the angular range must lie in (0, 180] degrees (angle=120 for a limited-angle scan)`);
  const det = items.has('det') ? items.int('det') : undefined;
  if (det !== undefined && det < 1) bad(`det=${det}: use at least one detector bin`);
  const filter = (items.get('filter') ?? 'ramlak').toLowerCase().replace('-', '');
  if (filter !== 'ramlak' && filter !== 'hann') bad(`filter=${filter}: use filter=ramlak or filter=hann`);
  const projector = (items.get('projector') ?? 'footprint').toLowerCase();
  if (projector !== 'footprint' && projector !== 'linear') bad(`projector=${projector}: use projector=footprint (exact pixel footprints) or projector=linear (linear interpolation)`);
  const i0 = items.has('poisson') ? items.num('poisson') : undefined;
  if (i0 !== undefined && !(i0 > 0)) bad(`poisson=${i0}: the incident photon count must be > 0, e.g. poisson=1e4`);
  if (items.has('scale') && i0 === undefined) bad('scale= sets the attenuation scale of the Poisson model; use it with poisson=I0');
  const poisson = i0 === undefined ? undefined : { i0, scale: items.has('scale') ? items.num('scale') : undefined };
  return { kind: 'ct', noise: items.noise, views, angle, det, filter: filter as FbpFilter, projector: projector as CTProjector, poisson };
}
