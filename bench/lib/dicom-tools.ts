import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/**
 * The independent DICOM tools the DICOM tests and `tweedie bench io` run: dcmtk, gdcm, dcm2niix and
 * pydicom (Debian packages, installed by .ci/run). A missing tool fails with the package to install;
 * nothing is skipped.
 */

const PACKAGES: Record<string, string> = {
  dcmdump: 'dcmtk', dcmconv: 'dcmtk', dcmcjpeg: 'dcmtk', dcmdjpeg: 'dcmtk', dcmcjpls: 'dcmtk', dcmcrle: 'dcmtk',
  gdcmconv: 'libgdcm-tools', gdcminfo: 'libgdcm-tools', dcm2niix: 'dcm2niix',
};

/** Debian's python3 (with python3-pydicom and python3-nibabel), not the first python3 on PATH. */
export const PYTHON = '/usr/bin/python3';

/** Run `cmd args`, asserting it exists and exits 0; returns stdout. */
export function runTool(cmd: string, args: string[], options: { cwd?: string } = {}): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 26, ...options });
  if (r.error && (r.error as NodeJS.ErrnoException).code === 'ENOENT') {
    const pkg = cmd === PYTHON ? 'python3-pydicom python3-nibabel' : PACKAGES[cmd] ?? cmd;
    assert.fail(`${cmd} is missing: install the Debian package ${pkg} ("apt-get install ${pkg}"; .ci/run does)`);
  }
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')} failed (${r.status}): ${(r.stderr ?? '').slice(-1500)}`);
  return r.stdout;
}

/** Run the pydicom helper test/helpers/dicom_oracle.py (its docstring lists the commands). */
export function pydicomOracle(script: string, args: string[]): string {
  assert.ok(existsSync(script), `${script} is missing`);
  return runTool(PYTHON, [script, ...args]);
}

/** The TransferSyntaxUID of a file, as dcmtk reads it. */
export function syntaxOf(file: string): string {
  const line = runTool('dcmdump', ['-Un', '+P', '0002,0010', file]);
  return /\[([\d.]+)\]/.exec(line)?.[1] ?? line;
}
