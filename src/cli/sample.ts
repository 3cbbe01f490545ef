import { fail } from '../core/errors.js';
import type { Tensor } from '../core/tensor.js';
import { readNpy } from '../io/npy.js';
import { pathByName, PATH_NAMES } from '../paths/registry.js';
import type { GridKind } from '../paths/grids.js';
import { generate } from '../recipes/generate.js';
import { configToSampling } from '../samplers/diffusers.js';
import { edmPreconditioned } from '../models/edm-precondition.js';
import type { EDMPath } from '../paths/ve.js';
import { readSchedulerConfig } from '../paths/scheduler-config-file.js';
import { samplerByName } from '../samplers/registry.js';
import { checkItemCount } from '../core/limits.js';
import { intOption, seedValue, stepsValue, threadsValue } from './args.js';
import { itemShapeFor, loadModel } from './model-spec.js';
import { requireModelGrid } from '../models/layout.js';
import { command } from './options.js';
import { checkOutputs, checkSamplesOut, commitOutputs, samplesBytes } from './output.js';
import { checkedParams } from './params.js';
import { runProgress } from './progress.js';
import { printSummary } from './job-context.js';
import { conditionOptions, conditionValues } from './condition-options.js';
import { batchOption, jsonOption, paramOption, seedOption, sizeOption, stepsOption, threadsOption } from './shared-options.js';

export const sampleCommand = command({
  name: 'sample',
  summary: 'draw samples with a training-free sampler',
  usage: '--model (gmm:FILE.json | MODEL_DIR) --out FILE.(npy|png) [options]',
  description: 'Draw K samples with a training-free sampler.',
  options: {
    model: {
      type: 'string', value: 'gmm:FILE.json|DIR',
      doc: 'an exact Gaussian-mixture prior (JSON: weights, means, covs, optional shape), an ONNX model folder (model.onnx, scheduler_config.json, tweedie.json) or a diffusers ONNX export (unet/model.onnx, scheduler/scheduler_config.json)',
    },
    prediction: { type: 'string', value: 'TYPE', doc: 'what a gmm: model reports: x0 (default), eps, v, score, velocity' },
    path: { type: 'string', value: 'NAME', doc: `the path a gmm: model follows (default vp-linear): ${PATH_NAMES.join(', ')}` },
    'scheduler-config': { type: 'string', value: 'FILE.json', doc: "a diffusers scheduler_config.json: diffusers' timesteps and sampler for its _class_name (and for a gmm: model its path and prediction type)" },
    scheduler: { type: 'string', value: 'KIND', doc: "tweedie (default: --sampler on tweedie's grid) or diffusers: a model folder's own scheduler config picks diffusers' timesteps and sampler" },
    'fix-diffusers-quirks': { type: 'boolean', doc: "with a diffusers scheduler, take the corrected steps where diffusers' are a known bug or inconsistent (DDIM: consecutive timesteps, eps recomputed from the clipped x0)" },
    sampler: { type: 'string', value: 'NAME', doc: 'see "tweedie samplers" (default ddim)' },
    steps: stepsOption('sampler steps', '20'),
    grid: { type: 'string', value: 'KIND', doc: 'time-uniform, time-power (exponent 1.5, straight to clean data), logsnr-uniform, karras, exponential, polyexponential (k-diffusion\'s; rho 1 here, the API takes rho) (default: time-power on VP paths, karras on EDM and VE, else time-uniform)' },
    param: paramOption('sampler'),
    seed: seedOption('sample'),
    n: { type: 'string', short: 'n', value: 'K', default: '16', doc: 'number of samples' },
    size: sizeOption,
    batch: batchOption('samples', '64'),
    init: { type: 'string', value: 'FILE.npy', doc: 'standard-normal starting noise [K, ...] instead of the seeded one; scaled as the path requires' },
    ...conditionOptions,
    threads: threadsOption,
    out: { type: 'string', value: 'FILE', doc: '.npy (samples [K, ...]) or .png (an image grid for image-shaped models)' },
    json: jsonOption('{"sampler", "steps", "n", "nfe", "nfe_per_sample_batch", "seconds", "out"}'),
  },
  async run({ values }) {
    const modelSpec = values.model, out = values.out;
    if (!modelSpec) fail('USAGE', 'sample needs --model (e.g. --model gmm:prior.json)');
    checkSamplesOut(out, 'sample');
    const pathName = values.path, configFile = values['scheduler-config'];
    checkOutputs([{ option: '--out', file: out }], [
      { option: '--model', file: modelSpec!.replace(/^gmm:/, '') }, { option: '--init', file: values.init }, { option: '--scheduler-config', file: configFile },
    ]);
    const schedulerKind = values.scheduler ?? (configFile ? 'diffusers' : 'tweedie');
    if (schedulerKind !== 'tweedie' && schedulerKind !== 'diffusers') fail('USAGE', `--scheduler must be tweedie or diffusers, got "${schedulerKind}"`);
    if (configFile && schedulerKind === 'tweedie') fail('USAGE', '--scheduler-config takes diffusers\' timesteps and sampler; drop --scheduler tweedie');
    const diffusersRun = schedulerKind === 'diffusers', asDiffusers = configFile ? '--scheduler-config' : '--scheduler diffusers';
    if (values['fix-diffusers-quirks'] && !diffusersRun) fail('USAGE', '--fix-diffusers-quirks applies to a diffusers scheduler; add --scheduler diffusers (a model folder) or --scheduler-config FILE');
    if (pathName && diffusersRun) fail('USAGE', `give either --path or ${asDiffusers}, not both`);
    if (diffusersRun && values.sampler !== undefined) fail('USAGE', `${asDiffusers} picks the sampler from the config's _class_name; drop --sampler (or use --scheduler tweedie with --sampler)`);
    if (diffusersRun && values.grid !== undefined) fail('USAGE', `${asDiffusers} fixes the timesteps as diffusers spaces them; drop --grid`);
    const steps = stepsValue(values.steps);
    const seed = seedValue(values.seed);
    const n = intOption(values.n, 'n');
    const batch = intOption(values.batch, 'batch');
    const threads = threadsValue(values.threads);
    const warn = (m: string) => process.stderr.write(`warning: ${m}\n`);
    const given = configFile ? readSchedulerConfig(configFile, warn) : null;
    const model = await loadModel(modelSpec!, () => (given ? given.path : pathByName(pathName ?? 'vp-linear')), values.prediction, threads);
    const shape = itemShapeFor(model, `--model ${modelSpec}`, values.size);
    checkItemCount(n, requireModelGrid(model.denoiser, shape, '--size'), '-n');
    if (!model.mixture && pathName) fail('USAGE', '--path applies to gmm: models; a model folder brings its own scheduler_config.json');
    if (model.mixture && diffusersRun && !given) fail('USAGE', '--scheduler diffusers reads a model folder\'s own scheduler config; for a gmm: model give --scheduler-config FILE.json');
    if (given && !model.mixture && given.raw.prediction_type !== undefined && given.prediction !== model.denoiser.prediction) {
      fail('BAD_CONFIG', `--scheduler-config ${configFile} says prediction_type "${String(given.raw.prediction_type)}" but the model ${modelSpec} predicts ${model.denoiser.prediction}; set the model's prediction_type in the config (or drop the key)`);
    }
    const config = given ?? (diffusersRun ? model.scheduler : null);
    const fromConfig = config ? configToSampling(config, steps, { warn, fixQuirks: values['fix-diffusers-quirks'] ?? false }) : null;
    // EDM and cosine classes precondition the network (c_in, c_noise, c_skip, c_out): read it as an x0 model on their path.
    const pre = fromConfig?.precondition && !model.mixture ? fromConfig.precondition : null;
    const denoiser = pre ? edmPreconditioned(model.denoiser, config!.path as EDMPath, pre.outputSign, pre.cNoise) : model.denoiser;
    if (fromConfig?.sampler.inverse) fail('USAGE', `${fromConfig.className} runs from data towards noise (an inversion); tweedie sample draws from noise: use a sampling scheduler config`);
    const sampler = fromConfig ? fromConfig.sampler : samplerByName(values.sampler ?? 'ddim');
    if (fromConfig && values.param) fail('USAGE', `--param cannot be combined with ${asDiffusers}: the config sets the sampler options`);
    const params = fromConfig ? fromConfig.params : checkedParams(sampler, values.param);
    let noise: Tensor | undefined;
    if (values.init) {
      noise = readNpy(values.init);
      const grid = requireModelGrid(model.denoiser, shape, '--size'), want = n * grid.reduce((p, q) => p * q, 1);
      if (noise.size !== want) fail('BAD_SHAPE', `--init ${values.init} has shape [${noise.shape.join(', ')}] but ${n} samples of shape [${grid.join(', ')}] need ${want} values`);
    }
    checkSamplesOut(out, 'sample', shape);
    const conditioning = await conditionValues(values, denoiser.conditions, `--model ${modelSpec}`);
    const progress = runProgress(sampler.name);
    const r = await generate({
      model: denoiser, sampler, steps, params, n, seed, batch, ...(values.size !== undefined ? { shape } : {}),
      ...(fromConfig
        ? { grid: fromConfig.grid, initScale: fromConfig.initNoiseScale, thresholding: fromConfig.thresholding, clipSample: fromConfig.clipSample, keepModelEps: fromConfig.keepModelEps }
        : values.grid !== undefined ? { grid: values.grid as GridKind } : {}),
      ...(noise ? { noise } : {}),
      ...conditioning,
      onProgress: progress.report,
    });
    progress.done();
    commitOutputs([{ file: out!, bytes: samplesBytes(out!, r.x, shape, model.valueRange) }]);
    const batches = Math.ceil(n / batch);
    const summary = { sampler: sampler.name, steps, n, nfe: r.nfe, nfe_per_sample_batch: r.nfe / batches, seconds: r.seconds, out };
    if (values.json) printSummary(summary);
    else process.stdout.write(`wrote ${out}: ${n} samples, ${steps} steps, NFE ${r.nfe} (${batches} batch${n > batch ? 'es' : ''}), ${r.seconds.toFixed(2)} s\n`);
  },
});
