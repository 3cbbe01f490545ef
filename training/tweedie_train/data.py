"""Readers for the training data: IDX image files (Fashion-MNIST) and NIfTI-1 volumes."""
from __future__ import annotations

import gzip
import math
import struct

import numpy as np


def read_idx_images(path: str) -> np.ndarray:
    """Read an IDX3 image file (e.g. Fashion-MNIST) -> uint8 array [N, rows, cols]."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        raw = f.read()
    magic, n, rows, cols = struct.unpack(">IIII", raw[:16])
    if magic != 2051:
        raise ValueError(f"{path}: not an IDX3 ubyte file (magic {magic})")
    return np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(n, rows, cols)


def read_idx_labels(path: str) -> np.ndarray:
    """Read an IDX1 label file (e.g. Fashion-MNIST's) -> uint8 array [N]."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        raw = f.read()
    magic, n = struct.unpack(">II", raw[:8])
    if magic != 2049:
        raise ValueError(f"{path}: not an IDX1 ubyte file (magic {magic})")
    return np.frombuffer(raw, dtype=np.uint8, offset=8, count=n)


_NIFTI_DTYPES = {2: np.uint8, 4: np.int16, 8: np.int32, 16: np.float32, 64: np.float64,
                 256: np.int8, 512: np.uint16, 768: np.uint32}


def read_nifti(path: str) -> tuple[np.ndarray, dict]:
    """Read a NIfTI-1 volume -> (float32 array indexed [x, y, z], header dict).

    Only the fields needed here are parsed from the 348-byte header: dim, datatype,
    pixdim, vox_offset, scl_slope/scl_inter. Data are stored x-fastest (Fortran order).
    """
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        raw = f.read()
    endian = "<" if struct.unpack("<i", raw[:4])[0] == 348 else ">"
    if struct.unpack(endian + "i", raw[:4])[0] != 348:
        raise ValueError(f"{path}: not a NIfTI-1 file")
    dim = struct.unpack(endian + "8h", raw[40:56])
    datatype, bitpix = struct.unpack(endian + "hh", raw[70:74])
    pixdim = struct.unpack(endian + "8f", raw[76:108])
    vox_offset, scl_slope, scl_inter = struct.unpack(endian + "fff", raw[108:120])
    shape = tuple(int(d) for d in dim[1:1 + dim[0]])
    dtype = np.dtype(_NIFTI_DTYPES[datatype]).newbyteorder(endian)
    count = int(np.prod(shape))
    data = np.frombuffer(raw, dtype=dtype, count=count, offset=int(vox_offset))
    vol = data.reshape(shape, order="F").astype(np.float32)
    if scl_slope != 0.0 and not math.isnan(scl_slope):  # 0 means "no scaling"
        vol = vol * np.float32(scl_slope) + np.float32(scl_inter)
    header = {"dim": shape, "datatype": int(datatype), "bitpix": int(bitpix),
              "pixdim": [float(p) for p in pixdim[1:1 + dim[0]]],
              "vox_offset": float(vox_offset), "scl_slope": float(scl_slope),
              "scl_inter": float(scl_inter)}
    return vol, header
