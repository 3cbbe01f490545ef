import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

// The package as a user installs it: `npm pack` (the built dist/, no second build), installed offline into an
// empty project, then the README's API examples, `tweedie/browser` and the README's install commands run there.

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const readme = readFileSync(join(repo, 'README.md'), 'utf8');
let project = '';
/** The paths in the packed tarball. */
let shipped: string[] = [];

/**
 * npm's environment without what an enclosing `npm test` sets for this repository (its package, its prefix),
 * offline (dependencies come from npm's cache), and without onnxruntime-node's download of GPU providers.
 */
function npmEnv(): NodeJS.ProcessEnv {
  const keep = new Set(['npm_config_cache', 'npm_config_userconfig', 'npm_config_globalconfig', 'npm_config_registry']);
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k) || keep.has(k.toLowerCase())));
  return { ...env, npm_config_offline: 'true', npm_config_audit: 'false', npm_config_fund: 'false', npm_config_update_notifier: 'false', npm_config_onnxruntime_node_install: 'skip' };
}

function run(cmd: string, args: string[], cwd: string, what: string, shell = false): SpawnSyncReturns<string> {
  const r = spawnSync(cmd, args, { cwd, env: npmEnv(), encoding: 'utf8', shell, timeout: 300_000, maxBuffer: 64 << 20 });
  const tail = (s: string | null) => (s ?? '').trim().split('\n').slice(-25).join('\n');
  assert.equal(r.status, 0, `${what} failed (exit ${r.status}${r.error ? `, ${r.error.message}` : ''}):\n${tail(r.stderr)}\n${tail(r.stdout)}`);
  return r;
}

/** The fenced blocks of one language in the README section whose heading starts with `heading`, each with the README line of its first line. */
function readmeBlocks(heading: string, lang: string): { line: number; code: string }[] {
  const start = readme.indexOf(`\n## ${heading}`);
  assert.ok(start >= 0, `README.md has no "## ${heading}" section`);
  const end = readme.indexOf('\n## ', start + 1);
  const section = readme.slice(start, end < 0 ? undefined : end);
  const line0 = readme.slice(0, start).split('\n').length + 1;
  return [...section.matchAll(new RegExp('^```' + lang + '\\n([\\s\\S]*?)^```', 'gm'))].map((m) => ({
    line: line0 + section.slice(0, m.index).split('\n').length - 1,
    code: m[1]!,
  }));
}

/** Type-check and emit .ts files of the user project (ESM .js beside them); tweedie's types come through its "exports". */
function compile(files: string[]): readonly ts.Diagnostic[] {
  const program = ts.createProgram(files, {
    module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, target: ts.ScriptTarget.ES2022,
    lib: ['lib.es2022.d.ts'], strict: true, skipLibCheck: true, noEmitOnError: true,
    typeRoots: [join(repo, 'node_modules', '@types')], types: ['node'],
  });
  const diagnostics = ts.getPreEmitDiagnostics(program);
  return diagnostics.length ? diagnostics : program.emit().diagnostics;
}

/**
 * Install the packed tarball offline. `npm install TARBALL` would fetch full registry metadata for the
 * dependency ranges, which `npm ci` never caches; so the project pins the dependencies to the repository's
 * package-lock.json (its non-dev entries) and `npm ci` installs them from the cache `npm ci` filled.
 */
before(() => {
  project = mkdtempSync(join(tmpdir(), 'tweedie-package-'));
  assert.ok(existsSync(join(repo, 'dist', 'src', 'index.js')) && existsSync(join(repo, 'dist', 'bench')), 'dist/ is not built: run npm run build');
  const packed = run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', project], repo, 'npm pack in the repository');
  const { filename: tarball, files } = (JSON.parse(packed.stdout) as { filename: string; files: { path: string }[] }[])[0]!;
  shipped = files.map((f) => f.path);
  const pkg = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as Record<string, unknown> & { version: string };
  const lock = JSON.parse(readFileSync(join(repo, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean; devOptional?: boolean }> };
  const spec = `file:${tarball}`;
  const packages: Record<string, unknown> = {
    '': { name: 'tweedie-user', version: '1.0.0', dependencies: { tweedie: spec } },
    'node_modules/tweedie': { version: pkg.version, resolved: spec, license: pkg.license, dependencies: pkg.dependencies, bin: pkg.bin, engines: pkg.engines },
  };
  for (const [k, v] of Object.entries(lock.packages)) if (k && !v.dev && !v.devOptional) packages[k] = v;
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'tweedie-user', version: '1.0.0', private: true, type: 'module', dependencies: { tweedie: spec } }));
  writeFileSync(join(project, 'package-lock.json'), JSON.stringify({ name: 'tweedie-user', version: '1.0.0', lockfileVersion: 3, requires: true, packages }));
  run('npm', ['ci', '--offline', '--no-audit', '--no-fund'], project,
    "installing the packed tarball offline (npm ci --offline; the dependencies must be in npm's cache: run npm ci in the repository first)");
});

after(() => {
  if (project) rmSync(project, { recursive: true, force: true });
});

test('the tarball ships the entries with their types, LICENSE, the benchmarks and every file the shipped code reads', () => {
  const heldout = shipped.filter((f) => /^weights\/[^/]+\/tasks\.json$/.test(f))
    .map((f) => (JSON.parse(readFileSync(join(repo, f), 'utf8')) as { heldout: string }).heldout);
  const needed = ['LICENSE', 'package.json', 'bin/tweedie.js', 'dist/src/index.js', 'dist/src/index.d.ts', 'dist/src/browser.js', 'dist/src/browser.d.ts', 'dist/bench/samplers.js', 'weights/brain-64/split.json', 'weights/brain-64/heldout.npy', ...heldout];
  assert.deepEqual(needed.filter((f) => !shipped.includes(f)), [], 'files missing from the tarball (package.json "files")');
  assert.deepEqual(shipped.filter((f) => f.startsWith('dist/test/') || f.startsWith('test/') || f.startsWith('training/')), [], 'repository-only files in the tarball');
});

test("the README's API examples type-check against the installed types and run with `import ... from 'tweedie'`", () => {
  const blocks = readmeBlocks('API', 'ts');
  assert.ok(blocks.length > 0, 'the README\'s "## API" section has no ```ts block');
  const files = blocks.map((b, i) => {
    assert.match(b.code, /from 'tweedie(\/browser)?'/, `README.md line ${b.line}: the example does not import from 'tweedie'`);
    const file = join(project, `api-${i + 1}.ts`);
    writeFileSync(file, b.code);
    return { ...b, file };
  });
  const diagnostics = compile(files.map((f) => f.file));
  const where = (d: ts.Diagnostic) => {
    const f = files.find((x) => x.file === d.file?.fileName);
    const l = f && d.start !== undefined ? f.line + d.file!.getLineAndCharacterOfPosition(d.start).line : 0;
    return `README.md line ${l}: ${ts.flattenDiagnosticMessageText(d.messageText, ' ')}`;
  };
  assert.deepEqual(diagnostics.map(where), [], 'the README API examples do not compile against the installed package');
  for (const f of files) run(process.execPath, [f.file.replace(/\.ts$/, '.js')], project, `the README API example at README.md line ${f.line}`);
});

test("`tweedie/browser` resolves (code and types) in the installed package and is a part of `tweedie`", () => {
  const file = join(project, 'browser-entry.ts');
  writeFileSync(file, [
    "import * as browser from 'tweedie/browser';",
    "import * as node from 'tweedie';",
    'const names: string[] = Object.keys(browser);',
    "const differ = names.filter((k) => (node as Record<string, unknown>)[k] !== (browser as Record<string, unknown>)[k]);",
    "if (differ.length) throw new Error(`names of tweedie/browser that tweedie lacks or binds differently: ${differ.join(', ')}`);",
    "const sampler: browser.SamplerDef = browser.samplerByName('ddim');",
    "if (typeof browser.OnnxWebDenoiser.create !== 'function' || sampler.name !== 'ddim') throw new Error('tweedie/browser lacks its API');",
    "if ('readNifti' in browser) throw new Error('tweedie/browser exports a file reader');",
    '',
  ].join('\n'));
  const diagnostics = compile([file]);
  assert.deepEqual(diagnostics.map((d) => ts.flattenDiagnosticMessageText(d.messageText, ' ')), [], "types of 'tweedie/browser' (package.json exports)");
  run(process.execPath, [join(project, 'browser-entry.js')], project, "import 'tweedie/browser' in the installed package");
});

test("the README's install commands run in the installed package: --help, bench --list, a gmm:examples sample", () => {
  const commands = readmeBlocks('Install', 'sh').flatMap((b) =>
    b.code.split('\n').flatMap((text, i) => (text.startsWith('npx tweedie') ? [{ line: b.line + i, text }] : [])));
  for (const needed of [/^npx tweedie --help$/, /^npx tweedie bench --list$/, /^npx tweedie sample --model gmm:node_modules\/tweedie\/examples\/\S+/]) {
    assert.ok(commands.some((c) => needed.test(c.text)), `the README's "## Install" section has no command like ${needed}`);
  }
  const benches = readdirSync(join(repo, 'bench')).filter((f) => f.endsWith('.ts')).map((f) => f.slice(0, -3)).sort();
  for (const c of commands) {
    const r = run(c.text, [], project, `\`${c.text}\` (README.md line ${c.line}) in the installed package`, true);
    if (/ --help$/.test(c.text)) assert.match(r.stdout, /usage: tweedie COMMAND/, `${c.text} prints the usage`);
    if (/ bench --list$/.test(c.text)) assert.deepEqual(r.stdout.trim().split('\n'), benches, `${c.text} lists every benchmark of bench/ (dist/bench ships)`);
    const out = / --out (\S+)/.exec(c.text)?.[1];
    if (out) assert.ok(existsSync(join(project, out)), `${c.text} wrote ${out}`);
  }
});
