"""The only place with Streamlit caches over core; pages call these, never core's loaders directly.

Cached values are keyed on their arguments only (a run's path and the modification time of
the file read), so a run that changes on disk is read again.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st
import torch

from core.data import DATASETS, DataError, DatasetSplits, default_data_dir, is_present, load_dataset
from core.evaluate import Evaluation
from core.runs import HISTORY_FILE, PREDICTIONS_FILE, Run, RunSummary, default_checkpoints_dir, list_runs

# The dashboard leaves the other core to a training job: two torch processes that each use
# every core run far slower than either alone.
DASHBOARD_TORCH_THREADS = 1


def limit_torch_threads() -> None:
    if torch.get_num_threads() != DASHBOARD_TORCH_THREADS:
        torch.set_num_threads(DASHBOARD_TORCH_THREADS)


def store_locations() -> tuple[str, str]:
    return str(default_data_dir()), str(default_checkpoints_dir())


def missing_datasets() -> list[str]:
    return [name for name in DATASETS if not is_present(name)]


def runs_table() -> pd.DataFrame:
    """One row per run; read fresh each time (listing is cheap and runs change under us)."""
    columns = [field.name for field in dataclasses.fields(RunSummary)]
    return pd.DataFrame([dataclasses.asdict(s) for s in list_runs()], columns=columns)


@st.cache_resource(show_spinner="Loading the dataset…")
def dataset(name: str, data_dir: str) -> DatasetSplits | None:
    """All splits of a dataset in memory, shared by every session; None when not fetched."""
    try:
        return load_dataset(name, Path(data_dir))
    except DataError:
        return None


def get_dataset(name: str) -> DatasetSplits | None:
    return dataset(name, str(default_data_dir()))


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


@st.cache_data(show_spinner=False, max_entries=64)
def _history(run_path: str, mtime: float) -> pd.DataFrame:
    return pd.DataFrame(Run(Path(run_path)).history())


def run_history(run: Run) -> pd.DataFrame:
    """One row per epoch; raises RunError when history.jsonl is damaged."""
    return _history(str(run.path), _mtime(run.path / HISTORY_FILE))


@st.cache_data(show_spinner=False, max_entries=32)
def _predictions(run_path: str, mtime: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    predictions = Run(Path(run_path)).load_predictions()
    return predictions.probs, predictions.labels, predictions.indices


def run_predictions(run: Run) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(probs N×C, labels N, test indices N); raises RunError."""
    return _predictions(str(run.path), _mtime(run.path / PREDICTIONS_FILE))


@st.cache_data(show_spinner=False, max_entries=32)
def _evaluation(run_path: str, mtime: float, class_names: tuple[str, ...]) -> Evaluation:
    probs, labels, _ = _predictions(run_path, mtime)
    return Evaluation.from_predictions(probs, labels, list(class_names))


def run_evaluation(run: Run) -> Evaluation:
    return _evaluation(str(run.path), _mtime(run.path / PREDICTIONS_FILE), tuple(run.config["classes"]))


def open_run(run_id: str | None) -> Run | None:
    """The run with this id in the store, or None."""
    if not run_id:
        return None
    path = default_checkpoints_dir() / run_id
    return Run(path) if path.is_dir() else None


@st.cache_data(show_spinner=False)
def _dataset_summary(name: str, data_dir: str) -> dict:
    data = dataset(name, data_dir)
    classes = list(data.info.classes)
    rows = []
    for split_name, split in (("train", data.train), ("validation", data.val), ("test", data.test)):
        counts = np.bincount(split.labels.numpy(), minlength=len(classes))
        rows += [{"split": split_name, "class": classes[i], "count": int(c)} for i, c in enumerate(counts)]
    images, labels = data.train.images.numpy(), data.train.labels.numpy()
    means = np.stack([images[labels == i].mean(axis=0) for i in range(len(classes))]).round().astype(np.uint8)
    counts, edges = np.histogram(images, bins=16, range=(0, 256))
    histogram = pd.DataFrame({"intensity": edges[:-1], "intensity_end": edges[1:], "fraction": counts / counts.sum()})
    return {"counts": pd.DataFrame(rows), "means": means, "histogram": histogram}


def dataset_summary(name: str) -> dict:
    """Class counts per split, the mean training image of each class, the pixel histogram."""
    return _dataset_summary(name, str(default_data_dir()))
