"""Leaks between splits: test images that are also in the training file, exactly or nearly.

A test image that the model saw while training (or one very like it) flatters the test accuracy.
Two checks, as FiftyOne's "leaky splits" makes them:

- **exact**: the same 28×28 bytes in the training file (train and validation) and the test split,
  found by hashing every image;
- **near**: a test image whose nearest training image in a run's feature space (its penultimate
  layer, by cosine distance) is within ``threshold`` there *and* nearly the same picture: a pixel
  correlation of at least ``min_correlation``. Features alone are not enough: a trained classifier
  maps every plain "1" to nearly the same point, so MNIST's thin ones would all look like leaks;
  the pixels confirm the pair is the same picture re-scanned, shifted or re-saved. The pairs come
  sorted by pixel correlation, the closest first.

Indices are positions in the official files (``Split.indices``), as everywhere else.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.data import DatasetSplits

NEAR_THRESHOLD = 0.05  # cosine distance between feature vectors: the candidates
MIN_CORRELATION = 0.99  # Pearson correlation of the two images' pixels: the confirmation
NEAR_LIMIT = 500  # near pairs returned at most, closest first
NEAREST_RESULT = "nearest-training-images"  # kept in the run folder by core.analysis.stored_result


@dataclass
class LeakPair:
    train_index: int  # in the official training file
    test_index: int  # in the test split
    distance: float  # cosine distance of the run's features; 0 for an exact duplicate
    correlation: float  # of the two images' pixels; 1 for an exact duplicate
    same_label: bool


def training_file(data: DatasetSplits) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Images, labels and official indices of the whole training file (train and validation together)."""
    images = np.concatenate([data.train.images.numpy(), data.val.images.numpy()])
    labels = np.concatenate([data.train.labels.numpy(), data.val.labels.numpy()])
    indices = np.concatenate([data.train.indices.numpy(), data.val.indices.numpy()])
    return images, labels, indices


def training_labels(data: DatasetSplits) -> np.ndarray:
    """The training file's labels by official index (train and validation together partition it)."""
    labels = np.empty(len(data.train) + len(data.val), dtype=np.int64)
    labels[data.train.indices.numpy()] = data.train.labels.numpy()
    labels[data.val.indices.numpy()] = data.val.labels.numpy()
    return labels


def exact_duplicates(data: DatasetSplits) -> list[LeakPair]:
    """Every (training image, test image) pair with identical pixels, by test index then training index."""
    images, labels, indices = training_file(data)
    test_images, test_labels = data.test.images.numpy(), data.test.labels.numpy()
    # Equal images have equal fingerprints; the few test images whose fingerprint a training image
    # shares are then compared pixel by pixel (a fingerprint is not proof). 30 ms for MNIST, where a
    # dictionary of every image's bytes took 220 ms.
    train_prints, test_prints = _fingerprints(images), _fingerprints(test_images)
    order = np.argsort(train_prints, kind="stable")
    sorted_prints = train_prints[order]
    pairs = []
    for test_position in np.flatnonzero(np.isin(test_prints, train_prints)):
        start, stop = (
            np.searchsorted(sorted_prints, test_prints[test_position], side="left"),
            np.searchsorted(sorted_prints, test_prints[test_position], side="right"),
        )
        for position in order[start:stop]:
            if np.array_equal(images[position], test_images[test_position]):
                pairs.append(
                    LeakPair(
                        int(indices[position]),
                        int(data.test.indices[test_position]),
                        0.0,
                        1.0,
                        bool(labels[position] == test_labels[test_position]),
                    )
                )
    return sorted(pairs, key=lambda p: (p.test_index, p.train_index))


def _fingerprints(images: np.ndarray) -> np.ndarray:
    """A 64-bit number per uint8 image that equal images share: a weighted sum of its 8-byte words."""
    flat = np.ascontiguousarray(images, dtype=np.uint8).reshape(len(images), -1)
    if flat.shape[1] % 8:  # whole words: pad with zeros (every image alike, so equal images stay equal)
        flat = np.pad(flat, ((0, 0), (0, 8 - flat.shape[1] % 8)))
    words = flat.view(np.uint64)
    weights = np.arange(1, words.shape[1] + 1, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    return (words * weights).sum(axis=1)  # wraps around modulo 2**64, as intended


def near_duplicates(
    nearest: np.ndarray,
    distances: np.ndarray,
    data: DatasetSplits,
    threshold: float = NEAR_THRESHOLD,
    min_correlation: float = MIN_CORRELATION,
    limit: int = NEAR_LIMIT,
) -> list[LeakPair]:
    """Test images whose nearest training image is within ``threshold`` (features) and correlates at least
    ``min_correlation`` (pixels); the most alike first. Exact duplicates are left to ``exact_duplicates``.

    ``nearest`` and ``distances`` are ``nearest_training_images``: per test image, the position of its
    nearest image in ``training_file`` order and the distance to it."""
    images, labels, indices = training_file(data)
    test_images, test_labels = data.test.images.numpy(), data.test.labels.numpy()
    candidates = np.flatnonzero(distances <= threshold)
    correlations = pixel_correlation(test_images[candidates], images[nearest[candidates]])
    identical = (test_images[candidates] == images[nearest[candidates]]).all(axis=(1, 2))
    keep = (correlations >= min_correlation) & ~identical
    candidates, correlations = candidates[keep], correlations[keep]
    order = np.argsort(-correlations, kind="stable")[:limit]
    return [
        LeakPair(
            int(indices[nearest[t]]),
            int(data.test.indices[t]),
            float(max(distances[t], 0.0)),
            float(correlation),
            bool(labels[nearest[t]] == test_labels[t]),
        )
        for t, correlation in zip(candidates[order], correlations[order], strict=True)
    ]


def pixel_correlation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson correlation of each pair of images' pixels (N×H×W and N×H×W → N); 0 where one is blank."""
    pixels = int(np.prod(a.shape[1:]))  # not -1: an empty batch has no size to infer it from
    a = a.reshape(len(a), pixels).astype(np.float64)
    b = b.reshape(len(b), pixels).astype(np.float64)
    a -= a.mean(axis=1, keepdims=True)
    b -= b.mean(axis=1, keepdims=True)
    norms = np.sqrt((a * a).sum(axis=1) * (b * b).sum(axis=1))
    return np.divide((a * b).sum(axis=1), norms, out=np.zeros(len(a)), where=norms > 0)


def nearest_training_images(run, data: DatasetSplits) -> tuple[np.ndarray, np.ndarray]:
    """For each test image, its nearest image of the training file in the run's feature space (cosine
    distance between penultimate features) and that distance; kept in the run folder (``stored_result``)."""
    from core.analysis import stored_result

    def compute() -> dict[str, np.ndarray]:
        from sklearn.neighbors import NearestNeighbors

        train, test = _features(run, data)
        distances, nearest = NearestNeighbors(n_neighbors=1, metric="cosine").fit(train).kneighbors(test)
        return {"nearest": nearest[:, 0].astype(np.int32), "distance": distances[:, 0].astype(np.float32)}

    def valid(arrays: dict[str, np.ndarray]) -> bool:
        nearest, distance = arrays.get("nearest"), arrays.get("distance")
        total = len(data.train) + len(data.val)
        return (
            nearest is not None
            and distance is not None
            and nearest.shape == distance.shape == (len(data.test),)
            and bool(((nearest >= 0) & (nearest < total)).all())
            and bool(np.isfinite(distance).all())
        )

    arrays = stored_result(run, NEAREST_RESULT, compute, valid)
    return arrays["nearest"].astype(np.int64), arrays["distance"].astype(np.float64)


def _features(run, data: DatasetSplits) -> tuple[np.ndarray, np.ndarray]:
    """A run's penultimate features of the training file and of the test split."""
    import torch

    from core.analysis import classifier_of, penultimate_features

    model = run.load_model()
    layer = classifier_of(run, model)
    images = torch.from_numpy(np.ascontiguousarray(training_file(data)[0]))
    mean, std = run.config.mean, run.config.std
    train = penultimate_features(model, layer, images, mean, std)
    return train, penultimate_features(model, layer, data.test.images, mean, std)
