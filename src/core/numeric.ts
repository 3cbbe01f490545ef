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

/** Sigmas evenly spaced in log sigma from sigmaMax down to sigmaMin. */
export function exponentialSigmas(n: number, sigmaMin: number, sigmaMax: number, space: Linspace = linspace): number[] {
  return Array.from(space(Math.log(sigmaMax), Math.log(sigmaMin), n), Math.exp);
}
