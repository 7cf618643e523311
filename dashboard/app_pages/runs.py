"""Runs: every stored run with its state and accuracies."""

import streamlit as st

from dashboard.state import missing_datasets, runs_table, store_locations


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
            "```\npython -m core train --dataset mnist --model two-conv-dropout --epochs 1\n```"
        )
        return
    st.caption(f"{len(table)} runs in `{checkpoints_dir}`, newest first.")
    table["epochs"] = table["epochs_done"].astype(str) + " / " + table["epochs"].fillna(0).astype(int).astype(str)
    st.dataframe(
        table[["id", "dataset", "model", "state", "epochs", "best_val_accuracy", "test_accuracy", "created", "error"]],
        hide_index=True,
        placeholder="—",
        column_config={
            "id": st.column_config.TextColumn("Run"),
            "dataset": "Dataset",
            "model": "Model",
            "state": "State",
            "epochs": "Epochs",
            "best_val_accuracy": st.column_config.NumberColumn("Best val acc", format="percent"),
            "test_accuracy": st.column_config.NumberColumn("Test acc", format="percent"),
            "created": st.column_config.DatetimeColumn("Date", format="YYYY-MM-DD HH:mm"),
            "error": st.column_config.TextColumn("Reason", width="large"),
        },
    )


page()
