import { Tensor } from '../../core/tensor.js';
import { MRIOperator } from './mri.js';
import { MultiCoilMRIOperator, coilMapsFromTensor, syntheticCoilMaps } from './mri-multicoil.js';
import { roundHalfEven } from '../../core/numeric.js';
import { defaultCenterFraction, equispacedLineMask, lineMask2D, poissonDiscMask, randomLineMask } from './mri-masks.js';
import { imageShape, loadedData, suggest, type Bad, type DataSource, type OperatorDef, type SpecItems } from './spec-grammar.js';

/**
 * Spec of single- and multi-coil MRI:
 *   mri:accel=4,mask=equispaced|random|poisson|FILE.npy[,acs=0.08,seed=,offset=]
 *   mri:coils=8,accel=4 | mri:maps=FILE.npy    multi-coil (synthetic or given maps)
 *   mri:...,complex                            complex images [2, H, W]
 */

export type MriMaskKind = 'equispaced' | 'random' | 'poisson';

export interface MriConfig {
  kind: 'mri';
  noise: number;
  /** Complex images [2, H, W]. */
  complex: boolean;
  /** A generated mask, or a k-space mask [H, W] or its columns [W] (nonzero = sampled). */
  mask: MriMaskKind | DataSource;
  /** Acceleration, centre fraction, seed and (equispaced) offset of a generated mask. */
  accel?: number;
  acs?: number;
  seed?: number;
  offset?: number;
  /** Multi-coil: synthetic maps of `coils` coils, or the given maps [coils, H, W, 2]. */
  coils?: number;
  maps?: DataSource;
}

const MASK_KINDS: readonly MriMaskKind[] = ['equispaced', 'random', 'poisson'];

export const mriDef: OperatorDef<MriConfig> = {
  name: 'mri',
  aliases: [],
  keys: ['accel', 'mask', 'acs', 'seed', 'offset', 'coils', 'maps', 'complex', 'noise'],
  words: ['complex', ...MASK_KINDS],
  image: true,
  doc: 'mri:accel=4,mask=equispaced|random|poisson|FILE.npy[,acs=0.08,seed=,offset=][,coils=8|maps=FILE.npy][,complex]',
  parse: parseMri,
  build: buildMri,
};

function parseMri(items: SpecItems): MriConfig {
  const { bad, words } = items;
  const flag = (items.get('complex') ?? '').toLowerCase();
  const complex = words.includes('complex') || ['1', 'true', 'yes'].includes(flag);
  if (items.has('complex') && !complex && !['0', 'false', 'no'].includes(flag)) bad(`complex=${items.get('complex')}: write complex (or complex=1) for complex images`);
  const maskWords: string[] = words.filter((x) => (MASK_KINDS as readonly string[]).includes(x));
  if (items.has('mask')) maskWords.push(items.get('mask')!);
  if (maskWords.length > 1) bad(`give one mask, got ${maskWords.join(' and ')}`);
  const maskKind = maskWords[0] ?? 'equispaced';
  if (maskKind.toLowerCase() === 'active') {
    bad('mask=active chooses k-space lines while sampling, so no fixed operator describes it; use "tweedie reconstruct --modality mri --mask active" (solver dps, ddnm or dds), or a fixed mask=equispaced|random|poisson');
  }
  const fromFile = /\.npy$/i.test(maskKind);
  if (!fromFile && !(MASK_KINDS as readonly string[]).includes(maskKind.toLowerCase())) {
    bad(`mask=${maskKind}: use mask=equispaced, random, poisson or a FILE.npy${suggest(maskKind.toLowerCase(), MASK_KINDS)}`);
  }
  let config: MriConfig;
  if (fromFile) {
    for (const k of ['accel', 'acs', 'seed', 'offset']) if (items.has(k)) bad(`${k}= does not apply to a mask file; the file fixes the sampling`);
    config = { kind: 'mri', noise: items.noise, complex, mask: { file: maskKind, format: 'npy' } };
  } else {
    const mask = maskKind.toLowerCase() as MriMaskKind;
    const accel = items.num('accel', 4);
    if (!(accel >= 1)) bad(`accel=${accel}: the acceleration must be >= 1`);
    const acs = items.num('acs', defaultCenterFraction(accel));
    if (!(acs >= 0 && acs <= 1)) bad(`acs=${acs}: the fully sampled centre fraction must lie in [0, 1], e.g. acs=0.08`);
    const seed = items.int('seed', 0);
    if (seed < 0) bad(`seed=${seed} must be >= 0`);
    if (items.has('offset') && mask !== 'equispaced') bad('offset= applies to mask=equispaced only');
    const offset = items.has('offset') ? items.int('offset') : undefined;
    config = { kind: 'mri', noise: items.noise, complex, mask, accel, acs, seed, offset };
  }
  if (items.has('maps')) return { ...config, maps: { file: items.get('maps')!, format: 'npy' }, coils: items.has('coils') ? items.int('coils') : undefined };
  if (!items.has('coils')) return config;
  const coils = items.int('coils');
  if (coils < 1) bad(`coils=${coils}: use at least one coil`);
  return { ...config, coils };
}

function buildMri(config: MriConfig, inShape: readonly number[], bad: Bad): MRIOperator | MultiCoilMRIOperator {
  const shape = imageShape('mri', inShape, bad), [, h, w] = shape;
  const { complex, noise } = config;
  if (complex && shape[0] !== 2) bad(`complex mri images have 2 planes (re, im), but the input shape is [${shape.join(', ')}]; drop complex for real images`);
  let mask: Uint8Array | Float64Array, label: string;
  if (typeof config.mask === 'object') {
    const { shape: s, data, file } = loadedData(config.mask, bad);
    const name = file ?? 'data';
    if (s.length === 2 && s[0] === h && s[1] === w) mask = Float64Array.from(data);
    else if ((s.length === 1 && s[0] === w) || (s.length === 2 && s[0] === 1 && s[1] === w)) mask = lineMask2D(data, h);
    else return bad(`mask file ${name} has shape [${s.join(', ')}]; give [${h}, ${w}] (2-D) or [${w}] (columns) for ${h}x${w} images`);
    if (!mask.some((v) => v > 0)) bad(`mask file ${name} has no samples; the mask needs at least one nonzero entry`);
    label = `mask ${name}`;
  } else {
    const kind = config.mask, accel = config.accel!, acs = config.acs!, seed = config.seed!;
    if (kind === 'poisson') {
      mask = poissonDiscMask(h, w, accel, { calib: [roundHalfEven(acs * h), roundHalfEven(acs * w)], seed });
    } else {
      const opts = { centerFraction: acs, seed, offset: config.offset };
      const lines = kind === 'random' ? randomLineMask(w, accel, opts) : equispacedLineMask(w, accel, opts);
      mask = lineMask2D(lines.columns, h);
    }
    label = `${kind} ${accel}x acs ${acs}`;
  }
  if (config.coils === undefined && config.maps === undefined) return new MRIOperator(shape, { mask, complex, noiseSigma: noise, label });
  let maps;
  if (config.maps) {
    const { shape: s, data, file } = loadedData(config.maps, bad);
    const name = file ?? 'data';
    maps = coilMapsFromTensor(new Tensor(s, data), `coil maps ${name}`);
    if (maps.h !== h || maps.w !== w) bad(`coil maps ${name} are ${maps.h}x${maps.w} but the images are ${h}x${w}; give maps [coils, ${h}, ${w}, 2]`);
    if (config.coils !== undefined && config.coils !== maps.coils) bad(`coils=${config.coils} but ${name} holds ${maps.coils} coils; drop coils= or make them agree`);
  } else {
    maps = syntheticCoilMaps(config.coils!, h, w);
  }
  if (shape[0] !== (complex ? 2 : 1)) {
    bad(`multi-coil MRI takes one real image [1, H, W] (or [2, H, W] with complex), but the input shape is [${shape.join(', ')}]`);
  }
  return new MultiCoilMRIOperator(shape, { mask, maps, complex, noiseSigma: noise, label });
}
