"""Small Streamlit pieces that more than one page draws."""

from dataclasses import dataclass

import numpy as np
import pandas as pd
import streamlit as st

from core.runs import Run, RunError
from dashboard.sidebar import selected_run_id
from dashboard.state import open_run, run_predictions


@dataclass
class RunPredictions:
    run: Run
    class_names: list[str]
    probs: np.ndarray
    labels: np.ndarray
    indices: np.ndarray


def selected_run_predictions() -> RunPredictions | None:
    """The sidebar's run with its test predictions; None (after saying why) when there are none."""
    run = open_run(selected_run_id())
    if run is None:
        st.info("Pick a run in the sidebar (or train one: `python -m core train --preset quick`).")
        return None
    try:
        class_names = list(run.config["classes"])
        probs, labels, indices = run_predictions(run)
    except RunError as error:
        st.warning(f"{run.id} has no usable test predictions: {error}")
        return None
    return RunPredictions(run, class_names, probs, labels, indices)


def show_details(details: pd.DataFrame) -> None:
    """The per-image table under a gallery."""
    st.dataframe(
        details,
        hide_index=True,
        column_config={
            "test index": st.column_config.NumberColumn("Test index", format="plain"),
            "true": "True",
            "predicted": "Predicted",
            "confidence": st.column_config.NumberColumn("Confidence", format="percent"),
            "p(true)": st.column_config.NumberColumn("p(true class)", format="percent"),
        },
    )


def rows_in_brush(event, points: pd.DataFrame) -> np.ndarray:
    """Index labels of ``points`` inside a chart's dragged rectangle (its selection ``brush``: x and y ranges)."""
    brush = (event or {}).get("selection", {}).get("brush") or {}
    if "x" not in brush or "y" not in brush:
        return points.index[:0].to_numpy()
    (x0, x1), (y0, y1) = sorted(brush["x"]), sorted(brush["y"])
    return points.index[points["x"].between(x0, x1) & points["y"].between(y0, y1)].to_numpy()
