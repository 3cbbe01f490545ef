import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fail } from '../src/core/errors.js';
import { readDicom } from '../src/io/dicom-file.js';
import { encodeDerivedSeries } from '../src/io/dicom-write.js';
import { readNifti } from '../src/io/nifti.js';
import { createVolume } from '../src/io/volume.js';
import { runTool } from './lib/dicom-tools.js';

export const description = 'DICOM decoding speed per transfer syntax (slices/s): a 200-slice series made from ch2 (our NIfTI reader and DICOM writer), re-encoded by dcmtk and gdcm; target: 200 JPEG Lossless slices in under 3 s';

const CH2 = '/usr/share/mricron/templates/ch2.nii.gz';
const SLICES = 200;
const TARGET_SECONDS = 3;

/** [label, transfer syntax, command, arguments before IN OUT, slices encoded]. */
const CODECS: [string, string, string, string[], number][] = [
  ['explicit VR little endian', '1.2.840.10008.1.2.1', '', [], SLICES],
  ['JPEG Lossless SV1 (dcmcjpeg +e1)', '1.2.840.10008.1.2.4.70', 'dcmcjpeg', ['+e1'], SLICES],
  ['JPEG-LS lossless (dcmcjpls)', '1.2.840.10008.1.2.4.80', 'dcmcjpls', [], 50],
  ['JPEG 2000 lossless (gdcmconv --j2k)', '1.2.840.10008.1.2.4.90', 'gdcmconv', ['--j2k'], 50],
  ['RLE lossless (dcmcrle)', '1.2.840.10008.1.2.5', 'dcmcrle', [], 50],
  ['explicit VR big endian (dcmconv +tb)', '1.2.840.10008.1.2.2', 'dcmconv', ['+tb'], 50],
  ['deflated (dcmconv +td)', '1.2.840.10008.1.2.1.99', 'dcmconv', ['+td'], 50],
];

interface Row {
  codec: string;
  syntax: string;
  slices: number;
  seconds: number;
  slices_per_s: number;
  mib: number;
  exact: boolean;
}

export async function run(opts: { json: boolean; log: (m: string) => void }): Promise<Record<string, unknown>> {
  const dir = mkdtempSync(join(tmpdir(), 'tweedie-bench-io-'));
  try {
    // 200 axial slices of ch2 (181 slices, then the first 19 again), 1 mm apart, in CT-like units.
    let ch2;
    try {
      ch2 = readNifti(CH2);
    } catch {
      return fail('UNREADABLE_FILE', `${CH2} is missing; apt-get install mricron-data`);
    }
    const [X, Y, Z] = ch2.dims as [number, number, number];
    const n = X * Y;
    const data = new Float32Array(n * SLICES);
    for (let k = 0; k < SLICES; k++) {
      const src = ch2.data.subarray((k % Z) * n, (k % Z + 1) * n);
      for (let i = 0; i < n; i++) data[k * n + i] = Math.round(src[i]! * 40 - 2000);
    }
    const vol = createVolume(data, [X, Y, SLICES], { affine: ch2.affine });
    opts.log(`writing ${SLICES} slices of ${X}x${Y} with tweedie's DICOM writer ...`);
    const raw = join(dir, 'raw');
    mkdirSync(raw);
    encodeDerivedSeries(vol, { description: 'tweedie bench io' }).files.forEach((b, k) => writeFileSync(join(raw, `IMG${String(k + 1).padStart(5, '0')}.dcm`), b));
    const rawFiles = readdirSync(raw).sort();
    const rows: Row[] = [];
    for (const [label, syntax, cmd, args, count] of CODECS) {
      let folder = raw;
      if (cmd) {
        folder = join(dir, syntax);
        mkdirSync(folder);
        opts.log(`encoding ${count} slices: ${label} ...`);
        for (const f of rawFiles.slice(0, count)) runTool(cmd, [...args, join(raw, f), join(folder, f)]);
      }
      const files = readdirSync(folder);
      const mib = files.reduce((s, f) => s + statSync(join(folder, f)).size, 0) / 2 ** 20;
      await readDicom(join(folder, files[0]!)); // load the codec (WebAssembly compilation) outside the timing
      const t0 = performance.now();
      const got = await readDicom(folder);
      const seconds = (performance.now() - t0) / 1000;
      let exact = got.data.length === count * n;
      for (let i = 0; exact && i < got.data.length; i++) exact = got.data[i] === data[i];
      rows.push({ codec: label, syntax, slices: count, seconds, slices_per_s: count / seconds, mib, exact });
    }
    const jpegLossless = rows[1]!;
    const seconds200 = jpegLossless.seconds * (SLICES / jpegLossless.slices);
    const result = { slices: SLICES, size: `${X}x${Y}`, rows, jpeg_lossless_200_seconds: seconds200, target_seconds: TARGET_SECONDS, target_met: seconds200 < TARGET_SECONDS && jpegLossless.exact };
    if (!opts.json) {
      const lines = [`DICOM decoding (readDicom on a folder; ${X}x${Y} int16 slices from ch2; codec load excluded)`, '  syntax                                  slices  MiB     seconds  slices/s  exact'];
      for (const r of rows) {
        lines.push(`  ${r.codec.padEnd(40)}${String(r.slices).padStart(6)}  ${r.mib.toFixed(1).padStart(6)}  ${r.seconds.toFixed(2).padStart(7)}  ${r.slices_per_s.toFixed(0).padStart(8)}  ${r.exact ? 'yes' : 'NO'}`);
      }
      lines.push(`  200 JPEG Lossless slices: ${seconds200.toFixed(2)} s (target < ${TARGET_SECONDS} s: ${result.target_met ? 'met' : 'NOT met'})`);
      process.stdout.write(lines.join('\n') + '\n');
    }
    return result;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
