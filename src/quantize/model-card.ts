import type { QuantizeReport } from './quantize-folder.js';

const pct = (x: number) => `${(100 * x).toFixed(2)}%`;

/** MODEL_CARD.md of an int8 folder: how it was made (the command that remakes it) and its per-layer errors. */
export function modelCard(report: QuantizeReport, command: string): string {
  const errs = report.layers.map((l) => l.relative_error).sort((a, b) => a - b);
  const worst = report.layers.reduce((a, b) => (b.relative_error > a.relative_error ? b : a));
  return [
    `# int8 version of ${report.source.model}`,
    '',
    `Made by \`tweedie quantize\` from ${report.source.model}/model.onnx (sha256 ${report.source.sha256}); remake it with`,
    '',
    '```sh',
    command,
    '```',
    '',
    `- Graph: QDQ ONNX (QuantizeLinear / DequantizeLinear around every Conv, MatMul and Gemm), which ONNX Runtime fuses into its int8 kernels (QLinearConv, QGemm, QLinearMatMul); the network output stays float.`,
    `- Weights: ${report.weights}.`,
    `- Activations: ${report.activations}.`,
    `- Calibration: ${report.calibration} network inputs taken along ${report.calibration + report.heldout} ${report.trajectories.steps}-step DDIM (eta 0) trajectories of the float model; time steps: ${report.time_steps}. ${report.heldout} more inputs from the same trajectories are held out for the errors below.`,
    `- Left in float: ${report.left_in_float.length ? report.left_in_float.join('; ') : 'nothing'}.`,
    `- The float model's exported gradient graph is not carried over: gradient solvers use central differences on this model.`,
    '',
    `## Per-layer error`,
    '',
    `Relative L2 error of each int8 layer's output (as the next layer reads it) against the float model, both run on the ${report.heldout} held-out inputs: median ${pct(errs[Math.floor(errs.length / 2)]!)}, largest ${pct(worst.relative_error)} (${worst.layer}); network output ${pct(report.output_relative_error)}. Every layer is in quantize-report.json.`,
    '',
    `| layer | op | relative error |`,
    `|---|---|---|`,
    ...report.layers.map((l) => `| ${l.layer} | ${l.op} | ${pct(l.relative_error)} |`),
    '',
    'Speed and sample quality against the float model: README, "int8 models".',
    '',
  ].join('\n');
}
