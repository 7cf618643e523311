"""Small learnable datasets in the MNIST family's own files, for the tests and ``python -m bench --smoke``.

Class k is a bright block at the k-th spot of a noisy 28×28 image (with more than 12 classes, the spot
k mod 12 and a bar in the bottom row for k // 12), so a model learns it in seconds;
``write_idx_dataset`` writes such a dataset as the four IDX files ``load_dataset`` reads, in the
record's own layout (QMNIST's int32 label rows, EMNIST's transposed images and letters from 1).
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
        group, spot = divmod(int(label), 12)
        row, col = divmod(spot, 4)
        top, left = 1 + row * 9, 1 + col * 7
        images[i, top : top + 7, left : left + 6] = rng.integers(180, 256, size=(7, 6))
        if num_classes > 12:
            images[i, 27, group * 7 : group * 7 + 7] = 255
    noisy = rng.random(count) < label_noise
    labels[noisy] = rng.integers(0, num_classes, size=int(noisy.sum()))
    return images, labels.astype(np.int64)


def write_idx_dataset(
    root: Path, name: str, train_count: int = 400, test_count: int = 100, label_noise: float = 0.0
) -> dict[str, bytes]:
    """Write a small dataset as its four IDX files; return their bytes by file name."""
    info = DATASETS[name]
    layout = info.files
    folder = raw_dir(info, root)
    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    for (images_file, labels_file), count, seed in ((layout.train, train_count, 10), (layout.test, test_count, 11)):
        if images_file == layout.test[0]:
            count += layout.test_start  # rows before the test split's start (QMNIST's first 10,000)
        images, labels = synthetic_images(count, seed, num_classes=info.num_classes, label_noise=label_noise)
        labels = labels + layout.label_offset
        files[images_file] = idx_bytes(np.ascontiguousarray(images.transpose(0, 2, 1)) if layout.transposed else images)
        if layout.label_column is None:
            files[labels_file] = idx_bytes(labels.astype(np.uint8))
        else:  # QMNIST: int32 rows of 8 numbers, the class in the record's column
            rows = np.zeros((count, 8), dtype=np.int32)
            rows[:, layout.label_column] = labels
            files[labels_file] = idx_bytes(rows)
    for file_name, data in files.items():
        (folder / file_name).write_bytes(data)
    return files
