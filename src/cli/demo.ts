import { existsSync } from 'node:fs';
import { extname, join } from 'node:path';
import { fail } from '../core/errors.js';
import { Tensor } from '../core/tensor.js';
import { sideBySide, upscaleNearest } from '../io/grid.js';
import { readNpy } from '../io/npy.js';
import { encodePng, tensorToPng } from '../io/png.js';
import { psnr, ssim } from '../metrics/image.js';
import { OnnxDenoiser } from '../models/onnx.js';
import { buildOperator } from '../inverse/operators/registry.js';
import { operatorConfig } from '../volume/reconstruct.js';
import { solverByName } from '../inverse/solvers/registry.js';
import { simulateMeasurement, solve } from '../recipes/solve.js';
import { intOption, numberOption, seedValue, stepsValue, threadsValue } from './args.js';
import { command } from './options.js';
import { checkedParams } from './params.js';
import { runProgress } from './progress.js';
import { jsonOption, paramOption, seedOption, stepsOption, threadsOption } from './shared-options.js';
import { checkOutputs, commitOutputs } from './output.js';
import { packageRoot } from '../package-root.js';

/** The solver the demo uses: the best measured on the held-out slab (see docs/inverse.md). */
export const DEMO_SOLVER = 'diffpir';
/**
 * Steps for a prior with "multiple" (native 217x181 slices): a 217x181 slice costs about 0.1-0.3 s per NFE on one
 * busy core of the 2-core machine (bench priors measures it), so 20 keeps the demo under 10 s; 50 for 64x64 priors.
 */
export const NATIVE_DEMO_STEPS = 20;

export const demoCommand = command({
  name: 'demo',
  summary: 'the main job: MRI reconstruction of a held-out brain slice',
  usage: '[--slice K] [--accel R] [--solver NAME] [--out FILE.png] [options]',
  description:
    'The main job: reconstruct a held-out brain MRI slice from 4x undersampled, noisy k-space with the shipped brain-64 diffusion prior, and compare with the zero-filled reconstruction.\n\n' +
    'Writes a figure (truth | zero-filled | reconstruction | error x4) and prints PSNR/SSIM.',
  options: {
    slice: { type: 'string', value: 'K', doc: 'held-out slice index (default: the middle of the held-out slab)' },
    accel: { type: 'string', value: 'R', default: '4', doc: 'Cartesian acceleration, equispaced lines with a fully sampled centre' },
    noise: { type: 'string', value: 'SIGMA', default: '0.01', doc: 'k-space noise standard deviation' },
    solver: { type: 'string', value: 'NAME', default: DEMO_SOLVER, doc: 'posterior solver; see "tweedie solvers"' },
    steps: { ...stepsOption('diffusion steps', '50'), default: undefined, doc: `${stepsOption('diffusion steps', '50').doc} (default 50; ${NATIVE_DEMO_STEPS} for a prior whose tweedie.json declares "multiple": native slices, under 10 s)` },
    param: paramOption('solver'),
    seed: seedOption('sample'),
    model: { type: 'string', value: 'DIR', doc: 'prior folder with heldout.npy (default weights/brain-64)' },
    threads: threadsOption,
    out: { type: 'string', value: 'FILE.png', default: join('demo-out', 'demo.png'), doc: 'the figure' },
    json: jsonOption('{"slice", "operator", "solver", "steps", "nfe", "seconds", "out", "psnr", "ssim", "baseline", "psnr_baseline", "ssim_baseline"}'),
  },
  async run({ values }) {
    const out = values.out;
    if (extname(out).toLowerCase() !== '.png') fail('USAGE', `--out ${out}: the demo writes a figure; use a .png file name`);
    const dir = values.model ?? join(packageRoot, 'weights', 'brain-64');
    // The demo makes its figure's folder (demo-out/ by default), as it always has.
    checkOutputs([{ option: '--out', file: out }], [{ option: '--model', file: dir }], { createDirs: true });
    const heldout = join(dir, 'heldout.npy');
    if (!existsSync(heldout)) fail('UNREADABLE_FILE', `${heldout} is missing: the demo needs the model's held-out slices (weights/brain-64 ships them)`);
    const slab = readNpy(heldout);
    const k = intOption(values.slice, 'slice', 0) ?? Math.floor(slab.batch / 2);
    if (k >= slab.batch) fail('USAGE', `--slice ${k} is outside the held-out slab (0..${slab.batch - 1})`);
    const accel = intOption(values.accel, 'accel', 2);
    const sigma = numberOption(values.noise, 'noise', 0);

    const seed = seedValue(values.seed);
    const givenSteps = values.steps === undefined ? undefined : stepsValue(values.steps);
    const solver = solverByName(values.solver);
    const params = checkedParams(solver, values.param);
    const t0 = performance.now();
    const threads = threadsValue(values.threads);
    const model = await OnnxDenoiser.load(dir, threads ? { threads } : {});
    const steps = givenSteps ?? (model.layout ? NATIVE_DEMO_STEPS : 50);
    const truth = slab.sliceBatch(k, k + 1).toDtype('float32');
    // The truth's own grid: a fixed-size prior's held-out slices are its item shape; a prior with "multiple" runs them padded.
    const item = truth.shape.slice(1);
    const operator = buildOperator(operatorConfig({ modality: 'mri', acceleration: accel, noise: sigma }), item);
    const measurement = simulateMeasurement(operator, truth, seed);
    const zeroFilled = operator.adjoint(measurement);
    const progress = runProgress(solver.name);
    const r = await solve({ model, operator, measurement, solver, steps, grid: 'time-uniform', params, n: 1, seed, onProgress: progress.report });
    progress.done();
    const recon = r.x.toDtype('float32');
    const seconds = (performance.now() - t0) / 1000;
    const range = model.spec.valueRange, dr = range[1] - range[0];
    // Error map |recon - truth|, magnified 4x and shifted to the bottom of the display range.
    const err = new Tensor(truth.shape, truth.data.map((v, i) => range[0] + 4 * Math.abs(recon.data[i]! - v)));
    const panel = sideBySide([truth, zeroFilled, recon, err].map((t) => t.reshape(item)), 2, range[0]);
    // Small slices (64x64) magnified to about 200 pixels; native slices as they are.
    commitOutputs([{ file: out, bytes: encodePng(tensorToPng(upscaleNearest(panel, Math.max(1, Math.floor(200 / item[1]!))), range)) }]);
    const summary = {
      slice: k, operator: operator.name, solver: solver.name, steps, nfe: r.nfe, seconds, out,
      psnr: psnr(recon, truth, dr)[0]!, ssim: ssim(recon, truth, { dataRange: dr })[0]!,
      baseline: 'zero-filled', psnr_baseline: psnr(zeroFilled, truth, dr)[0]!, ssim_baseline: ssim(zeroFilled, truth, { dataRange: dr })[0]!,
    };
    if (values.json) return void process.stdout.write(JSON.stringify(summary) + '\n');
    process.stdout.write(
      [
        `held-out slice ${k}, ${accel}x equispaced Cartesian k-space, noise ${sigma}, ${solver.name} ${steps} steps (NFE ${r.nfe})`,
        `  zero-filled     PSNR ${summary.psnr_baseline.toFixed(2)} dB  SSIM ${summary.ssim_baseline.toFixed(4)}`,
        `  reconstruction  PSNR ${summary.psnr.toFixed(2)} dB  SSIM ${summary.ssim.toFixed(4)}`,
        `  wall time       ${seconds.toFixed(1)} s`,
        `  figure          ${out} (truth | zero-filled | reconstruction | error x4)`,
      ].join('\n') + '\n',
    );
  },
});
