"""The only place with Streamlit caches over core; pages call these, never core's loaders directly.

Cached values are keyed on their arguments only (a run's path and the modification time of
the file read), so a run that changes on disk is read again. Every wrapper hands back what core
returns (a Predictions, an Evaluation, a DatasetSummary…), never a shape of its own.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st
import torch

from core.analysis import Explanation, explain, label_issues
from core.analysis import run_embedding as core_run_embedding
from core.data import (
    DataError,
    DatasetSplits,
    DatasetSummary,
    default_data_dir,
    load_dataset,
    summarize_dataset,
)
from core.evaluate import Evaluation, split_predictions
from core.modelcard import layer_table, onnx_bytes
from core.models import MODELS, create_model
from core.onnxmodel import onnx_layer_table
from core.runs import (
    HISTORY_FILE,
    ONNX_FILE,
    PREDICTIONS_FILE,
    Predictions,
    Run,
)
from dashboard.warmup import limit_torch_threads

limit_torch_threads()  # for the thread that loads this module; app.py sets it for each later run


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


# --- datasets ---------------------------------------------------------------------------------


@st.cache_resource(show_spinner="Loading the dataset…")
def _dataset(name: str, data_dir: str) -> DatasetSplits | None:
    """All splits of a dataset in memory, shared by every session; None when not fetched."""
    try:
        return load_dataset(name, Path(data_dir))
    except DataError:
        return None


def get_dataset(name: str) -> DatasetSplits | None:
    return _dataset(name, str(default_data_dir()))


@st.cache_data(show_spinner=False)
def _dataset_summary(name: str, data_dir: str) -> DatasetSummary:
    return summarize_dataset(_dataset(name, data_dir))


def dataset_summary(name: str) -> DatasetSummary:
    """Class counts per split, the mean training image of each class, the pixel histogram."""
    return _dataset_summary(name, str(default_data_dir()))


# --- what a run stored ------------------------------------------------------------------------


@st.cache_data(show_spinner=False, max_entries=64)
def _history(run_path: str, mtime: float) -> list[dict]:
    return Run(Path(run_path)).history()


def run_history(run: Run) -> list[dict]:
    """The epoch records; raises RunError when history.jsonl is damaged."""
    return _history(str(run.path), _mtime(run.path / HISTORY_FILE))


@st.cache_data(show_spinner=False, max_entries=32)
def _predictions(run_path: str, mtime: float) -> Predictions:
    return Run(Path(run_path)).load_predictions()


def run_predictions(run: Run) -> Predictions:
    """The stored test predictions; raises RunError."""
    return _predictions(str(run.path), _mtime(run.path / PREDICTIONS_FILE))


@st.cache_data(show_spinner=False, max_entries=32)
def _evaluation(run_path: str, mtime: float, class_names: tuple[str, ...]) -> Evaluation:
    return Evaluation.from_predictions(_predictions(run_path, mtime), class_names)


def run_evaluation(run: Run) -> Evaluation:
    return _evaluation(str(run.path), _mtime(run.path / PREDICTIONS_FILE), run.config.classes)


# --- models and what is computed from them (analysis pages) -------------------------------------


@st.cache_resource(show_spinner=False, max_entries=8)
def _model(run_path: str, mtime: float) -> torch.nn.Module:
    return Run(Path(run_path)).load_model()


def run_model(run: Run) -> torch.nn.Module:
    """The run's model with its kept weights, shared by every session (read-only, eval mode); raises RunError."""
    return _model(str(run.path), _mtime(run.model_file))


@st.cache_data(show_spinner="Computing the validation split's predictions…", max_entries=16)
def _split_predictions(run_path: str, mtime: float, split: str, data_dir: str) -> Predictions:
    run = Run(Path(run_path))
    return split_predictions(run, split, data=_dataset(run.config.dataset, data_dir))


def run_split_predictions(run: Run, split: str) -> Predictions:
    """The test split's predictions (stored) or the validation split's (computed, cached)."""
    if split == "test":
        return run_predictions(run)
    return _split_predictions(str(run.path), _mtime(run.model_file), split, str(default_data_dir()))


@st.cache_data(show_spinner="Ranking labels with cleanlab…", max_entries=16)
def label_issue_ranking(probs: np.ndarray, labels: np.ndarray) -> pd.DataFrame:
    return label_issues(probs, labels)


def run_embedding(run: Run, method: str) -> np.ndarray:
    """N×2 map of the test images' features (kept in the run folder by core, and here in memory)."""
    mtime = _mtime(run.model_file)
    return _embedding(str(run.path), mtime, run.config.dataset, str(default_data_dir()), method)


@st.cache_data(show_spinner="Mapping the test images' features (the first time for this run)…", max_entries=16)
def _embedding(run_path: str, mtime: float, dataset_name: str, data_dir: str, method: str) -> np.ndarray:
    return core_run_embedding(Run(Path(run_path)), method, data=_dataset(dataset_name, data_dir))


@st.cache_data(show_spinner="Hashing every image of both splits…", max_entries=8)
def _exact_duplicates(name: str, data_dir: str) -> list:
    from core.leaks import exact_duplicates

    return exact_duplicates(_dataset(name, data_dir))


def dataset_exact_duplicates(name: str) -> list:
    """Pairs of identical images between the training file and the test split (core.leaks.LeakPair)."""
    return _exact_duplicates(name, str(default_data_dir()))


@st.cache_data(show_spinner="Finding each test image's nearest training image (the first time for this run)…")
def _nearest_training_images(run_path: str, mtime: float, name: str, data_dir: str) -> tuple:
    from core.leaks import nearest_training_images

    return nearest_training_images(Run(Path(run_path)), _dataset(name, data_dir))


def run_nearest_training_images(run: Run) -> tuple[np.ndarray, np.ndarray]:
    """Per test image, its nearest training image in the run's features and the distance (kept in the run)."""
    return _nearest_training_images(str(run.path), _mtime(run.model_file), run.config.dataset, str(default_data_dir()))


@st.cache_data(show_spinner="Computing attributions…", max_entries=256)
def _explanation(run_path: str, mtime: float, image: np.ndarray, probs: np.ndarray, label: int, method: str):
    config = Run(Path(run_path)).config
    return explain(_model(run_path, mtime), image, probs, label, config.mean, config.std, method)


def run_explanation(run: Run, image: np.ndarray, probs: np.ndarray, label: int, method: str) -> Explanation:
    """Attribution maps of one image for its predicted class and its true class (or runner-up)."""
    return _explanation(str(run.path), _mtime(run.model_file), image, probs, label, method)


@st.cache_data(show_spinner=False, max_entries=32)
def model_layers(model_name: str, num_classes: int) -> pd.DataFrame:
    return layer_table(create_model(model_name, num_classes=num_classes), MODELS[model_name].input_shape)


@st.cache_data(show_spinner=False, max_entries=8)
def _onnx(run_path: str, mtime: float, model_name: str) -> bytes:
    run = Run(Path(run_path))
    if run.model_file.name == ONNX_FILE:  # a model whose code is not ours is kept as ONNX already
        return run.load_onnx_bytes()
    return onnx_bytes(_model(run_path, mtime), MODELS[model_name].input_shape)


def run_onnx(run: Run) -> bytes:
    """The run's model with its weights as ONNX (a few seconds the first time)."""
    return _onnx(str(run.path), _mtime(run.model_file), run.config.model)


@st.cache_data(show_spinner=False, max_entries=8)
def _onnx_layers(run_path: str, mtime: float) -> pd.DataFrame:
    return onnx_layer_table(Run(Path(run_path)).load_onnx_bytes())


def run_onnx_layers(run: Run) -> pd.DataFrame:
    """The operations of a run kept as an ONNX graph, with output shapes and parameters."""
    return _onnx_layers(str(run.path), _mtime(run.model_file))


@st.cache_resource(show_spinner="Computing the run's features of every training image (once per run)…", max_entries=1)
def _training_features(run_path: str, mtime: float, name: str, data_dir: str) -> np.ndarray:
    from core.analysis import training_features

    return training_features(Run(Path(run_path)), _dataset(name, data_dir))


def run_training_features(run: Run) -> np.ndarray:
    """The run's unit-length features of every training image, float16 (one run at a time in memory: the
    strong model's are 130 MB)."""
    return _training_features(str(run.path), _mtime(run.model_file), run.config.dataset, str(default_data_dir()))


@st.cache_data(show_spinner="Calibrating on the validation split (once per run)…", max_entries=32)
def _temperature(run_path: str, mtime: float, name: str, data_dir: str) -> float | str:
    from core.analysis import TooFewToCalibrate, validation_temperature

    try:
        return validation_temperature(Run(Path(run_path)), _dataset(name, data_dir))
    except TooFewToCalibrate as error:  # kept too: an error isn't, and the split would be predicted each time
        return str(error)


def run_temperature(run: Run) -> float:
    """The temperature that calibrates the run's probabilities, fitted on its validation split (kept in the run);
    raises TooFewToCalibrate where the split can't give one."""
    from core.analysis import TooFewToCalibrate

    found = _temperature(str(run.path), _mtime(run.model_file), run.config.dataset, str(default_data_dir()))
    if isinstance(found, str):
        raise TooFewToCalibrate(found)
    return found


@st.cache_data(show_spinner="Checking the test labels with cleanlab (once per run)…", max_entries=16)
def _test_label_issues(run_path: str, model_mtime: float, predictions_mtime: float) -> pd.DataFrame:
    from core.analysis import stored_label_issues

    return stored_label_issues(Run(Path(run_path)), _predictions(run_path, predictions_mtime))


def run_test_label_issues(run: Run) -> pd.DataFrame:
    """cleanlab's ranking of the run's test labels (``core.analysis.label_issues``), kept in the run folder."""
    return _test_label_issues(str(run.path), _mtime(run.model_file), _mtime(run.path / PREDICTIONS_FILE))
