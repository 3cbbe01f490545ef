import { existsSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fail } from '../core/errors.js';
import { Tensor } from '../core/tensor.js';
import { parseOperatorSpec } from '../inverse/operators/spec-file.js';
import { encodeNpy, readNpy } from '../io/npy.js';
import { boundaryKey, type BoundarySpec } from '../models/boundary-spec.js';
import { readJson } from '../models/model-folder.js';
import { isRestorationModel } from '../restoration/anchor.js';
import { fullParams, referencePairs, selectBoundary } from '../restoration/boundary.js';
import { readRestorationTasks } from '../restoration/tasks-file.js';
import { samplerByName } from '../samplers/registry.js';
import { packageRoot } from '../package-root.js';
import { intOption, seedValue, stepsValue, threadsValue } from './args.js';
import { printSummary } from './job-context.js';
import { loadModel } from './model-spec.js';
import { command } from './options.js';
import { checkOutputs, commitOutputs } from './output.js';
import { checkedParams } from './params.js';
import { batchOption, jsonOption, paramOption, seedOption, stepsOption, threadsOption } from './shared-options.js';

/** The clean reference images: images [first, first + count) of an .npy [N, ...item] in the model's value range. */
function referenceImages(file: string, first: number, count: number | undefined, item: readonly number[]): { x: Tensor; count: number } {
  if (!existsSync(file)) fail('UNREADABLE_FILE', `--reference ${file} does not exist; give clean images as .npy [N, ${item.join(', ')}]`);
  const all = readNpy(file);
  if (all.shape.slice(1).join(',') !== item.join(',')) fail('BAD_SHAPE', `--reference ${file} is [${all.shape.join(', ')}] but the model restores [${item.join(', ')}]; give clean images as .npy [N, ${item.join(', ')}]`);
  const n = count ?? all.batch - first;
  if (first + n > all.batch || n < 1) fail('USAGE', `--first ${first} --count ${n}: ${file} holds ${all.batch} images; pick a range inside it`);
  const x = all.sliceBatch(first, first + n).toDtype('float32');
  if (!x.data.every(Number.isFinite)) fail('BAD_INPUT', `--reference ${file} holds NaN or infinite values`);
  return { x, count: n };
}

export const boundaryCommand = command({
  name: 'boundary',
  summary: "select a restoration model's optimal starting noise (boundary condition) and ship it in the model folder",
  usage: '--model DIR [--reference CLEAN.npy] [--first I] [--count N] [--candidates K] [--sampler NAME --steps N --param K=V] [options]',
  description:
    "The optimal boundary condition of a deterministic restoration sampler (Ma et al., ICLR 2024): K candidate starting noises z_k ~ N(0, I) are each run on every reference pair (the clean --reference images under every degradation of the folder's tasks.json), and the one with the lowest mean squared error (the paper uses LPIPS) is kept as one noise for every future input. Costs K x |R| x NFE model evaluations once; `tweedie restore` then uses it at no extra cost when run with the same sampler, parameters, steps and image size.\n\n" +
    'Writes DIR/boundary-SAMPLER-STEPS.npy and adds its entry (with the selection\'s provenance) to DIR/tweedie.json; a folder that already has a boundary for this setting is left alone.',
  options: {
    model: { type: 'string', value: 'DIR', doc: 'a restoration model folder with a tasks.json (e.g. weights/fmnist-irsde)' },
    reference: { type: 'string', value: 'FILE', doc: "clean images .npy [N, C, H, W] in the model's value range (default: the held-out file the folder's tasks.json names)" },
    first: { type: 'string', value: 'I', default: '0', doc: 'first reference image used' },
    count: { type: 'string', value: 'N', doc: 'reference images used (default: all from --first on); |R| = N x tasks' },
    candidates: { type: 'string', value: 'K', default: '32', doc: 'candidate noises (candidate k is the starting noise of image k of a "tweedie restore --seed S" run)' },
    sampler: { type: 'string', value: 'NAME', default: 'mrs', doc: 'a deterministic sampler setting: mrs (mode=ode), rddm (eta=0), ddim, ...' },
    steps: stepsOption('sampler steps', '10'),
    param: paramOption('sampler'),
    seed: seedOption('candidate'),
    batch: batchOption('reference pairs', '64'),
    threads: threadsOption,
    json: jsonOption('{"file", "key", "chosen", "score", "scores", "nfe", "seconds"}'),
  },
  async run({ values }) {
    const dir = values.model;
    if (!dir) return fail('USAGE', 'boundary needs --model DIR (a restoration model folder)');
    const sampler = samplerByName(values.sampler);
    const given = checkedParams(sampler, values.param);
    const params = fullParams(sampler, given);
    const steps = stepsValue(values.steps);
    const seed = seedValue(values.seed);
    const candidates = intOption(values.candidates, 'candidates', 2);
    const first = intOption(values.first, 'first', 0);
    const count = intOption(values.count, 'count');
    const threads = threadsValue(values.threads);
    const batch = intOption(values.batch, 'batch');
    const model = await loadModel(dir, () => fail('USAGE', 'boundary needs a model folder'), undefined, threads);
    if (!isRestorationModel(model.denoiser)) fail('USAGE', `--model ${dir} is not a restoration model (its path has no anchor); a boundary is for restoration models such as weights/fmnist-irsde`);
    const item = model.itemShape;
    const key = boundaryKey({ sampler: sampler.name, params, steps, shape: item });
    if (model.boundaries.some((b) => boundaryKey(b) === key)) fail('USAGE', `${dir} already has an optimal boundary for ${key}; remove its entry from ${join(dir, 'tweedie.json')} (and its .npy) to select it again`);
    const { tasks, heldout } = readRestorationTasks(dir);
    const refFile = values.reference ?? join(packageRoot, heldout);
    const ref = referenceImages(refFile, first, count, item);
    const suffix = Object.entries(given).map(([k, v]) => `-${k}=${String(v)}`).join('');
    const file = `boundary-${sampler.name}-${steps}${suffix}.npy`;
    const specFile = join(dir, 'tweedie.json');
    checkOutputs([{ option: 'the boundary', file: join(dir, file) }, { option: "the model's tweedie.json", file: specFile }], [{ option: '--reference', file: refFile }]);
    if (existsSync(join(dir, file))) fail('USAGE', `${join(dir, file)} exists but no tweedie.json entry names it; move it away first`);
    const operators = tasks.map((t) => parseOperatorSpec(t.operator, item));
    const reference = referencePairs(ref.x, operators, seed);
    const pairs = reference.degraded.batch;
    process.stderr.write(`boundary: ${candidates} candidates x ${pairs} reference pairs x ${steps} steps of ${key}\n`);
    const t0 = performance.now();
    const sel = await selectBoundary({
      model: model.denoiser, reference, sampler, steps, params: given, candidates, seed, batch,
      onCandidate: (k, score) => process.stderr.write(`candidate ${k + 1}/${candidates}: MSE ${score.toExponential(4)}\n`),
    });
    const seconds = (performance.now() - t0) / 1000;
    const sorted = [...sel.scores].sort((a, b) => a - b);
    const median = sorted[Math.floor(sorted.length / 2)]!, score = sel.scores[sel.chosen]!;
    const nfe = sel.nfe;
    const entry: BoundarySpec = {
      file, sampler: sampler.name, params, steps, shape: [...item],
      selection: {
        method: 'Ma et al. ICLR 2024 (arXiv 2305.15357): argmin over K candidates of the mean metric over the reference set',
        metric: 'mean squared error on the model value range (the paper uses LPIPS)',
        candidates, seed, candidate_rule: `candidate k = the starting noise of image k of "tweedie restore --seed ${seed}"`,
        chosen: sel.chosen, score, median_score: median, scores: sel.scores,
        reference: { file: values.reference ?? heldout, first, count: ref.count, tasks: tasks.map((t) => t.name), pairs, degradation_seed: seed },
        nfe_per_restore: sel.nfePerRestore, selection_nfe: nfe, seconds,
      },
    };
    const spec = readJson(specFile);
    spec.boundary = [...((spec.boundary as unknown[] | undefined) ?? []), entry];
    commitOutputs([
      { file: join(dir, file), bytes: encodeNpy(sel.noise) },
      { file: specFile, bytes: new TextEncoder().encode(JSON.stringify(spec, null, 2) + '\n') },
    ]);
    const summary = { file: join(dir, file), key, chosen: sel.chosen, score, scores: sel.scores, nfe, seconds };
    if (values.json) return void printSummary(summary);
    process.stdout.write(`wrote ${join(dir, file)} and its entry in ${basename(specFile)}: candidate ${sel.chosen} of ${candidates}, MSE ${score.toExponential(4)} (median of the candidates ${median.toExponential(4)}) over ${pairs} reference pairs, ${seconds.toFixed(1)} s\n`);
  },
});
