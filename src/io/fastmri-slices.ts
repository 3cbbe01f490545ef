import { fail } from '../core/errors.js';
import type { FastmriFile } from './fastmri.js';

/**
 * Slices [first, first + count) of an open fastMRI file as plain data (structured-clonable, for a page's Web
 * Worker, which has no import map to load h5wasm), and a FastmriFile over them again. Browser-safe.
 */
export interface FastmriSlices {
  name: string;
  slices: number;
  coils: number;
  rows: number;
  cols: number;
  dtype: string;
  datasets: string[];
  header: FastmriFile['header'];
  attrs: Record<string, number | string>;
  mask: Float32Array | null;
  rss: FastmriFile['rss'];
  first: number;
  /** Per slice from `first`: split planes [coils, rows, cols]. */
  re: Float64Array[];
  im: Float64Array[];
}

export function fastmriSlices(file: FastmriFile, [A, B]: [number, number]): FastmriSlices {
  const re: Float64Array[] = [], im: Float64Array[] = [];
  for (let z = A; z < B; z++) {
    const s = file.readSlice(z);
    re.push(s.re);
    im.push(s.im);
  }
  const { name, slices, coils, rows, cols, dtype, header, mask, rss } = file;
  return { name, slices, coils, rows, cols, dtype, datasets: [...file.datasets], header, attrs: { ...file.attrs }, mask, rss, first: A, re, im };
}

export function fastmriFromSlices(d: FastmriSlices): FastmriFile {
  return {
    ...d,
    readSlice(z) {
      const k = z - d.first;
      if (!(k >= 0 && k < d.re.length)) fail('USAGE', `${d.name}: slice ${z} was not handed over (slices ${d.first}..${d.first + d.re.length - 1})`);
      return { re: d.re[k]!.slice(), im: d.im[k]!.slice() };
    },
    close() {},
  };
}
