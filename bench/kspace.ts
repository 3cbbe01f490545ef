import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fail } from '../src/core/errors.js';
import { readFastmriFile } from '../src/io/fastmri-file.js';
import { readNpy } from '../src/io/npy.js';
import { OnnxDenoiser } from '../src/models/onnx.js';
import { packageRoot } from '../src/package-root.js';
import { modelPercentile } from '../src/cli/reconstruct-kspace.js';
import { reconstructKspace } from '../src/volume/kspace-file.js';

export const description = 'raw multi-coil k-space (fastMRI layout): one 8-coil slice at 4x and 8x (equispaced), zero-filled, tv and dds with coil maps by ESPIRiT, by the low-resolution ACS images, and the true ones: seconds per slice, PSNR / SSIM against the fully sampled RSS';

const STEPS = Number(process.env.TWEEDIE_BENCH_STEPS ?? 50);
/** The 8-coil ch2 file training/fastmri_file.py wrote (test/fixtures/fastmri in a checkout), its true maps beside it. */
const FILE = process.env.TWEEDIE_BENCH_KSPACE ?? join(packageRoot, 'test', 'fixtures', 'fastmri', 'ch2_8coil.h5');

interface Row {
  accel: number;
  solver: string;
  maps: string;
  seconds_per_slice: number;
  psnr: number;
  ssim: number;
}

export async function run(opts: { json: boolean; log: (m: string) => void }): Promise<Record<string, unknown>> {
  if (!existsSync(FILE)) fail('UNREADABLE_FILE', `${FILE} is missing; write one with "/usr/bin/python3 training/fastmri_file.py --out FILE.h5 --sidecar DIR" and set TWEEDIE_BENCH_KSPACE=FILE.h5`);
  const modelDir = process.env.TWEEDIE_BENCH_MODEL ?? join(packageRoot, 'weights', 'brain-64');
  const mapsFile = join(FILE.replace(/\.h5$/i, ''), 'maps.npy');
  const trueMaps = existsSync(mapsFile) ? readNpy(mapsFile) : undefined;
  const file = await readFastmriFile(FILE);
  const model = await OnnxDenoiser.load(modelDir, { threads: 1, backend: 'cpu' });
  const q = modelPercentile(modelDir), rows: Row[] = [];
  try {
    for (const accel of [4, 8]) {
      const runs = [
        { solver: 'zero-filled', maps: 'espirit' },
        ...(['acs', 'espirit', ...(trueMaps ? ['true'] : [])] as const).flatMap((maps) => [{ solver: 'tv', maps }, { solver: 'dds', maps }]),
      ];
      for (const r of runs) {
        opts.log(`${accel}x ${r.solver} (${r.maps} maps) ...`);
        const out = await reconstructKspace(file, r.solver === 'dds' ? model : null, {
          solver: r.solver, steps: STEPS, accel, slices: [0, 1], modelPercentile: q, seed: 0,
          ...(r.maps === 'true' ? { maps: trueMaps!, mapsName: mapsFile } : { mapsMethod: r.maps as 'acs' | 'espirit' }),
        });
        rows.push({ accel, solver: r.solver, maps: r.maps === 'true' ? 'true (simulated)' : `${r.maps} (${out.acsLines} lines)`, seconds_per_slice: out.secondsPerSlice, psnr: out.psnr!, ssim: out.ssim! });
      }
    }
  } finally {
    file.close();
    await model.release();
  }
  const result = { file: FILE, coils: file.coils, kspace: [file.rows, file.cols], steps: STEPS, model: modelDir, rows };
  if (!opts.json) {
    process.stdout.write(
      [
        `${FILE}: slice 0, ${file.coils} coils, kspace ${file.rows}x${file.cols}; dds ${STEPS} steps on ${modelDir}; PSNR/SSIM against reconstruction_rss (data range = its maximum)`,
        'accel  solver       coil maps          s/slice   PSNR dB   SSIM',
        ...rows.map((r) => `${`${r.accel}x`.padEnd(7)}${r.solver.padEnd(13)}${r.maps.padEnd(19)}${r.seconds_per_slice.toFixed(2).padStart(7)}   ${r.psnr.toFixed(2).padStart(7)}   ${r.ssim.toFixed(4)}`),
      ].join('\n') + '\n',
    );
  }
  return result;
}
