"""The shared sidebar: dataset and run pickers, kept in the URL so that a link opens the same view.

The pickers show their raw values (no ``format_func``): a bound query parameter holds the
label a picker shows, so plain values keep links short and stable (``?dataset=mnist&run=…``).
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.data import DATASETS, is_known_dataset
from dashboard.store import offered_datasets, runs_table
from dashboard.text import plain

DATASET_KEY = "dataset"
RUN_KEY = "run"
LINK_CHECKED_KEY = "link_checked"
NEXT_RUN_KEY = "sidebar_next_run"  # (run id, dataset) to select before the pickers are drawn again


SIDEBAR_ID_CHARS = 26  # about what the sidebar's run box shows before it cuts an id short


def draw_sidebar() -> str | None:
    """The dataset and run pickers. Returns, on a session's first run only, what a link asked for and could
    not be shown (an unknown dataset or run, an unreadable run, a run of another dataset), or None."""
    asked_dataset, asked_run = st.query_params.get(DATASET_KEY), st.query_params.get(RUN_KEY)
    if NEXT_RUN_KEY in st.session_state:
        select_run(*st.session_state.pop(NEXT_RUN_KEY))
    with st.sidebar:
        table = runs_table()
        dataset = st.selectbox("Dataset", dataset_options(table, asked_dataset), key=DATASET_KEY, bind="query-params")
        runs = table[(table["dataset"] == dataset) & (table["state"] != "unreadable")].set_index("id")
        best = default_run(runs) if len(runs) else None
        if len(runs) and st.session_state.get(RUN_KEY) not in runs.index:
            # No run picked yet, or the picked one is of another dataset (or gone): the one the link
            # names if it is of this dataset, else the best finished one.
            st.session_state[RUN_KEY] = asked_run if asked_run in runs.index else best
        # The best run first: Streamlit leaves a bound widget's first option out of the URL, and a
        # link without a run opens the best one, so any other order would make a copied link open
        # another run than the one on screen.
        options = [best, *(run for run in runs.index if run != best)] if best else []
        run_id = st.selectbox("Run", options, key=RUN_KEY, bind="query-params", placeholder="No runs for this dataset")
        if run_id in runs.index:
            run = runs.loc[run_id]
            accuracy = f", test accuracy {run['test_accuracy']:.2%}" if pd.notna(run["test_accuracy"]) else ""
            # A long id (the default date-dataset-model one) is cut short in the box: whole in the caption.
            whole = f"{plain(run_id)}: " if len(run_id) > SIDEBAR_ID_CHARS else ""
            st.caption(f"{whole}{plain(run['model'])} · {run['state']}{accuracy}")
    if st.session_state.get(LINK_CHECKED_KEY):
        return None
    st.session_state[LINK_CHECKED_KEY] = True
    return link_notice(asked_dataset, asked_run, dataset, run_id, table)


def dataset_options(table: pd.DataFrame, asked: str | None) -> list[str]:
    """The datasets here or with runs, and the one a link or the session asks for if it is a known one
    (its pages then say how to get it, rather than the link silently showing another dataset)."""
    options = offered_datasets(table)
    for wanted in (asked, st.session_state.get(DATASET_KEY)):
        if wanted and wanted not in options and is_known_dataset(wanted):
            options.append(wanted)
    return options


def default_run(runs: pd.DataFrame) -> str:
    """The completed run with the best test accuracy (the newest first among equals), else the newest run."""
    completed = runs[(runs["state"] == "completed") & runs["test_accuracy"].notna()]
    if len(completed):
        return str(completed["test_accuracy"].astype(float).idxmax())
    return str(runs.index[0])


def link_notice(asked_dataset, asked_run, dataset: str, run_id: str | None, table: pd.DataFrame) -> str | None:
    """What the URL asked for that is not what is shown, said plainly (markdown, names escaped), or None."""
    shown = f"showing **{plain(run_id)}**" if run_id else "no run is shown"
    if asked_dataset and asked_dataset != dataset:
        return (
            f"This link asks for a dataset named “{_quoted(asked_dataset)}”, which isn't one here; showing {dataset}."
        )
    if not asked_run or asked_run == run_id:
        return None
    row = table[table["id"] == asked_run]
    if row.empty:
        return f"There is no run “{_quoted(asked_run)}” in the run store; {shown}, the best finished {dataset} run."
    run = row.iloc[0]
    if run["state"] == "unreadable":
        return f"Run “{_quoted(asked_run)}” can't be opened ({plain(run['error'] or 'unreadable')}); {shown}."
    if run["dataset"] != dataset:
        return (
            f"Run “{_quoted(asked_run)}” is a run of {plain(run['dataset'])}, not {dataset}; {shown}. "
            f"Pick {plain(run['dataset'])} in the sidebar to open it."
        )
    return None


def _quoted(text: str, limit: int = 80) -> str:
    """Text from the URL, shortened and escaped (a link can say anything)."""
    return plain(text if len(text) <= limit else text[:limit] + "…")


def selected_dataset() -> str:
    return st.session_state.get(DATASET_KEY) or next(iter(DATASETS))


def selected_run_id() -> str | None:
    return st.session_state.get(RUN_KEY)


def select_run(run_id: str, dataset: str) -> None:
    """For callbacks (they run before the widgets are drawn): make this the sidebar's run."""
    st.session_state[DATASET_KEY] = dataset
    st.session_state[RUN_KEY] = run_id


def select_run_on_rerun(run_id: str, dataset: str) -> None:
    """For a page's body (the pickers are drawn already, and can't be changed now): make this the sidebar's
    run from the next run of the script on, st.rerun() being the usual next step."""
    st.session_state[NEXT_RUN_KEY] = (run_id, dataset)
