import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../src/package-root.js';

// The shipped native priors on what they are for: a whole held-out 217 x 181 slice (never trained on), MRI 4x, at the
// slice's own grid. The bar is the zero-filled reconstruction plus 3 dB at 10 NFE (bench priors measures +5 to +6 dB
// at 50 NFE for eps and flow); a broken export, a wrong layout or a wrong prediction type falls far below it.
for (const objective of ['eps', 'v', 'flow']) {
  test(`brain-native-${objective}: tweedie demo reconstructs a native held-out slice at its own grid >= 3 dB over zero-filled at 10 NFE`, () => {
    const dir = mkdtempSync(join(tmpdir(), 'tweedie-native-'));
    try {
      const out = join(dir, 'demo.png');
      const stdout = execFileSync(process.execPath, [join(packageRoot, 'bin', 'tweedie.js'), 'demo', '--model', join(packageRoot, 'weights', `brain-native-${objective}`), '--steps', '10', '--json', '--out', out], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
      const r = JSON.parse(stdout) as { operator: string; psnr: number; psnr_baseline: number; baseline: string };
      assert.match(r.operator, /1x217x181/);
      assert.equal(r.baseline, 'zero-filled');
      assert.ok(r.psnr >= r.psnr_baseline + 3, `PSNR ${r.psnr.toFixed(2)} dB against zero-filled ${r.psnr_baseline.toFixed(2)} dB`);
      assert.ok(readFileSync(out).length > 0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
