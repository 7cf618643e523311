"""Draw or upload: pictures of your own, prepared as the dataset was, and what the selected run makes of them."""

import numpy as np
import pandas as pd
import streamlit as st

from core.analysis import classify_image
from core.batchpredict import classify_pictures, least_confident_order, results_frame
from core.data import DataError, get_dataset_info
from core.images import ACCEPTED_FORMATS, MAX_UPLOAD_BYTES, ImageError, decode_image, prepare_like_dataset
from core.runs import RunError
from dashboard import charts
from dashboard.cached import run_model
from dashboard.chartview import draw_chart
from dashboard.gallery import THUMBNAIL_SIZES, Tile, image_grid, png_data_url, short_file_name, tile_png
from dashboard.inspect import confidence_note
from dashboard.numbers import short_percent
from dashboard.text import plain
from dashboard.widgets import selected_run

CANVAS_PX = 280
UPLOAD_TYPES = ["png", "jpg", "jpeg", "gif", "bmp", "webp"]


def drawn_image() -> bytes | None:
    """PNG bytes of the canvas, or None while it is empty."""
    from streamlit_drawable_canvas import st_canvas  # imported here: it registers a component on import

    result = st_canvas(
        stroke_width=20,
        stroke_color="#000000",
        background_color="#ffffff",
        height=CANVAS_PX,
        width=CANVAS_PX,
        drawing_mode="freedraw",
        return_image_data=True,
        key="draw_canvas",
    )
    if result is None or not (result.json_data or {}).get("objects"):
        return None
    return result.image_bytes


def page() -> None:
    st.title("Draw or upload")
    run = selected_run()
    if run is None:
        return
    try:
        info = get_dataset_info(run.config.dataset)
        no_model = None if run.has_model_file() else run.why_no_model()
    except (RunError, DataError) as error:
        st.warning(f"{run.id}: {plain(error)}")
        return
    if no_model:  # said now, not after a drawing
        st.info(f"{run.id} has no model to classify with: {plain(no_model)}.")
        return
    st.caption(f"{preparation_text(info)}, as the dataset was, and {run.id} classifies it.")
    # The canvas is CANVAS_PX wide whatever its column: half the page keeps it whole down to 640 px, where
    # Streamlit stacks the columns.
    source, prepared_column, result_column = st.columns([4, 1, 3])
    with source:
        draw_tab, upload_tab = st.tabs(["Draw", "Upload"])
        with draw_tab:
            drawn = drawn_image()
        with upload_tab:
            uploads = uploaded_pictures()
    if len(uploads) > 1:
        many_pictures(run, uploads)
        return
    picture, origin = (uploads[0][1], f"the upload {uploads[0][0]}") if uploads else (drawn, "the drawing")
    if picture is None:
        result_column.info("Draw on the canvas, or upload one picture or several.")
        return
    one_picture(run, info, picture, origin, prepared_column, result_column)


def preparation_text(info) -> str:
    """How an outside picture is made to look like the dataset's images, in one sentence's start."""
    height, width = info.image_size
    if info.preparation.plain_resize:
        return f"Upload a picture: it is made grayscale and resized to {height}×{width}"
    box = info.preparation.fit_box
    centred = "centred by mass" if info.preparation.centre_by_mass else "centred"
    return (
        f"Draw a {info.preparation.noun} or upload a picture: it is made grayscale, inverted when the background "
        f"is light, cropped to the ink, scaled to fit {box}×{box} and {centred} in {height}×{width}"
    )


def uploaded_pictures() -> list[tuple[str, bytes]]:
    """(file name, bytes) of each uploaded file, in upload order."""
    uploads = st.file_uploader(
        f"Pictures ({', '.join(ACCEPTED_FORMATS)}; at most {MAX_UPLOAD_BYTES // 2**20} MiB each)",
        type=UPLOAD_TYPES,
        accept_multiple_files=True,
        max_upload_size=MAX_UPLOAD_BYTES // 2**20,
        key="draw_upload",
    )
    return [(upload.name, upload.getvalue()) for upload in uploads or []]


def one_picture(run, info, picture: bytes, origin: str, prepared_column, result_column) -> None:
    """What the model sees, and its probabilities for each class."""
    config, class_names = run.config, list(run.config.classes)
    try:
        image = prepare_like_dataset(decode_image(picture), info)
    except ImageError as error:
        result_column.error(f"Can't use {plain(origin)}: {error}.")
        return
    height, width = info.image_size
    prepared_column.markdown("**What the model sees**")
    prepared_column.image(tile_png(image[None], columns=1, scale=4), caption=f"{height}×{width}, prepared")
    try:
        probs = classify_image(run_model(run), image, config.mean, config.std)
    except RunError as error:
        result_column.warning(f"{run.id} can't classify: {plain(error)}")
        return
    best = int(probs.argmax())
    result_column.markdown(f"**{plain(class_names[best])}** ({probs[best]:.1%}) — from {plain(origin)}")
    frame = pd.DataFrame({"class": class_names, "probability": probs})
    draw_chart(result_column, charts.probability_bars, frame, class_names)
    result_column.caption(confidence_note(config.label_smoothing, len(class_names)))


def many_pictures(run, uploads: list[tuple[str, bytes]]) -> None:
    """Several uploads: a captioned gallery least confident first, the table, and the CSV."""
    class_names = list(run.config.classes)
    try:
        results, skipped = classify_pictures(run, uploads, model=run_model(run))
    except RunError as error:
        st.warning(f"{run.id} can't classify: {plain(error)}")
        return
    for name, why in skipped:
        st.warning(f"Can't use {plain(name)}: {plain(why)}.")
    if not results:
        return
    order = least_confident_order(results)
    st.markdown(
        f"**{len(results)} pictures**, least confident first. "
        f"CLI: `python -m core predict {run.id} FOLDER --csv predictions.csv`."
    )
    size = THUMBNAIL_SIZES[
        st.segmented_control("Thumbnails", list(THUMBNAIL_SIZES), default="Medium", key="draw_many_size") or "Medium"
    ]
    image_grid([picture_tile(i, results[i], class_names) for i in order], key="draw_many", size=size)
    frame = results_frame(results, class_names)
    st.dataframe(
        frame[["file", "predicted", "confidence", "runner_up", "runner_up_probability"]],
        hide_index=True,
        column_config={
            "confidence": st.column_config.ProgressColumn("Confidence", format="percent", min_value=0, max_value=1),
            "runner_up": "Runner-up",
            "runner_up_probability": st.column_config.NumberColumn("Its probability", format="percent"),
        },
    )
    st.download_button(
        "Download the predictions (CSV)",
        frame.to_csv(index=False),
        file_name=f"{run.id}-predictions.csv",
        mime="text/csv",
        icon=":material/download:",
    )
    st.caption(confidence_note(run.config.label_smoothing, len(class_names)))


def picture_tile(position: int, result, class_names: list[str]) -> Tile:
    """A thumbnail captioned with its file name, the answer and its confidence, and the runner-up."""
    first, second = np.argsort(-result.probs)[:2]
    answer, confidence = class_names[first], float(result.probs[first])
    return Tile(
        id=position,
        src=png_data_url(result.image),
        truth=short_file_name(result.name),
        guess=f"{short_percent(confidence)} {answer}",
        index=f"then {class_names[second]} {short_percent(result.probs[second])}",
        title=f"{result.name}: {answer} ({confidence:.1%}), then {class_names[second]} ({result.probs[second]:.1%})",
        wrong=None,
    )


page()
