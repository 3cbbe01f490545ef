import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fail } from '../src/core/errors.js';
import { packageRoot } from '../src/package-root.js';
import { cleanRefusal, probeCli, type CliProbe } from './lib/cli-probe.js';
import { writeHostileCorpus } from './lib/hostile-files.js';

export const description = 'hostile inputs: every reader on a generated corpus of bombs and broken files, and CLI probes of absurd options and outputs that would overwrite inputs (clean errors, stack traces, peak RSS, files lost)';

const PROBE = fileURLToPath(new URL('./lib/read-probe.js', import.meta.url));
const READERS = ['npy', 'png', 'nifti', 'dicom'];
const TIMEOUT_MS = 30_000;
const CH2 = '/usr/share/mricron/templates/ch2.nii.gz';

interface Row {
  probe: string;
  clean: boolean;
  rssMiB: number;
  seconds: number;
  lost: boolean;
}

/** Read one corpus file with every reader in a child process: clean when each refusal is a one-line TweedieError naming the file. */
function fileProbe(path: string, readers: string[], mustRead: string | null): Row {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [PROBE, path, readers.join(',')], { encoding: 'utf8', timeout: TIMEOUT_MS, killSignal: 'SIGKILL' });
  const seconds = (performance.now() - t0) / 1000;
  if (r.status !== 0) return { probe: basename(path), clean: false, rssMiB: NaN, seconds, lost: false };
  const { results, maxRssKiB } = JSON.parse(r.stdout) as { results: { reader: string; ok: boolean; tweedie?: boolean; message?: string }[]; maxRssKiB: number };
  const clean = results.every((o) => (o.reader === mustRead ? o.ok : !o.ok && o.tweedie && !o.message!.includes('\n') && o.message!.includes(path)));
  return { probe: basename(path), clean, rssMiB: maxRssKiB / 1024, seconds, lost: false };
}

/** A CLI probe; `keep` names files that must be byte-identical afterwards (the user's inputs). */
function cliProbe(label: string, args: string[], keep: string[] = [], env: Record<string, string> = {}): Row {
  const before = keep.map((f) => readFileSync(f));
  const p: CliProbe = probeCli(args, { env, timeoutMs: TIMEOUT_MS });
  const lost = keep.some((f, i) => !existsSync(f) || !readFileSync(f).equals(before[i]!));
  return { probe: label, clean: cleanRefusal(p), rssMiB: p.rssKb / 1024, seconds: p.seconds, lost };
}

export async function run(opts: { json: boolean; log: (m: string) => void }): Promise<Record<string, unknown>> {
  if (!existsSync(join(packageRoot, 'test', 'fixtures', 'dicom'))) fail('UNREADABLE_FILE', 'bench hostile builds its DICOM probes from test/fixtures/dicom; run it in a clone of the repository');
  if (!existsSync(CH2)) fail('UNREADABLE_FILE', `${CH2} is missing; apt-get install mricron-data`);
  const dir = mkdtempSync(join(tmpdir(), 'tweedie-bench-hostile-'));
  try {
    opts.log('writing the hostile corpus ...');
    const corpus = await writeHostileCorpus(dir);
    const rows: Row[] = [];
    for (const f of corpus) {
      opts.log(`  ${basename(f.path)}`);
      rows.push(fileProbe(f.path, f.reader === 'model' ? ['model'] : READERS, f.code === null ? f.reader : null));
    }
    const npy = join(dir, 'input.npy'), vol = join(dir, 'input.nii.gz'), out = join(dir, 'out.npy');
    copyFileSync(join(packageRoot, 'examples', 'patterns-truth.npy'), npy);
    copyFileSync(CH2, vol);
    const gmm = ['--model', `gmm:${join(packageRoot, 'examples', 'mixture-2d.json')}`];
    const sched = join(dir, 'scheduler.json');
    writeFileSync(sched, '{"_class_name": "DDIMScheduler", "num_train_timesteps": 1e15}');
    const cli: [string, string[], string[]?][] = [
      ['sample --steps 1e9', ['sample', ...gmm, '--steps', '1e9', '--out', out]],
      ['sample --steps 99999999999999999999', ['sample', ...gmm, '--steps', '99999999999999999999', '--out', out]],
      ['sample -n 1e9', ['sample', ...gmm, '-n', '1e9', '--out', out]],
      ['sample --threads 1000', ['sample', ...gmm, '--threads', '1000', '--out', out]],
      ['sample --seed 1e20', ['sample', ...gmm, '--seed', '1e20', '--out', out]],
      ['num_train_timesteps 1e15', ['sample', ...gmm, '--scheduler-config', sched, '--out', out]],
      ['solve --operator bogus', ['solve', ...gmm, '--operator', 'bogus:x=1', '--truth', npy, '--out', out]],
      ['solve ct:views=1e9', ['solve', '--model', `gmm:${join(packageRoot, 'examples', 'patterns-8x8.json')}`, '--operator', 'ct:views=1e9', '--truth', npy, '--out', out]],
      ['sample --out no/such/dir', ['sample', ...gmm, '--steps', '1000', '-n', '100000', '--out', join(dir, 'no', 'such', 'x.npy')]],
      ['sample --init X --out X', ['sample', '--model', `gmm:${join(packageRoot, 'examples', 'patterns-8x8.json')}`, '-n', '1', '--init', npy, '--out', npy], [npy]],
      ['solve --truth X --out X', ['solve', '--model', `gmm:${join(packageRoot, 'examples', 'patterns-8x8.json')}`, '--operator', 'inpaint:box=4', '--truth', npy, '--out', npy], [npy]],
      ['restore --input X --out X', ['restore', '--input', npy, '--out', npy], [npy]],
      ['reconstruct --truth X --out X', ['reconstruct', '--truth', vol, '--modality', 'mri', '--out', vol], [vol]],
      ['reconstruct --out X --out-model X', ['reconstruct', '--truth', vol, '--modality', 'mri', '--out', join(dir, 'r.nii.gz'), '--out-model', join(dir, 'r.nii.gz')], [vol]],
    ];
    for (const [label, args, keep] of cli) {
      opts.log(`  tweedie ${label}`);
      rows.push(cliProbe(label, args, keep));
    }
    const worst = rows.reduce((w, r) => (r.rssMiB > w.rssMiB ? r : w), rows[0]!);
    const slowest = rows.reduce((w, r) => (r.seconds > w.seconds ? r : w), rows[0]!);
    const result = {
      probes: rows.length, clean_errors: rows.filter((r) => r.clean).length, stack_traces_or_unclean: rows.filter((r) => !r.clean).length,
      peak_rss_mib_worst: worst.rssMiB, worst_probe: worst.probe, slowest_seconds: slowest.seconds, slowest_probe: slowest.probe,
      files_lost: rows.filter((r) => r.lost).length, unclean: rows.filter((r) => !r.clean).map((r) => r.probe),
    };
    if (!opts.json) {
      process.stdout.write(
        [
          `hostile inputs: ${result.probes} probes (${corpus.length} corpus files through every reader, ${cli.length} CLI probes)`,
          `  clean one-line errors   ${result.clean_errors}  (the largest honest files count as clean when they read)`,
          `  unclean or stack traces ${result.stack_traces_or_unclean}${result.unclean.length ? `: ${result.unclean.join(', ')}` : ''}   (target 0)`,
          `  peak RSS, worst probe   ${worst.rssMiB.toFixed(0)} MiB (${worst.probe})   (target < 1024)`,
          `  slowest probe           ${slowest.seconds.toFixed(1)} s (${slowest.probe})   (target < 30)`,
          `  files lost or changed   ${result.files_lost}   (target 0)`,
        ].join('\n') + '\n',
      );
    }
    return result;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
