import { fail } from '../core/errors.js';
import { Tensor } from '../core/tensor.js';
import { readNpy } from '../io/npy.js';
import { isDicomOut, prepareVolumeOut } from '../io/volume-out-file.js';
import { psnr, ssim } from '../metrics/image.js';
import { buildOperator, operatorConfigFromSpec } from '../inverse/operators/registry.js';
import { loadOperatorFiles, operatorSpecFiles } from '../inverse/operators/spec-file.js';
import { solverByName } from '../inverse/solvers/registry.js';
import { pathByName, PATH_NAMES } from '../paths/registry.js';
import { simulateMeasurement, solve } from '../recipes/solve.js';
import { checkItemCount } from '../core/limits.js';
import { asUsage, gradValue, intOption, numberOption, seedValue, stepsValue, threadsValue } from './args.js';
import { withGradientRoute } from '../models/derivatives.js';
import { itemShapeFor, loadModel, type LoadedModel } from './model-spec.js';
import { command } from './options.js';
import { checkOutputs, checkSamplesOut, commitOutputs } from './output.js';
import { checkImageInput, imageOutFiles, isVolumeInput, isVolumeOut, readArrayOrImages, type ImageReadOptions, type Images } from './image-input.js';
import { seriesOption, volumeOption } from './volume-option.js';
import { checkedParams } from './params.js';
import { runProgress } from './progress.js';
import { printSummary } from './job-context.js';
import { conditionOptions, conditionValues } from './condition-options.js';
import { gradOption, jsonOption, paramOption, seedOption, sizeOption, stepsOption, threadsOption } from './shared-options.js';

/** A truth image for an operator of input shape `item`: [item] or [1, ...item]. */
function checkedTruth(t: Tensor, file: string, item: readonly number[]): Tensor {
  const n = item.reduce((p, q) => p * q, 1);
  if (t.size !== n) fail('BAD_SHAPE', `--truth ${file} has shape [${t.shape.join(', ')}] but the model's items are [${item.join(', ')}]`);
  return t.reshape([1, ...item]).toDtype('float32');
}

/** --truth: a .npy as stored (any shape an operator takes), or one image of a .png, NIfTI or DICOM file. */
async function readTruth(file: string, range: [number, number], options: ImageReadOptions): Promise<Images> {
  const images = await readArrayOrImages(file, range, '--truth', options);
  if (images.volume && images.x.batch !== 1) fail('USAGE', `--truth ${file} holds ${images.x.batch} images; solve takes one: give a one-slice file (restore and reconstruct take a series)`);
  return images;
}

export const solveCommand = command({
  name: 'solve',
  summary: 'solve an inverse problem with a diffusion prior',
  usage: '--operator SPEC (--measurement y.npy | --truth x.(npy|png|nii.gz|dcm|DIR)) --out FILE.(npy|png|nii.gz|dcm|DIR/) [options]',
  description: 'Solve a linear inverse problem y = A x + noise with a diffusion prior (or a baseline).',
  options: {
    model: { type: 'string', value: 'gmm:FILE.json|DIR', doc: 'the prior: an exact Gaussian mixture or an ONNX model folder (baselines need none)' },
    path: { type: 'string', value: 'NAME', doc: `the path a gmm: model follows (default vp-linear): ${PATH_NAMES.join(', ')}` },
    operator: {
      type: 'string', value: 'SPEC',
      doc: 'e.g. mri:accel=4,mask=equispaced,acs=0.08 ct:views=30 inpaint:box=16 sr:factor=4 blur:gaussian,sigma=2 matrix:A.npy,noise=0.05 (noise=SIGMA on any)',
    },
    measurement: { type: 'string', value: 'y.npy', doc: "one measurement (the operator's output shape, or [m] / [1, m] for a matrix)" },
    truth: {
      type: 'string', value: 'FILE',
      doc: "a ground-truth image: y is simulated from it (seeded), and PSNR/SSIM reported. .npy as stored; .png mapped from [0, 1] to the model's value range " +
        "([-1, 1] without a model); a one-slice NIfTI or DICOM (a file, or a folder of one series) mapped from its [min, max]",
    },
    volume: volumeOption('NIfTI --truth'),
    series: seriesOption('--truth'),
    solver: { type: 'string', value: 'NAME', default: 'dds', doc: 'see "tweedie solvers" (score-sde, dps, ddrm, ddnm, diffpir, dds, ... and baselines)' },
    steps: stepsOption('diffusion steps', '50'),
    param: paramOption('solver'),
    grad: gradOption,
    'sigma-y': { type: 'string', value: 'SIGMA', doc: "the noise level of the data term (default: the operator's noise)" },
    seed: seedOption('sample'),
    n: { type: 'string', short: 'n', value: 'K', doc: 'posterior samples, all conditioned on the one measurement (default 1; for smc the ensemble size, default 64)' },
    size: { ...sizeOption, doc: `${sizeOption.doc}; with --truth the truth's own grid` },
    ...conditionOptions,
    threads: threadsOption,
    out: { type: 'string', value: 'FILE', doc: '.npy [K, ...] or .png grid; for a NIfTI or DICOM --truth and -n 1 also .nii/.nii.gz with its geometry, DIR/ or .dcm for a derived DICOM series' },
    json: jsonOption('{"solver", "operator", "steps", "n", "nfe", "seconds", "out", for dps/pigdm "gradient" (the route used), with --truth "psnr", "ssim"}'),
  },
  async run({ values }) {
    const out = values.out;
    const volumeOut = out !== undefined && isVolumeOut(out);
    if (!volumeOut) checkSamplesOut(out, 'solve');
    const spec = values.operator;
    if (!spec) fail('USAGE', 'solve needs --operator SPEC (e.g. --operator mri:accel=4)');
    const measFile = values.measurement, truthFile = values.truth;
    if (!measFile === !truthFile) fail('USAGE', 'give exactly one of --measurement y.npy or --truth x.npy');
    if (truthFile) checkImageInput(truthFile, '--truth');
    if (volumeOut && !(truthFile && isVolumeInput(truthFile))) fail('USAGE', `--out ${out}: NIfTI and DICOM output keep a NIfTI or DICOM --truth's geometry; give one or write .npy/.png`);
    if ((values.series ?? values.volume) !== undefined && !(truthFile && isVolumeInput(truthFile))) fail('USAGE', '--volume and --series pick a volume of a NIfTI or DICOM --truth; drop them');
    checkOutputs([{ option: '--out', file: isDicomOut(out!) ? prepareVolumeOut('--out', out!) : out }], [
      { option: '--measurement', file: measFile }, { option: '--truth', file: truthFile }, { option: '--model', file: values.model?.replace(/^gmm:/, '') },
      ...asUsage('--operator', () => operatorSpecFiles(spec!)).map((file) => ({ option: '--operator', file })),
    ]);
    const solver = solverByName(values.solver);
    const params = checkedParams(solver, values.param);
    const steps = stepsValue(values.steps);
    const seed = seedValue(values.seed);
    // A particle solver's n samples are one ensemble: default 64 particles (MCGdiff's default).
    const n = intOption(values.n, 'n') ?? (solver.needs.particles ? 64 : 1);
    const sigmaY = numberOption(values['sigma-y'], 'sigma-y');
    const threads = threadsValue(values.threads);
    const grad = gradValue(values.grad);
    if (volumeOut && n !== 1) fail('USAGE', `--out ${out} holds one result per --truth slice; use -n 1 or write .npy/.png`);
    if (solver.needs.particles && n < 2) fail('USAGE', `${solver.name} is a particle method: -n is the ensemble size and must be at least 2 (64 or more is usual)`);
    let model: LoadedModel | null = null;
    if (values.model) model = await loadModel(values.model, () => pathByName(values.path ?? 'vp-linear'), undefined, threads);
    else if (!solver.needs.noPrior) fail('USAGE', `solver ${solver.name} needs --model (a diffusion prior)`);
    if (!model && values.size !== undefined) fail('USAGE', '--size applies to a --model whose tweedie.json declares "multiple"; a baseline without --model takes the --truth image as it is');
    // A route the model lacks is an option that does not fit the model: a usage error naming the routes that work.
    const denoiser = model && solver.needs.gradients ? asUsage('--grad', () => withGradientRoute(model!.denoiser, grad, `--model ${values.model}`)) : model?.denoiser ?? null;
    const truthImages = truthFile ? await readTruth(truthFile, model?.valueRange ?? [-1, 1], values) : null;
    const truthData = truthImages?.x ?? null;
    let itemShape: readonly number[];
    // A model with a layout solves on the truth's own grid (or --size); the recipe pads it to the multiple.
    if (model) itemShape = itemShapeFor(model, `--model ${values.model}`, values.size, truthData && truthData.shape.length >= 2 ? truthData.shape.slice(-2) : undefined);
    else if (truthData) itemShape = truthData.shape.filter((_, i, s) => !(i === 0 && s.length === 4 && s[0] === 1));
    else return fail('USAGE', `baseline ${solver.name} without --model needs --truth to know the image shape`);
    checkItemCount(n, itemShape, '-n');
    // The spec is typed on the command line: a wrong one is a usage error (exit 2); the files it names are read after.
    const config = asUsage('--operator', () => operatorConfigFromSpec(spec!, itemShape));
    const operator = buildOperator(loadOperatorFiles(config), itemShape, spec);
    if (!volumeOut) checkSamplesOut(out, 'solve', operator.inShape);
    const truth = truthData ? checkedTruth(truthData, truthFile!, operator.inShape) : null;
    const measurement = truth ? simulateMeasurement(operator, truth, seed) : readNpy(measFile!);
    if (!denoiser && Object.keys(conditionOptions).some((k) => values[k as keyof typeof conditionOptions] !== undefined)) fail('USAGE', `--class, --cond-image and the guidance options condition a --model; baseline ${solver.name} has none`);
    const conditioning = denoiser ? await conditionValues(values, denoiser.conditions, `--model ${values.model}`) : {};
    const progress = runProgress(solver.name);
    // All n samples in one batch, as one model call per step.
    const r = await solve({
      model: denoiser, operator, measurement, solver, steps, params, n, seed, batch: n,
      ...(sigmaY !== undefined ? { sigmaY } : {}),
      ...conditioning,
      onProgress: progress.report,
    });
    progress.done();
    const range = model?.valueRange ?? [-1, 1];
    commitOutputs(imageOutFiles(out!, r.x, truthImages?.volume, operator.inShape, range, `tweedie solve ${solver.name}`));
    const summary: Record<string, unknown> = { solver: solver.name, operator: operator.name, steps: r.steps, n, nfe: r.nfe, seconds: r.seconds, out, ...(r.gradient ? { gradient: r.gradient } : {}) };
    if (truth) {
      const truthB = new Tensor([n, ...operator.inShape], new Float32Array(n * truth.size).map((_, i) => truth.data[i % truth.size]!));
      const dataRange = range[1] - range[0];
      const p = psnr(r.x.toDtype('float32'), truthB, dataRange);
      summary.psnr = p.reduce((a, b) => a + b, 0) / n;
      if (operator.inShape.length >= 2 && Math.min(...operator.inShape.slice(-2)) >= 11) {
        summary.ssim = ssim(r.x.toDtype('float32'), truthB, { dataRange }).reduce((a, b) => a + b, 0) / n;
      }
    }
    if (values.json) return void printSummary(summary);
    const fig = truth ? `, PSNR ${(summary.psnr as number).toFixed(2)} dB${summary.ssim !== undefined ? `, SSIM ${(summary.ssim as number).toFixed(4)}` : ''}` : '';
    process.stdout.write(`wrote ${out}: ${n} sample${n > 1 ? 's' : ''}, ${solver.name} on ${operator.name}${r.gradient ? ` (gradient: ${r.gradient})` : ''}, NFE ${r.nfe}, ${r.seconds.toFixed(2)} s${fig}\n`);
  },
});
