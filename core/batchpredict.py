"""Classify many pictures at once: files or folders in, one row per picture out, least confident first.

    results, skipped = classify_pictures(run, [(name, data), ...])   # decoded, prepared, one batch
    frame = results_frame(results, run.config.classes)               # file, predicted, confidence, …

Each picture is decoded and prepared as the run's dataset says (``core.images``), exactly as the draw
page prepares one; a picture that can't be used is skipped with its reason, never an error for the rest.
The CLI (``python -m core predict RUN FOLDER|FILES... --csv OUT``) and the draw page share this.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from core.runs import Run

if TYPE_CHECKING:  # pandas is imported where a frame is made: the CLI's start stays quick
    import pandas as pd

MAX_PICTURES = 10_000  # one call; beyond that the caller is told to split the folder


@dataclass
class PictureResult:
    name: str
    image: np.ndarray  # uint8 H×W, what the model saw
    probs: np.ndarray  # float, one per class


def picture_files(paths: Iterable[Path]) -> tuple[list[Path], list[tuple[str, str]]]:
    """Files as given and the pictures in each folder (and below it), in name order; (path, why) for the rest."""
    from core.images import PICTURE_SUFFIXES

    found, skipped = [], []
    for path in map(Path, paths):
        if path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.suffix.lower() in PICTURE_SUFFIXES and p.is_file())
        elif path.is_file():
            found.append(path)
        else:
            skipped.append((str(path), "no such file or folder"))
    if len(found) > MAX_PICTURES:
        raise ValueError(f"{len(found):,} pictures; at most {MAX_PICTURES:,} at once — split them into several calls")
    return found, skipped


def read_pictures(files: list[Path]) -> tuple[list[tuple[str, bytes]], list[tuple[str, str]]]:
    """(name, bytes) of each file small enough to be a picture; (name, why) for the rest."""
    from core.images import MAX_UPLOAD_BYTES
    from core.storage import UnsafeFile, read_regular_file

    pictures, skipped = [], []
    for path in files:
        try:
            pictures.append((str(path), read_regular_file(path, MAX_UPLOAD_BYTES)))
        except (OSError, UnsafeFile) as error:
            skipped.append((str(path), str(error)))
    return pictures, skipped


def classify_pictures(
    run: Run, pictures: Iterable[tuple[str, bytes]], model=None
) -> tuple[list[PictureResult], list[tuple[str, str]]]:
    """Each picture prepared as the run's dataset was and classified in one batch; (name, why) for those skipped."""
    import torch

    from core.data import get_dataset_info
    from core.evaluate import predict
    from core.images import ImageError, decode_image, prepare_like_dataset

    info = get_dataset_info(run.config.dataset)
    names, images, skipped = [], [], []
    for name, data in pictures:
        try:
            images.append(prepare_like_dataset(decode_image(data), info))
            names.append(name)
        except ImageError as error:
            skipped.append((name, str(error)))
    if not images:
        return [], skipped
    model = model if model is not None else run.load_model()
    batch = torch.as_tensor(np.stack(images), dtype=torch.uint8)
    probs = torch.softmax(predict(model, batch, run.config.mean, run.config.std), dim=1).numpy()
    return [PictureResult(n, i, p) for n, i, p in zip(names, images, probs, strict=True)], skipped


def results_frame(results: list[PictureResult], class_names) -> pd.DataFrame:
    """One row per picture, least confident first: file, predicted, confidence, runner-up, each class's probability."""
    import pandas as pd

    rows = []
    for result in results:
        first, second = np.argsort(-result.probs)[:2]
        rows.append(
            {
                "file": result.name,
                "predicted": class_names[first],
                "confidence": float(result.probs[first]),
                "runner_up": class_names[second],
                "runner_up_probability": float(result.probs[second]),
                **{f"p({name})": float(p) for name, p in zip(class_names, result.probs, strict=True)},
            }
        )
    columns = ["file", "predicted", "confidence", "runner_up", "runner_up_probability"]
    frame = pd.DataFrame(rows, columns=columns + [f"p({name})" for name in class_names])
    return frame.sort_values("confidence", kind="stable").reset_index(drop=True)


def least_confident_order(results: list[PictureResult]) -> list[int]:
    """Positions of ``results`` from the least to the most confident (as ``results_frame`` sorts them)."""
    return sorted(range(len(results)), key=lambda i: float(results[i].probs.max()))
