"""Training curves: loss and accuracy per epoch, train against validation, one run or several."""

import pandas as pd
import streamlit as st

from core.runs import RunError
from dashboard import charts
from dashboard.sidebar import selected_dataset, selected_run_id
from dashboard.state import batch_loss_rows, open_run, run_history, runs_table


def long_form(run_id: str, history: pd.DataFrame) -> pd.DataFrame:
    """Epoch rows as (run, epoch, metric, split, value) rows for Altair."""
    rows = []
    for metric in ("loss", "accuracy"):
        for split, column in (("train", f"train_{metric}"), ("validation", f"val_{metric}")):
            if column not in history:  # a record written by another version, or damaged
                continue
            part = history[["epoch", column]].rename(columns={column: "value"})
            rows.append(part.assign(run=run_id, metric=metric, split=split))
    if not rows:
        return pd.DataFrame(columns=["epoch", "value", "run", "metric", "split"])
    return pd.concat(rows, ignore_index=True)


def page() -> None:
    st.title("Training curves")
    dataset = selected_dataset()
    table = runs_table()
    candidates = table[(table["dataset"] == dataset) & (table["epochs_done"] > 0)]["id"].tolist()
    if not candidates:
        st.info(
            "No run of this dataset has finished an epoch yet. Train one with:\n\n"
            f"```\npython -m core train --dataset {dataset} --preset quick\n```"
        )
        return
    current = selected_run_id()
    default = [current] if current in candidates else candidates[:1]
    chosen = st.multiselect("Runs to compare", candidates, default=default, key="curves_runs")
    if not chosen:
        st.info("Pick at least one run.")
        return

    histories, kept, batches = [], [], []
    for run_id in chosen:
        run = open_run(run_id)
        try:
            history = run_history(run)
            best_epoch = run.status().get("best_epoch") or int(history.loc[history["val_loss"].idxmin(), "epoch"])
        except (RunError, KeyError, ValueError) as error:
            st.warning(f"{run_id}: {error}")
            continue
        histories.append(history.assign(run=run_id))
        kept.append({"run": run_id, "epoch": best_epoch})
        batches += batch_loss_rows(run_id, history.get("batch_losses", pd.Series(dtype=object)).dropna())
    if not histories:
        return
    long = pd.concat([long_form(h["run"].iloc[0], h) for h in histories], ignore_index=True)
    kept_epochs = pd.DataFrame(kept)

    metric = st.segmented_control("Metric", ["loss", "accuracy"], default="loss", key="curves_metric") or "loss"
    st.altair_chart(charts.epoch_curves(long[long["metric"] == metric], metric, kept_epochs))
    st.caption("Solid: training; dashed: validation. The dotted rule marks the kept epoch (best on validation).")

    if batches:
        st.subheader("Running batch loss")
        st.altair_chart(charts.batch_loss_curve(pd.DataFrame(batches)))

    st.subheader("History")
    flat = pd.concat(histories, ignore_index=True).drop(columns=["batch_losses"], errors="ignore")
    flat = flat[["run", *[c for c in flat.columns if c != "run"]]]
    st.dataframe(flat, hide_index=True)
    st.download_button(
        "Download CSV",
        flat.to_csv(index=False),
        file_name=f"history-{'-'.join(chosen)}.csv"[:120],
        mime="text/csv",
        icon=":material/download:",
    )


page()
