"""Model card: the selected run's layers with output shapes and parameters, a graph, an ONNX download."""

import pandas as pd
import streamlit as st

from core.augment import describe_augmentation
from core.data import DataError, get_dataset_info
from core.modelcard import GRAPH_NOTE, describe_source, layer_graph
from core.models import MODELS
from core.runs import ONNX_FILE, RunError
from dashboard.cached import model_layers, run_onnx, run_onnx_layers
from dashboard.text import plain
from dashboard.widgets import selected_run


def shape_story(layers: pd.DataFrame, input_shape: tuple[int, int, int]) -> str:
    """The resolution as it shrinks through the net (28 → 14 → 7) and what the Flatten hands to the classifier.
    A size a graph leaves unknown ("?", a name) ends the story where it is."""
    shapes = [str(shape).split(" × ") for shape in layers["output shape"]]
    sides = [str(input_shape[1])]
    for dims in shapes:
        if len(dims) == 3 and dims[1] != sides[-1]:
            sides.append(dims[1])
    story = "Resolution " + " → ".join(sides)
    flatten = [i for i, kind in enumerate(layers["type"]) if kind in ("Flatten", "Reshape")]  # Reshape: ONNX
    flat = shapes[flatten[0]] if flatten else []
    if flatten and flatten[0] > 0 and len(shapes[flatten[0] - 1]) == 3 and len(flat) == 1 and flat[0].isdigit():
        before = layers["output shape"].iloc[flatten[0] - 1]
        story += f"; the Flatten turns {before} into {int(flat[0]):,} inputs"
    return story + "."


def header(run, config) -> tuple[pd.DataFrame, tuple[int, int, int]] | None:
    """The model's name, size and story; returns its layer table and input shape (None after a warning)."""
    if run.model_file.name == ONNX_FILE:
        layers = run_onnx_layers(run)
        input_shape = get_dataset_info(config.dataset).input_shape
        st.text(f"{config.model} · {int(layers['parameters'].sum()):,} parameters · an ONNX graph, run by ONNX Runtime")
        st.text(describe_source(config))
        st.caption(GRAPH_NOTE)
        return layers, input_shape
    if not run.has_model_file():
        st.info(f"{run.id} has no model: {run.why_no_model()}.")
        return None
    if config.model not in MODELS:
        st.warning("This run names a model this version doesn't know.")
        st.text(f"Model: {config.model}")
        return None
    spec = MODELS[config.model]
    layers = model_layers(config.model, config.num_classes)
    total = int(layers["parameters"].sum())
    st.markdown(f"**{config.model}** · {total:,} parameters · {spec.description}")  # a registered name
    if config.imported:
        st.text(describe_source(config))
    else:
        if spec.recipe.source:
            st.caption(f"Recipe: {spec.recipe.source}")
        st.caption(
            f"This run: {config.epochs} epochs, batch {config.batch_size}, {config.optimizer} at {config.lr:g}, "
            f"augmentation: {describe_augmentation(config)}."
        )
    return layers, spec.input_shape


def page() -> None:
    st.title("Model card")
    run = selected_run()
    if run is None:
        return
    try:
        config = run.config
        found = header(run, config)
    except (RunError, DataError) as error:
        st.warning(f"{run.id}: {plain(error)}")
        return
    if found is None:
        return
    layers, input_shape = found
    st.caption(shape_story(layers, input_shape) + f"  CLI: `python -m core card {run.id}`.")

    left, right = st.columns([3, 2])
    with left:
        st.dataframe(
            layers,
            hide_index=True,
            height="content",  # every layer, no inner scrolling
            column_config={
                "layer": "Layer",
                "type": "Type",
                "output shape": "Output shape (C × H × W)",
                "parameters": st.column_config.NumberColumn("Parameters", format="localized"),
            },
        )
        st.download_button(
            "Download as ONNX (open it in Netron)",
            data=lambda: run_onnx(run),
            file_name=f"{run.id}.onnx",
            mime="application/octet-stream",
            icon=":material/download:",
            help="The model with this run's weights; the batch size is free. Exported when you click.",
        )
    with right:
        st.graphviz_chart(layer_graph(layers, input_shape))


page()
