import { spawnSync } from 'node:child_process';
import assert from 'node:assert/strict';
import { PYTHON } from '../../bench/lib/dicom-tools.js';

/**
 * A NIfTI file as nibabel reads it (an independent reader): dims, the affine nibabel picks, and the voxels as float64 in
 * our layout (x fastest, then y, then z), via JSON.
 */
export function nibabelRead(file: string): { dims: number[]; affine: number[][]; data: Float64Array } {
  const script = [
    'import json, sys, nibabel, numpy',
    'img = nibabel.load(sys.argv[1])',
    'a = numpy.asarray(img.dataobj, dtype=numpy.float64)',
    'print(json.dumps({"dims": list(a.shape), "affine": img.affine.tolist(), "data": a.transpose(2, 1, 0).ravel().tolist()}))',
  ].join('\n');
  const r = spawnSync(PYTHON, ['-c', script, file], { encoding: 'utf8', maxBuffer: 1 << 28 });
  assert.equal(r.status, 0, `nibabel could not read ${file}: ${r.stderr}`);
  const j = JSON.parse(r.stdout) as { dims: number[]; affine: number[][]; data: number[] };
  return { dims: j.dims, affine: j.affine, data: Float64Array.from(j.data) };
}
