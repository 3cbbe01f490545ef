"""Write a raw multi-coil k-space file in the fastMRI layout from the ch2 template (h5py).

The independent writer for tweedie's fastMRI reader (src/io/fastmri.ts) and its tests: the
slices are held-out axial slices of weights/brain-64 (the ch2 T1 template brought to the
model's square crop exactly as training/brain64.py does, so the prior never saw them), in
voxel units v = (x + 1) p / 2 at 64 x 64 (area average of the 215 mm crop).

Layout written (what fastMRI's multicoil files hold):
    kspace              complex64 [slices, coils, rows, cols]; rows = readout (ISMRMRD x),
                        cols = phase encoding (ISMRMRD y, the undersampled axis)
    ismrmrd_header      the ISMRMRD XML (bytes): encodedSpace / reconSpace matrixSize and
                        fieldOfView_mm, encodingLimits of kspace_encoding_step_1
    reconstruction_rss  float32 [slices, H, W]: the root-sum-of-squares of the fully sampled
                        coil images, centre-cropped to reconSpace (absent with --accel)
    mask                float32 [cols] (only with --accel: prospectively undersampled, the
                        unsampled columns of kspace are zero), as fastMRI's test files
    attrs               acquisition, max, norm, patient_id (+ acceleration, num_low_frequency)

k-space of coil c: fft2c(S_c * image) with fastMRI's centred orthonormal transform
fft2c(x) = fftshift(fft2(ifftshift(x), norm="ortho")) over the last two axes. With --oversample 2
the image is placed in the middle of a field of view twice as long along the readout (rows):
128 x 64 encoded, 64 x 64 reconstructed. Coil maps: --coils loops on a ring around
the head, Biot-Savart-like magnitude 1 / (d^2 + h^2)^(3/2) (d the in-plane distance to the loop
centre, h its height) and a smooth phase, normalised to sum_c |S_c|^2 = 1 at every pixel, so the
fully sampled RSS equals |image| (up to --noise). --sidecar DIR also writes, with numpy,
what the tests compare against: image.npy (float32 [slices, H, W], the recon-space images),
maps.npy (float32 [coils, rows, cols, 2], (re, im) last), probe.npy (float64 [k, 6]: slice,
coil, row, col, re, im of a few kspace entries).

    /usr/bin/python3 training/fastmri_file.py --out test/fixtures/fastmri/ch2_8coil.h5 \\
        --slices 2 --coils 8 --sidecar test/fixtures/fastmri/ch2_8coil
    /usr/bin/python3 training/fastmri_file.py --out /tmp/ch2_os.h5 --oversample 2 --accel 4
    /usr/bin/python3 training/fastmri_file.py --bad test/fixtures/fastmri/bad   # refusal fixtures

Run from the repository root.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from brain64 import prepare  # noqa: E402


def fft2c(x: np.ndarray) -> np.ndarray:
    return np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(x, axes=(-2, -1)), norm="ortho"), axes=(-2, -1))


def ifft2c(y: np.ndarray) -> np.ndarray:
    return np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(y, axes=(-2, -1)), norm="ortho"), axes=(-2, -1))


def coil_maps(coils: int, rows: int, cols: int, fov_rows: float, fov_cols: float) -> np.ndarray:
    """[coils, rows, cols] complex: loops of radius 0.25 FOV on a ring of 0.6 FOV, sum |S|^2 = 1."""
    y = (np.arange(rows) - rows / 2 + 0.5) * fov_rows / rows
    x = (np.arange(cols) - cols / 2 + 0.5) * fov_cols / cols
    Y, X = np.meshgrid(y, x, indexing="ij")
    fov = min(fov_rows, fov_cols)
    ring, h = 0.6 * fov, 0.25 * fov
    maps = np.empty((coils, rows, cols), np.complex128)
    for c in range(coils):
        a = 2 * np.pi * c / coils
        cy, cx = ring * np.sin(a), ring * np.cos(a)
        d2 = (Y - cy) ** 2 + (X - cx) ** 2
        mag = 1.0 / (d2 + h * h) ** 1.5
        phase = a + 0.8 * np.pi * (X * np.cos(a) + Y * np.sin(a)) / fov
        maps[c] = mag * np.exp(1j * phase)
    return maps / np.sqrt((np.abs(maps) ** 2).sum(axis=0, keepdims=True))


def equispaced_columns(cols: int, accel: int, center_fraction: float) -> np.ndarray:
    """fastMRI's EquispacedMaskFractionFunc with offset 0 (its adjusted spacing)."""
    num_low = int(round(cols * center_fraction))
    mask = np.zeros(cols, np.float32)
    pad = (cols - num_low + 1) // 2
    mask[pad:pad + num_low] = 1
    adjusted = (accel * (num_low - cols)) / (num_low * accel - cols)
    mask[np.round(np.arange(0, cols - 1, adjusted)).astype(int)] = 1
    return mask, num_low


def header_xml(enc: tuple[int, int], rec: tuple[int, int], fov_enc: tuple[float, float], fov_rec: tuple[float, float],
               thickness: float, cols: int) -> str:
    def space(tag: str, m: tuple[int, int], f: tuple[float, float]) -> str:
        return (f"    <{tag}>\n      <matrixSize><x>{m[0]}</x><y>{m[1]}</y><z>1</z></matrixSize>\n"
                f"      <fieldOfView_mm><x>{f[0]}</x><y>{f[1]}</y><z>{thickness}</z></fieldOfView_mm>\n    </{tag}>\n")
    return ('<?xml version="1.0" encoding="utf-8"?>\n'
            '<ismrmrdHeader xmlns="http://www.ismrm.org/ISMRMRD" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">\n'
            '  <!-- written by tweedie training/fastmri_file.py from the ch2 template -->\n'
            '  <acquisitionSystemInformation><receiverChannels>COILS</receiverChannels></acquisitionSystemInformation>\n'
            '  <encoding>\n'
            + space("encodedSpace", enc, fov_enc) + space("reconSpace", rec, fov_rec) +
            f'    <encodingLimits>\n      <kspace_encoding_step_1><minimum>0</minimum><maximum>{cols - 1}</maximum>'
            f'<center>{cols // 2}</center></kspace_encoding_step_1>\n    </encodingLimits>\n'
            '    <trajectory>cartesian</trajectory>\n  </encoding>\n</ismrmrdHeader>\n')


def write_bad(folder: str) -> None:
    """Files the reader must refuse in one line: no kspace, an integer kspace, an absurd declared size."""
    os.makedirs(folder, exist_ok=True)
    with h5py.File(os.path.join(folder, "no_kspace.h5"), "w") as f:
        f.create_dataset("reconstruction_rss", data=np.zeros((1, 8, 8), np.float32))
        f.create_dataset("ismrmrd_header", data=np.bytes_(b"<ismrmrdHeader/>"))
    with h5py.File(os.path.join(folder, "int16_kspace.h5"), "w") as f:
        f.create_dataset("kspace", data=np.zeros((1, 2, 8, 8), np.int16))
    with h5py.File(os.path.join(folder, "huge_kspace.h5"), "w") as f:   # chunked, nothing written: a tiny file
        f.create_dataset("kspace", shape=(1000000, 64, 640, 368), dtype=np.complex64, chunks=(1, 1, 64, 64))
    print(f"wrote {folder}: no_kspace.h5, int16_kspace.h5, huge_kspace.h5")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out")
    ap.add_argument("--bad", metavar="DIR", help="write the refusal fixtures to DIR instead")
    ap.add_argument("--slices", type=int, default=2, help="held-out slices, from the slab centre")
    ap.add_argument("--coils", type=int, default=8)
    ap.add_argument("--oversample", type=int, default=1, choices=(1, 2), help="readout oversampling (rows)")
    ap.add_argument("--accel", type=int, default=0, help="prospective equispaced undersampling (0: fully sampled)")
    ap.add_argument("--noise", type=float, default=0.0, help="complex k-space noise sd per (re, im), in voxel units")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sidecar", help="folder for image.npy, maps.npy, probe.npy")
    a = ap.parse_args()
    if a.bad:
        return write_bad(a.bad)
    if not a.out:
        ap.error("give --out FILE.h5 (or --bad DIR)")

    slices, _, split = prepare()
    p, side = split["normalisation"]["p"], split["crop"]["side"]
    held = split["heldout_z"]
    order = sorted(held, key=lambda z: abs(z - split["slab_centre_z"]))[:a.slices]
    zs = sorted(order)
    images = (slices[zs, 0].astype(np.float64) + 1.0) * p / 2.0   # [Z, 64, 64] voxel units, recon space
    Z, H, W = images.shape
    rows, cols = H * a.oversample, W
    full = np.zeros((Z, rows, cols))
    r0 = (rows - H) // 2
    full[:, r0:r0 + H, :] = images
    fov = float(side)                                        # mm: the square crop is side x 1 mm
    maps = coil_maps(a.coils, rows, cols, fov * a.oversample, fov)
    kspace = fft2c(maps[None] * full[:, None].astype(np.complex128))  # [Z, C, rows, cols]
    rng = np.random.default_rng(a.seed)
    if a.noise > 0:
        kspace = kspace + a.noise * (rng.standard_normal(kspace.shape) + 1j * rng.standard_normal(kspace.shape))
    kspace = kspace.astype(np.complex64)
    coil_images = ifft2c(kspace.astype(np.complex128))
    rss = np.sqrt((np.abs(coil_images) ** 2).sum(axis=1))[:, r0:r0 + H, :].astype(np.float32)
    mask = None
    if a.accel > 1:
        mask, num_low = equispaced_columns(cols, a.accel, 0.08 if a.accel < 8 else 0.04)
        kspace = kspace * mask[None, None, None, :].astype(np.complex64)

    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with h5py.File(a.out, "w") as f:
        f.create_dataset("kspace", data=kspace)
        xml = header_xml((rows, cols), (H, W), (fov * a.oversample, fov), (fov, fov), 3.0, cols).replace("COILS", str(a.coils))
        f.create_dataset("ismrmrd_header", data=np.bytes_(xml.encode()))
        if mask is None:
            f.create_dataset("reconstruction_rss", data=rss)
        else:
            f.create_dataset("mask", data=mask)
            f.attrs["acceleration"] = a.accel
            f.attrs["num_low_frequency"] = num_low
        f.attrs["acquisition"] = "AXT1"
        f.attrs["max"] = float(rss.max())
        f.attrs["norm"] = float(np.linalg.norm(rss))
        f.attrs["patient_id"] = "ch2-" + ",".join(str(z) for z in zs)
    if a.sidecar:
        os.makedirs(a.sidecar, exist_ok=True)
        np.save(os.path.join(a.sidecar, "image.npy"), images.astype(np.float32))
        np.save(os.path.join(a.sidecar, "rss.npy"), np.ascontiguousarray(rss))
        np.save(os.path.join(a.sidecar, "maps.npy"), np.stack([maps.real, maps.imag], -1).astype(np.float32))
        picks = [(0, 0, rows // 2, cols // 2), (Z - 1, a.coils - 1, 0, 0), (0, a.coils // 2, rows // 3, cols - 1), (Z - 1, 1, rows - 1, 5)]
        np.save(os.path.join(a.sidecar, "probe.npy"),
                np.array([[z, c, i, j, kspace[z, c, i, j].real, kspace[z, c, i, j].imag] for z, c, i, j in picks], np.float64))
        with open(os.path.join(a.sidecar, "info.json"), "w") as f:
            json.dump({"z": zs, "p": p, "fov_mm": fov, "oversample": a.oversample, "coils": a.coils,
                       "accel": a.accel, "noise": a.noise, "seed": a.seed}, f, indent=1)
    print(f"wrote {a.out}: kspace {list(kspace.shape)} complex64, slices z={zs} of ch2, "
          f"{'mask ' + str(int(mask.sum())) + ' of ' + str(cols) + ' columns' if mask is not None else 'fully sampled, rss ' + str(list(rss.shape))}")


if __name__ == "__main__":
    main()
