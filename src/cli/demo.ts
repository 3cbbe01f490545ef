import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fail } from '../core/errors.js';
import { NoiseSource, Stream } from '../core/rng.js';
import { Tensor } from '../core/tensor.js';
import { sideBySide, upscaleNearest } from '../io/grid.js';
import { readNpy } from '../io/npy.js';
import { tensorToPng, writePng } from '../io/png.js';
import { psnr, ssim } from '../metrics/image.js';
import { OnnxDenoiser } from '../models/onnx.js';
import { parseOperatorSpec } from '../inverse/operators/spec.js';
import { runSolver } from '../inverse/solvers/run.js';
import { solverByName } from '../inverse/solvers/registry.js';
import { makeGrid } from '../paths/grids.js';
import { initialState } from '../samplers/run.js';
import { intOption, numberOption, parseCommand, str } from './args.js';
import { parseParams } from './params.js';
import { Progress } from './progress.js';
import { packageRoot } from './version.js';

/** The solver the demo uses: the best measured on the held-out slab (see docs/inverse.md). */
export const DEMO_SOLVER = 'diffpir';

export const demoHelp = `tweedie demo [--slice K] [--accel 4] [--noise 0.01] [--solver NAME] [--steps N]
             [--seed S] [--model DIR] [--out-dir demo-out] [--json]

The main job: reconstruct a held-out brain MRI slice from 4x undersampled, noisy k-space with
the shipped brain-64 diffusion prior, and compare with the zero-filled reconstruction.
Writes OUT-DIR/demo.png (truth | zero-filled | reconstruction | error x4) and prints PSNR/SSIM.
  --slice K      held-out slice index 0..15 (default 8)
  --accel R      Cartesian acceleration, equispaced lines with a fully sampled centre (default 4)
  --noise SIGMA  k-space noise standard deviation (default 0.01)
  --solver NAME  posterior solver (default ${DEMO_SOLVER}); see "tweedie solvers"
  --steps N      diffusion steps (default 50)`;

export async function demoCommand(argv: string[]): Promise<void> {
  const { values } = parseCommand('demo', argv, {
    slice: { type: 'string' }, accel: { type: 'string' }, noise: { type: 'string' }, solver: { type: 'string' },
    steps: { type: 'string' }, seed: { type: 'string' }, model: { type: 'string' }, 'out-dir': { type: 'string' },
    param: { type: 'string', multiple: true }, json: { type: 'boolean' }, threads: { type: 'string' },
  });
  if (values.help) return void process.stdout.write(demoHelp + '\n');
  const dir = str(values.model) ?? join(packageRoot, 'weights', 'brain-64');
  const heldout = join(dir, 'heldout.npy');
  if (!existsSync(heldout)) fail('UNREADABLE_FILE', `${heldout} is missing: the demo needs the model's held-out slices (weights/brain-64 ships them)`);
  const slab = readNpy(heldout);
  const k = intOption(str(values.slice), 'slice', Math.floor(slab.batch / 2), 0);
  if (k >= slab.batch) fail('USAGE', `--slice ${k} is outside the held-out slab (0..${slab.batch - 1})`);
  const accel = intOption(str(values.accel), 'accel', 4, 2);
  const sigma = numberOption(str(values.noise), 'noise', 0.01);
  const steps = intOption(str(values.steps), 'steps', 50);
  const seed = intOption(str(values.seed), 'seed', 0, 0);
  const solver = solverByName(str(values.solver) ?? DEMO_SOLVER);
  const t0 = performance.now();
  const model = await OnnxDenoiser.load(dir, values.threads ? { threads: intOption(str(values.threads), 'threads', 1) } : {});
  const truth = slab.sliceBatch(k, k + 1).toDtype('float32');
  const op = parseOperatorSpec(`mri:accel=${accel},mask=equispaced,acs=${accel < 8 ? 0.08 : 0.04},noise=${sigma}`, model.itemShape);
  const y = op.measure(truth, new NoiseSource(seed));
  const zeroFilled = op.adjoint(y);
  const grid = makeGrid(model.path, { kind: 'time-uniform', steps });
  const xT = initialState(new NoiseSource(seed).normal([1, ...model.itemShape], 0, Stream.init), grid[0]!);
  const progress = new Progress(`${solver.name}`, steps);
  const r = await runSolver(solver, model, grid, op, y, xT, {
    noise: new NoiseSource(seed),
    params: parseParams((values.param as string[] | undefined) ?? []),
    onStep: (info) => progress.update(info.step),
  });
  progress.done();
  const recon = r.x.toDtype('float32');
  const seconds = (performance.now() - t0) / 1000;
  const range = model.spec.valueRange, dr = range[1] - range[0];
  const figures = {
    psnr_zero_filled: psnr(zeroFilled, truth, dr)[0]!,
    psnr_recon: psnr(recon, truth, dr)[0]!,
    ssim_zero_filled: ssim(zeroFilled, truth, { dataRange: dr })[0]!,
    ssim_recon: ssim(recon, truth, { dataRange: dr })[0]!,
    seconds,
    nfe: r.nfe,
  };
  const outDir = str(values['out-dir']) ?? 'demo-out';
  mkdirSync(outDir, { recursive: true });
  // Error map |recon - truth|, magnified 4x and shifted to the bottom of the display range.
  const err = new Tensor(truth.shape, truth.data.map((v, i) => range[0] + 4 * Math.abs(recon.data[i]! - v)));
  const panel = sideBySide([truth, zeroFilled, recon, err].map((t) => t.reshape(model.itemShape)), 2, range[0]);
  const png = join(outDir, 'demo.png');
  writePng(png, tensorToPng(upscaleNearest(panel, 3), range));
  if (values.json) process.stdout.write(JSON.stringify(figures) + '\n');
  else {
    process.stdout.write(
      [
        `held-out slice ${k}, ${accel}x equispaced Cartesian k-space, noise ${sigma}, ${solver.name} ${steps} steps (NFE ${r.nfe})`,
        `  zero-filled     PSNR ${figures.psnr_zero_filled.toFixed(2)} dB  SSIM ${figures.ssim_zero_filled.toFixed(4)}`,
        `  reconstruction  PSNR ${figures.psnr_recon.toFixed(2)} dB  SSIM ${figures.ssim_recon.toFixed(4)}`,
        `  wall time       ${seconds.toFixed(1)} s`,
        `  figure          ${png} (truth | zero-filled | reconstruction | error x4)`,
      ].join('\n') + '\n',
    );
  }
}
