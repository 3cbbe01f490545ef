import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';

// Import boundaries, checked on the compiled modules by walking their static and dynamic imports.

/** Stands for every Node builtin (node:fs, path, ...) in a rule. */
const NODE = 'Node builtins';
/**
 * Layer rules: the modules under dist/src/LAYER must not reach (directly or through other modules) any module
 * under dist/src/TARGET, a Node builtin (NODE) or a package named TARGET. One line per rule. A layer's
 * `*-file.js` modules are its Node edge (they read the files its pure modules parse) and are not bound by it.
 */
const RULES: [layer: string, forbidden: string[]][] = [
  ['core', ['paths', 'models', 'samplers', 'inverse', 'restoration', 'volume', 'io', 'metrics', 'cli', NODE]],
  ['metrics', ['paths', 'models', 'samplers', 'inverse', 'io', 'cli', NODE]],
  ['paths', ['models', 'samplers', 'inverse', 'restoration', 'volume', 'io', 'cli']],
  ['models', ['samplers', 'inverse', 'restoration', 'volume', 'io', 'cli']],
  ['samplers', ['inverse', 'restoration', 'volume', 'io', 'cli', NODE]],
  ['inverse/solvers', ['volume', 'io', 'cli', NODE]],
  ['inverse/exact-posterior.js', ['samplers', 'io', 'cli', NODE]],
  ['restoration', ['inverse/solvers', 'volume', 'cli', NODE]],
  ['io', ['models', 'samplers', 'inverse', 'volume', 'cli']],
  // The DICOM decoder and writer run in a page: their libraries, inflater and files are passed in (dicom-file.js is the Node edge).
  ...['dicom.js', 'dicom-pixels.js', 'dicom-volume.js', 'dicom-write.js', 'dicom-browser.js', 'dicom-uid.js'].map((f): [string, string[]] => [`io/${f}`, ['cli', 'volume', NODE]]),
  ['volume', ['cli']],
  ['recipes', ['cli', 'volume', NODE]],
  // The web app's modules run in a page and its Web Worker.
  ['app', ['cli', NODE]],
  ['likelihood', ['inverse', 'restoration', 'recipes', 'volume', 'io', 'cli', NODE]],
  ['diagnostics', ['samplers', 'inverse', 'restoration', 'volume', 'recipes', 'cli', NODE]],
  ['inverse/operators', ['io', 'samplers', 'inverse/solvers', 'cli', NODE]],
];

// Bare specifiers a page resolves through its import map.
const MAPPED = new Set(['onnxruntime-web']);
// Static and dynamic imports, re-exports, and worker scripts (new URL('./x.js', import.meta.url)).
const IMPORT = /(?:^|[\s;])(?:import|export)\s[^'"`;]*?from\s*['"]([^'"]+)['"]|(?:^|[\s;])import\s*['"]([^'"]+)['"]|\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)|\bnew URL\(\s*['"](\.[^'"]+\.js)['"]\s*,\s*import\.meta\.url\s*\)/g;

const isBuiltin = (spec: string) => spec.startsWith('node:') || builtinModules.includes(spec);

/** The import specifiers of one compiled module, relative ones resolved to file paths. */
function importsOf(file: string): string[] {
  return [...readFileSync(file, 'utf8').matchAll(IMPORT)].map((m) => {
    const spec = (m[1] ?? m[2] ?? m[3] ?? m[4])!;
    return spec.startsWith('.') ? join(dirname(file), spec) : spec;
  });
}

/** Every module reachable from `entries`, each with the module that first imported it (for the import chain). */
function reach(entries: string[]): Map<string, string | null> {
  const from = new Map<string, string | null>(entries.map((e) => [e, null]));
  const todo = [...entries];
  while (todo.length) {
    const file = todo.shift()!;
    if (!file.endsWith('.js')) continue;
    for (const dep of importsOf(file)) {
      if (from.has(dep)) continue;
      from.set(dep, file);
      todo.push(dep);
    }
  }
  return from;
}

function chain(from: Map<string, string | null>, end: string, root: string): string {
  const steps: string[] = [];
  for (let m: string | null | undefined = end; m; m = from.get(m)) steps.unshift(m.endsWith('.js') ? relative(root, m) : m);
  return steps.join(' -> ');
}

const jsFiles = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? jsFiles(join(dir, e.name)) : e.name.endsWith('.js') ? [join(dir, e.name)] : []));

/** The modules of a layer: a folder (every .js under it) or one .js file. */
function layerFiles(root: string, layer: string): string[] {
  const p = join(root, layer);
  return layer.endsWith('.js') ? (existsSync(p) ? [p] : []) : existsSync(p) ? jsFiles(p).filter((f) => !f.endsWith('-file.js')) : [];
}

/** The import chains by which a layer reaches what its rule forbids (empty when the rule holds). */
function violations(root: string, [layer, forbidden]: [string, string[]]): string[] {
  const files = layerFiles(root, layer);
  assert.ok(files.length > 0, `rule for "${layer}": no compiled modules at ${join(root, layer)}`);
  const from = reach(files);
  const hits = (m: string, target: string) => {
    if (target === NODE) return isBuiltin(m);
    if (!m.endsWith('.js')) return m === target || m.startsWith(`${target}/`);
    const rel = relative(root, m);
    return rel === target || rel.startsWith(`${target}/`);
  };
  return [...from.keys()].flatMap((m) => forbidden.filter((t) => hits(m, t)).map((t) => `${layer} must not import ${t}: ${chain(from, m, root)}`));
}

test('layer rules: each layer reaches none of the modules its rule forbids', () => {
  for (const [layer, forbidden] of RULES) {
    for (const t of forbidden) {
      const known = t === NODE || existsSync(join('dist/src', t)) || existsSync(join('node_modules', t));
      assert.ok(known, `rule for "${layer}" names "${t}", neither under dist/src nor an installed package`);
    }
  }
  assert.deepEqual(RULES.flatMap((r) => violations('dist/src', r)), []);
});

test('the layer walker reports a forbidden import with its chain, direct or through another module', () => {
  const root = mkdtempSync(join(tmpdir(), 'tweedie-layers-'));
  try {
    for (const [file, text] of [
      ['a/x.js', "import { y } from '../b/y.js';\nexport const x = y;\n"],
      ['b/y.js', "import { readFileSync } from 'node:fs';\nexport const y = () => import('../c/z.js');\nexport const w = new URL('../d/w.js', import.meta.url);\n"],
      ['c/z.js', 'export const z = 1;\n'],
      ['d/w.js', "import 'node:worker_threads';\n"],
    ]) {
      mkdirSync(dirname(join(root, file!)), { recursive: true });
      writeFileSync(join(root, file!), text!);
    }
    assert.deepEqual(violations(root, ['a', ['b']]), ['a must not import b: a/x.js -> b/y.js']);
    assert.deepEqual(violations(root, ['a', [NODE, 'c']]), [
      'a must not import Node builtins: a/x.js -> b/y.js -> node:fs',
      'a must not import c: a/x.js -> b/y.js -> c/z.js',
      'a must not import Node builtins: a/x.js -> b/y.js -> d/w.js -> node:worker_threads',
    ]);
    assert.deepEqual(violations(root, ['a', ['d']]), ['a must not import d: a/x.js -> b/y.js -> d/w.js']);
    assert.deepEqual(violations(root, ['d', [NODE]]), ['d must not import Node builtins: d/w.js -> node:worker_threads']);
    assert.deepEqual(violations(root, ['c', ['a', 'b', NODE]]), []);
    assert.throws(() => violations(root, ['missing', ['a']]), /no compiled modules/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

/** Every module reachable from `entry`, and the imports a browser cannot resolve (`mapped`: the import map's names). */
function browserProblems(entry: string, mapped: ReadonlySet<string> = MAPPED): { modules: string[]; problems: string[] } {
  const from = reach([entry]);
  const problems = [...from.keys()]
    .filter((m) => !m.endsWith('.js') && !mapped.has(m))
    .map((m) => `${chain(from, m, '.')} (${isBuiltin(m) ? 'a Node builtin' : "a bare specifier the page's import map does not map"})`);
  return { modules: [...from.keys()], problems };
}

test('nothing reachable from dist/src/browser.js imports a Node builtin or an unmapped package', () => {
  const { modules, problems } = browserProblems('dist/src/browser.js');
  assert.deepEqual(problems, []);
  for (const m of ['dist/src/models/onnx-web.js', 'dist/src/samplers/registry.js', 'dist/src/paths/scheduler-config.js', 'dist/src/inverse/operators/mri.js', 'dist/src/recipes/restore.js', 'dist/src/inverse/solvers/registry.js']) {
    assert.ok(modules.includes(m), `${m} is reachable from the browser entry`);
  }
});

test('the app reaches no Node builtin: web/app.js only the packages its page maps, web/worker.js only onnxruntime-web, which it hands in', () => {
  const map = /<script type="importmap">([\s\S]*?)<\/script>/.exec(readFileSync('web/index.html', 'utf8'))?.[1];
  assert.ok(map, 'web/index.html has an import map');
  const page = browserProblems('web/app.js', new Set(Object.keys((JSON.parse(map!) as { imports: Record<string, string> }).imports)));
  assert.deepEqual(page.problems, []);
  assert.ok(page.modules.includes('web/worker.js') && page.modules.includes('dist/src/app/browser-tasks.js') && page.modules.includes('dist/src/volume/reconstruct-core.js'), 'the walk follows the worker script');
  // A module worker has no import map: onnx-web.js's import('onnxruntime-web') is never reached there, because
  // web/worker.js imports ort.min.mjs by its path and passes it in (OnnxWebOptions.ort).
  assert.deepEqual(browserProblems('web/worker.js', new Set(['onnxruntime-web'])).problems, []);
});

test('the browser check catches Node builtins and unmapped packages (the Node entry has both)', () => {
  const { problems } = browserProblems('dist/src/index.js');
  assert.ok(problems.some((p) => p.endsWith('-> node:fs (a Node builtin)')), problems.join('\n'));
  assert.ok(problems.some((p) => p.endsWith("-> onnxruntime-node (a bare specifier the page's import map does not map)")), problems.join('\n'));
});

test('the Node entry exports every name of the browser entry, bound to the same value', async () => {
  const browser = (await import('../src/browser.js')) as Record<string, unknown>;
  const node = (await import('../src/index.js')) as Record<string, unknown>;
  const missing = Object.keys(browser).filter((k) => !(k in node));
  const different = Object.keys(browser).filter((k) => k in node && node[k] !== browser[k]);
  assert.deepEqual({ missing, different }, { missing: [], different: [] }, 'dist/src/index.js must re-export dist/src/browser.js unchanged (an ambiguous `export *` name drops out)');
});

test('the Node entry exports operators, the spec parser, solvers, restore, volume reconstruction and the FFT', async () => {
  const node = (await import('../src/index.js')) as Record<string, unknown>;
  const headline = [
    'parseOperatorSpec', 'MRIOperator', 'MultiCoilMRIOperator', 'CTOperator', 'InpaintingOperator', 'BlurOperator', 'MatrixOperator',
    'SOLVERS', 'solverByName', 'runSolver', 'restore', 'reconstructVolume', 'reconstructMeasured',
    'fft2c', 'ifft2c', 'fft2d', 'fft1d', 'runSampler', 'samplerByName', 'GaussianMixture', 'OnnxDenoiser', 'readNifti', 'readNpy', 'packageRoot',
  ];
  assert.deepEqual(headline.filter((k) => node[k] === undefined), [], 'names missing from dist/src/index.js');
});
