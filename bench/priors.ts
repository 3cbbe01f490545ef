import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fail } from '../src/core/errors.js';
import { Tensor } from '../src/core/tensor.js';
import { SOLVERS } from '../src/inverse/solvers/registry.js';
import { cropItems, paddedShape } from '../src/models/layout.js';
import { OnnxDenoiser } from '../src/models/onnx.js';
import { packageRoot } from '../src/package-root.js';
import { generate } from '../src/recipes/generate.js';
import { samplerByName } from '../src/samplers/registry.js';
import { NATIVE_DEMO_STEPS } from '../src/cli/demo.js';
import { CH2, heldoutImages, SET_NAMES, SETS, setImages } from './lib/brain-sets.js';
import { heldoutZ, runOn, spread, type Figures } from './lib/brain-runs.js';
import { BRAIN_PROBLEMS } from './inverse.js';
import { probeCli } from './lib/cli-probe.js';
import { roughCount, windows } from './lib/roughness.js';

/**
 * The native brain priors compared (issue 16). Env: TWEEDIE_BENCH_MODELS (default
 * "brain-native-eps,brain-native-v,brain-native-flow": names under weights/ or folder paths; absent ones skipped),
 * TWEEDIE_BENCH_SLICES (held-out slices per set, default 4, spread over the slab), TWEEDIE_BENCH_NFES (default
 * "10,20,50"), TWEEDIE_BENCH_SETS (default all, lib/brain-sets.ts), TWEEDIE_BENCH_SOLVERS (the sweep, default
 * "dds,diffpir,ddnm,flowchef"; flowchef only for a rectified-flow prior), TWEEDIE_BENCH_SAMPLES (samples for the roughness count, default 16), TWEEDIE_BENCH_THREADS
 * (ONNX Runtime threads, default 1).
 * Per prior: the sweep (3 solvers, 4 for the flow prior, x 20 NFE), 6 sets x 2 MRI problems x (10 + 20 + 50) NFE, 6 sets x 2 restoration
 * problems x 20 NFE, 16 samples x 50 NFE at 80x80 and the demo: about 1,300 model calls of a batch of 4 slices. Measured
 * on the 2-core machine while three trainings ran: TWEEDIE_BENCH_SLICES=2 took about 14 minutes a prior, SLICES=1 with
 * NFES=10,50 about 6; the default 4 slices cost more per call (expect 20-30 minutes a prior under such load).
 */
const env = process.env;
const MODELS = (env.TWEEDIE_BENCH_MODELS ?? 'brain-native-eps,brain-native-v,brain-native-flow').split(',');
const SLICES = Number(env.TWEEDIE_BENCH_SLICES ?? 4);
const NFES = (env.TWEEDIE_BENCH_NFES ?? '10,20,50').split(',').map(Number);
const SET_LIST = (env.TWEEDIE_BENCH_SETS ?? SET_NAMES.join(',')).split(',');
const CANDIDATES = (env.TWEEDIE_BENCH_SOLVERS ?? 'dds,diffpir,ddnm,flowchef').split(',');
const SAMPLES = Number(env.TWEEDIE_BENCH_SAMPLES ?? 16);
const THREADS = Number(env.TWEEDIE_BENCH_THREADS ?? 1);
/** The sweep and the restoration rows run at this NFE (or the largest listed below it). */
const SWEEP_NFE = 20;

export const description = 'native brain priors (eps / v / flow): MRI 4x and 8x with the best solver per prior (a sweep) at 10/20/50 NFE on the held-out slab and shifted sets (pixel size, rotation, field of view, skull-stripped contrast; one subject), zero-filled alongside; denoising and 4x SR through the prior; roughness of samples; native demo time per NFE per megapixel';

/** The usual equispaced masks of bench inverse (fully sampled centre 8% at 4x, 4% at 8x, k-space noise 0.01). */
const MRI = BRAIN_PROBLEMS.filter((p) => p.label.startsWith('MRI'));
/** Restoration through the prior: the posterior of a denoising and a 4x super-resolution problem. */
const RESTORE = [
  { label: 'denoise sigma 0.1', spec: 'identity:noise=0.1', multiple: 1 },
  { label: 'SR 4x', spec: 'sr:factor=4,noise=0.01', multiple: 4 },
];

interface Row extends Figures {
  model: string; set: string; problem: string; solver: string; nfe: number; seconds_per_slice: number;
  baseline: string; psnr_baseline: number; ssim_baseline: number;
}

/** A row, its figures also on stderr: a run stopped part way still leaves what it measured. */
function logged(r: Row, log: (m: string) => void): Row {
  log(`    PSNR ${r.psnr.toFixed(2)} dB, SSIM ${r.ssim.toFixed(3)} (${r.baseline} ${r.psnr_baseline.toFixed(2)} dB, ${r.ssim_baseline.toFixed(3)})`);
  return r;
}

function checkEnv(): void {
  const bad = (name: string, v: string | undefined, rule: string) => fail('USAGE', `${name}=${v}: ${rule}`);
  if (!Number.isSafeInteger(SLICES) || SLICES < 1) bad('TWEEDIE_BENCH_SLICES', env.TWEEDIE_BENCH_SLICES, 'give a positive integer (held-out slices per set)');
  if (!NFES.every((n) => Number.isSafeInteger(n) && n >= 1)) bad('TWEEDIE_BENCH_NFES', env.TWEEDIE_BENCH_NFES, 'list integers >= 1, e.g. 10,20,50');
  if (!Number.isSafeInteger(SAMPLES) || SAMPLES < 0) bad('TWEEDIE_BENCH_SAMPLES', env.TWEEDIE_BENCH_SAMPLES, 'give an integer >= 0 (0 skips the roughness count)');
  if (!Number.isSafeInteger(THREADS) || THREADS < 1) bad('TWEEDIE_BENCH_THREADS', env.TWEEDIE_BENCH_THREADS, 'give a positive integer');
  const unknown = SET_LIST.find((s) => !SET_NAMES.includes(s));
  if (unknown) bad('TWEEDIE_BENCH_SETS', env.TWEEDIE_BENCH_SETS, `"${unknown}" is not a set; use some of ${SET_NAMES.join(',')}`);
  const noSolver = CANDIDATES.find((s) => !SOLVERS.some((d) => d.name === s && !d.needs.noPrior));
  if (noSolver) bad('TWEEDIE_BENCH_SOLVERS', env.TWEEDIE_BENCH_SOLVERS, `"${noSolver}" is not a posterior solver; use some of ${SOLVERS.filter((d) => !d.needs.noPrior).map((d) => d.name).join(',')}`);
}

/** The model folders that exist, each with a stderr line for those that do not. */
function presentModels(log: (m: string) => void): { name: string; dir: string }[] {
  const found = MODELS.map((name) => ({ name, dir: name.includes('/') ? name : join(packageRoot, 'weights', name) }))
    .filter(({ name, dir }) => existsSync(join(dir, 'model.onnx')) || void log(`skipping ${name}: ${join(dir, 'model.onnx')} is missing`));
  if (found.length === 0) fail('UNREADABLE_FILE', `none of the priors ${MODELS.join(', ')} is there; set TWEEDIE_BENCH_MODELS to model folders`);
  return found;
}

/** Images cropped (centred) to multiples of m, for operators that need them (4x SR). */
const toMultiple = (x: Tensor, m: number) => (m === 1 ? x : cropItems(x, [1, x.shape[2]! - (x.shape[2]! % m), x.shape[3]! - (x.shape[3]! % m)]));

/** The native demo: seconds per NFE of one 217x181 slice (median of 5 calls) and `tweedie demo` at its native default. */
async function demoTiming(name: string, dir: string, model: OnnxDenoiser, slice: Tensor, log: (m: string) => void) {
  const [h, w] = slice.shape.slice(2) as [number, number];
  const padded = paddedShape([1, 1, h, w], model.layout?.multiple ?? 1);
  const x = Tensor.zeros(padded), t = model.path.tMax / 2;
  await model.predict(x, t);
  const times: number[] = [];
  for (let k = 0; k < 5; k++) {
    const t0 = performance.now();
    await model.predict(x, t);
    times.push((performance.now() - t0) / 1000);
  }
  const perNfe = times.sort((a, b) => a - b)[2]!, mp = (h * w) / 1e6;
  log(`  ${name}: native demo (${NATIVE_DEMO_STEPS} steps)`);
  const out = join(mkdtempSync(join(tmpdir(), 'tweedie-bench-priors-')), 'demo.png');
  const p = probeCli(['demo', '--model', dir, '--threads', String(THREADS), '--out', out, '--json'], { timeoutMs: 300_000 });
  const timing = { model: name, slice: `${h}x${w} (run at ${padded[2]}x${padded[3]})`, seconds_per_nfe: perNfe, seconds_per_nfe_per_megapixel: perNfe / mp };
  // A failed demo run costs its row, not the minutes of figures before it.
  if (p.status !== 0) {
    log(`    tweedie demo --model ${dir} failed: ${p.stderr.trim().split('\n')[0]}`);
    return { ...timing, demo_steps: NaN, demo_wall_seconds: NaN, demo_psnr: NaN, demo_psnr_zero_filled: NaN };
  }
  const demo = JSON.parse(p.stdout) as { steps: number; psnr: number; psnr_baseline: number };
  return { ...timing, demo_steps: demo.steps, demo_wall_seconds: p.seconds, demo_psnr: demo.psnr, demo_psnr_zero_filled: demo.psnr_baseline };
}

/** Roughness of 80x80 samples (the training crop size) against 80x80 windows of the held-out slices. */
async function sampleRoughness(name: string, model: OnnxDenoiser, real: Tensor) {
  const steps = 50, sampler = samplerByName('ddim');
  const r = await generate({ model, sampler, steps, n: SAMPLES, shape: [1, 80, 80], seed: 0, batch: SAMPLES });
  return { model: name, sampler: 'ddim', nfe: steps, samples: SAMPLES, real_windows: real.batch, ...roughCount(r.x, real) };
}

export async function run(opts: { json: boolean; log: (m: string) => void }): Promise<Record<string, unknown>> {
  const t0 = performance.now();
  checkEnv();
  const models = presentModels(opts.log);
  const allZ = heldoutZ(models.map((m) => m.dir)), zs = spread(allZ, SLICES);
  const sets = SETS.filter((s) => SET_LIST.includes(s.name)).map((def) => ({ def, truth: setImages(def, zs) }));
  opts.log(`held-out slices z = ${zs.join(', ')}; sets ${sets.map((s) => `${s.def.name} ${s.truth.shape.slice(2).join('x')}`).join(', ')}`);
  const sweepNfe = Math.max(...NFES.filter((n) => n <= SWEEP_NFE), Math.min(...NFES));

  // Zero-filled (and pseudo-inverse) baselines do not depend on the prior: once per set and problem.
  const baselines = new Map<string, Figures>();
  for (const { def, truth } of sets) {
    for (const p of MRI) baselines.set(`${def.name}|${p.label}`, await runOn(null, 'zero-filled', p.spec, truth, 1));
    for (const p of RESTORE) baselines.set(`${def.name}|${p.label}`, await runOn(null, 'pinv', p.spec, toMultiple(truth, p.multiple), 1));
  }

  const rows: Row[] = [], sweep: { model: string; solver: string; nfe: number; psnr: number; ssim: number }[] = [], demos = [], quality = [];
  const heldout = sets.find((s) => s.def.name === 'heldout')?.truth ?? heldoutImages(CH2, zs);
  // Real images for the roughness threshold: 80x80 windows (stride 20) of all held-out slices with some tissue in them.
  const realWindows = windows(heldoutImages(CH2, allZ), 80, 20, -0.5);
  for (const { name, dir } of models) {
    const model = await OnnxDenoiser.load(dir, { threads: THREADS });
    // The sweep: MRI 4x on the held-out slices at the sweep NFE; the best PSNR is this prior's solver.
    // A solver defined on rectified flow only (flowchef) joins the sweep of the flow prior.
    for (const solver of CANDIDATES.filter((c) => !SOLVERS.find((d) => d.name === c)!.needs.flow || model.path.family === 'flow')) {
      opts.log(`  ${name}: sweep ${solver}, MRI 4x, ${sweepNfe} NFE`);
      const r = await runOn(model, solver, MRI[0]!.spec, heldout, sweepNfe);
      opts.log(`    PSNR ${r.psnr.toFixed(2)} dB, SSIM ${r.ssim.toFixed(3)}`);
      sweep.push({ model: name, solver, ...r });
    }
    const best = sweep.filter((s) => s.model === name).reduce((a, b) => (b.psnr > a.psnr ? b : a)).solver;
    for (const { def, truth } of sets) {
      for (const p of MRI) for (const nfe of NFES) {
        opts.log(`  ${name}: ${def.name}, ${p.label}, ${best} ${nfe} NFE (${((performance.now() - t0) / 1000).toFixed(0)} s so far)`);
        const b = baselines.get(`${def.name}|${p.label}`)!;
        rows.push(logged({ model: name, set: def.name, problem: p.label, solver: best, ...(await runOn(model, best, p.spec, truth, nfe)), baseline: 'zero-filled', psnr_baseline: b.psnr, ssim_baseline: b.ssim }, opts.log));
      }
      for (const p of RESTORE) {
        opts.log(`  ${name}: ${def.name}, ${p.label}, ${best} ${sweepNfe} NFE`);
        const b = baselines.get(`${def.name}|${p.label}`)!;
        rows.push(logged({ model: name, set: def.name, problem: p.label, solver: best, ...(await runOn(model, best, p.spec, toMultiple(truth, p.multiple), sweepNfe)), baseline: p.label.startsWith('SR') ? 'pseudo-inverse' : 'noisy input', psnr_baseline: b.psnr, ssim_baseline: b.ssim }, opts.log));
      }
    }
    if (SAMPLES > 0) {
      opts.log(`  ${name}: ${SAMPLES} samples for the roughness count`);
      quality.push(await sampleRoughness(name, model, realWindows));
    }
    demos.push(await demoTiming(name, dir, model, heldout.sliceBatch(0, 1), opts.log));
    await model.release();
  }
  const seconds = (performance.now() - t0) / 1000;
  const result = { slices: zs, sets: sets.map(({ def, truth }) => ({ name: def.name, shift: def.shift, size: truth.shape.slice(2) })), nfes: NFES, sweep, rows, targets: targets(rows), sample_roughness: quality, demo: demos, threads: THREADS, seconds };
  if (!opts.json) process.stdout.write(tables(result) + `\nwall time ${seconds.toFixed(0)} s\n`);
  return result;
}

/** The issue's targets at MRI 4x and the largest NFE: >= +7 dB over zero-filled in distribution, >= +5 dB shifted. */
function targets(rows: Row[]) {
  const nfe = Math.max(...NFES);
  return rows.filter((r) => r.problem === 'MRI 4x' && r.nfe === nfe).map((r) => {
    const need = r.set === 'heldout' ? 7 : 5, gain = r.psnr - r.psnr_baseline;
    return { model: r.model, set: r.set, nfe, gain_db: gain, need_db: need, met: gain >= need };
  });
}

function tables(r: { sweep: { model: string; solver: string; nfe: number; psnr: number; ssim: number }[]; rows: Row[]; targets: ReturnType<typeof targets>; sample_roughness: Awaited<ReturnType<typeof sampleRoughness>>[]; demo: Awaited<ReturnType<typeof demoTiming>>[] }): string {
  const f = (x: Figures) => `${x.psnr.toFixed(2)} / ${x.ssim.toFixed(3)}`;
  const recon = r.rows.filter((x) => x.problem.startsWith('MRI')), keys = [...new Set(recon.map((x) => `${x.model}|${x.set}|${x.problem}`))];
  return [
    '| prior | solver | MRI 4x, NFE | PSNR (dB) / SSIM |', '|---|---|---|---|',
    ...r.sweep.map((s) => `| ${s.model} | ${s.solver} | ${s.nfe} | ${f(s)} |`),
    '',
    `| prior | solver | set | problem | zero-filled | ${NFES.map((n) => `${n} NFE`).join(' | ')} | gain at ${Math.max(...NFES)} NFE |`,
    `|---|---|---|---|---|${NFES.map(() => '---|').join('')}---|`,
    ...keys.map((k) => {
      const g = recon.filter((x) => `${x.model}|${x.set}|${x.problem}` === k), last = g[g.length - 1]!;
      return `| ${last.model} | ${last.solver} | ${last.set} | ${last.problem} | ${f({ psnr: last.psnr_baseline, ssim: last.ssim_baseline })} | ${g.map(f).join(' | ')} | ${(last.psnr - last.psnr_baseline).toFixed(2)} dB |`;
    }),
    '',
    '| prior | solver | set | problem | NFE | baseline | PSNR / SSIM | baseline PSNR / SSIM |', '|---|---|---|---|---|---|---|---|',
    ...r.rows.filter((x) => !x.problem.startsWith('MRI')).map((x) => `| ${x.model} | ${x.solver} | ${x.set} | ${x.problem} | ${x.nfe} | ${x.baseline} | ${f(x)} | ${f({ psnr: x.psnr_baseline, ssim: x.ssim_baseline })} |`),
    '',
    '| prior | set | MRI 4x gain over zero-filled | target | met |', '|---|---|---|---|---|',
    ...r.targets.map((t) => `| ${t.model} | ${t.set} | ${t.gain_db.toFixed(2)} dB | >= ${t.need_db} dB | ${t.met ? 'yes' : 'no'} |`),
    '',
    '| prior | samples (ddim 50, 80x80) | rougher than 99% of held-out 80x80 windows | threshold |', '|---|---|---|---|',
    ...r.sample_roughness.map((q) => `| ${q.model} | ${q.samples} | ${q.rough} | ${q.threshold.toFixed(4)} |`),
    '',
    '| prior | slice | s / NFE | s / NFE / megapixel | tweedie demo steps | demo wall (s) | demo PSNR (zero-filled) |', '|---|---|---|---|---|---|---|',
    ...r.demo.map((d) => `| ${d.model} | ${d.slice} | ${d.seconds_per_nfe.toFixed(3)} | ${d.seconds_per_nfe_per_megapixel.toFixed(2)} | ${Number.isNaN(d.demo_steps) ? 'failed (stderr)' : d.demo_steps} | ${d.demo_wall_seconds.toFixed(1)} | ${d.demo_psnr.toFixed(2)} (${d.demo_psnr_zero_filled.toFixed(2)}) |`),
  ].join('\n') + '\n';
}
