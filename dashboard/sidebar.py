"""The shared sidebar: dataset and run pickers, kept in the URL so that a link opens the same view."""

from __future__ import annotations

import streamlit as st

from core.data import DATASETS
from dashboard.state import runs_table

DATASET_KEY = "dataset"
RUN_KEY = "run"


def draw_sidebar() -> None:
    with st.sidebar:
        dataset = st.selectbox(
            "Dataset",
            list(DATASETS),
            format_func=lambda name: DATASETS[name].title,
            key=DATASET_KEY,
            bind="query-params",
        )
        table = runs_table()
        runs = table[(table["dataset"] == dataset) & (table["state"] != "unreadable")]
        labels = dict(zip(runs["id"], runs["model"] + " · " + runs["state"], strict=True))
        st.selectbox(
            "Run",
            list(labels),
            format_func=lambda run_id: f"{run_id} ({labels.get(run_id, '')})",
            key=RUN_KEY,
            bind="query-params",
            placeholder="No runs for this dataset",
        )


def selected_dataset() -> str:
    return st.session_state.get(DATASET_KEY) or next(iter(DATASETS))


def selected_run_id() -> str | None:
    return st.session_state.get(RUN_KEY)


def select_run(run_id: str, dataset: str) -> None:
    """For callbacks (they run before the widgets are drawn): make this the sidebar's run."""
    st.session_state[DATASET_KEY] = dataset
    st.session_state[RUN_KEY] = run_id
