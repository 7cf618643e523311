"""The home page: what MNIST Lens is, three steps to start, and every stored run (a row selects a run)."""

import contextlib

import pandas as pd
import streamlit as st

from core.data import DataError, get_dataset_info
from core.runs import close_to_guessing
from dashboard.links import open_links
from dashboard.numbers import ACCURACY_FORMAT, accuracy_percent
from dashboard.pages import page_entry
from dashboard.sidebar import select_run, selected_dataset, selected_run_id
from dashboard.store import missing_datasets, runs_table, store_locations

TABLE_KEY = "runs_table"
# The figures right after the run's name and state (pinned): in a narrow window they are what shows.
COLUMNS = [
    "id",
    "state",
    "test_accuracy",
    "best_val_accuracy",
    "dataset",
    "model",
    "preset",
    "epochs",
    "created",
    "origin",
    "error",
]
TABLE_ROWS = 20  # rows shown before the table scrolls inside itself


def start_here() -> None:
    """Three steps from a run to the images it gets wrong, for a first visit."""
    st.title("MNIST Lens")
    st.markdown("See where your MNIST-family classifier goes wrong: which classes it mixes up, and how sure it was.")
    query = {"dataset": selected_dataset(), **({"run": selected_run_id()} if selected_run_id() else {})}
    # Boxes of a fixed width in a wrapping row: side by side when wide, stacked when narrow, never cut.
    row = st.container(horizontal=True, wrap=True)
    first, second, third = (row.container(border=True, width=300) for _ in range(3))
    first.markdown("**1 · Pick a run**  \nin the sidebar, or a row of the table below.")
    second.markdown("**2 · Which classes does it mix up?**")
    confusion = page_entry("confusion.py")
    second.page_link(confusion.script, label="Confusion matrix", icon=confusion.icon, query_params=query)
    third.markdown("**3 · Which images, and how sure was it?**")
    errors = page_entry("errors.py")
    third.page_link(errors.script, label="Errors", icon=errors.icon, query_params=query)


def on_row_selected(key: str) -> None:
    rows = st.session_state[key].selection.rows
    if rows:
        row = st.session_state["runs_table_rows"].iloc[rows[0]]
        select_run(row["id"], row["dataset"])


def note(row, classes: dict[str, int]) -> str | None:
    """What the Note column says of a run: why it can't be read or stopped, or that it scores close to guessing
    (``classes``: each dataset's class count, where the dataset is here)."""
    count = classes.get(row.dataset)
    if row.state == "completed" and count and close_to_guessing(row.test_accuracy, count):
        return f"close to guessing ({1 / count:.0%} for {count} classes): weights for another dataset?"
    return row.error


def class_counts(datasets) -> dict[str, int]:
    """Each dataset's class count, read once (a dataset of your own reads its manifest); one not here is left out."""
    counts = {}
    for name in set(datasets):
        with contextlib.suppress(DataError):
            counts[name] = get_dataset_info(name).num_classes
    return counts


def epochs_text(done: int, planned) -> str:
    """ "2 / 3" for a run trained here; the epochs logged (or "—") for a model made elsewhere."""
    if pd.isna(planned):
        return str(int(done)) if done else "—"
    return f"{int(done)} / {int(planned)}"


def page() -> None:
    start_here()
    st.subheader("Runs")
    data_dir, checkpoints_dir = store_locations()
    missing = missing_datasets()
    if missing:
        st.info(
            f"Not fetched yet: {', '.join(missing)}. Get them with:\n\n"
            + "".join(f"```\npython -m core data fetch --dataset {name}\n```\n" for name in missing)
            + f"(into `{data_dir}`)"
        )
    table = runs_table()
    if table.empty:
        st.info(
            f"No runs in `{checkpoints_dir}` yet. Train one with:\n\n"
            "```\npython -m core train --dataset mnist --preset quick\n```"
        )
        return
    table["epochs"] = [
        epochs_text(done, planned) for done, planned in zip(table["epochs_done"], table["epochs"], strict=True)
    ]
    classes = class_counts(table["dataset"].dropna())
    table["error"] = [note(row, classes) for row in table.itertuples()]
    table = table[COLUMNS].reset_index(drop=True)
    for column in ("best_val_accuracy", "test_accuracy"):
        table[column] = accuracy_percent(table[column])
    st.session_state["runs_table_rows"] = table
    st.caption(f"{len(table)} runs in `{checkpoints_dir}`, newest first. Select a row to open that run.")
    current = selected_run_id()
    selected_rows = [int(i) for i in table.index[table["id"] == current]]
    key = f"{TABLE_KEY}-{current}"  # a table per selected run: its ticked row follows the sidebar
    st.dataframe(
        table,
        key=key,
        on_select=lambda: on_row_selected(key),
        selection_mode="single-row",
        selection_default={"selection": {"rows": selected_rows, "columns": []}} if selected_rows else None,
        hide_index=True,
        placeholder="—",
        # Every row without an inner scroll (a fixed height cut the last row in half), up to TABLE_ROWS.
        height="content" if len(table) <= TABLE_ROWS else 38 + 35 * TABLE_ROWS,
        column_config={
            # Pinned: in a narrow window the table scrolls sideways under the run's name and state.
            "id": st.column_config.TextColumn("Run", pinned=True),
            "dataset": "Dataset",
            "model": "Model",
            "preset": "Preset",
            "state": st.column_config.TextColumn("State", pinned=True),
            "epochs": "Epochs",
            "best_val_accuracy": st.column_config.NumberColumn("Best val acc", format=ACCURACY_FORMAT),
            "test_accuracy": st.column_config.NumberColumn("Test acc", format=ACCURACY_FORMAT),
            "created": st.column_config.DatetimeColumn("Date", format="YYYY-MM-DD HH:mm"),
            "origin": st.column_config.TextColumn("Origin", help="trained here, imported, or logged from your loop"),
            "error": st.column_config.TextColumn(
                "Note", width="large", help="Why a run can't be read or didn't finish, or why its figures are odd"
            ),
        },
    )
    if selected_rows:
        open_links(current, str(table.loc[selected_rows[0], "dataset"]))


page()
