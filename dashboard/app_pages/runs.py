"""Runs: every stored run with its state and accuracies; selecting a row selects the run."""

import pandas as pd
import streamlit as st

from dashboard.cached import missing_datasets, runs_table, store_locations
from dashboard.sidebar import select_run, selected_run_id

TABLE_KEY = "runs_table"
COLUMNS = [
    "id",
    "dataset",
    "model",
    "preset",
    "state",
    "epochs",
    "best_val_accuracy",
    "test_accuracy",
    "created",
    "origin",
    "error",
]


def on_row_selected() -> None:
    rows = st.session_state[TABLE_KEY].selection.rows
    if rows:
        row = st.session_state["runs_table_rows"].iloc[rows[0]]
        select_run(row["id"], row["dataset"])


def epochs_text(done: int, planned) -> str:
    """ "2 / 3" for a run trained here; the epochs logged (or "—") for a model made elsewhere."""
    if pd.isna(planned):
        return str(int(done)) if done else "—"
    return f"{int(done)} / {int(planned)}"


def page() -> None:
    st.title("Runs")
    data_dir, checkpoints_dir = store_locations()
    missing = missing_datasets()
    if missing:
        st.info(
            f"Not fetched yet: {', '.join(missing)}. Get them with:\n\n"
            f"```\npython -m core data fetch --dataset all\n```\n(into `{data_dir}`)"
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
    table = table[COLUMNS].reset_index(drop=True)
    st.session_state["runs_table_rows"] = table
    st.caption(f"{len(table)} runs in `{checkpoints_dir}`, newest first. Select a row to open that run.")
    current = selected_run_id()
    selected_rows = [int(i) for i in table.index[table["id"] == current]]
    st.dataframe(
        table,
        key=TABLE_KEY,
        on_select=on_row_selected,
        selection_mode="single-row",
        selection_default={"selection": {"rows": selected_rows, "columns": []}} if selected_rows else None,
        hide_index=True,
        placeholder="—",
        column_config={
            "id": st.column_config.TextColumn("Run"),
            "dataset": "Dataset",
            "model": "Model",
            "preset": "Preset",
            "state": "State",
            "epochs": "Epochs",
            "best_val_accuracy": st.column_config.NumberColumn("Best val acc", format="percent"),
            "test_accuracy": st.column_config.NumberColumn("Test acc", format="percent"),
            "created": st.column_config.DatetimeColumn("Date", format="YYYY-MM-DD HH:mm"),
            "origin": st.column_config.TextColumn("Origin", help="trained here, imported, or logged from your loop"),
            "error": st.column_config.TextColumn("Reason", width="large"),
        },
    )


page()
