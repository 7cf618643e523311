"""``python -m core saliency RUN INDEX``: where the model looked, for its answer and the true class (a PNG)."""

from __future__ import annotations

from pathlib import Path

from core.analysis import ATTRIBUTION_METHODS
from core.cli.common import add_data_dir, add_json, add_run, print_json
from core.config import ConfigError
from core.runs import load_run


def register(commands) -> None:
    saliency = commands.add_parser("saliency", help="attribution maps of one test image, written as a PNG")
    add_run(saliency)
    saliency.add_argument("index", type=int, help="the image's index in the test file")
    saliency.add_argument("--method", choices=ATTRIBUTION_METHODS, help=f"default {ATTRIBUTION_METHODS[0]}")
    saliency.add_argument("--output", type=Path, help="PNG file (default: saliency-RUN-INDEX.png)")
    add_json(saliency, "the classes, probabilities and the PNG's path")
    add_data_dir(saliency)
    saliency.set_defaults(handler=run)


def run(args) -> int:
    import numpy as np

    from core.analysis import explain, methods_for
    from core.data import load_dataset
    from core.pictures import attribution_picture, side_by_side
    from core.storage import atomic_write_with

    run_folder = load_run(args.run, args.checkpoints)
    config, predictions = run_folder.config, run_folder.load_predictions()
    rows = np.flatnonzero(predictions.indices == args.index)
    if len(rows) == 0:
        raise ConfigError(f"test index {args.index} is not among {run_folder.id}'s predictions")
    row = int(rows[0])
    image = load_dataset(config.dataset, args.data_dir).test.images[args.index].numpy()
    probs, label = predictions.probs[row], int(predictions.labels[row])
    model = run_folder.load_model()
    method = args.method or methods_for(model)[0]
    if method not in methods_for(model):
        raise ConfigError(f"{run_folder.id} runs as an ONNX graph, without gradients: use --method occlusion")
    explanation = explain(model, image, probs, label, config.mean, config.std, method)
    picture = side_by_side([attribution_picture(m, image, explanation.limit) for m in explanation.maps])
    output = args.output or Path(f"saliency-{run_folder.id}-{args.index}.png")
    atomic_write_with(output, lambda handle: picture.save(handle, format="PNG"))
    maps = [
        {"role": role, "class": config.classes[target], "probability": float(probs[target])}
        for role, target in zip(explanation.roles, explanation.targets, strict=True)
    ]
    if args.json:
        print_json(
            {
                "run": run_folder.id,
                "index": args.index,
                "true": config.classes[label],
                "maps": maps,
                "method": method,
                "png": str(output),
            }
        )
        return 0
    print(f"{run_folder.id}, test image {args.index}: true {config.classes[label]}")
    for side, item in zip(("left", "right"), maps, strict=True):
        print(f"  {side}: for {item['role']} {item['class']} ({item['probability']:.1%})")
    print(f"red pixels pushed towards the class, blue ones away ({method}); written to {output}")
    return 0
