"""``python -m core models``: the registered architectures with their sizes and recipes."""

from __future__ import annotations

from core.cli.common import add_json, print_json
from core.models import MODELS, parameter_count


def register(commands) -> None:
    models = commands.add_parser("models", help="list the model architectures")
    add_json(models)
    models.set_defaults(handler=run)


def run(args) -> int:
    rows = [
        {
            "name": spec.name,
            "params": parameter_count(spec.name),
            "input_shape": list(spec.input_shape),
            "classifier": spec.classifier,
            "description": spec.description,
            "recipe": spec.recipe.config_values(),
            "recipe_source": spec.recipe.source,
            "reported": spec.reported,
        }
        for spec in MODELS.values()
    ]
    if args.json:
        print_json(rows)
        return 0
    width = max(len(row["name"]) for row in rows)
    for row in rows:
        recipe = row["recipe"]
        epochs = f"{recipe['epochs']} epoch" + ("s" if recipe["epochs"] != 1 else "")
        recipe_text = f"{recipe['optimizer']} lr {recipe['lr']:g}, batch {recipe['batch_size']}, {epochs}"
        print(f"{row['name']:<{width}}  {row['params']:>9,}  {row['description']}")
        print(f"{'':<{width}}  {'':>9}  recipe: {recipe_text}")
    return 0
