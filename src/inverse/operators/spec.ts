import { resolve } from 'node:path';
import { fail } from '../../core/errors.js';
import { readNpy } from '../../io/npy.js';
import { readPng } from '../../io/png.js';
import type { Operator } from './operator.js';
import { IdentityOperator } from './identity.js';
import { InpaintingOperator, boxMask, halfMask, maskFromImage, randomPixelMask, type HalfSide } from './inpainting.js';
import { BicubicSROperator, PoolingSROperator } from './superres.js';
import { BlurOperator, gaussianKernel, motionKernel } from './blur.js';
import { ColorizationOperator, LUMA_WEIGHTS, MEAN_WEIGHTS } from './colorization.js';
import { MRIOperator } from './mri.js';
import { MultiCoilMRIOperator, coilMapsFromTensor, syntheticCoilMaps } from './mri-multicoil.js';
import { defaultCenterFraction, equispacedLineMask, lineMask2D, poissonDiscMask, randomLineMask, roundHalfEven } from './mri-masks.js';
import { CTOperator, parallelBeamAngles, type CTProjector, type FbpFilter } from './ct.js';
import { MatrixOperator } from './matrix.js';

/**
 * Operator spec strings, as the CLI takes them: `kind` or `kind:item,item,...` where an item
 * is `key=value` or a bare word. Every kind accepts `noise=SIGMA`.
 *
 *   identity                                   denoising
 *   inpaint:box=16 | box=16x8,x=4,y=2          missing box (centered unless x, y = top-left)
 *   inpaint:random=0.7[,seed=1]                random pixels, 70% observed
 *   inpaint:half | half=left|right|top|bottom  missing half (default right)
 *   inpaint:mask=FILE.png                      white = observed
 *   sr:factor=4[,kernel=pool|bicubic]          average pooling (default) or bicubic
 *   blur:gaussian,sigma=2[,size=13]            circular Gaussian blur
 *   blur:motion,length=9,angle=30[,size=]      circular linear motion blur
 *   color | color:mean                         RGB -> gray (BT.601 luma or mean)
 *   mri:accel=4,mask=equispaced|random|poisson|FILE.npy[,acs=0.08,seed=,offset=]
 *   mri:coils=8,accel=4 | mri:maps=FILE.npy    multi-coil (synthetic or given maps)
 *   mri:...,complex                            complex images [2, H, W]
 *   ct:views=60[,angle=120,det=,filter=ramlak|hann,projector=footprint|linear,poisson=1e4,scale=]
 *   matrix:A.npy                               dense matrix [m, n] on flattened inputs
 */

export interface SpecOptions {
  /** Directory that relative file paths in the spec are resolved against (default: cwd). */
  baseDir?: string;
}

type Items = { params: Map<string, string>; words: string[] };

const KINDS: Record<string, { keys: readonly string[]; words?: readonly string[] }> = {
  identity: { keys: ['noise'] },
  inpaint: { keys: ['box', 'x', 'y', 'random', 'seed', 'half', 'mask', 'noise'], words: ['half'] },
  sr: { keys: ['factor', 'kernel', 'noise'] },
  blur: { keys: ['type', 'sigma', 'size', 'length', 'angle', 'noise'], words: ['gaussian', 'motion'] },
  color: { keys: ['mode', 'noise'], words: ['luma', 'mean'] },
  mri: { keys: ['accel', 'mask', 'acs', 'seed', 'offset', 'coils', 'maps', 'complex', 'noise'], words: ['complex', 'equispaced', 'random', 'poisson'] },
  ct: { keys: ['views', 'angle', 'det', 'filter', 'projector', 'poisson', 'scale', 'noise'] },
  matrix: { keys: ['file', 'noise'] },
};

const ALIASES: Record<string, string> = {
  denoise: 'identity',
  denoising: 'identity',
  inpainting: 'inpaint',
  superres: 'sr',
  'super-resolution': 'sr',
  deblur: 'blur',
  colorization: 'color',
  colorize: 'color',
  gray: 'color',
  tomography: 'ct',
  dense: 'matrix',
};

function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
  }
  return d[a.length]![b.length]!;
}

function suggest(word: string, options: readonly string[]): string {
  const close = options.filter((o) => editDistance(word, o) <= 2);
  return close.length > 0 ? ` (did you mean ${close.join(' or ')}?)` : '';
}

/** Parses an operator spec for images of item shape `inShape` ([C, H, W], or [n] for matrix). */
export function parseOperatorSpec(spec: string, inShape: readonly number[], options: SpecOptions = {}): Operator {
  const text = spec.trim();
  const bad = (msg: string): never => fail('BAD_CONFIG', `operator spec '${text}': ${msg}`);
  const colon = text.indexOf(':');
  const rawKind = (colon < 0 ? text : text.slice(0, colon)).trim().toLowerCase();
  const kind = ALIASES[rawKind] ?? rawKind;
  const def = KINDS[kind];
  if (!def) {
    bad(`unknown operator '${rawKind}'${suggest(rawKind, Object.keys(KINDS))}; use one of ${Object.keys(KINDS).join(', ')}`);
  }
  const items = splitItems(colon < 0 ? '' : text.slice(colon + 1), kind, def!, bad);
  const path = (p: string): string => resolve(options.baseDir ?? process.cwd(), p);
  const { params } = items;

  const num = (key: string, fallback?: number): number => {
    const v = params.get(key);
    if (v === undefined) {
      if (fallback === undefined) bad(`missing ${key}=...; add it, e.g. ${kind}:${key}=${exampleValue(key)}`);
      return fallback!;
    }
    const x = Number(v);
    if (v.trim() === '' || !Number.isFinite(x)) bad(`${key}=${v} is not a number; write e.g. ${key}=${exampleValue(key)}`);
    return x;
  };
  const int = (key: string, fallback?: number): number => {
    const x = num(key, fallback);
    if (!Number.isInteger(x)) bad(`${key}=${params.get(key)} must be an integer, e.g. ${key}=${exampleValue(key)}`);
    return x;
  };
  const noise = num('noise', 0);
  if (noise < 0) bad(`noise=${noise} must be >= 0 (the standard deviation of the measurement noise)`);
  const image = (): [number, number, number] => {
    if (inShape.length !== 3) bad(`${kind} works on images [C, H, W], but the input shape is [${inShape.join(', ')}]`);
    return inShape as [number, number, number];
  };

  switch (kind) {
    case 'identity':
      return new IdentityOperator(inShape, noise);

    case 'inpaint': {
      const [c, h, w] = image();
      const chosen = ['box', 'random', 'half', 'mask'].filter((k) => params.has(k) || items.words.includes(k));
      if (chosen.length !== 1) {
        bad(chosen.length === 0 ? 'say which pixels are missing: box=16, random=0.7 (fraction observed), half, or mask=FILE.png' : `give only one of ${chosen.join(', ')}`);
      }
      for (const k of ['x', 'y']) if (params.has(k) && chosen[0] !== 'box') bad(`${k}= places a box; use it with box=SIZE`);
      if (params.has('seed') && chosen[0] !== 'random') bad('seed= applies to random=FRACTION masks only');
      let mask: Float64Array, label: string;
      switch (chosen[0]) {
        case 'box': {
          const v = params.get('box')!;
          const m = /^(\d+)(?:x(\d+))?$/.exec(v);
          if (!m) bad(`box=${v}: give the box size in pixels, box=16 or box=16x8 (width x height)`);
          const bw = Number(m![1]), bh = m![2] ? Number(m![2]) : bw;
          const x0 = params.has('x') ? int('x') : undefined, y0 = params.has('y') ? int('y') : undefined;
          if ((x0 === undefined) !== (y0 === undefined)) bad('give both x= and y= (top-left corner of the box), or neither for a centered box');
          if (bw > w || bh > h) bad(`box=${v} is larger than the ${w}x${h} image; use a smaller box`);
          mask = boxMask(h, w, bw, bh, x0, y0);
          label = `box ${bw}x${bh}`;
          break;
        }
        case 'random': {
          const keep = num('random');
          if (!(keep > 0 && keep <= 1)) bad(`random=${keep}: the observed fraction must lie in (0, 1], e.g. random=0.3 keeps 30% of the pixels`);
          mask = randomPixelMask(h, w, keep, int('seed', 0));
          label = `random ${keep}`;
          break;
        }
        case 'half': {
          const side = (params.get('half') ?? 'right').toLowerCase();
          if (!['left', 'right', 'top', 'bottom'].includes(side)) bad(`half=${side}: name the missing half, half=left|right|top|bottom`);
          mask = halfMask(h, w, side as HalfSide);
          label = `half ${side}`;
          break;
        }
        default: {
          const file = params.get('mask')!;
          mask = maskFromImage(readPng(path(file)), h, w, `mask ${file}`);
          label = `mask ${file}`;
        }
      }
      if (!mask.some((v) => v > 0)) bad('the mask keeps no pixels; observe at least one pixel');
      return new InpaintingOperator([c, h, w], mask, noise, label);
    }

    case 'sr': {
      const [, h, w] = image();
      const factor = int('factor', 4);
      if (factor < 2) bad(`factor=${factor}: the downsampling factor must be an integer >= 2`);
      if (h % factor !== 0 || w % factor !== 0) bad(`factor=${factor} does not divide the image size ${h}x${w}; pick a factor that divides both sides or crop the image`);
      const kernel = (params.get('kernel') ?? 'pool').toLowerCase();
      if (['pool', 'avg', 'average', 'box'].includes(kernel)) return new PoolingSROperator(inShape, factor, noise);
      if (['bicubic', 'cubic'].includes(kernel)) return new BicubicSROperator(inShape, factor, noise);
      return bad(`kernel=${kernel}: unknown downsampling kernel; use kernel=pool (average pooling) or kernel=bicubic`);
    }

    case 'blur': {
      const [, h, w] = image();
      const types: string[] = items.words.filter((x) => x === 'gaussian' || x === 'motion');
      if (params.has('type')) types.push(params.get('type')!.toLowerCase());
      if (types.length !== 1 || !['gaussian', 'motion'].includes(types[0]!)) bad('say which blur: blur:gaussian,sigma=2 or blur:motion,length=9,angle=30');
      const size = params.has('size') ? int('size') : undefined;
      if (size !== undefined && (size < 1 || size % 2 === 0)) bad(`size=${size}: the kernel size must be an odd positive integer`);
      if (types[0] === 'gaussian') {
        for (const k of ['length', 'angle']) if (params.has(k)) bad(`${k}= belongs to blur:motion; a Gaussian blur takes sigma= (and size=)`);
        const sigma = num('sigma', 3);
        if (!(sigma > 0)) bad(`sigma=${sigma}: the blur width must be > 0 pixels`);
        const k = gaussianKernel(sigma, size);
        if (k.size > Math.min(h, w)) bad(`a Gaussian of sigma=${sigma} needs a ${k.size}x${k.size} kernel, larger than the ${h}x${w} image; lower sigma or pass a smaller size=`);
        return new BlurOperator(inShape, k, noise, `gaussian sigma ${sigma}`);
      }
      if (params.has('sigma')) bad('sigma= belongs to blur:gaussian; a motion blur takes length= and angle=');
      const length = num('length', 9), angle = num('angle', 0);
      if (!(length >= 1)) bad(`length=${length}: the motion length must be >= 1 pixel`);
      const k = motionKernel(length, angle, size);
      if (k.size > Math.min(h, w)) bad(`a motion blur of length=${length} needs a ${k.size}x${k.size} kernel, larger than the ${h}x${w} image; use a shorter length`);
      return new BlurOperator(inShape, k, noise, `motion length ${length} angle ${angle}`);
    }

    case 'color': {
      const modes: string[] = items.words.filter((x) => x === 'luma' || x === 'mean');
      if (params.has('mode')) modes.push(params.get('mode')!.toLowerCase());
      if (modes.length > 1) bad('give one mode: color (luma weights) or color:mean');
      const mode = modes[0] ?? 'luma';
      if (mode !== 'luma' && mode !== 'mean') bad(`mode=${mode}: use luma (0.299, 0.587, 0.114) or mean`);
      if (inShape.length !== 3 || inShape[0] !== 3) bad(`colorization needs an RGB image [3, H, W], but the input shape is [${inShape.join(', ')}]`);
      return new ColorizationOperator(inShape, mode === 'mean' ? MEAN_WEIGHTS : LUMA_WEIGHTS, noise, mode);
    }

    case 'mri':
      return buildMri(items, image(), noise, { num, int, bad, path });

    case 'ct': {
      image();
      const views = int('views', 180);
      if (views < 1) bad(`views=${views}: use at least one view`);
      const span = num('angle', 180);
      if (!(span > 0 && span <= 180)) bad(`angle=${span}: the angular range must lie in (0, 180] degrees (angle=120 for a limited-angle scan)`);
      const det = params.has('det') ? int('det') : undefined;
      if (det !== undefined && det < 1) bad(`det=${det}: use at least one detector bin`);
      const filter = (params.get('filter') ?? 'ramlak').toLowerCase().replace('-', '');
      if (filter !== 'ramlak' && filter !== 'hann') bad(`filter=${filter}: use filter=ramlak or filter=hann`);
      const projector = (params.get('projector') ?? 'footprint').toLowerCase();
      if (projector !== 'footprint' && projector !== 'linear') bad(`projector=${projector}: use projector=footprint (exact pixel footprints) or projector=linear (linear interpolation)`);
      const i0 = params.has('poisson') ? num('poisson') : undefined;
      if (i0 !== undefined && !(i0 > 0)) bad(`poisson=${i0}: the incident photon count must be > 0, e.g. poisson=1e4`);
      if (params.has('scale') && i0 === undefined) bad('scale= sets the attenuation scale of the Poisson model; use it with poisson=I0');
      return new CTOperator(inShape, {
        angles: parallelBeamAngles(views, span),
        detectors: det,
        noiseSigma: noise,
        poisson: i0 === undefined ? undefined : { i0, scale: params.has('scale') ? num('scale') : undefined },
        filter: filter as FbpFilter,
        projector: projector as CTProjector,
        label: span < 180 ? `${views} views over ${span} deg` : `${views} views`,
      });
    }

    case 'matrix': {
      const files = [...items.words, ...(params.has('file') ? [params.get('file')!] : [])];
      if (files.length !== 1) bad('give one matrix file: matrix:A.npy (an [m, n] array)');
      const t = readNpy(path(files[0]!));
      if (t.shape.length !== 2) bad(`${files[0]} has shape [${t.shape.join(', ')}]; a matrix file holds a 2-D array [m, n]`);
      const n = t.shape[1]!;
      const size = inShape.reduce((a, b) => a * b, 1);
      if (size !== n) bad(`the matrix is ${t.shape[0]} x ${n} but the input has ${size} elements (shape [${inShape.join(', ')}]); the matrix needs n = ${size} columns`);
      return MatrixOperator.fromTensor(t, inShape, noise, files[0]!);
    }
  }
  return bad(`unknown operator '${rawKind}'`);
}

function splitItems(body: string, kind: string, def: { keys: readonly string[]; words?: readonly string[] }, bad: (m: string) => never): Items {
  const params = new Map<string, string>(), words: string[] = [];
  for (const raw of body.split(',')) {
    const item = raw.trim();
    if (item === '') continue;
    const eq = item.indexOf('=');
    if (eq < 0) {
      const word = item.toLowerCase();
      if (kind === 'matrix') words.push(item);
      else if (def.words?.includes(word)) words.push(word);
      else {
        const all = [...(def.words ?? []), ...def.keys.map((k) => `${k}=`)];
        bad(`unexpected '${item}' for ${kind}${suggest(word, [...(def.words ?? []), ...def.keys])}; ${kind} takes ${all.join(', ')}`);
      }
      continue;
    }
    const key = item.slice(0, eq).trim().toLowerCase(), value = item.slice(eq + 1).trim();
    if (!def.keys.includes(key)) bad(`unknown key '${key}' for ${kind}${suggest(key, def.keys)}; ${kind} takes ${def.keys.join(', ')}`);
    if (params.has(key)) bad(`${key} is given twice; keep one`);
    if (value === '') bad(`${key}= has no value`);
    params.set(key, value);
  }
  return { params, words };
}

function exampleValue(key: string): string {
  const ex: Record<string, string> = {
    noise: '0.05', accel: '4', acs: '0.08', seed: '1', offset: '0', coils: '8', views: '60', angle: '120', det: '91',
    poisson: '1e4', scale: '0.01', factor: '4', sigma: '2', size: '13', length: '9', random: '0.7', x: '4', y: '4',
  };
  return ex[key] ?? '1';
}

interface Helpers {
  num(key: string, fallback?: number): number;
  int(key: string, fallback?: number): number;
  bad(msg: string): never;
  path(p: string): string;
}

function buildMri(items: Items, shape: [number, number, number], noise: number, hp: Helpers): Operator {
  const { params, words } = items;
  const { num, int, bad } = hp;
  const [, h, w] = shape;
  const complex = words.includes('complex') || ['1', 'true', 'yes'].includes((params.get('complex') ?? '').toLowerCase());
  if (params.has('complex') && !complex && !['0', 'false', 'no'].includes(params.get('complex')!.toLowerCase())) bad(`complex=${params.get('complex')}: write complex (or complex=1) for complex images`);
  if (complex && shape[0] !== 2) bad(`complex mri images have 2 planes (re, im), but the input shape is [${shape.join(', ')}]; drop complex for real images`);
  const maskWords: string[] = words.filter((x) => x === 'equispaced' || x === 'random' || x === 'poisson');
  if (params.has('mask')) maskWords.push(params.get('mask')!);
  if (maskWords.length > 1) bad(`give one mask, got ${maskWords.join(' and ')}`);
  const maskKind = maskWords[0] ?? 'equispaced';
  if (maskKind.toLowerCase() === 'active') {
    bad('mask=active chooses k-space lines while sampling, so no fixed operator describes it; use "tweedie reconstruct --modality mri --mask active" (solver ddnm or dds), or a fixed mask=equispaced|random|poisson');
  }
  const fromFile = /\.npy$/i.test(maskKind);
  if (!fromFile && !['equispaced', 'random', 'poisson'].includes(maskKind.toLowerCase())) {
    bad(`mask=${maskKind}: use mask=equispaced, random, poisson or a FILE.npy${suggest(maskKind.toLowerCase(), ['equispaced', 'random', 'poisson'])}`);
  }
  let mask: Uint8Array | Float64Array, label: string;
  if (fromFile) {
    for (const k of ['accel', 'acs', 'seed', 'offset']) if (params.has(k)) bad(`${k}= does not apply to a mask file; the file fixes the sampling`);
    const t = readNpy(hp.path(maskKind));
    if (t.shape.length === 2 && t.shape[0] === h && t.shape[1] === w) mask = Float64Array.from(t.data);
    else if ((t.shape.length === 1 && t.shape[0] === w) || (t.shape.length === 2 && t.shape[0] === 1 && t.shape[1] === w)) mask = lineMask2D(t.data, h);
    else return bad(`mask file ${maskKind} has shape [${t.shape.join(', ')}]; give [${h}, ${w}] (2-D) or [${w}] (columns) for ${h}x${w} images`);
    if (!mask.some((v) => v > 0)) bad(`mask file ${maskKind} has no samples; the mask needs at least one nonzero entry`);
    label = `mask ${maskKind}`;
  } else {
    const kindName = maskKind.toLowerCase();
    const accel = num('accel', 4);
    if (!(accel >= 1)) bad(`accel=${accel}: the acceleration must be >= 1`);
    const acs = num('acs', defaultCenterFraction(accel));
    if (!(acs >= 0 && acs <= 1)) bad(`acs=${acs}: the fully sampled centre fraction must lie in [0, 1], e.g. acs=0.08`);
    const seed = int('seed', 0);
    if (seed < 0) bad(`seed=${seed} must be >= 0`);
    if (params.has('offset') && kindName !== 'equispaced') bad('offset= applies to mask=equispaced only');
    if (kindName === 'poisson') {
      mask = poissonDiscMask(h, w, accel, { calib: [roundHalfEven(acs * h), roundHalfEven(acs * w)], seed });
    } else {
      const opts = { centerFraction: acs, seed, offset: params.has('offset') ? int('offset') : undefined };
      const lines = kindName === 'random' ? randomLineMask(w, accel, opts) : equispacedLineMask(w, accel, opts);
      mask = lineMask2D(lines.columns, h);
    }
    label = `${kindName} ${accel}x acs ${acs}`;
  }
  const multi = params.has('coils') || params.has('maps');
  if (!multi) return new MRIOperator(shape, { mask, complex, noiseSigma: noise, label });
  let maps;
  if (params.has('maps')) {
    const file = params.get('maps')!;
    maps = coilMapsFromTensor(readNpy(hp.path(file)), `coil maps ${file}`);
    if (maps.h !== h || maps.w !== w) bad(`coil maps ${file} are ${maps.h}x${maps.w} but the images are ${h}x${w}; give maps [coils, ${h}, ${w}, 2]`);
    if (params.has('coils') && int('coils') !== maps.coils) bad(`coils=${params.get('coils')} but ${file} holds ${maps.coils} coils; drop coils= or make them agree`);
  } else {
    const coils = int('coils');
    if (coils < 1) bad(`coils=${coils}: use at least one coil`);
    maps = syntheticCoilMaps(coils, h, w);
  }
  if (shape[0] !== (complex ? 2 : 1)) {
    bad(`multi-coil MRI takes one real image [1, H, W] (or [2, H, W] with complex), but the input shape is [${shape.join(', ')}]`);
  }
  return new MultiCoilMRIOperator(shape, { mask, maps, complex, noiseSigma: noise, label });
}
