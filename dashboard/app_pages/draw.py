"""Draw or upload: an image of your own, prepared the MNIST way, and what the selected run makes of it."""

import pandas as pd
import streamlit as st

from core.analysis import classify_image
from core.data import DataError, get_dataset_info
from core.images import ACCEPTED_FORMATS, MAX_UPLOAD_BYTES, ImageError, decode_image, prepare_like_dataset
from core.runs import RunError
from dashboard import charts
from dashboard.cached import run_model
from dashboard.gallery import tile
from dashboard.inspect import confidence_note
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
        config = run.config
        info = get_dataset_info(config.dataset)
    except (RunError, DataError) as error:
        st.warning(f"{run.id}: {plain(error)}")
        return
    class_names, box, (height, width) = list(config.classes), info.preparation.fit_box, info.image_size
    centred = "centred by mass" if info.preparation.centre_by_mass else "centred"
    st.caption(
        f"Draw a {info.preparation.noun} or upload a picture: it is made grayscale, inverted when the background "
        f"is light, cropped to the ink, scaled to fit {box}×{box} and {centred} in {height}×{width}, as the "
        f"dataset was, and {run.id} classifies it."
    )
    source, prepared_column, result_column = st.columns([3, 1, 3])
    with source:
        draw_tab, upload_tab = st.tabs(["Draw", "Upload"])
        with draw_tab:
            drawn = drawn_image()
        with upload_tab:
            upload = st.file_uploader(
                f"An image ({', '.join(ACCEPTED_FORMATS)}; at most {MAX_UPLOAD_BYTES // 2**20} MiB)",
                type=UPLOAD_TYPES,
                max_upload_size=MAX_UPLOAD_BYTES // 2**20,
                key="draw_upload",
            )
    data, origin = (upload.getvalue(), f"the upload {upload.name}") if upload is not None else (drawn, "the drawing")
    if data is None:
        result_column.info("Draw on the canvas, or upload an image.")
        return
    try:
        image = prepare_like_dataset(decode_image(data), info)
    except ImageError as error:
        result_column.error(f"Can't use {origin}: {error}.")
        return
    prepared_column.markdown("**What the model sees**")
    prepared_column.image(
        tile(image[None], columns=1, scale=4), output_format="PNG", caption=f"{height}×{width}, prepared"
    )
    try:
        probs = classify_image(run_model(run), image, config.mean, config.std)
    except RunError as error:
        result_column.warning(f"{run.id} can't classify: {plain(error)}")
        return
    best = int(probs.argmax())
    result_column.markdown(f"**{class_names[best]}** ({probs[best]:.1%}) — from {origin}")
    frame = pd.DataFrame({"class": class_names, "probability": probs})
    result_column.altair_chart(charts.probability_bars(frame, class_names))
    result_column.caption(confidence_note(config.label_smoothing, len(class_names)))


page()
