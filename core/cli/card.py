"""``python -m core card MODEL|RUN``: a model's layers, output shapes and parameters; ONNX export."""

from __future__ import annotations

import sys
from pathlib import Path

from core.cli.common import add_checkpoints, add_json
from core.models import MODELS
from core.runs import load_run


def register(commands) -> None:
    card = commands.add_parser("card", help="a model's layers, output shapes and parameters; ONNX export")
    card.add_argument("model", help=f"a model name ({', '.join(MODELS)}) or a run id or folder")
    card.add_argument("--onnx", type=Path, help="also write the model (with the run's weights) as ONNX here")
    add_json(card)
    add_checkpoints(card)
    card.set_defaults(handler=run)


def run(args) -> int:
    from core.modelcard import GRAPH_NOTE, layer_table, onnx_bytes
    from core.models import create_model
    from core.onnxmodel import onnx_layer_table
    from core.runs import ONNX_FILE
    from core.storage import atomic_write_bytes

    graph = False
    if args.model in MODELS:
        model, title, input_shape = create_model(args.model), args.model, MODELS[args.model].input_shape
        layers, export = layer_table(model, input_shape), lambda: onnx_bytes(model, input_shape)
    else:
        run_folder = load_run(args.model, args.checkpoints)
        title = f"{run_folder.id} ({run_folder.config.model})"
        graph = run_folder.model_file.name == ONNX_FILE
        if graph:  # kept as a graph: its operations, and the file itself
            layers, export = onnx_layer_table(run_folder.load_onnx_bytes()), run_folder.load_onnx_bytes
        else:
            model, input_shape = run_folder.load_model(), MODELS[run_folder.config.model].input_shape
            layers, export = layer_table(model, input_shape), lambda: onnx_bytes(model, input_shape)
    if args.onnx:
        atomic_write_bytes(args.onnx, export())
    if args.json:
        print(layers.to_json(orient="records", indent=2))
    else:
        print(title)
        print(layers.to_string(index=False, formatters={"parameters": "{:,}".format}))
        print(f"total: {layers['parameters'].sum():,} parameters")
        if graph:
            print(GRAPH_NOTE)
    if args.onnx:
        print(f"ONNX written to {args.onnx}", file=sys.stderr)
    return 0
