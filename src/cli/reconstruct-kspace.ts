import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fail } from '../core/errors.js';
import { readFastmriFile } from '../io/fastmri-file.js';
import { niftiFileBytes } from '../io/nifti.js';
import { readNpy } from '../io/npy.js';
import { solverByName } from '../inverse/solvers/registry.js';
import { OnnxDenoiser } from '../models/onnx.js';
import { kspaceVolume, priorPercentile, reconstructKspace } from '../volume/kspace-file.js';
import { gradValue, intOption, numberOption, seedValue, stepsValue, threadsValue } from './args.js';
import { checkOutputs, commitOutputs } from './output.js';
import { checkedParams } from './params.js';
import { runProgress } from './progress.js';
import { printSummary } from './job-context.js';

/** The reconstruct options the fastMRI path reads (strings as parsed). */
export interface KspaceCliValues {
  measurement: string;
  out?: string;
  'out-rss'?: string;
  modality?: string;
  slices?: [number, number];
  accel?: string;
  mask?: string;
  acs?: string;
  'coil-maps'?: string;
  solver?: string;
  steps: string;
  param?: string[];
  grad: string;
  noise: string;
  seed: string;
  model?: string;
  threads?: string;
  json?: boolean;
}

/** Options of the NIfTI path that mean nothing for raw k-space. */
const NIFTI_ONLY = ['truth', 'volume', 'views', 'mask-file', 'particles', 'out-model', 'workers'] as const;

/** The prior's 99.5th percentile in model units, from its held-out images when it ships them. */
export function modelPercentile(modelDir: string): number {
  const f = join(modelDir, 'heldout.npy');
  return priorPercentile(existsSync(f) ? readNpy(f) : null);
}

/** `tweedie reconstruct --measurement FILE.h5`: raw multi-coil k-space in the fastMRI layout (src/volume/kspace-file.ts). */
export async function reconstructKspaceCli(v: KspaceCliValues, given: Record<string, unknown>, defaultModel: string): Promise<void> {
  for (const k of NIFTI_ONLY) if (given[k] !== undefined) fail('USAGE', `--${k} does not apply to raw k-space (--measurement ${v.measurement}); drop it`);
  if (v.modality !== undefined && v.modality !== 'mri') fail('USAGE', `--measurement ${v.measurement} is MRI k-space; drop --modality ${v.modality} (or give --modality mri)`);
  if (!v.out) fail('USAGE', 'reconstruct needs --out RECON.nii.gz');
  for (const f of [v.out, v['out-rss']]) if (f !== undefined && !/\.nii(\.gz)?$/i.test(f)) fail('USAGE', `--out ${f}: write a NIfTI file (.nii or .nii.gz)`);
  if (v.mask !== undefined && v.mask !== 'equispaced' && v.mask !== 'random') fail('USAGE', `--mask ${v.mask}: raw k-space takes --mask equispaced or random (fastMRI's line masks)`);
  const solver = solverByName(v.solver ?? 'dds');
  const params = checkedParams(solver, v.param);
  const steps = stepsValue(v.steps), gradient = gradValue(v.grad), seed = seedValue(v.seed);
  const accel = intOption(v.accel, 'accel', 2);
  const acs = numberOption(v.acs, 'acs', 0);
  if (acs !== undefined && acs > 1) fail('USAGE', `--acs ${acs}: the fully sampled centre fraction must lie in [0, 1], e.g. --acs 0.08`);
  if (acs !== undefined && accel === undefined) fail('USAGE', '--acs sets the centre of a retrospective mask; give --accel R with it');
  const noise = numberOption(v.noise, 'noise', 0);
  const modelDir = v.model ?? defaultModel;
  const usesPrior = !solver.needs.noPrior;
  const method = v['coil-maps'] === 'espirit' || v['coil-maps'] === 'acs' ? v['coil-maps'] : undefined;
  checkOutputs([{ option: '--out', file: v.out }, { option: '--out-rss', file: v['out-rss'] }], [
    { option: '--measurement', file: v.measurement }, { option: '--coil-maps', file: method ? undefined : v['coil-maps'] }, ...(usesPrior ? [{ option: '--model', file: modelDir }] : []),
  ]);
  if (usesPrior && !existsSync(join(modelDir, 'model.onnx'))) fail('UNREADABLE_FILE', `${join(modelDir, 'model.onnx')} is missing; reconstruct needs a 2-D prior folder (--model DIR), or --solver zero-filled or tv`);
  const maps = v['coil-maps'] && !method ? readNpy(v['coil-maps']) : undefined;
  const file = await readFastmriFile(v.measurement);
  try {
    const model = usesPrior ? await OnnxDenoiser.load(modelDir, { threads: threadsValue(v.threads) ?? 1, backend: 'cpu' }) : null;
    const progress = runProgress(`${solver.name}: ${steps} steps`);
    const r = await reconstructKspace(file, model, {
      ...(v.slices ? { slices: v.slices } : {}), ...(accel !== undefined ? { accel } : {}), ...(v.mask ? { mask: v.mask as 'equispaced' | 'random' } : {}), ...(acs !== undefined ? { acs } : {}),
      ...(maps ? { maps, mapsName: v['coil-maps'] } : {}), ...(method ? { mapsMethod: method } : {}), acsOption: '--acs F (the fully sampled centre fraction of --accel)',
      solver: solver.name, steps, params, gradient, noise, seed, modelPercentile: model ? modelPercentile(modelDir) : 1,
      onProgress: (done, total) => progress.report({ done, total }),
    });
    progress.done();
    await model?.release();
    const count = r.slices[1] - r.slices[0];
    const outputs = [{ file: v.out, bytes: niftiFileBytes(v.out, kspaceVolume(r.image, count, r.grid, `tweedie ${r.solver} coil-combined`)) }];
    if (v['out-rss']) {
      if (!r.reference) fail('USAGE', `--out-rss: ${v.measurement} has no reconstruction_rss and is not fully sampled, so there is no reference to write; drop --out-rss`);
      outputs.push({ file: v['out-rss'], bytes: niftiFileBytes(v['out-rss'], kspaceVolume(r.reference, count, r.grid, 'fully sampled RSS')) });
    }
    commitOutputs(outputs);
    const summary = {
      measurement: v.measurement, out: v.out, ...(v['out-rss'] ? { out_rss: v['out-rss'] } : {}), slices: r.slices, coils: file.coils, kspace: [file.rows, file.cols], grid: [r.grid.rows, r.grid.cols],
      image: [r.grid.outRows, r.grid.outCols], sampling: r.sampling, acs_lines: r.acsLines, maps: r.maps, operator: r.operator, solver: r.solver, ...(r.gradient ? { gradient: r.gradient } : {}),
      steps: r.steps, nfe: r.nfe, scale: r.scale, seconds: r.seconds, seconds_per_slice: r.secondsPerSlice, reference: r.referenceSource,
      psnr: r.psnr, ssim: r.ssim, psnr_zero_filled: r.psnr_zero_filled, ssim_zero_filled: r.ssim_zero_filled, per_slice: r.per_slice,
    };
    if (v.json) return void printSummary(summary);
    const figures = r.psnr === null ? '(no fully sampled reference: no PSNR)' : `PSNR ${r.psnr.toFixed(2)} dB, SSIM ${r.ssim!.toFixed(4)} against ${r.referenceSource} (zero-filled ${r.psnr_zero_filled!.toFixed(2)} dB, ${r.ssim_zero_filled!.toFixed(4)})`;
    process.stdout.write(
      `wrote ${v.out}: slices ${r.slices[0]}..${r.slices[1] - 1} of ${v.measurement} (${file.coils} coils, ${r.grid.outRows}x${r.grid.outCols}), ${r.solver} on ${r.operator}, maps ${r.maps}, ` +
        `${r.secondsPerSlice.toFixed(2)} s per slice; ${figures}\n`,
    );
  } finally {
    file.close();
  }
}
