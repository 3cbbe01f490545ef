import { fail } from '../core/errors.js';
import { NoiseSource, Stream } from '../core/rng.js';
import { Tensor } from '../core/tensor.js';
import { readNpy } from '../io/npy.js';
import { psnr, ssim } from '../metrics/image.js';
import { parseOperatorSpec } from '../inverse/operators/spec.js';
import { runSolver } from '../inverse/solvers/run.js';
import { solverByName, SOLVERS } from '../inverse/solvers/registry.js';
import { defaultGridSpec, makeGrid } from '../paths/grids.js';
import { pathByName, PATH_NAMES } from '../paths/registry.js';
import { initialState } from '../samplers/run.js';
import { intOption, numberOption, parseCommand, str } from './args.js';
import { loadModel, type LoadedModel } from './model-spec.js';
import { checkOutName, writeSamples } from './output.js';
import { checkedParams } from './params.js';
import { Progress } from './progress.js';

export const solveHelp = `tweedie solve --model (gmm:FILE.json | MODEL_DIR) --operator SPEC
              (--measurement y.npy | --simulate-from x.npy) --solver NAME --steps N
              [--seed S] [-n K] --out FILE.(npy|png) [--json]

Solve a linear inverse problem y = A x + noise with a diffusion prior (or a baseline).
  --operator SPEC        e.g. mri:accel=4,mask=equispaced,acs=0.08  ct:views=30  inpaint:box=16
                         sr:factor=4  blur:gaussian,sigma=2  matrix:A.npy,noise=0.05 (noise=SIGMA on any)
  --measurement y.npy    one measurement (the operator's output shape, or [m] / [1, m] for a matrix)
  --simulate-from x.npy  a ground-truth image: y is simulated from it (seeded), and PSNR/SSIM reported
  --solver NAME          see "tweedie solvers" (score-sde, dps, ddrm, ddnm, diffpir, dds, ... and baselines)
  --path NAME            for gmm: models (${PATH_NAMES.join(', ')})
  --steps N              diffusion steps (default 50)
  --param KEY=VALUE      a solver option (repeatable)
  -n K                   posterior samples (default 1; for smc the ensemble size, default 64); all are
                         conditioned on the one measurement
  --out FILE             .npy [K, ...] or .png grid
  --json                 print {"nfe", "seconds", "psnr", "ssim", ...} on stdout`;

/** Load a truth image for an operator of input shape `item`: [item] or [1, ...item]. */
function readTruth(file: string, item: readonly number[]): Tensor {
  const t = readNpy(file);
  const n = item.reduce((p, q) => p * q, 1);
  if (t.size !== n) fail('BAD_SHAPE', `--simulate-from ${file} has shape [${t.shape.join(', ')}] but the model's items are [${item.join(', ')}]`);
  return t.reshape([1, ...item]).toDtype('float32');
}

export async function solveCommand(argv: string[]): Promise<void> {
  const { values } = parseCommand('solve', argv, {
    model: { type: 'string' }, operator: { type: 'string' }, measurement: { type: 'string' }, 'simulate-from': { type: 'string' },
    solver: { type: 'string' }, steps: { type: 'string' }, seed: { type: 'string' }, n: { type: 'string', short: 'n' },
    path: { type: 'string' }, param: { type: 'string', multiple: true }, out: { type: 'string' }, json: { type: 'boolean' },
    threads: { type: 'string' }, 'sigma-y': { type: 'string' },
  });
  if (values.help) return void process.stdout.write(solveHelp + '\n');
  const out = checkOutName(str(values.out), 'solve');
  const spec = str(values.operator);
  if (!spec) fail('USAGE', 'solve needs --operator SPEC (e.g. --operator mri:accel=4)');
  const measFile = str(values.measurement), truthFile = str(values['simulate-from']);
  if (!measFile === !truthFile) fail('USAGE', 'give exactly one of --measurement y.npy or --simulate-from x.npy');
  const solver = solverByName(str(values.solver) ?? 'dds');
  const params = checkedParams(solver, values.param as string[] | undefined);
  const steps = intOption(str(values.steps), 'steps', 50);
  const seed = intOption(str(values.seed), 'seed', 0, 0);
  // A particle solver's n samples are one ensemble: default 64 particles (MCGdiff's default).
  const n = intOption(str(values.n), 'n', solver.needs.particles ? 64 : 1);
  if (solver.needs.particles && n < 2) fail('USAGE', `${solver.name} is a particle method: -n is the ensemble size and must be at least 2 (64 or more is usual)`);
  const modelSpec = str(values.model);
  let model: LoadedModel | null = null;
  if (modelSpec) {
    model = await loadModel(modelSpec, () => pathByName(str(values.path) ?? 'vp-linear'), undefined, values.threads ? intOption(str(values.threads), 'threads', 1) : undefined);
  } else if (!solver.needs.noPrior) {
    fail('USAGE', `solver ${solver.name} needs --model (a diffusion prior)`);
  }
  let itemShape: readonly number[];
  if (model) itemShape = model.itemShape;
  else if (truthFile) itemShape = readNpy(truthFile).shape.filter((_, i, s) => !(i === 0 && s.length === 4 && s[0] === 1));
  else return fail('USAGE', `baseline ${solver.name} without --model needs --simulate-from to know the image shape`);
  const op = parseOperatorSpec(spec, itemShape);
  const truth = truthFile ? readTruth(truthFile, op.inShape) : null;
  const y = truth ? op.measure(truth, new NoiseSource(seed)) : readNpy(measFile!);
  const path = model?.denoiser.path ?? null;
  const grid = path ? makeGrid(path, defaultGridSpec(path, steps)) : [];
  const xT = path
    ? initialState(new NoiseSource(seed).normal([n, ...op.inShape], 0, Stream.init), grid[0]!)
    : Tensor.zeros([n, ...op.inShape]);
  const progress = new Progress(solver.name, Math.max(1, grid.length - 1));
  const sigmaY = values['sigma-y'] !== undefined ? numberOption(str(values['sigma-y']), 'sigma-y', 0) : undefined;
  const r = await runSolver(solver, model?.denoiser ?? null, grid, op, y, xT, {
    noise: new NoiseSource(seed),
    params,
    ...(sigmaY !== undefined ? { sigmaY } : {}),
    onStep: (info) => progress.update(info.step),
  });
  progress.done();
  const range = model?.valueRange ?? [-1, 1];
  writeSamples(out, r.x, op.inShape, range);
  const summary: Record<string, unknown> = { solver: solver.name, operator: op.name, steps: r.steps, n, nfe: r.nfe, seconds: r.seconds, out };
  if (truth) {
    const truthB = new Tensor([n, ...op.inShape], new Float32Array(n * truth.size).map((_, i) => truth.data[i % truth.size]!));
    const dataRange = range[1] - range[0];
    const p = psnr(r.x.toDtype('float32'), truthB, dataRange);
    summary.psnr = p.reduce((a, b) => a + b, 0) / n;
    if (op.inShape.length >= 2 && Math.min(...op.inShape.slice(-2)) >= 11) {
      summary.ssim = ssim(r.x.toDtype('float32'), truthB, { dataRange }).reduce((a, b) => a + b, 0) / n;
    }
  }
  if (values.json) process.stdout.write(JSON.stringify(summary) + '\n');
  else {
    const fig = truth ? `, PSNR ${(summary.psnr as number).toFixed(2)} dB${summary.ssim !== undefined ? `, SSIM ${(summary.ssim as number).toFixed(4)}` : ''}` : '';
    process.stderr.write(`wrote ${out}: ${n} sample${n > 1 ? 's' : ''}, ${solver.name} on ${op.name}, NFE ${r.nfe}, ${r.seconds.toFixed(2)} s${fig}\n`);
  }
}

export const solversHelp = `tweedie solvers [--json]

List the posterior solvers and baselines with what they need (an SVD, gradients, particles).`;

export async function solversCommand(argv: string[]): Promise<void> {
  const { values } = parseCommand('solvers', argv, { json: { type: 'boolean' } });
  if (values.help) return void process.stdout.write(solversHelp + '\n');
  const rows = SOLVERS.map((s) => ({
    name: s.name,
    needs: Object.entries(s.needs).filter(([, v]) => v).map(([k]) => k),
    nfe_per_step: s.nfePerStep,
    stochastic: s.stochastic,
    params: Object.fromEntries(Object.entries(s.params).map(([k, p]) => [k, { default: p.default, doc: p.doc }])),
    description: s.description,
    ...(s.notes ? { notes: s.notes } : {}),
  }));
  if (values.json) return void process.stdout.write(JSON.stringify(rows) + '\n');
  const w = Math.max(...rows.map((r) => r.name.length), 4);
  const lines = [`${'name'.padEnd(w)}  ${'needs'.padEnd(22)}  options`];
  for (const r of rows) lines.push(`${r.name.padEnd(w)}  ${(r.needs.join(', ') || '-').padEnd(22)}  ${Object.keys(r.params).join(', ')}`);
  process.stdout.write(lines.join('\n') + '\n');
}
