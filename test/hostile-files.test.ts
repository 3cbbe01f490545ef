import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeHostileCorpus, type HostileFile } from '../bench/lib/hostile-files.js';

/**
 * Every file reader on every file of a hostile corpus (decompression bombs, absurd sizes, a
 * deeply nested NPY header, NaN / infinite / inexact values, truncations): each must give a
 * TweedieError with a one-line message naming the file (the expected code and message from the
 * reader the file is aimed at), in its own child process whose peak memory stays under 1 GiB
 * and which answers within 30 s. The corpus also holds the largest compressed files the
 * readers accept, which their reader must read within the same bounds.
 */

const PROBE = fileURLToPath(new URL('../bench/lib/read-probe.js', import.meta.url));
const FILE_READERS = ['npy', 'png', 'nifti', 'dicom'];
const MAX_RSS_BYTES = 2 ** 30;
const TIMEOUT_MS = 30000;

interface Outcome {
  reader: string;
  ok: boolean;
  ms: number;
  tweedie?: boolean;
  name?: string;
  code?: string;
  message?: string;
}

let dir = '';
let corpus: HostileFile[] = [];
before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tweedie-hostile-'));
  corpus = await writeHostileCorpus(dir);
});
after(() => rmSync(dir, { recursive: true, force: true }));

test('every reader refuses every hostile file with a one-line TweedieError naming it (and reads the largest honest ones), within 30 s and 1 GiB of memory', async (t) => {
  assert.ok(corpus.length > 20, 'the corpus was written');
  let worst = { rss: 0, file: '' };
  for (const f of corpus) {
    await t.test(basename(f.path), () => {
      const readers = f.reader === 'model' ? ['model'] : FILE_READERS;
      const r = spawnSync(process.execPath, [PROBE, f.path, readers.join(',')], { encoding: 'utf8', timeout: TIMEOUT_MS });
      assert.equal(r.status, 0, `the probe of ${f.path} crashed or ran past ${TIMEOUT_MS} ms (signal ${r.signal}): ${r.stderr.slice(-2000)}`);
      const { results, maxRssKiB } = JSON.parse(r.stdout) as { results: Outcome[]; maxRssKiB: number };
      for (const o of results) {
        const what = `${o.reader} reader on ${basename(f.path)}`;
        if (o.reader === f.reader && f.code === null) {
          assert.ok(o.ok, `${what}: an honest file at the limits is refused: ${o.message}`);
          continue;
        }
        assert.ok(!o.ok, `${what}: read without an error`);
        assert.ok(o.tweedie, `${what}: ${o.name}: ${o.message}`);
        assert.ok(!o.message!.includes('\n'), `${what}: message of several lines: ${o.message}`);
        assert.ok(o.message!.includes(f.path), `${what}: the message does not name the file: ${o.message}`);
        if (o.reader === f.reader) {
          assert.equal(o.code, f.code, `${what}: ${o.message}`);
          assert.match(o.message!, f.pattern);
        }
      }
      const rss = maxRssKiB * 1024;
      t.diagnostic(`${basename(f.path)}: peak RSS ${(rss / 2 ** 20).toFixed(0)} MiB, ${results.map((o) => `${o.reader} ${o.ms.toFixed(0)} ms`).join(', ')}`);
      if (rss > worst.rss) worst = { rss, file: basename(f.path) };
      assert.ok(rss < MAX_RSS_BYTES, `${f.path}: peak RSS ${(rss / 2 ** 20).toFixed(0)} MiB`);
    });
  }
  t.diagnostic(`worst peak RSS: ${(worst.rss / 2 ** 20).toFixed(0)} MiB (${worst.file})`);
});
