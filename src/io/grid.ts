import { Tensor } from '../core/tensor.js';
import { fail } from '../core/errors.js';

export interface GridOptions {
  /** Images per row, default ceil(sqrt(N)). */
  cols?: number;
  /** Pixels between images and around the border, default 2 (as torchvision's make_grid). */
  pad?: number;
  /** Value of the padding and of empty cells, default 0. */
  padValue?: number;
}

function checkPad(pad: number, what: string): void {
  if (!Number.isInteger(pad) || pad < 0) fail('BAD_INPUT', `${what}: pad must be a non-negative integer, got ${pad}`);
}

/**
 * Tile a batch [N, C, H, W] into one image [C, H', W'] of `cols` columns and ceil(N / cols)
 * rows, H' = rows (H + pad) + pad, W' = cols (W + pad) + pad, like torchvision's make_grid.
 */
export function imageGrid(batch: Tensor, opts: GridOptions = {}): Tensor {
  const s = batch.shape;
  if (s.length !== 4) fail('BAD_SHAPE', `imageGrid: expected a batch [N, C, H, W], got [${s.join(', ')}]`);
  const [n, c, h, w] = s as [number, number, number, number];
  if (n < 1) fail('BAD_SHAPE', 'imageGrid: the batch is empty');
  const pad = opts.pad ?? 2, padValue = opts.padValue ?? 0;
  checkPad(pad, 'imageGrid');
  const cols = Math.min(n, opts.cols ?? Math.ceil(Math.sqrt(n)));
  if (!Number.isInteger(cols) || cols < 1) fail('BAD_INPUT', `imageGrid: cols must be a positive integer, got ${opts.cols}`);
  const rows = Math.ceil(n / cols);
  const gh = rows * (h + pad) + pad, gw = cols * (w + pad) + pad;
  const out = Tensor.zeros([c, gh, gw], batch.dtype);
  const o = out.data, src = batch.data;
  o.fill(padValue);
  for (let k = 0; k < n; k++) {
    const y0 = pad + Math.floor(k / cols) * (h + pad), x0 = pad + (k % cols) * (w + pad);
    for (let ch = 0; ch < c; ch++) {
      for (let y = 0; y < h; y++) {
        const from = ((k * c + ch) * h + y) * w;
        o.set(src.subarray(from, from + w), (ch * gh + y0 + y) * gw + x0);
      }
    }
  }
  return out;
}

/**
 * Place images [C, H, W] or [H, W] left to right with `pad` pixels between them (no outer
 * border), for figure panels. Gray images are repeated to the channel count of the others;
 * shorter images are top-aligned and the rest is filled with padValue.
 */
export function sideBySide(images: readonly Tensor[], pad = 2, padValue = 0): Tensor {
  if (images.length === 0) fail('BAD_INPUT', 'sideBySide: no images');
  checkPad(pad, 'sideBySide');
  const dims = images.map((t, i) => {
    const s = t.shape;
    if (s.length === 2) return [1, s[0]!, s[1]!] as const;
    if (s.length === 3) return [s[0]!, s[1]!, s[2]!] as const;
    return fail('BAD_SHAPE', `sideBySide: image ${i} has shape [${s.join(', ')}]; expected [C, H, W] or [H, W]`);
  });
  const c = Math.max(...dims.map((d) => d[0]));
  dims.forEach((d, i) => {
    if (d[0] !== 1 && d[0] !== c) fail('BAD_SHAPE', `sideBySide: image ${i} has ${d[0]} channels, others have ${c}`);
  });
  const gh = Math.max(...dims.map((d) => d[1]));
  const gw = dims.reduce((acc, d) => acc + d[2], 0) + pad * (images.length - 1);
  const dtype = images.some((t) => t.dtype === 'float64') ? 'float64' : 'float32';
  const out = Tensor.zeros([c, gh, gw], dtype);
  const o = out.data;
  o.fill(padValue);
  let x0 = 0;
  images.forEach((t, i) => {
    const [ci, h, w] = dims[i]!;
    for (let ch = 0; ch < c; ch++) {
      const sc = ci === 1 ? 0 : ch;
      for (let y = 0; y < h; y++) {
        const from = (sc * h + y) * w;
        o.set(t.data.subarray(from, from + w), (ch * gh + y) * gw + x0);
      }
    }
    x0 += w + pad;
  });
  return out;
}

/** Nearest-neighbour enlargement of an image [C, H, W] (or [H, W]) by an integer factor, for figures. */
export function upscaleNearest(img: Tensor, factor: number): Tensor {
  const [c, h, w] = img.shape.length === 2 ? [1, img.shape[0]!, img.shape[1]!] : (img.shape as [number, number, number]);
  const out = Tensor.zeros([c, h * factor, w * factor], img.dtype);
  const W = w * factor;
  for (let ch = 0; ch < c; ch++) {
    for (let i = 0; i < h * factor; i++) {
      const src = ch * h * w + Math.floor(i / factor) * w, dst = ch * h * factor * W + i * W;
      for (let j = 0; j < W; j++) out.data[dst + j] = img.data[src + Math.floor(j / factor)]!;
    }
  }
  return out;
}
