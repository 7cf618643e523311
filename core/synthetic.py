"""Small learnable datasets in the MNIST family's own files, for the tests and ``python -m bench --smoke``.

Class k is a bright block at the k-th spot of a noisy 28×28 image, so a model learns it in seconds;
``write_idx_dataset`` writes such a dataset as the four IDX files ``load_dataset`` reads.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core.data import DATASETS, raw_dir
from core.fetch import idx_bytes


def synthetic_images(
    count: int, seed: int, num_classes: int = 10, label_noise: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """uint8 count×28×28 images and their labels: class k has a bright 7×7 block at the k-th spot.

    With ``label_noise``, that share of the labels is replaced by a random class (so a model errs).
    """
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, num_classes, size=count)
    images = rng.integers(0, 60, size=(count, 28, 28)).astype(np.uint8)
    for i, label in enumerate(labels):
        row, col = divmod(int(label), 4)
        top, left = 1 + row * 9, 1 + col * 7
        images[i, top : top + 7, left : left + 6] = rng.integers(180, 256, size=(7, 6))
    noisy = rng.random(count) < label_noise
    labels[noisy] = rng.integers(0, num_classes, size=int(noisy.sum()))
    return images, labels.astype(np.int64)


def write_idx_dataset(
    root: Path, name: str, train_count: int = 400, test_count: int = 100, label_noise: float = 0.0
) -> dict[str, bytes]:
    """Write a small dataset as its four IDX files; return their bytes by file name."""
    info = DATASETS[name]
    folder = raw_dir(info, root)
    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    for prefix, count, seed in (("train", train_count, 10), ("t10k", test_count, 11)):
        images, labels = synthetic_images(count, seed, num_classes=info.num_classes, label_noise=label_noise)
        files[f"{prefix}-images-idx3-ubyte"] = idx_bytes(images)
        files[f"{prefix}-labels-idx1-ubyte"] = idx_bytes(labels.astype(np.uint8))
    for file_name, data in files.items():
        (folder / file_name).write_bytes(data)
    return files
