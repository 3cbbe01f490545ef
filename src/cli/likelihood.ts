import { fail } from '../core/errors.js';
import { checkItemCount } from '../core/limits.js';
import { Tensor } from '../core/tensor.js';
import { readTypedNpy } from '../io/npy.js';
import { likelihoodData } from '../likelihood/data.js';
import { PROBE_KINDS, type ProbeKind } from '../likelihood/log-likelihood.js';
import { likelihoodSummary } from '../likelihood/summary.js';
import { gradientRouteOf, resolveGradientRoute } from '../models/derivatives.js';
import { pathByName, PATH_NAMES } from '../paths/registry.js';
import { asUsage, gradValue, intOption, numberOption, seedValue, threadsValue } from './args.js';
import { loadModel } from './model-spec.js';
import { command } from './options.js';
import { runProgress } from './progress.js';
import { jsonOption, seedOption, threadsOption } from './shared-options.js';
import { checkImageInput, readImages } from './image-input.js';
import { seriesOption, volumeOption } from './volume-option.js';

export const likelihoodCommand = command({
  name: 'likelihood',
  summary: 'log-likelihood and bits/dim through the probability-flow ODE',
  usage: '--model (gmm:FILE.json | MODEL_DIR) --data x.(npy|png|nii.gz|dcm|DIR) [options]',
  description:
    'log p(x) of each item through the probability-flow ODE with the instantaneous change of variables (Score-SDE, ' +
    'Appendix D.2), adaptive RK45, the divergence by Hutchinson probes or the exact trace. uint8 data (levels 0..255) ' +
    "are dequantized uniformly into the model's value range and their bits/dim include the 8-bit offset (7 for [-1, 1]); " +
    "float data are taken as they are (they must lie in the value range) and their bits/dim are - log p / (D ln 2). " +
    "Images (.png, NIfTI, DICOM) are float data: mapped into the value range (a PNG from [0, 1], a volume from its [min, max]), each slice of a volume an item.",
  options: {
    model: { type: 'string', value: 'gmm:FILE.json|DIR', doc: 'an exact Gaussian-mixture prior or an ONNX model folder' },
    path: { type: 'string', value: 'NAME', doc: `the path a gmm: model follows (default vp-linear): ${PATH_NAMES.join(', ')}` },
    data: {
      type: 'string', value: 'FILE',
      doc: "items: .npy [N, ...item shape] of uint8 levels or floats in the model's value range, or images: .png, NIfTI or DICOM (a file, or a folder of one series)",
    },
    volume: volumeOption('NIfTI --data'),
    series: seriesOption('--data'),
    n: { type: 'string', short: 'n', value: 'N', doc: 'use the first N items (default: all)' },
    probes: { type: 'string', value: 'K', default: '1', doc: 'Hutchinson probes per item, each fixed along the trajectory' },
    probe: { type: 'string', value: 'KIND', default: 'rademacher', doc: `probe distribution: ${PROBE_KINDS.join(', ')}` },
    'exact-trace': { type: 'boolean', doc: 'the exact divergence from one JVP per value (items of at most 1024 values) instead of probes' },
    grad: {
      type: 'string', value: 'ROUTE', default: 'auto',
      doc: 'how J u is taken: exported (the model.grad.onnx graph tweedie.json declares; exact up to float32), differences (central, ' +
        '2 model evaluations, the step following the noise level), exact (gmm: models), or auto (the model\'s own gradient, else differences)',
    },
    rtol: { type: 'string', value: 'R', default: '1e-5', doc: "ODE relative tolerance (Score-SDE's default)" },
    atol: { type: 'string', value: 'A', default: '1e-5', doc: "ODE absolute tolerance (Score-SDE's default)" },
    seed: seedOption('item'),
    batch: { type: 'string', value: 'B', default: '16', doc: "items per ODE solve; they share one step size, as in Score-SDE, so results depend on B within the tolerance (each item's noise and probes do not)" },
    threads: threadsOption,
    json: jsonOption('{"n", "bits_per_dim", "standard_error", "dequantized", "gradient" (the route of J u), "nfe_per_item", "ode_evaluations_per_item", "seconds", "seconds_per_item", "items": [{"log_likelihood", "bits_per_dim", "hutchinson_se"}], ...}'),
  },
  async run({ values }) {
    const modelSpec = values.model, dataFile = values.data;
    if (!modelSpec) fail('USAGE', 'likelihood needs --model (e.g. --model weights/fmnist-32)');
    if (!dataFile) fail('USAGE', 'likelihood needs --data x.npy (items [N, ...item shape]) or images (.png, NIfTI, DICOM)');
    checkImageInput(dataFile!, '--data');
    const probes = intOption(values.probes, 'probes');
    const probe = values.probe as ProbeKind;
    if (!PROBE_KINDS.includes(probe)) fail('USAGE', `--probe must be ${PROBE_KINDS.join(' or ')}, got "${values.probe}"`);
    const exactTrace = Boolean(values['exact-trace']);
    if (exactTrace && (values.probes !== '1' || values.probe !== 'rademacher')) fail('USAGE', '--exact-trace uses no probes; drop --probes/--probe');
    const rtol = numberOption(values.rtol, 'rtol', 1e-14), atol = numberOption(values.atol, 'atol', 1e-14);
    const seed = seedValue(values.seed), batch = intOption(values.batch, 'batch'), n = intOption(values.n, 'n');
    const threads = threadsValue(values.threads), grad = gradValue(values.grad);
    const model = await loadModel(modelSpec!, () => pathByName(values.path ?? 'vp-linear'), undefined, threads);
    const gradient = asUsage('--grad', () => resolveGradientRoute(gradientRouteOf(model.denoiser), grad, `--model ${modelSpec}`));
    if (!model.mixture && values.path) fail('USAGE', '--path applies to gmm: models; a model folder brings its own scheduler_config.json');
    const file = /\.npy$/i.test(dataFile!) ? readTypedNpy(dataFile!) : { descr: 'image', tensor: (await readImages(dataFile!, model.valueRange, '--data', values)).x };
    const eightBit = file.descr === '|u1';
    if (eightBit && model.mixture) fail('USAGE', `--data ${dataFile} holds 8-bit levels, but a gmm: model has no value range to dequantize them into; give float data`);
    let t = file.tensor;
    if (n !== undefined) {
      if (n > t.batch) fail('USAGE', `-n ${n}: --data ${dataFile} has only ${t.batch} items`);
      t = new Tensor([n, ...t.shape.slice(1)], t.data.slice(0, n * t.itemSize));
    }
    checkItemCount(t.batch, model.itemShape, '-n');
    checkItemCount(probes * Math.min(batch, t.batch), model.itemShape, '--probes', 'the probes of a batch hold that many values; use fewer --probes or a smaller --batch');
    // An analytic prior has support everywhere: any finite float is data for it.
    const range: [number, number] = model.mixture ? [-Infinity, Infinity] : model.valueRange;
    const data = likelihoodData(t, eightBit, model.itemShape, range, `--data ${dataFile}`, seed);
    const progress = runProgress('likelihood');
    const r = await likelihoodSummary(model.denoiser, data, range, {
      probes, probe, exactTrace, gradient, rtol, atol, seed, batch,
      onItems: (done, total) => progress.report({ done, total }),
    });
    progress.done();
    const N = data.x.batch, D = data.x.itemSize;
    const summary = {
      n: N, dims: D, bits_per_dim: r.meanBitsPerDim, standard_error: Number.isNaN(r.standardError) ? null : r.standardError,
      mean_log_likelihood: r.logLikelihood.reduce((p, q) => p + q, 0) / N,
      dequantized: r.dequantized, gradient, probes: exactTrace ? 0 : probes, probe: exactTrace ? 'exact-trace' : probe, rtol, atol, seed, batch,
      nfe_per_item: r.nfePerItem, ode_evaluations_per_item: r.odeEvaluationsPerItem, seconds: r.seconds, seconds_per_item: r.seconds / N,
      items: r.logLikelihood.map((l, i) => ({ log_likelihood: l, bits_per_dim: r.bitsPerDim[i]!, hutchinson_se: Number.isNaN(r.hutchinsonSE[i]!) ? null : r.hutchinsonSE[i]! })),
    };
    if (values.json) return void process.stdout.write(JSON.stringify(summary) + '\n');
    const lines = ['item  log p (nats)  bits/dim  Hutchinson SE (bits/dim)'];
    r.logLikelihood.forEach((l, i) => lines.push(`${String(i).padStart(4)}  ${l.toFixed(3).padStart(12)}  ${r.bitsPerDim[i]!.toFixed(4).padStart(8)}  ${Number.isNaN(r.hutchinsonSE[i]!) ? '-' : r.hutchinsonSE[i]!.toFixed(4)}`));
    lines.push(
      `mean bits/dim ${r.meanBitsPerDim.toFixed(4)} +- ${Number.isNaN(r.standardError) ? '-' : r.standardError.toFixed(4)} (standard error over ${N} items; ${r.dequantized ? 'dequantized 8-bit data, offset included' : 'float data taken as given, no dequantization offset'})`,
      `${exactTrace ? 'exact trace' : `${probes} ${probe} probe${probes === 1 ? '' : 's'}`} (J u: ${gradient}), rtol ${rtol}, atol ${atol}: NFE ${r.nfePerItem.toFixed(0)} per item (${r.odeEvaluationsPerItem.toFixed(0)} ODE evaluations), ${r.seconds.toFixed(1)} s (${(r.seconds / N).toFixed(2)} s per item)`,
    );
    process.stdout.write(lines.join('\n') + '\n');
  },
});
