import { fail } from '../core/errors.js';
import { NoiseSource, Stream } from '../core/rng.js';
import { Tensor } from '../core/tensor.js';
import { readNpy } from '../io/npy.js';
import { checkOutName, writeSamples } from './output.js';
import { checkedParams } from './params.js';
import { defaultGridSpec, makeGrid, type GridKind, type TimeGrid } from '../paths/grids.js';
import { pathByName, PATH_NAMES } from '../paths/registry.js';
import { configToSampling } from '../samplers/diffusers.js';
import type { Path } from '../paths/path.js';
import { initialState, runSampler } from '../samplers/run.js';
import { samplerByName } from '../samplers/registry.js';
import { intOption, parseCommand, str } from './args.js';
import { loadModel } from './model-spec.js';
import { Progress } from './progress.js';

export const sampleHelp = `tweedie sample --model (gmm:FILE.json | MODEL_DIR) [--path NAME | --scheduler-config FILE.json]
               --sampler NAME --steps N [--seed S] [-n K] [--init FILE.npy] --out FILE.(npy|png) [--json]

Draw K samples with a training-free sampler.
  --model gmm:FILE.json      exact Gaussian-mixture prior (JSON: weights, means, covs, optional shape)
  --model MODEL_DIR          an ONNX model folder (model.onnx, scheduler_config.json, tweedie.json) or a
                             diffusers ONNX export (unet/model.onnx, scheduler/scheduler_config.json)
  --threads N                ONNX Runtime threads (default: all cores)
  --prediction TYPE          what the mixture model reports: x0 (default), eps, v, score, velocity
  --path NAME                ${PATH_NAMES.join(', ')}
  --scheduler-config FILE    a diffusers scheduler_config.json (its path, spacing and prediction type)
  --sampler NAME             see "tweedie samplers"
  --steps N                  sampler steps (default 20)
  --grid KIND                time-uniform, logsnr-uniform, karras, exponential (default: per path)
  --param KEY=VALUE          a sampler option (repeatable), e.g. --param eta=1
  --seed S                   noise seed (default 0); sample i depends only on (S, i)
  -n K                       number of samples (default 16)
  --batch B                  samples per model call (default 64); results do not depend on it
  --init FILE.npy            standard-normal noise [K, ...]; scaled as the path requires
  --out FILE                 .npy (samples [K, ...]) or .png (an image grid for image-shaped models)
  --json                     print {"nfe", "seconds", ...} on stdout`;

function buildGrid(path: Path, steps: number, kind: string | undefined): TimeGrid {
  if (kind === undefined) return makeGrid(path, defaultGridSpec(path, steps));
  const kinds: GridKind[] = ['time-uniform', 'logsnr-uniform', 'karras', 'exponential'];
  if (!kinds.includes(kind as GridKind)) fail('USAGE', `--grid must be one of ${kinds.join(', ')}, got "${kind}"`);
  return makeGrid(path, { kind: kind as GridKind, steps, final: 'zero' });
}

export async function sampleCommand(argv: string[]): Promise<void> {
  const { values } = parseCommand('sample', argv, {
    model: { type: 'string' }, prediction: { type: 'string' }, path: { type: 'string' }, 'scheduler-config': { type: 'string' },
    sampler: { type: 'string' }, steps: { type: 'string' }, grid: { type: 'string' }, param: { type: 'string', multiple: true },
    seed: { type: 'string' }, n: { type: 'string', short: 'n' }, batch: { type: 'string' }, init: { type: 'string' },
    out: { type: 'string' }, json: { type: 'boolean' }, threads: { type: 'string' },
  });
  if (values.help) return void process.stdout.write(sampleHelp + '\n');
  const modelSpec = str(values.model), out = str(values.out), samplerName = str(values.sampler) ?? 'ddim';
  if (!modelSpec) fail('USAGE', 'sample needs --model (e.g. --model gmm:prior.json)');
  checkOutName(out, 'sample');
  const pathName = str(values.path), configFile = str(values['scheduler-config']);
  if (pathName && configFile) fail('USAGE', 'give either --path or --scheduler-config, not both');
  if (configFile && values.sampler) fail('USAGE', '--scheduler-config picks the sampler from its _class_name; drop --sampler (or use --path with --sampler)');
  if (configFile && values.grid) fail('USAGE', '--scheduler-config fixes the timesteps as diffusers spaces them; drop --grid');
  const steps = intOption(str(values.steps), 'steps', 20);
  const seed = intOption(str(values.seed), 'seed', 0, 0);
  const n = intOption(str(values.n), 'n', 16);
  const batch = intOption(str(values.batch), 'batch', 64);
  const warn = (m: string) => process.stderr.write(`warning: ${m}\n`);
  const fromConfig = configFile ? configToSampling(configFile, steps, { warn }) : null;
  const model = await loadModel(modelSpec, () => (fromConfig ? fromConfig.path : pathByName(pathName ?? 'vp-linear')), str(values.prediction) ?? undefined, values.threads ? intOption(str(values.threads), 'threads', 1) : undefined);
  if (!model.mixture && (pathName || fromConfig)) fail('USAGE', '--path and --scheduler-config apply to gmm: models; a model folder brings its own scheduler_config.json');
  const path = model.denoiser.path;
  const sampler = fromConfig ? fromConfig.sampler : samplerByName(samplerName);
  if (fromConfig && values.param) fail('USAGE', '--param cannot be combined with --scheduler-config: the config sets the sampler options');
  const params = fromConfig ? fromConfig.params : checkedParams(sampler, values.param as string[] | undefined);
  const grid = fromConfig ? fromConfig.grid : buildGrid(path, steps, str(values.grid));
  const initScale = fromConfig ? fromConfig.initNoiseScale : null;
  const orderedGrid = sampler.inverse ? [...grid].reverse() : grid;
  const shape = [n, ...model.itemShape];
  let noise: Tensor;
  if (str(values.init)) {
    noise = readNpy(str(values.init)!);
    const want = shape.reduce((p, q) => p * q, 1);
    if (noise.size !== want) fail('BAD_SHAPE', `--init ${str(values.init)} has shape [${noise.shape.join(', ')}] but ${n} samples of shape [${model.itemShape.join(', ')}] need ${want} values`);
    noise = noise.reshape(shape).toDtype('float32');
  } else {
    noise = new NoiseSource(seed).normal(shape, 0, Stream.init);
  }
  const result = Tensor.zeros(shape);
  const progress = new Progress(`${sampler.name}`, Math.ceil(n / batch) * steps);
  let nfe = 0, done = 0;
  const t0 = performance.now();
  for (let start = 0; start < n; start += batch) {
    const end = Math.min(n, start + batch);
    const chunk = noise.sliceBatch(start, end);
    // A diffusers config scales the noise as its pipeline would (init_noise_sigma); otherwise the path does.
    const xT = initScale === null ? initialState(chunk, orderedGrid[0]!) : new Tensor(chunk.shape, chunk.data.map((v) => v * initScale));
    const r = await runSampler(sampler, model.denoiser, orderedGrid, xT, {
      noise: new NoiseSource(seed, start),
      params,
      ...(fromConfig?.thresholding ? { thresholding: fromConfig.thresholding } : {}),
      ...(fromConfig?.clipSample ? { clipSample: fromConfig.clipSample } : {}),
      onStep: (info) => progress.update(done + info.step),
    });
    done += steps;
    nfe += r.nfe;
    result.data.set(r.x.data, start * result.itemSize);
  }
  progress.done();
  const seconds = (performance.now() - t0) / 1000;
  writeSamples(out!, result, model.itemShape, model.valueRange);
  const summary = { sampler: sampler.name, steps, n, nfe, nfe_per_sample_batch: nfe / Math.ceil(n / batch), seconds, out };
  if (values.json) process.stdout.write(JSON.stringify(summary) + '\n');
  else process.stderr.write(`wrote ${out}: ${n} samples, ${steps} steps, NFE ${nfe} (${Math.ceil(n / batch)} batch${n > batch ? 'es' : ''}), ${seconds.toFixed(2)} s\n`);
}
