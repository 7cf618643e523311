"""What the store and the data root hold, read without torch: the runs table, the datasets offered.

The sidebar and the first page need only these, so the dashboard's first page is drawn before torch
and the analysis code load (``dashboard.warmup`` loads them next, in the background). Nothing here
is cached: listing is cheap and runs change under us.
"""

from __future__ import annotations

import dataclasses

import pandas as pd

from core.data import DATASETS, dataset_names, default_data_dir, is_present
from core.runs import Run, RunError, RunSummary, default_checkpoints_dir, list_runs, run_in_store


def store_locations() -> tuple[str, str]:
    return str(default_data_dir()), str(default_checkpoints_dir())


def offered_datasets(table: pd.DataFrame | None = None) -> list[str]:
    """The datasets the sidebar offers: those fetched or added, and those the store has runs of.

    The rest of the family (``DATASETS``) is listed on the Dataset page with how to get it, so that a
    fresh machine's picker isn't a list of datasets that can't be opened.
    """
    table = runs_table() if table is None else table
    with_runs = set(table["dataset"])
    offered = [name for name in dataset_names() if name in with_runs or is_present(name)]
    return offered or list(DATASETS)


def unreadable_datasets() -> list[tuple[str, str]]:
    """(name, why) for the data root's own datasets whose manifest can't be read."""
    from core.userdata import unreadable_user_datasets

    return unreadable_user_datasets(default_data_dir())


def missing_datasets() -> list[str]:
    """Offered datasets whose files aren't here (their runs are listed, their images can't be shown)."""
    return [name for name in offered_datasets() if not is_present(name)]


def runs_table() -> pd.DataFrame:
    """One row per run; read fresh each time (listing is cheap and runs change under us)."""
    columns = [field.name for field in dataclasses.fields(RunSummary)]
    return pd.DataFrame([dataclasses.asdict(s) for s in list_runs()], columns=columns)


def open_run(run_id: str | None) -> Run | None:
    """The run with this id in the store, or None (also for ids that would leave the store)."""
    if not run_id:
        return None
    try:
        return run_in_store(run_id)
    except RunError:
        return None
