import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative } from 'node:path';

// Bare specifiers a page resolves through its import map.
const MAPPED = new Set(['onnxruntime-web']);
const IMPORT = /(?:^|[\s;])(?:import|export)\s[^'"`;]*?from\s*['"]([^'"]+)['"]|(?:^|[\s;])import\s*['"]([^'"]+)['"]|\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g;

/** Every module reachable from `entry` by static or dynamic import, and the imports a browser cannot resolve. */
function walk(entry: string): { modules: string[]; problems: string[] } {
  const seen = new Set<string>(), problems: string[] = [], todo = [entry];
  while (todo.length) {
    const file = todo.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    for (const m of readFileSync(file, 'utf8').matchAll(IMPORT)) {
      const spec = (m[1] ?? m[2] ?? m[3])!;
      const where = `${relative('.', file)} imports "${spec}"`;
      if (spec.startsWith('.')) todo.push(join(dirname(file), spec));
      else if (spec.startsWith('node:') || builtinModules.includes(spec)) problems.push(`${where} (a Node builtin)`);
      else if (!MAPPED.has(spec)) problems.push(`${where} (a bare specifier the page's import map does not map)`);
    }
  }
  return { modules: [...seen], problems };
}

test('nothing reachable from dist/src/browser.js imports a Node builtin or an unmapped package', () => {
  const { modules, problems } = walk('dist/src/browser.js');
  assert.deepEqual(problems, []);
  for (const m of ['dist/src/models/onnx-web.js', 'dist/src/samplers/registry.js', 'dist/src/paths/scheduler-config.js', 'dist/src/inverse/operators/mri.js', 'dist/src/recipes/restore.js']) {
    assert.ok(modules.includes(m), `${m} is reachable from the browser entry`);
  }
});

test('the import walker catches Node builtins (the Node entry has them)', () => {
  const { problems } = walk('dist/src/index.js');
  assert.ok(problems.some((p) => p.includes('"node:fs" (a Node builtin)')), problems.join('\n'));
  assert.ok(problems.some((p) => p.includes('"onnxruntime-node" (a bare specifier')), problems.join('\n'));
});
