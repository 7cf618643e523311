"""Small Streamlit pieces that more than one page draws."""

from dataclasses import dataclass

import numpy as np
import pandas as pd
import streamlit as st

from core.config import RunConfig
from core.data import DatasetSplits
from core.evaluate import prediction_details
from core.runs import Predictions, Run, RunError
from dashboard.cached import get_dataset, open_run, run_predictions
from dashboard.gallery import tile
from dashboard.sidebar import selected_run_id
from dashboard.text import plain


@dataclass
class SelectedRun:
    """The sidebar's run with its test predictions."""

    run: Run
    predictions: Predictions

    @property
    def config(self) -> RunConfig:
        return self.run.config


def selected_run() -> Run | None:
    """The sidebar's run; None (after saying what to do) when there is none."""
    run = open_run(selected_run_id())
    if run is None:
        st.info("Pick a run in the sidebar (or train one: `python -m core train --preset quick`).")
    return run


def selected_run_predictions() -> SelectedRun | None:
    """The sidebar's run with its test predictions; None (after saying why) when there are none."""
    run = selected_run()
    if run is None:
        return None
    try:
        return SelectedRun(run, run_predictions(run))
    except RunError as error:
        st.warning(f"{run.id} has no usable test predictions: {plain(error)}")
        return None


def selected_run_with_images() -> tuple[SelectedRun, DatasetSplits] | None:
    """The sidebar's run with its test predictions, and its dataset's images; None after saying why not."""
    selected = selected_run_predictions()
    if selected is None:
        return None
    data = get_dataset(selected.config.dataset)
    if data is None:
        st.info("The dataset isn't fetched here, so the images can't be shown: `python -m core data fetch`.")
        return None
    if selected.predictions.indices.max() >= len(data.test):  # predictions of another test file
        st.warning(
            f"{selected.run.id}'s predictions name test images beyond the {len(data.test):,} here: "
            f"`python -m core evaluate {selected.run.id}`."
        )
        return None
    return selected, data


def prediction_gallery(
    rows: np.ndarray, test_images, predictions: Predictions, class_names, columns: int, scale: int = 2
) -> np.ndarray:
    """Test images as one tiled picture, each captioned with its true class, then the predicted class
    and confidence (red when wrong, green when right). Returns the images shown (uint8 N×H×W)."""
    probs, labels = predictions.probs, predictions.labels
    predicted = probs.argmax(axis=1)
    captions = [(class_names[labels[r]], f"{class_names[predicted[r]]} {probs[r, predicted[r]]:.0%}") for r in rows]
    colors = ["#c92a2a" if predicted[r] != labels[r] else "#2b8a3e" for r in rows]
    images = test_images[predictions.indices[rows]].numpy()
    st.image(tile(images, columns=columns, scale=scale, captions=captions, caption_colors=colors), output_format="PNG")
    return images


def show_details(rows: np.ndarray, predictions: Predictions, class_names) -> None:
    """The per-image table under a gallery, in gallery order."""
    st.dataframe(
        prediction_details(rows, predictions, class_names),
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
