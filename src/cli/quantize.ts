import { fail } from '../core/errors.js';
import { modelCard } from '../quantize/model-card.js';
import { MIN_CALIBRATION, quantizeFolder } from '../quantize/quantize-folder.js';
import type { CalibrationScheme } from '../quantize/calibration.js';
import { intOption, seedValue, stepsValue, threadsValue } from './args.js';
import { command } from './options.js';
import { checkNewFolder, commitFolder } from './output.js';
import { printSummary } from './job-context.js';
import { jsonOption, seedOption, stepsOption, threadsOption } from './shared-options.js';

export const quantizeCommand = command({
  name: 'quantize',
  summary: 'int8 version of a model folder (PTQ4DM calibration across time steps)',
  usage: '--model DIR --out NEW_DIR [--calibration N] [--scheme ndtc|uniform]',
  description:
    'Write an int8 copy of an ONNX model folder: a QDQ graph (int8 weights per output channel, uint8 activations around every Conv, MatMul and Gemm) that ONNX Runtime runs with its int8 kernels; the network output stays float. ' +
    'Activation ranges come from network inputs met along the float model\'s own DDIM trajectories, at time steps drawn as PTQ4DM\'s NDTC does (or evenly, --scheme uniform). ' +
    'A per-layer error report (relative error of each layer\'s output on held-out inputs) goes to stderr and to quantize-report.json in the new folder; its tweedie.json records the scheme, N and the source model with its sha256.',
  options: {
    model: { type: 'string', value: 'DIR', doc: 'the float model folder (model.onnx, tweedie.json, scheduler_config.json); never modified' },
    out: { type: 'string', value: 'NEW_DIR', doc: 'the int8 model folder to create; it must not exist' },
    calibration: { type: 'string', value: 'N', default: '256', doc: `calibration inputs (at least ${MIN_CALIBRATION}); N/4 more are held out for the error report` },
    scheme: { type: 'string', value: 'S', default: 'ndtc', doc: 'time steps of the calibration inputs: ndtc (trajectory step ~ K N(0.4, 0.4^2), PTQ4DM) or uniform' },
    steps: stepsOption('DDIM steps of the calibration trajectories', '25'),
    seed: seedOption('trajectory'),
    threads: threadsOption,
    json: jsonOption('{"out", "scheme", "calibration", "layers", "output_relative_error", "seconds"}'),
  },
  async run({ values }) {
    if (!values.model) fail('USAGE', 'quantize needs --model DIR (a float model folder)');
    if (!values.out) fail('USAGE', 'quantize needs --out NEW_DIR (a folder that does not exist yet)');
    if (values.scheme !== 'ndtc' && values.scheme !== 'uniform') fail('USAGE', `--scheme must be ndtc or uniform, got "${values.scheme}"`);
    const calibration = intOption(values.calibration, 'calibration', 1);
    checkNewFolder({ option: '--out', file: values.out }, [{ option: '--model', file: values.model }]);
    const log = (m: string) => process.stderr.write(m + '\n');
    const t0 = performance.now();
    const threads = threadsValue(values.threads), steps = stepsValue(values.steps), seed = seedValue(values.seed);
    const { files, report } = await quantizeFolder({
      dir: values.model, scheme: values.scheme as CalibrationScheme, calibration, steps, seed,
      ...(threads ? { threads } : {}), log, warn: (m) => log(`warning: ${m}`),
    });
    const remake = `npx tweedie quantize --model ${values.model} --out ${values.out} --calibration ${calibration} --scheme ${values.scheme} --steps ${steps} --seed ${seed}`;
    const width = Math.max(...report.layers.map((l) => l.layer.length));
    log(`per-layer relative error on ${report.heldout} held-out inputs (layer output as the next layer reads it, float model as reference):`);
    for (const l of report.layers) log(`  ${l.layer.padEnd(width)}  ${l.op.padEnd(6)}  ${(100 * l.relative_error).toFixed(2)}%`);
    log(`  network output: ${(100 * report.output_relative_error).toFixed(2)}%`);
    commitFolder(values.out, [...files, { name: 'MODEL_CARD.md', bytes: new TextEncoder().encode(modelCard(report, remake)) }]);
    const summary = { out: values.out, scheme: report.scheme, calibration: report.calibration, layers: report.layers.length, output_relative_error: report.output_relative_error, seconds: (performance.now() - t0) / 1000 };
    if (values.json) return void printSummary(summary);
    process.stdout.write(`${values.out}: int8 (${report.layers.length} layers, ${report.scheme}, N = ${report.calibration}), output relative error ${(100 * report.output_relative_error).toFixed(2)}%\n`);
  },
});
