"""The only place with Streamlit caches over core; pages call these, never core's loaders directly."""

from __future__ import annotations

import dataclasses

import pandas as pd
import torch

from core.data import DATASETS, default_data_dir, is_present
from core.runs import default_checkpoints_dir, list_runs

# The dashboard leaves the other core to a training job: two torch processes that each use
# every core run far slower than either alone.
DASHBOARD_TORCH_THREADS = 1


def limit_torch_threads() -> None:
    if torch.get_num_threads() != DASHBOARD_TORCH_THREADS:
        torch.set_num_threads(DASHBOARD_TORCH_THREADS)


def runs_table(checkpoints: str | None = None) -> pd.DataFrame:
    """One row per run; read fresh each time (listing is cheap and runs change under us)."""
    summaries = list_runs(checkpoints)
    return pd.DataFrame([dataclasses.asdict(s) for s in summaries])


def missing_datasets() -> list[str]:
    return [name for name in DATASETS if not is_present(name)]


def store_locations() -> tuple[str, str]:
    return str(default_data_dir()), str(default_checkpoints_dir())
