import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ContinuousVPPath, DiscreteVPPath, EDMPath, FlowPath, MeanRevertingPath, RDDMPath, ResShiftPath, VEPath,
  discreteTimesteps, makeGrid, parseSchedulerConfig, pathByName, PATH_NAMES, type Path,
} from '../src/paths/index.js';
import { karrasSigmas } from '../src/core/numeric.js';

const close = (a: number, b: number, rel: number, msg = '') =>
  assert.ok(Math.abs(a - b) <= rel * Math.max(1, Math.abs(b)), `${msg} ${a} vs ${b}`);

const families: [string, Path][] = [
  ['discrete VP linear', new DiscreteVPPath({ numTrainTimesteps: 1000 })],
  ['discrete VP scaled_linear', new DiscreteVPPath({ numTrainTimesteps: 1000, betaStart: 0.00085, betaEnd: 0.012, schedule: 'scaled_linear' })],
  ['discrete VP cosine', new DiscreteVPPath({ numTrainTimesteps: 1000, schedule: 'squaredcos_cap_v2' })],
  ['continuous VP linear', new ContinuousVPPath()],
  ['continuous VP cosine', new ContinuousVPPath({ schedule: 'cosine' })],
  ['VE', new VEPath()],
  ['EDM', new EDMPath()],
  ['flow', new FlowPath()],
  ['mean-reverting', new MeanRevertingPath()],
  ['resshift', new ResShiftPath()],
  ['rddm', new RDDMPath()],
];

/** Interior times away from knots of piecewise-linear schedules. */
function sampleTimes(p: Path): number[] {
  const ts: number[] = [];
  for (const f of [0.013, 0.137, 0.391, 0.62, 0.874, 0.97]) ts.push(p.tMin + f * (p.tMax - p.tMin) + 0.3 * (p.family === 'vp-discrete' || p.family === 'mean-reverting' || p.family === 'resshift' ? 1 : 0) * 0.1);
  return ts;
}

for (const [name, p] of families) {
  test(`${name}: lambda inverse round trip`, () => {
    for (const t of sampleTimes(p)) close(p.tOfLambda(p.lambda(t)), t, 1e-9, `t`);
    assert.equal(p.s(p.tClean), 0, 'tClean has s = 0');
  });

  test(`${name}: derivatives match central finite differences`, () => {
    for (const t of sampleTimes(p)) {
      const h = 1e-6 * Math.max(1, Math.abs(t));
      for (const [f, df] of [
        [(u: number) => p.a(u), (u: number) => p.da(u)],
        [(u: number) => p.b(u), (u: number) => p.db(u)],
        [(u: number) => p.s(u), (u: number) => p.ds(u)],
      ] as const) {
        const fd = (f(t + h) - f(t - h)) / (2 * h);
        assert.ok(Math.abs(fd - df(t)) <= 1e-5 * Math.max(1, Math.abs(fd)), `${name} at t=${t}: fd ${fd} vs ${df(t)}`);
      }
    }
  });

  test(`${name}: lambda is decreasing and the SDE reproduces the marginal variance`, () => {
    const ts = sampleTimes(p);
    for (let i = 1; i < ts.length; i++) assert.ok(p.lambda(ts[i]!) < p.lambda(ts[i - 1]!));
    for (const t of ts) {
      // d(s^2)/dt = 2 f s^2 + g^2 for dz = f z dt + g dw.
      const h = 1e-6 * Math.max(1, Math.abs(t));
      const ds2 = (p.s(t + h) ** 2 - p.s(t - h) ** 2) / (2 * h);
      close(2 * p.drift(t) * p.s(t) ** 2 + p.diffusion2(t), ds2, 1e-5, `${name}`);
      assert.ok(p.diffusion2(t) > 0, 'g^2 > 0');
    }
  });
}

test('alphas_cumprod of each beta_schedule equals the published closed forms', () => {
  const lin = new DiscreteVPPath({ numTrainTimesteps: 1000 });
  // DDPM linear schedule: abar_t = prod_{i<=t} (1 - beta_i), beta_i = 1e-4 + i (0.02 - 1e-4)/999.
  let prod = 1;
  for (let i = 0; i < 1000; i++) prod *= 1 - (1e-4 + (i * (0.02 - 1e-4)) / 999);
  close(lin.alphasCumprod[999]!, prod, 1e-12);
  close(lin.alphasCumprod[999]!, 4.0358e-5, 1e-3, 'DDPM abar_T');
  close(lin.alphasCumprod[0]!, 0.9999, 1e-12);
  // Stable Diffusion's scaled_linear schedule: sigma_0 = 0.0291675, sigma_999 = 14.6146 (k-diffusion, diffusers docs).
  const sd = new DiscreteVPPath({ numTrainTimesteps: 1000, betaStart: 0.00085, betaEnd: 0.012, schedule: 'scaled_linear' });
  close(sd.sigma(0), 0.0291675, 1e-5);
  close(sd.sigma(999), 14.6146, 1e-5);
  // squaredcos_cap_v2 away from the cap: abar_t = f(t+1)/f(0), f(u) = cos^2(((u/N) + s)/(1 + s) pi/2).
  const cos = new DiscreteVPPath({ numTrainTimesteps: 1000, schedule: 'squaredcos_cap_v2' });
  const f = (u: number) => Math.cos(((u / 1000 + 0.008) / 1.008) * Math.PI * 0.5) ** 2;
  for (const t of [0, 10, 500, 900]) close(cos.alphasCumprod[t]!, f(t + 1) / f(0), 1e-10);
});

test('zero-terminal-SNR rescale keeps abar_0, zeroes abar_T and shifts sqrt(abar) linearly', () => {
  const base = new DiscreteVPPath({ numTrainTimesteps: 1000, betaStart: 0.00085, betaEnd: 0.012, schedule: 'scaled_linear' });
  const z = new DiscreteVPPath({ numTrainTimesteps: 1000, betaStart: 0.00085, betaEnd: 0.012, schedule: 'scaled_linear', rescaleZeroSnr: true });
  close(z.alphasCumprod[0]!, base.alphasCumprod[0]!, 1e-12);
  assert.ok(z.alphasCumprod[999]! < 1e-20);
  const s0 = Math.sqrt(base.alphasCumprod[0]!), sT = Math.sqrt(base.alphasCumprod[999]!);
  for (const t of [1, 300, 700]) close(Math.sqrt(z.alphasCumprod[t]!), ((Math.sqrt(base.alphasCumprod[t]!) - sT) * s0) / (s0 - sT), 1e-9);
  assert.equal(z.s(999), 1);
  assert.ok(Number.isFinite(z.lambda(998.5)));
});

test('discrete VP interpolates log sigma between integer timesteps', () => {
  const p = new DiscreteVPPath({ numTrainTimesteps: 1000 });
  close(p.sigma(420.5), Math.sqrt(p.sigma(420) * p.sigma(421)), 1e-12);
  const sg = (t: number) => Math.sqrt((1 - p.alphasCumprod[t]!) / p.alphasCumprod[t]!);
  close(p.sigma(420), sg(420), 1e-12);
  assert.equal(p.a(-1), 1);
});

test('timestep spacings match diffusers (DDIM steps_offset=1 gives 801..1)', () => {
  assert.deepEqual(discreteTimesteps(1000, 5, 'leading', 1), [801, 601, 401, 201, 1]);
  assert.deepEqual(discreteTimesteps(1000, 10, 'trailing'), [999, 899, 799, 699, 599, 499, 399, 299, 199, 99]);
  assert.deepEqual(discreteTimesteps(1000, 10, 'linspace'), [999, 888, 777, 666, 555, 444, 333, 222, 111, 0]);
  assert.throws(() => discreteTimesteps(10, 11), /cannot exceed/);
});

test('Karras sigmas hit both ends and follow rho', () => {
  const s = karrasSigmas(10, 0.002, 80, 7);
  close(s[0]!, 80, 1e-12);
  close(s[9]!, 0.002, 1e-12);
  close(s[5]! ** (1 / 7), 80 ** (1 / 7) + (5 / 9) * (0.002 ** (1 / 7) - 80 ** (1 / 7)), 1e-12);
});

test('grids have steps + 1 points and end at clean data with final "zero"', () => {
  for (const [name, p] of families) {
    for (const kind of ['time-uniform', 'logsnr-uniform', 'karras', 'exponential'] as const) {
      // Flow and RDDM reach a = 0 (infinite sigma) at tMax.
      const tStart = (p.family === 'flow' || p.family === 'residual') && kind !== 'time-uniform' ? 0.99 * p.tMax : p.tMax;
      const g = makeGrid(p, { kind, steps: 7, final: 'zero', tStart });
      assert.equal(g.length, 8, `${name} ${kind}`);
      assert.equal(g[7]!.s, 0, `${name} ${kind} ends clean`);
      for (let i = 1; i < g.length; i++) assert.ok(g[i]!.s / g[i]!.a < g[i - 1]!.s / g[i - 1]!.a, `${name} ${kind} sigma decreasing`);
      assert.equal(makeGrid(p, { kind, steps: 7, final: 'sigma_min', tStart }).length, 8);
    }
  }
  assert.throws(() => makeGrid(new FlowPath(), { kind: 'karras', steps: 3 }), /finite, positive sigmas/);
  const u = makeGrid(new FlowPath(), { kind: 'logsnr-uniform', steps: 4, tStart: 0.9, tEnd: 0.1, final: 'sigma_min' });
  const l = u.map((q) => Math.log(q.a / q.s));
  for (let i = 1; i < 4; i++) close(l[i + 1]! - l[i]!, l[1]! - l[0]!, 1e-9);
});

test('every CLI path name builds a path', () => {
  for (const n of PATH_NAMES) assert.ok(pathByName(n).describe().length > 0);
  assert.throws(() => pathByName('nope'), /unknown path "nope"/);
});

test('scheduler_config.json: unknown keys warn once, invalid values throw', () => {
  const warnings: string[] = [];
  const cfg = parseSchedulerConfig(
    { _class_name: 'DDIMScheduler', beta_schedule: 'scaled_linear', beta_start: 0.00085, beta_end: 0.012, steps_offset: 1, prediction_type: 'v_prediction', frobnicate: 1, colour: 'red' },
    'cfg.json',
    (m) => warnings.push(m),
  );
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /frobnicate, colour/);
  assert.equal(cfg.prediction, 'v');
  assert.equal(cfg.stepsOffset, 1);
  assert.equal(cfg.timestepSpacing, 'leading');
  close(cfg.path.sigma(999), 14.6146, 1e-5);
  assert.throws(() => parseSchedulerConfig({ beta_schedule: 'quadratic' }, 'c.json'), /beta_schedule.*"quadratic".*linear, scaled_linear, squaredcos_cap_v2/);
  assert.throws(() => parseSchedulerConfig({ use_karras_sigmas: true, use_exponential_sigmas: true }, 'c.json'), /mutually exclusive/);
  assert.throws(() => parseSchedulerConfig({ num_train_timesteps: -3 }, 'c.json'), /num_train_timesteps/);
  assert.throws(() => parseSchedulerConfig({ trained_betas: [0.1, 0.2] }, 'c.json'), /trained_betas has 2 values/);
  assert.equal(parseSchedulerConfig({ _class_name: 'FlowMatchEulerDiscreteScheduler' }, 'f', () => {}).path.family, 'flow');
});
