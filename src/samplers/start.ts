import { fail } from '../core/errors.js';
import { NoiseSource, Stream } from '../core/rng.js';
import type { Tensor } from '../core/tensor.js';
import { defaultGridSpec, makeGrid, type GridKind, type TimeGrid } from '../paths/grids.js';
import type { Path } from '../paths/path.js';

// How a run starts: its grid and its seeded starting noise (the recipes and active sampling share them).

/** Standard normal starting noise of items [start, end) of a run (sample firstSample + start + b). */
export function startNoise(seed: number, firstSample: number, start: number, end: number, itemShape: readonly number[], dtype: 'float32' | 'float64' = 'float32'): Tensor {
  return new NoiseSource(seed, firstSample + start).normal([end - start, ...itemShape], 0, Stream.init, dtype);
}

/** The grid of a run: given points, a grid kind, or the path's default for sampling or solving (defaultGridSpec). */
export function runGrid(path: Path, steps: number, grid?: GridKind | TimeGrid, purpose: 'sample' | 'solve' = 'solve'): TimeGrid {
  if (Array.isArray(grid)) return grid as TimeGrid;
  if (grid === undefined) return makeGrid(path, defaultGridSpec(path, steps, purpose));
  const kinds: GridKind[] = ['time-uniform', 'time-power', 'logsnr-uniform', 'karras', 'exponential'];
  if (!kinds.includes(grid as GridKind)) fail('USAGE', `grid must be one of ${kinds.join(', ')}, got "${String(grid)}"`);
  // time-power runs straight to clean data (its last step is the short one); the others end at tMin, then clean
  if (grid === 'time-power') return makeGrid(path, { kind: grid, steps, tEnd: path.tClean, final: 'sigma_min' });
  return makeGrid(path, { kind: grid as GridKind, steps, final: 'zero' });
}
