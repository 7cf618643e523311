"""Small Streamlit pieces that more than one page draws."""

from dataclasses import dataclass

import numpy as np
import pandas as pd
import streamlit as st

from core.config import RunConfig
from core.data import DatasetSplits
from core.evaluate import prediction_details
from core.runs import Predictions, Run, RunError
from dashboard.cached import get_dataset, run_predictions
from dashboard.gallery import THUMBNAIL_SIZES, Tile, image_grid, png_data_url
from dashboard.inspect import select_test_index, selected_test_index
from dashboard.numbers import short_percent
from dashboard.pages import page_entry
from dashboard.sidebar import selected_dataset, selected_run_id
from dashboard.store import open_run
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
        dataset = selected_dataset()
        st.info(
            f"No run of {dataset} to show yet. Train one on the Train page (the quick preset takes about half a "
            f"minute on two CPU cores), or:\n\n```\npython -m core train --dataset {dataset} --preset quick\n```",
            icon=":material/info:",
        )
        st.page_link(page_entry("train.py").script, label="Train a run", icon=":material/play_arrow:")
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
    data = dataset_with_images(selected.config.dataset, {selected.run.id: selected.predictions})
    return None if data is None else (selected, data)


def dataset_with_images(dataset: str, predictions: dict[str, Predictions]) -> DatasetSplits | None:
    """The dataset whose test images the runs' ``predictions`` (run id → its test predictions) name; None
    after saying why not: the dataset isn't here, or the predictions name images its test split hasn't got."""
    data = get_dataset(dataset)
    if data is None:
        st.info("The dataset isn't fetched here, so the images can't be shown: `python -m core data fetch`.")
        return None
    for run_id, kept in predictions.items():
        if len(kept.indices) and kept.indices.max() >= len(data.test):  # predictions of another test file
            st.warning(
                f"{plain(run_id)}'s predictions name test images beyond the {len(data.test):,} here: "
                f"`python -m core evaluate {plain(run_id)}`."
            )
            return None
    return data


def prediction_gallery(
    rows: np.ndarray, test_images, predictions: Predictions, class_names, key: str, clickable: bool = True
) -> int | None:
    """Test images as a grid of thumbnails, each captioned as text: its true class, then the model's
    confidence and answer (red ✗ when wrong, green ✓ when right), then its test index. With
    ``clickable``, a click selects an image (kept in the URL); returns the selected image's row, or None."""
    size = THUMBNAIL_SIZES[
        st.segmented_control("Thumbnails", list(THUMBNAIL_SIZES), default="Medium", key=f"{key}_size") or "Medium"
    ]
    probs, labels, indices = predictions.probs, predictions.labels, predictions.indices
    predicted = probs.argmax(axis=1)
    images = test_images[indices[rows]].numpy()
    tiles = [
        _tile(int(indices[r]), image, class_names[labels[r]], class_names[predicted[r]], float(probs[r, predicted[r]]))
        for r, image in zip(rows, images, strict=True)
    ]
    chosen = selected_test_index() if clickable else None
    image_grid(tiles, key=key, size=size, selected=chosen, on_click=select_test_index if clickable else None)
    positions = np.flatnonzero(indices[rows] == chosen) if chosen is not None else []
    return int(rows[positions[0]]) if len(positions) else None


def _tile(index: int, image: np.ndarray, truth: str, answer: str, confidence: float) -> Tile:
    wrong = answer != truth
    guess = f"{'✗' if wrong else '✓'} {short_percent(confidence)} {answer}"  # first: a long name may be cut
    return Tile(
        id=index,
        src=png_data_url(image),
        truth=truth,
        guess=guess,
        index=f"#{index}",
        title=f"test image #{index}: true {truth}, predicted {answer} ({confidence:.1%})",
        wrong=wrong,
    )


def show_details(rows: np.ndarray, predictions: Predictions, class_names) -> None:
    """The per-image table under a gallery, in gallery order."""
    st.dataframe(
        prediction_details(rows, predictions, class_names),
        hide_index=True,
        column_config={
            "test index": st.column_config.NumberColumn("Test index", format="%d", pinned=True),
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
