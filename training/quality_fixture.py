"""Write test/fixtures/sample-quality/: two small random feature sets and their Frechet distance and
precision/recall computed independently of tweedie, the oracle of test/sample-quality.test.ts.

real.npy [300, 16] ~ N(0, A A^T) and generated.npy [250, 16] ~ N(0.2, B B^T) + a few far outliers, float64,
seed 0; A and B random, so the covariances do not commute. expected.json: FD by scipy.linalg.sqrtm of
C1 C2 (numpy means, unbiased covariances) and precision/recall (k = 3) by a numpy brute force of
Kynkaanniemi et al. 2019: all pairwise distances, each point's radius its k-th nearest other point.

    /usr/bin/python3 training/quality_fixture.py     # seconds
"""
from __future__ import annotations

import json
import os

import numpy as np
import scipy.linalg

OUT = "test/fixtures/sample-quality"
K = 3


def frechet(x: np.ndarray, y: np.ndarray) -> float:
    mu1, mu2 = x.mean(0), y.mean(0)
    c1, c2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    root = scipy.linalg.sqrtm(c1 @ c2)
    return float(((mu1 - mu2) ** 2).sum() + np.trace(c1) + np.trace(c2) - 2 * np.trace(root).real)


def distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1))


def radii(x: np.ndarray) -> np.ndarray:
    d = distances(x, x)
    np.fill_diagonal(d, np.inf)
    return np.sort(d, axis=1)[:, K - 1]


def precision_recall(real: np.ndarray, gen: np.ndarray) -> tuple[float, float, float]:
    """Precision, recall and the smallest relative gap |distance - radius| / radius (no ties near rounding)."""
    d = distances(gen, real)  # [m, n]
    r_real, r_gen = radii(real), radii(gen)
    precision = float((d <= r_real[None, :]).any(1).mean())
    recall = float((d <= r_gen[:, None]).any(0).mean())
    gap = min(float(np.abs(d / r_real[None, :] - 1).min()), float(np.abs(d / r_gen[:, None] - 1).min()))
    return precision, recall, gap


def main() -> None:
    rng = np.random.default_rng(0)
    dim = 16
    a = rng.standard_normal((dim, dim)) / np.sqrt(dim)
    b = rng.standard_normal((dim, dim)) / np.sqrt(dim) * 1.1
    real = rng.standard_normal((300, dim)) @ a.T
    gen = rng.standard_normal((250, dim)) @ b.T + 0.2
    gen[:10] += 6 * rng.standard_normal((10, dim))
    precision, recall, gap = precision_recall(real, gen)
    assert gap > 1e-6, f"a distance ties with a radius (relative gap {gap}); change the seed"
    os.makedirs(OUT, exist_ok=True)
    np.save(os.path.join(OUT, "real.npy"), real)
    np.save(os.path.join(OUT, "generated.npy"), gen)
    expected = {"about": "training/quality_fixture.py: FD by scipy.linalg.sqrtm, precision/recall (k = 3) by "
                         "numpy brute force of Kynkaanniemi et al. 2019",
                "k": K, "frechet_distance": frechet(real, gen), "precision": precision, "recall": recall,
                "min_relative_gap": gap}
    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump(expected, f, indent=2)
        f.write("\n")
    print(json.dumps(expected))


if __name__ == "__main__":
    main()
