import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fail } from '../core/errors.js';
import type { Tensor } from '../core/tensor.js';
import { diagnose, formatReport } from '../diagnostics/diagnose.js';
import { diagnosticPlots } from '../diagnostics/plots.js';
import { fitGaussian, gaussianFitFromMoments, type GaussianFit } from '../models/gaussian-fit.js';
import { loadMixture } from '../models/gmm-file.js';
import { pathByName, PATH_NAMES } from '../paths/registry.js';
import { intOption, numberOption, seedValue, threadsValue } from './args.js';
import { loadModel } from './model-spec.js';
import { command } from './options.js';
import { checkOutputs, commitOutputs } from './output.js';
import { jsonOption, seedOption, threadsOption } from './shared-options.js';
import { checkImageInput, readArrayOrImages, type ImageReadOptions } from './image-input.js';
import { seriesOption, volumeOption } from './volume-option.js';

/** The data file of a model folder that ships one (weights/brain-64/heldout.npy). */
const FOLDER_DATA = 'heldout.npy';
/** The exact prior of a model folder that ships one (weights/gaussian-exact/prior.json). */
const FOLDER_PRIOR = 'prior.json';
/**
 * The Gaussian fit diagonalises the full covariance up to this item size (about 10 s at 1024 in JS); above it,
 * it keeps the top FIT_RANK eigenpairs (subspace iteration) and one isotropic variance for the rest.
 */
const FIT_FULL_MAX = 1024, FIT_RANK = 256;

/**
 * --data as [N, ...item]: a .npy of any shape with a multiple of the item size whose trailing axes are the item's (or flat),
 * or images (.png, NIfTI or DICOM slices) mapped into the model's value range.
 */
async function readData(file: string, item: readonly number[], range: [number, number], options: ImageReadOptions): Promise<Tensor> {
  const t = (await readArrayOrImages(file, range, '--data', options)).x, n = item.reduce((p, q) => p * q, 1);
  const tail = t.shape.slice(1);
  const fits = t.shape.length >= 2 && (tail.join() === item.join() || (tail.length === 1 && tail[0] === n));
  if (!fits) fail('BAD_SHAPE', `--data ${file} has shape [${t.shape.join(', ')}] but the model's items are [${item.join(', ')}]; give an array [N, ${item.join(', ')}]`);
  return t.reshape([t.batch, ...item]).toDtype('float32');
}

export const diagnoseCommand = command({
  name: 'diagnose',
  summary: 'score-field diagnostics: non-conservativity, intrinsic dimension, Gaussian departure',
  usage: '--model (gmm:FILE.json | MODEL_DIR) [--data x.(npy|png|nii.gz|dcm|DIR)] [--out DIR] [--json] [options]',
  description:
    'Per noise level on a log-uniform grid of sigma = s/a, at data points noised to that level: (1) the non-conservativity of the x0 (equivalently score) Jacobian J, ' +
    'E|u^T J v - v^T J u| / E|u^T J v| and ||(J - J^T)/2||_F / ||J||_F from random probe pairs, with standard errors; (2) at the smallest levels, the local intrinsic ' +
    'dimension: the number of singular values of a J above 1/2 (block Arnoldi on JVPs); (3) the relative difference of the network\'s score from the closed-form ' +
    'denoiser of the best Gaussian fit of the data (their mean and covariance), and the noise level where it first exceeds --departure.\n\n' +
    `The data: --data x.npy [N, ...item] (the first --points items are diagnosed; all of them fit the Gaussian: its full covariance up to ${FIT_FULL_MAX} values per item, else the top ${FIT_RANK} eigenpairs plus one isotropic variance); ` +
    `by default a model folder's ${FOLDER_DATA}, or 2048 exact samples of a gmm: prior or of a folder's ${FOLDER_PRIOR} (whose Gaussian fit is then its exact mean and covariance).`,
  options: {
    model: { type: 'string', value: 'gmm:FILE.json|DIR', doc: 'an exact Gaussian mixture or an ONNX model folder' },
    path: { type: 'string', value: 'NAME', doc: `the path a gmm: model follows (default vp-linear): ${PATH_NAMES.join(', ')}` },
    data: {
      type: 'string', value: 'FILE',
      doc: `clean data: .npy [N, ...item] in the model's value range, or images (.png; NIfTI or DICOM, a file or a folder of one series, each slice an item, mapped from its [min, max]) ` +
        `(default: the model folder's ${FOLDER_DATA}, or samples of a gmm: prior or of the folder's ${FOLDER_PRIOR})`,
    },
    volume: volumeOption('NIfTI --data'),
    series: seriesOption('--data'),
    points: { type: 'string', value: 'K', default: '4', doc: 'data points diagnosed at each level' },
    levels: { type: 'string', value: 'L', default: '10', doc: 'noise levels, 2..100' },
    probes: { type: 'string', value: 'P', default: '8', doc: 'probe pairs per point and level for the asymmetry' },
    'lid-levels': { type: 'string', value: 'M', default: '3', doc: 'the intrinsic dimension at this many of the smallest levels (0: none)' },
    krylov: { type: 'string', value: 'D', doc: 'Krylov dimension of the intrinsic dimension (default: the item size, at most 1024); below the item size a dimension is a lower bound' },
    block: { type: 'string', value: 'B', default: '16', doc: 'JVP directions per model call in the Krylov iteration' },
    departure: { type: 'string', value: 'X', default: '0.1', doc: 'relative score difference from the Gaussian fit that counts as departed' },
    seed: seedOption('point'),
    threads: threadsOption,
    out: { type: 'string', value: 'DIR', doc: 'write conservativity.svg, intrinsic-dimension.svg and gaussian-deviation.svg in DIR (created if missing)' },
    json: jsonOption('{"model", "points", "probes", "dim", "fitRank", "departureThreshold", "departureSigma", "levels": [{"t", "sigma", "asymmetry", "asymmetryStderr", "rotational", "rotationalStderr", "gaussianDeviation", "lid"}], "nfe", "seconds", "out"}'),
  },
  async run({ values }) {
    const spec = values.model;
    if (!spec) fail('USAGE', 'diagnose needs --model (gmm:FILE.json or a model folder)');
    const points = intOption(values.points, 'points');
    const levels = intOption(values.levels, 'levels', 2, 100);
    const probes = intOption(values.probes, 'probes', 2);
    const lidLevels = intOption(values['lid-levels'], 'lid-levels', 0, levels);
    const block = intOption(values.block, 'block');
    const departure = numberOption(values.departure, 'departure', 0);
    const seed = seedValue(values.seed);
    const threads = threadsValue(values.threads);
    const outDir = values.out;
    const folder = spec!.startsWith('gmm:') ? null : spec!;
    const folderData = folder && existsSync(join(folder, FOLDER_DATA)) ? join(folder, FOLDER_DATA) : undefined;
    const dataFile = values.data ?? folderData;
    if (values.data) checkImageInput(values.data, '--data');
    const outputs = outDir ? ['conservativity.svg', 'intrinsic-dimension.svg', 'gaussian-deviation.svg'].map((f) => ({ option: '--out', file: join(outDir, f) })) : [];
    checkOutputs(outputs, [{ option: '--model', file: spec!.replace(/^gmm:/, '') }, { option: '--data', file: dataFile }], { createDirs: true });
    const model = await loadModel(spec!, () => pathByName(values.path ?? 'vp-linear'), undefined, threads);
    if (!model.mixture && values.path) fail('USAGE', '--path applies to gmm: models; a model folder brings its own scheduler_config.json');
    if (model.denoiser.path.b(model.denoiser.path.tMax) !== 0) {
      fail('UNSUPPORTED', `${spec} is a restoration model (its path has an anchor): its denoiser is conditional on the degraded image, so it has no data distribution to diagnose; use a generative model`);
    }
    const item = model.itemShape, n = item.reduce((p, q) => p * q, 1);
    const prior = model.mixture ?? (folder && existsSync(join(folder, FOLDER_PRIOR)) ? loadMixture(join(folder, FOLDER_PRIOR)) : null);
    const krylov = intOption(values.krylov, 'krylov', 1, n) ?? Math.min(n, 1024);
    let data: Tensor, fit: GaussianFit;
    if (dataFile) {
      if (!values.data) process.stderr.write(`diagnose: data from ${dataFile}\n`);
      data = await readData(dataFile, item, model.valueRange, values);
      if (data.batch < 2) fail('USAGE', `--data ${dataFile} has ${data.batch} item; the Gaussian fit needs at least 2`);
      fit = fitGaussian(data, n <= FIT_FULL_MAX ? {} : { rank: Math.min(FIT_RANK, data.batch - 1) });
    } else if (prior) {
      if (!model.mixture) process.stderr.write(`diagnose: data from 2048 samples of ${join(folder!, FOLDER_PRIOR)}, Gaussian fit from its exact moments\n`);
      data = prior.sample(2048, seed, model.mixture ? 'float64' : 'float32');
      const { mean, cov } = prior.moments();
      fit = gaussianFitFromMoments(mean, cov);
    } else {
      return fail('USAGE', `diagnose needs --data x.npy for ${spec} (clean data [N, ${item.join(', ')}] in the model's value range); the folder has no ${FOLDER_DATA} or ${FOLDER_PRIOR}`);
    }
    if (data.batch < points) fail('USAGE', `--points ${points} is more than the ${data.batch} data items; use --points ${data.batch} or less`);
    const report = await diagnose(model.denoiser, data.sliceBatch(0, points), {
      fit, levels, probes, lidLevels, krylov, block, departure, seed,
      onProgress: process.stderr.isTTY ? (stage) => process.stderr.write(`\r\x1b[Kdiagnose: ${stage}`) : undefined,
    });
    if (process.stderr.isTTY) process.stderr.write('\r\x1b[K');
    if (outDir) commitOutputs(diagnosticPlots(report, spec!).map((f) => ({ file: join(outDir, f.name), bytes: new TextEncoder().encode(f.svg) })));
    if (values.json) return void process.stdout.write(JSON.stringify({ model: spec, ...report, ...(outDir ? { out: outDir } : {}) }) + '\n');
    process.stdout.write(formatReport(report) + (outDir ? `\nwrote ${outputs.map((o) => o.file).join(', ')}` : '') + '\n');
  },
});
