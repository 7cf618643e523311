"""Training curves: loss and accuracy per epoch, train against validation, one run or several."""

import pandas as pd
import streamlit as st

from core.history import (
    MAX_EPOCHS_DRAWN,
    X_AXES,
    batch_loss_rows,
    curve_rows,
    drawn_epochs,
    history_frame,
    progress,
    smooth,
    table_columns,
)
from core.runs import RunError
from dashboard import charts
from dashboard.cached import run_history
from dashboard.chartview import draw_chart
from dashboard.sidebar import selected_dataset, selected_run_id
from dashboard.store import open_run, runs_table
from dashboard.text import plain


def explain_train_above_validation(histories: list[pd.DataFrame]) -> None:
    """Say why, when a run's training loss ends above its validation loss (it looks like a bug, and isn't)."""
    above = [
        str(frame["run"].iloc[0])
        for frame in histories
        if {"train_loss", "val_loss"} <= set(frame.columns)
        and frame["train_loss"].iloc[-1] > frame["val_loss"].iloc[-1]
    ]
    if above:
        st.info(
            f"Training loss above validation loss ({plain(', '.join(above))}) is common, not a leak: the "
            "training loss is measured while the model trains (with label smoothing, which keeps even a perfect "
            "answer's loss above 0, augmented images and dropout, where the run uses them) and averaged over an "
            "epoch in which the model was still improving; the validation loss is measured after the epoch, on "
            "plain images, with dropout off.",
            icon=":material/info:",
        )


LIVE_EVERY_S = 2.0  # how often the curves are read again while a run of the dataset is training


def page() -> None:
    st.title("Training curves")
    dataset = selected_dataset()
    table = runs_table()
    if ((table["dataset"] == dataset) & (table["state"] == "running")).any():
        live_curves(dataset)
    else:
        curves(dataset, table)


@st.fragment(run_every=LIVE_EVERY_S)
def live_curves(dataset: str) -> None:
    """The curves, read again every few seconds while a run trains (here, from the Train page or from a
    user's own loop with ``core.log_run``); a full rerun of the page stops it once none does."""
    curves(dataset)


def curves(dataset: str, table: pd.DataFrame | None = None) -> None:
    """The page below its title; ``table``: the runs listing, read afresh when not given (a live rerun)."""
    table = runs_table() if table is None else table
    candidates = table[(table["dataset"] == dataset) & (table["epochs_done"] > 0)]["id"].tolist()
    current = selected_run_id()
    by_id = table.set_index("id")
    origin, state = by_id["origin"].get(current), by_id["state"].get(current)
    if current not in candidates and state == "running":
        # Nothing else drawn meanwhile: the runs picker is made afresh, with this run chosen, at its first epoch.
        st.info(f"{current} is training and has no finished epoch yet: its curves appear here as it logs them.")
        return
    if current not in candidates and origin not in (None, "trained"):
        st.info(
            f"{current} was made outside this project without a training history. Import one from TensorBoard "
            "(`python -m core import ... --tensorboard LOGDIR`) or log it with `core.log_run`."
            + (" Below: the other runs of this dataset." if candidates else "")
        )
        if not candidates:
            return
    if not candidates:
        st.info(
            "No run of this dataset has finished an epoch yet. Train one with:\n\n"
            f"```\npython -m core train --dataset {dataset} --preset quick\n```"
        )
        return
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
            best_epoch = run.kept_epoch(history)
        except RunError as error:
            st.warning(f"{run_id}: {plain(error)}")
            continue
        frame = history_frame(history)
        histories.append(frame.assign(run=run_id))
        steps = progress(frame)
        kept_step = steps[steps["epoch"] == best_epoch].to_dict("records") or [{"epoch": best_epoch}]
        kept.append({"run": run_id, **kept_step[0]})
        batches += batch_loss_rows(run_id, history)
    if not histories:
        return
    long = pd.concat([curve_rows(h["run"].iloc[0], h) for h in histories], ignore_index=True)
    kept_epochs = pd.DataFrame(kept)

    metric, x, log_scale = curve_controls(long)
    shown = long[long["metric"] == metric]
    draw_chart(st, charts.epoch_curves, shown, metric, kept_epochs, x=x, log_scale=log_scale)
    legend = charts.split_legend(shown["split"])
    st.caption(
        (f"{legend}. " if legend else "")
        + "The vertical dotted rule marks the kept epoch: the best on validation for a run trained here, the last "
        "one logged for a model from your own loop or an import (the model it was given). "
        "CLI: `python -m core curves RUN`."
    )
    explain_train_above_validation(histories)

    if batches:
        batch_loss_section(pd.DataFrame(batches))
    history_table(histories, chosen)


def curve_controls(long: pd.DataFrame) -> tuple[str, str, bool]:
    """The metric, what the x axis counts (those every chosen run recorded) and whether y is logarithmic."""
    controls = st.columns([3, 5, 2], vertical_alignment="bottom")  # the x axis choices whole at 700 pixels
    metrics = list(dict.fromkeys(long["metric"])) or ["loss"]
    metric = (  # a loop's own metric names are shown as written, never as markdown
        controls[0].segmented_control("Metric", metrics, default=metrics[0], key="curves_metric", format_func=plain)
        or metrics[0]
    )
    axes = [label for label, column in X_AXES.items() if long[column].notna().all()]
    if st.session_state.get("curves_x") not in axes:  # a run chosen since has no record of it
        st.session_state.pop("curves_x", None)
    label = controls[1].segmented_control("X axis", axes, default=axes[0], key="curves_x") or axes[0]
    accuracy = metric.endswith("accuracy")
    log_scale = controls[2].toggle(
        "Log axis", value=False, key="curves_epoch_log", disabled=accuracy, help="A logarithmic y axis"
    )
    return metric, X_AXES[label], log_scale and not accuracy


def batch_loss_section(frame: pd.DataFrame) -> None:
    """The running batch loss of every chosen run, smoothed as TensorBoard smooths it."""
    st.subheader("Running batch loss")
    controls = st.columns([3, 2, 5], vertical_alignment="bottom")
    weight = controls[0].slider("Smoothing", 0.0, 0.95, 0.6, 0.05, key="curves_smoothing")
    log_scale = controls[1].toggle("Log axis", value=True, key="curves_log")
    frame["smoothed"] = frame.groupby("run")["loss"].transform(lambda loss: smooth(list(loss), weight))
    draw_chart(st, charts.batch_loss_curve, frame, log_scale)
    st.caption("The smoothed loss (an exponential moving average, as TensorBoard's) over the raw one, faint.")


def history_table(histories: list[pd.DataFrame], chosen: list[str]) -> None:
    """Every epoch record of the chosen runs, formatted, with a CSV download."""
    st.subheader("History")
    long = [f"{h['run'].iloc[0]} ({len(h):,})" for h in histories if len(h) > MAX_EPOCHS_DRAWN]
    if long:
        st.caption(
            f"Epochs shown: {MAX_EPOCHS_DRAWN:,} a run, evenly spaced, of {plain(', '.join(long))}; "
            "`python -m core curves RUN --json` gives them all."
        )
    flat = pd.concat(
        [drawn_epochs(history[["run", *table_columns(history)]]) for history in histories], ignore_index=True
    )
    shown = flat.copy()  # accuracies as percentages with two decimals each (the CSV keeps the fractions)
    if "examples_seen" in shown and not (shown["examples_seen"] > 0).any():  # a loop that counted none
        shown = shown.drop(columns="examples_seen")
    accuracies = [column for column in shown.columns if column.endswith("accuracy")]
    for column in accuracies:  # log_run keeps every accuracy as a fraction, whatever its name
        shown[column] = pd.to_numeric(shown[column], errors="coerce") * 100
    percent = {"format": "%.2f%%"}
    st.dataframe(
        shown,
        hide_index=True,
        height="content" if len(shown) <= 16 else 640,  # every epoch of a usual run without an inner scroll
        column_config={
            "run": st.column_config.TextColumn("run", pinned=True),
            "train_loss": st.column_config.NumberColumn("train loss", format="%.4f"),
            "val_loss": st.column_config.NumberColumn("validation loss", format="%.4f"),
            "train_accuracy": st.column_config.NumberColumn("train accuracy", **percent),
            "val_accuracy": st.column_config.NumberColumn("validation accuracy", **percent),
            "test_loss": st.column_config.NumberColumn("test loss", format="%.4f"),
            **{
                column: st.column_config.NumberColumn(column.replace("_", " "), **percent)
                for column in accuracies
                if column not in ("train_accuracy", "val_accuracy")
            },
            "lr": st.column_config.NumberColumn("learning rate", format="%.3g"),
            "seconds": st.column_config.NumberColumn("seconds", format="%.1f s"),
            "examples_seen": st.column_config.NumberColumn("examples seen", format="localized"),
        },
    )
    st.download_button(
        "Download CSV",
        flat.to_csv(index=False),
        file_name=f"history-{'-'.join(chosen)}.csv"[:120],
        mime="text/csv",
        icon=":material/download:",
    )


page()
