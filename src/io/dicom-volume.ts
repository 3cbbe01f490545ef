import { fail } from '../core/errors.js';
import type { DicomIdentity, DicomImage } from './dicom.js';
import { checkedSize } from './validate.js';
import { createVolume, NIFTI_XFORM, type Volume } from './volume.js';

/**
 * Stack the frames of one DICOM series into a Volume whose affine is in NIfTI's RAS+ world (DICOM's LPS
 * with x and y negated).
 */

const basename = (p: string): string => p.slice(p.lastIndexOf('/') + 1);
const bad = (name: string, what: string): never => fail('UNREADABLE_FILE', `${name}: not a readable DICOM file: ${what}`);
const cross = (a: number[], b: number[]): number[] => [a[1]! * b[2]! - a[2]! * b[1]!, a[2]! * b[0]! - a[0]! * b[2]!, a[0]! * b[1]! - a[1]! * b[0]!];
const dot = (a: readonly number[], b: readonly number[]): number => a[0]! * b[0]! + a[1]! * b[1]! + a[2]! * b[2]!;
const fmt = (v: number): string => String(+v.toPrecision(6));

type SeriesMember = Pick<DicomImage, 'name' | 'seriesInstanceUID' | 'seriesNumber' | 'seriesDescription'>;

function seriesLabel(images: readonly SeriesMember[]): string {
  const a = images[0]!;
  const desc = a.seriesDescription ? ` '${a.seriesDescription}'` : '';
  const num = a.seriesNumber !== undefined ? `series ${a.seriesNumber}, ` : '';
  return `${a.seriesInstanceUID || '(no SeriesInstanceUID)'}${desc} (${num}${images.length} image(s), e.g. ${basename(a.name)})`;
}

/** The third voxel size when positions cannot give it: SpacingBetweenSlices, else SliceThickness, else 1 mm. */
function sliceSpacing(im: DicomImage, notes: string[]): number {
  for (const v of [im.spacingBetweenSlices, im.sliceThickness]) if (v !== undefined && v > 0) return v;
  notes.push('no positive SpacingBetweenSlices or SliceThickness; 1 mm slices assumed');
  return 1;
}

/** What a volume read from DICOM keeps of its source, for a derived series (dicom-write.ts). */
export interface DicomSeriesInfo {
  identity: DicomIdentity;
  seriesInstanceUID: string;
  /** The source instances (unique, in slice order), referenced by a derived series. */
  sourceSOPInstances: { sopClassUID: string; sopInstanceUID: string }[];
  modality?: string;
  seriesNumber?: number;
  seriesDescription?: string;
  sliceThickness?: number;
  /** The transfer syntax UID of a lossy-compressed source. */
  lossy?: string;
}

/** A volume read from DICOM, with its source's identity. */
export interface DicomVolume extends Volume {
  dicom: DicomSeriesInfo;
}

/**
 * The images of one series: the one whose SeriesInstanceUID or SeriesNumber is `series`, or the only one.
 * Several series without a choice, or a choice that matches none, are refused with the list of series.
 */
export function selectSeries<T extends SeriesMember>(images: readonly T[], where: string, series?: string): T[] {
  const groups = new Map<string, T[]>();
  for (const im of images) {
    const g = groups.get(im.seriesInstanceUID);
    if (g) g.push(im);
    else groups.set(im.seriesInstanceUID, [im]);
  }
  const all = [...groups.values()];
  const list = (): string => all.map(seriesLabel).join('; ');
  if (series !== undefined) {
    const hit = all.filter((g) => g[0]!.seriesInstanceUID === series || String(g[0]!.seriesNumber) === series.trim());
    if (hit.length === 1) return hit[0]!;
    fail('BAD_INPUT', `${where}: ${hit.length ? `${hit.length} series have` : 'no series has'} SeriesInstanceUID or SeriesNumber ${series}; it holds ${all.length}: ${list()}`);
  }
  if (all.length > 1) {
    fail('BAD_INPUT', `${where} holds slices of ${all.length} DICOM series; choose one with --series UID|NUMBER (or put each series in its own folder): ${list()}`);
  }
  return [...images];
}

/**
 * Stack the slices of one series into a volume. Slices are ordered by ImagePositionPatient
 * projected on the slice normal (row direction x column direction from
 * ImageOrientationPatient), or by InstanceNumber when some slice lacks position or
 * orientation. Voxel (i, j, k) is column i, row j of slice k.
 */
export function volumeFromDicom(all: readonly DicomImage[], name = 'DICOM series', series?: string): DicomVolume {
  if (all.length === 0) fail('BAD_INPUT', `${name}: no DICOM images to stack`);
  const images = selectSeries(all, name, series);
  const first = images[0]!;
  const notes: string[] = images.flatMap((im) => im.notes);
  const { rows, columns } = first;
  for (const im of images) {
    if (im.rows !== rows || im.columns !== columns) {
      fail('BAD_INPUT', `${name}: ${basename(im.name)} is ${im.columns}x${im.rows} but ${basename(first.name)} is ${columns}x${rows}; a series must have one image size`);
    }
  }
  let ps = first.pixelSpacing;
  if (!ps) {
    notes.push('PixelSpacing (0028,0030) is missing; 1 mm pixels assumed');
    ps = [1, 1];
  }
  for (const im of images) {
    const q = im.pixelSpacing ?? ps;
    if (Math.abs(q[0] - ps[0]) > 1e-4 * ps[0] || Math.abs(q[1] - ps[1]) > 1e-4 * ps[1]) {
      fail('BAD_INPUT', `${name}: PixelSpacing differs between ${basename(first.name)} (${ps.join('\\')}) and ${basename(im.name)} (${q.join('\\')})`);
    }
  }
  if (!(ps[0] > 0 && ps[1] > 0)) bad(first.name, `PixelSpacing ${ps.join('\\')} must be positive`);

  const geometric = images.every((im) => im.position && im.orientation);
  let row: number[], col: number[], normal: number[];
  const orientationOf = (im: DicomImage): [number[], number[]] => {
    const o = im.orientation ?? [1, 0, 0, 0, 1, 0];
    return [o.slice(0, 3), o.slice(3, 6)];
  };
  [row, col] = orientationOf(first);
  const nr = Math.hypot(row[0]!, row[1]!, row[2]!), nc = Math.hypot(col[0]!, col[1]!, col[2]!);
  if (!(Math.abs(nr - 1) < 1e-2 && Math.abs(nc - 1) < 1e-2 && Math.abs(dot(row, col)) < 1e-2)) {
    bad(first.name, `ImageOrientationPatient ${(first.orientation ?? []).map(fmt).join('\\')} is not two orthogonal unit vectors`);
  }
  row = row.map((x) => x / nr);
  col = col.map((x) => x / nc);
  normal = cross(row, col);
  const nn = Math.hypot(normal[0]!, normal[1]!, normal[2]!);
  normal = normal.map((x) => x / nn);

  let order: DicomImage[];
  let step: number[]; // LPS displacement from one slice to the next
  if (geometric) {
    for (const im of images) {
      const [r2, c2] = orientationOf(im);
      if (r2.some((x, i) => Math.abs(x / nr - row[i]!) > 1e-3) || c2.some((x, i) => Math.abs(x / nc - col[i]!) > 1e-3)) {
        fail('BAD_INPUT', `${name}: ImageOrientationPatient differs between ${basename(first.name)} and ${basename(im.name)}; the slices are not one stack`);
      }
    }
    const keyed = images.map((im) => ({ im, d: dot(normal, im.position!) }));
    keyed.sort((a, b) => a.d - b.d);
    order = keyed.map((k) => k.im);
    for (let i = 1; i < keyed.length; i++) {
      if (Math.abs(keyed[i]!.d - keyed[i - 1]!.d) < 1e-4) {
        fail(
          'UNSUPPORTED',
          `${name}: ${basename(keyed[i - 1]!.im.name)} and ${basename(keyed[i]!.im.name)} lie at the same slice position (${fmt(keyed[i]!.d)} mm); ` +
            'the series holds several volumes (echoes, time points or repeats) — split it (e.g. with dcm2niix) and read one volume',
        );
      }
    }
    if (order.length > 1) {
      const span = keyed[keyed.length - 1]!.d - keyed[0]!.d;
      const mean = span / (order.length - 1);
      const gaps = keyed.slice(1).map((k, i) => k.d - keyed[i]!.d);
      const big = gaps.indexOf(Math.max(...gaps)), small = Math.min(...gaps);
      if (gaps[big]! - small > Math.max(1e-3, 0.01 * mean)) {
        fail(
          'UNSUPPORTED',
          `${name}: slice spacing is not uniform (gaps from ${fmt(small)} to ${fmt(gaps[big]!)} mm; ${fmt(gaps[big]!)} mm between ` +
            `${basename(keyed[big]!.im.name)} and ${basename(keyed[big + 1]!.im.name)}); slices may be missing from the folder`,
        );
      }
      const p0 = order[0]!.position!, p1 = order[order.length - 1]!.position!;
      step = [0, 1, 2].map((i) => (p1[i]! - p0[i]!) / (order.length - 1));
    } else {
      step = normal.map((x) => x * sliceSpacing(first, notes));
    }
  } else {
    const missing = images.filter((im) => im.instanceNumber === undefined);
    if (images.length > 1 && missing.length) {
      bad(missing[0]!.name, 'cannot order the slices: ImagePositionPatient/ImageOrientationPatient and InstanceNumber are missing');
    }
    order = [...images].sort((a, b) => a.instanceNumber! - b.instanceNumber!);
    for (let i = 1; i < order.length; i++) {
      if (order[i]!.instanceNumber === order[i - 1]!.instanceNumber) {
        fail('BAD_INPUT', `${name}: ${basename(order[i - 1]!.name)} and ${basename(order[i]!.name)} share InstanceNumber ${order[i]!.instanceNumber} and have no ImagePositionPatient to order them`);
      }
    }
    const dz = sliceSpacing(first, notes);
    step = normal.map((x) => x * dz);
    if (images.length > 1) notes.push('slices ordered by InstanceNumber: ImagePositionPatient/ImageOrientationPatient missing; slice spacing from SpacingBetweenSlices/SliceThickness');
    if (!first.orientation || !first.position) notes.push('geometry incomplete: missing ImagePositionPatient/ImageOrientationPatient taken as origin 0 and orientation 1\\0\\0\\0\\1\\0');
  }
  const p0 = order[0]!.position ?? [0, 0, 0];
  // LPS affine: columns are the voxel steps along i (row direction, column spacing ps[1]),
  // j (column direction, row spacing ps[0]) and k (slice to slice); then LPS -> RAS.
  const lps = [0, 1, 2].map((i) => [row[i]! * ps![1], col[i]! * ps![0], step[i]!, p0[i]!]);
  const affine = [
    lps[0]!.map((x) => -x),
    lps[1]!.map((x) => -x),
    lps[2]!,
    [0, 0, 0, 1],
  ].map((r) => r.map((x) => (x === 0 ? 0 : x))); // no -0
  const n = rows * columns;
  checkedSize([order.length, rows, columns], name, `${order.length} slices of ${columns}x${rows}`, 'read a smaller series (or fewer slices)');
  const data = new Float32Array(n * order.length);
  order.forEach((im, k) => data.set(im.pixels, k * n));
  const desc = `DICOM${first.modality ? ` ${first.modality}` : ''} series ${first.seriesNumber ?? ''} ${first.seriesDescription ?? ''}`.replace(/ +/g, ' ').trim();
  const vol = createVolume(data, [columns, rows, order.length], {
    affine,
    xformCode: NIFTI_XFORM.scanner,
    descrip: desc.slice(0, 80),
    source: name,
    notes,
  });
  const lossy = images.find((im) => im.lossy);
  const dicom: DicomSeriesInfo = {
    identity: { ...first.identity },
    seriesInstanceUID: first.seriesInstanceUID,
    sourceSOPInstances: [...new Map(order.flatMap((im) => (im.sopInstanceUID ? [[im.sopInstanceUID, { sopClassUID: im.sopClassUID, sopInstanceUID: im.sopInstanceUID }] as const] : []))).values()],
    ...(first.modality ? { modality: first.modality } : {}),
    ...(first.seriesNumber !== undefined ? { seriesNumber: first.seriesNumber } : {}),
    ...(first.seriesDescription ? { seriesDescription: first.seriesDescription } : {}),
    ...(first.sliceThickness !== undefined ? { sliceThickness: first.sliceThickness } : {}),
    ...(lossy ? { lossy: lossy.transferSyntax } : {}),
  };
  return { ...vol, dicom };
}

