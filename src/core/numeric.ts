/**
 * Numeric helpers with numpy's semantics where a reference implementation depends on them. The two
 * linspace roundings differ in the last bit: `linspace` is tweedie's grids and beta schedules,
 * `npLinspace` reproduces diffusers' (numpy's) values.
 */

/** n evenly spaced values from a to b inclusive: a + (b - a) i / (n - 1). */
export function linspace(a: number, b: number, n: number): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = n === 1 ? a : a + ((b - a) * i) / (n - 1);
  return out;
}

/** numpy.linspace: y_i = i * ((b - a) / (n - 1)) + a, last point exactly b. */
export function npLinspace(a: number, b: number, n: number): number[] {
  if (n <= 0) return [];
  if (n === 1) return [a];
  const step = (b - a) / (n - 1);
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) out[i] = step === 0 ? a : i * step + a;
  out[n - 1] = b;
  return out;
}

/** numpy.arange(start, stop, step) for a float step: length ceil((stop - start) / step), values start + i step. */
export function npArange(start: number, stop: number, step: number): number[] {
  const n = Math.max(0, Math.ceil((stop - start) / step));
  return Array.from({ length: n }, (_, i) => start + i * step);
}

/** numpy.round (and Python's round()): nearest integer, halves to even; -0.5 gives -0 as numpy. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x - Math.trunc(x)) === 0.5 ? 2 * Math.round(x / 2) : r;
}

/** n values from a to b inclusive: linspace or npLinspace. */
export type Linspace = (a: number, b: number, n: number) => ArrayLike<number>;

/**
 * Karras et al. 2022 eq. 5: sigma_i = (smax^(1/rho) + r_i (smin^(1/rho) - smax^(1/rho)))^rho on the
 * ramp r = space(0, 1, n) (diffusers' _convert_to_karras spaces it with npLinspace).
 */
export function karrasSigmas(n: number, sigmaMin: number, sigmaMax: number, rho = 7, space: Linspace = linspace): number[] {
  const a = sigmaMax ** (1 / rho), b = sigmaMin ** (1 / rho);
  return Array.from(space(0, 1, n), (r) => (a + r * (b - a)) ** rho);
}

/**
 * k-diffusion's polyexponential schedule (get_sigmas_polyexponential): log sigma = log sigmaMin + r^rho (log sigmaMax -
 * log sigmaMin) for r = linspace(1, 0, n): exponential for rho = 1, more steps near sigmaMax for rho > 1.
 */
export function polyexponentialSigmas(n: number, sigmaMin: number, sigmaMax: number, rho = 1, space: Linspace = linspace): number[] {
  const lmin = Math.log(sigmaMin), span = Math.log(sigmaMax) - lmin;
  return Array.from(space(1, 0, n), (r) => Math.exp(r ** rho * span + lmin));
}

/** Sigmas evenly spaced in log sigma from sigmaMax down to sigmaMin. */
export function exponentialSigmas(n: number, sigmaMin: number, sigmaMax: number, space: Linspace = linspace): number[] {
  return Array.from(space(Math.log(sigmaMax), Math.log(sigmaMin), n), Math.exp);
}

/** ln Gamma(x) for x >= 0.5: the Lanczos approximation, g = 7, nine terms (about 1e-15 relative). */
function logGamma(x: number): number {
  const p = [0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7];
  const z = x - 1, t = z + 7.5;
  let s = p[0]!;
  for (let i = 1; i < 9; i++) s += p[i]! / (z + i);
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(s);
}

/** The continued fraction of the incomplete beta function (Numerical Recipes 3rd ed., eq. 6.4.5), by Lentz's method. */
function betaContinuedFraction(a: number, b: number, x: number): number {
  const tiny = 1e-300, guard = (v: number) => (Math.abs(v) < tiny ? tiny : v);
  let c = 1, d = 1 / guard(1 - ((a + b) * x) / (a + 1)), h = d;
  for (let m = 1; m <= 1000; m++) {
    const even = (m * (b - m) * x) / ((a + 2 * m - 1) * (a + 2 * m));
    d = 1 / guard(1 + even * d);
    c = guard(1 + even / c);
    h *= d * c;
    const odd = (-(a + m) * (a + b + m) * x) / ((a + 2 * m) * (a + 2 * m + 1));
    d = 1 / guard(1 + odd * d);
    c = guard(1 + odd / c);
    h *= d * c;
    if (Math.abs(d * c - 1) < 1e-16) break;
  }
  return h;
}

/** The regularized incomplete beta function I_x(a, b), the CDF of Beta(a, b) (a, b >= 0.5). */
export function regularizedBeta(x: number, a: number, b: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const front = Math.exp(a * Math.log(x) + b * Math.log1p(-x) - (logGamma(a) + logGamma(b) - logGamma(a + b)));
  return x < (a + 1) / (a + b + 2) ? (front * betaContinuedFraction(a, b, x)) / a : 1 - (front * betaContinuedFraction(b, a, 1 - x)) / b;
}

/** The quantile (inverse CDF, scipy.stats.beta.ppf) of Beta(a, b), by bisection down to adjacent doubles. */
export function betaQuantile(p: number, a: number, b: number): number {
  if (p <= 0) return 0;
  if (p >= 1) return 1;
  let lo = 0, hi = 1;
  for (;;) {
    const mid = (lo + hi) / 2;
    if (mid === lo || mid === hi) return mid;
    if (regularizedBeta(mid, a, b) < p) lo = mid;
    else hi = mid;
  }
}

/**
 * Beta-distributed sigmas (Lee et al. 2024, "Beta Sampling is All You Need"), diffusers' _convert_to_beta:
 * sigma_i = smin + q_i (smax - smin), q_i the Beta(0.6, 0.6) quantile of 1 - r_i on the ramp r = npLinspace(0, 1, n).
 */
export function betaSigmas(n: number, sigmaMin: number, sigmaMax: number): number[] {
  return npLinspace(0, 1, n).map((r) => sigmaMin + betaQuantile(1 - r, 0.6, 0.6) * (sigmaMax - sigmaMin));
}

/**
 * torch.linspace(start, end, n, dtype=torch.float32) bit for bit as torch's CPU kernel computes it (x86, AVX2 with
 * FMA; checked against torch 1.13): step = f32(f32(end) - f32(start)) / (n - 1) in float32; blocks of 8 values
 * base + i * step, where base = start + step * idx before halfway and end - step * (n - 1 - idx) after it, one fused
 * multiply-add; the last n mod 16 values by that base formula alone.
 */
export function torchLinspaceF32(start: number, end: number, n: number): Float64Array {
  const f32 = Math.fround, s = f32(start), e = f32(end);
  if (n === 1) return Float64Array.of(s);
  const step = f32(f32(e - s) / (n - 1)), half = Math.floor(n / 2);
  // f32 x f32 products are exact in float64, so one rounding of the float64 sum emulates the fused multiply-add.
  const base = (idx: number) => (idx < half ? f32(step * idx + s) : f32(-step * (n - 1 - idx) + e));
  const out = new Float64Array(n), vectorised = n - (n % 16);
  for (let idx = 0; idx < vectorised; idx += 8) {
    const b = base(idx);
    for (let i = 0; i < 8; i++) out[idx + i] = f32(b + f32(i * step));
  }
  for (let idx = vectorised; idx < n; idx++) out[idx] = base(idx);
  return out;
}
