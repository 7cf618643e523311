"""Train and evaluate MNIST-family classifiers; the engine behind the dashboard."""

from core.config import ConfigError, TrainConfig
from core.data import DATASETS, DataError, load_dataset
from core.evaluate import Evaluation, predict
from core.models import create_model, list_models
from core.runlog import log_run
from core.runs import RunError, list_runs, load_run
from core.train import fit, start_run

__all__ = [
    "DATASETS",
    "ConfigError",
    "DataError",
    "Evaluation",
    "RunError",
    "TrainConfig",
    "create_model",
    "fit",
    "list_models",
    "list_runs",
    "load_dataset",
    "load_run",
    "log_run",
    "predict",
    "start_run",
]
