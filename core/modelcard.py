"""A model's card: its layers with output shapes and parameter counts (torchinfo), a graph, ONNX.

layers = layer_table(create_model("two-conv-dropout"), (1, 28, 28))   # 28 → 14 → 7, 64 × 7 × 7 = 3,136 inputs
dot = layer_graph(layers, (1, 28, 28))                                # Graphviz source
data = onnx_bytes(model, (1, 28, 28))                                 # open it in Netron

The input shape is the model's own (``ModelSpec.input_shape``): channels × height × width.
"""

from __future__ import annotations

import io
import warnings

import pandas as pd
import torch


def layer_table(model: torch.nn.Module, input_shape: tuple[int, int, int]) -> pd.DataFrame:
    """One row per leaf layer in forward order: name, type, output shape, parameters."""
    from torchinfo import summary

    # torchinfo runs one forward pass; the model's own mode is restored afterwards.
    stats = summary(model, input_size=(1, *input_shape), verbose=0, depth=10, col_names=("output_size", "num_params"))
    rows = [
        {
            "layer": layer.var_name if layer.parent_info is None else _path(layer),
            "type": layer.class_name,
            "output shape": " × ".join(str(size) for size in layer.output_size[1:]),
            "parameters": int(layer.num_params),
        }
        for layer in stats.summary_list
        if layer.is_leaf_layer
    ]
    return pd.DataFrame(rows, columns=["layer", "type", "output shape", "parameters"])


def _path(layer) -> str:
    names = []
    while layer is not None and layer.parent_info is not None:
        names.append(layer.var_name)
        layer = layer.parent_info
    return ".".join(reversed(names))


def layer_graph(layers: pd.DataFrame, input_shape: tuple[int, int, int]) -> str:
    """Graphviz source of the layers as a chain, each box with its type, output shape and parameters."""
    lines = [
        "digraph model {",
        '  rankdir=TB; node [shape=box, style="rounded,filled", fillcolor="#eef1ff", fontname="sans-serif"];',
        f'  input [label="input\\n{" × ".join(str(side) for side in input_shape)}", fillcolor="#ffffff"];',
    ]
    previous = "input"
    for number, row in enumerate(layers.itertuples(index=False)):
        params = f"\\n{row.parameters:,} parameters" if row.parameters else ""
        label = _dot_text(f"{row.type} ({row.layer})")  # names may come from a graph on disk
        lines.append(f'  l{number} [label="{label}\\n{_dot_text(row[2])}{params}"];')
        lines.append(f"  {previous} -> l{number};")
        previous = f"l{number}"
    lines.append("}")
    return "\n".join(lines)


def _dot_text(text: str) -> str:
    """Text safe inside a quoted Graphviz label."""
    return str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ")


def onnx_bytes(model: torch.nn.Module, input_shape: tuple[int, int, int]) -> bytes:
    """The model exported to ONNX (batch size free), to open in Netron or any ONNX runtime."""
    model = model.eval()
    example = (torch.zeros(1, *input_shape),)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's progress chatter
        program = torch.onnx.export(
            model,
            example,
            dynamo=True,
            input_names=["image"],
            output_names=["logits"],
            dynamic_shapes=({0: torch.export.Dim("batch")},),
            verbose=False,
        )
    buffer = io.BytesIO()
    program.save(buffer)
    return buffer.getvalue()


# What a reader of the graph's layer table should know: it is the model as it predicts.
GRAPH_NOTE = (
    "The operations of the kept ONNX graph, the model as it predicts: dropout does nothing then and is left "
    "out, a flatten is a Reshape and a Linear layer a Gemm."
)

# A model trained elsewhere may have trained on every image of the training file, this project's
# validation split included: its figures there would read high.
VALIDATION_CAVEAT = (
    " Its validation figures are measured on the images this project holds out of the training file: "
    "if your loop trained on the whole file, it has seen them, and they read high."
)


def describe_source(config) -> str:
    """Where an imported or logged model came from, in words (read from disk: show it as plain text)."""
    source = config.source or {}  # a graph beside a run trained here, whose config names no source
    if not source:
        return (
            "An ONNX graph with no record of where it came from; inputs standardised with mean "
            f"{config.mean:g}, std {config.std:g}."
        )
    if source.get("kind") == "log_run":
        hyperparameters = source.get("hyperparameters") or {}
        given = ", ".join(f"{name} {value}" for name, value in hyperparameters.items())
        logged = f"Logged from your own training loop with core.log_run; outputs read as {source.get('output', '?')}"
        return logged + (f"; your config: {given}." if given else ".") + VALIDATION_CAVEAT
    parts = [f"Imported from {source.get('weights', '?')}"]
    if source.get("code"):
        parts.append(f"with your class {source['code']}")
    return (
        " ".join(parts)
        + f" (SHA-256 {str(source.get('weights_sha256', '?'))[:12]}…); outputs read as "
        + str(source.get("output", "?"))
        + f"; inputs standardised with mean {config.mean:g}, std {config.std:g}."
        + VALIDATION_CAVEAT
    )
