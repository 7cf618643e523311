"""The shared sidebar: dataset and run pickers, kept in the URL so that a link opens the same view.

The pickers show their raw values (no ``format_func``): a bound query parameter holds the
label a picker shows, so plain values keep links short and stable (``?dataset=mnist&run=…``).
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.data import DATASETS
from dashboard.cached import runs_table
from dashboard.text import plain

DATASET_KEY = "dataset"
RUN_KEY = "run"


def draw_sidebar() -> None:
    with st.sidebar:
        dataset = st.selectbox("Dataset", list(DATASETS), key=DATASET_KEY, bind="query-params")
        table = runs_table()
        runs = table[(table["dataset"] == dataset) & (table["state"] != "unreadable")].set_index("id")
        if len(runs) and st.session_state.get(RUN_KEY) not in runs.index:
            # No run picked yet, or the picked one is of another dataset (or gone): take the newest.
            st.session_state[RUN_KEY] = runs.index[0]
        run_id = st.selectbox(
            "Run", list(runs.index), key=RUN_KEY, bind="query-params", placeholder="No runs for this dataset"
        )
        if run_id in runs.index:
            run = runs.loc[run_id]
            accuracy = f", test accuracy {run['test_accuracy']:.2%}" if pd.notna(run["test_accuracy"]) else ""
            st.caption(f"{plain(run['model'])} · {run['state']}{accuracy}")


def selected_dataset() -> str:
    return st.session_state.get(DATASET_KEY) or next(iter(DATASETS))


def selected_run_id() -> str | None:
    return st.session_state.get(RUN_KEY)


def select_run(run_id: str, dataset: str) -> None:
    """For callbacks (they run before the widgets are drawn): make this the sidebar's run."""
    st.session_state[DATASET_KEY] = dataset
    st.session_state[RUN_KEY] = run_id
