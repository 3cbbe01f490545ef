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

/** The grid of a run: given points, a grid kind, or the path's default (Karras for sigma-time families, uniform time otherwise). */
export function runGrid(path: Path, steps: number, grid?: GridKind | TimeGrid): TimeGrid {
  if (Array.isArray(grid)) return grid as TimeGrid;
  if (grid === undefined) return makeGrid(path, defaultGridSpec(path, steps));
  const kinds: GridKind[] = ['time-uniform', 'logsnr-uniform', 'karras', 'exponential'];
  if (!kinds.includes(grid as GridKind)) fail('USAGE', `grid must be one of ${kinds.join(', ')}, got "${String(grid)}"`);
  return makeGrid(path, { kind: grid as GridKind, steps, final: 'zero' });
}
