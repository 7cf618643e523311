"""``python -m core seeds``: a preset trained over several seeds, accuracy as mean ± std in results/seeds.md."""

from __future__ import annotations

import sys
from pathlib import Path

from core.cli.common import DATASET_HELP
from core.config import ConfigError
from core.presets import PRESETS


def register(commands) -> None:
    seeds = commands.add_parser("seeds", help="train a preset over several seeds; mean ± std into results/seeds.md")
    seeds.add_argument("--dataset", default="mnist", help=DATASET_HELP)
    seeds.add_argument("--preset", choices=list(PRESETS), default="quick")
    seeds.add_argument("--seeds", default="0-4", help="a range (0-4) or a list (0,3,7); at least 3 (default 0-4)")
    seeds.add_argument("--keep-runs", type=Path, help="store the runs here (default: thrown away)")
    seeds.add_argument("--results", type=Path, help="folder for seeds.json and seeds.md (default: results/)")
    seeds.set_defaults(handler=run)


def parse_seeds(text: str) -> list[int]:
    """ "0-4" → [0, 1, 2, 3, 4]; "0,3,7" → [0, 3, 7]; fewer than 3 is refused (no spread from fewer)."""
    try:
        if "-" in text:
            first, last = (int(part) for part in text.split("-", 1))
            values = list(range(first, last + 1))
        else:
            values = [int(part) for part in text.split(",")]
    except ValueError:
        raise ConfigError(f"--seeds must be a range like 0-4 or a list like 0,3,7 (got {text!r})") from None
    if len(set(values)) < 3 or min(values) < 0:
        raise ConfigError(f"--seeds needs at least 3 different seeds from 0 (got {text!r})")
    return sorted(set(values))


def run(args) -> int:
    from core.devices import use_threads
    from core.reproduce import RESULTS_DIR
    from core.seeds import train_seeds, write_results

    seeds = parse_seeds(args.seeds)
    use_threads(None)

    def report(seed: int, accuracy: float, seconds: float) -> None:
        print(f"{args.dataset} {args.preset} seed {seed}: {accuracy:.2%} in {seconds:.1f} s", file=sys.stderr)

    row = train_seeds(args.preset, args.dataset, seeds, args.keep_runs, report)
    _, markdown_path = write_results(row, args.results or RESULTS_DIR)
    mean, std = row.summary
    print(f"{args.dataset} {args.preset}: {mean:.2%} ± {std:.2%} over seeds {args.seeds} ({markdown_path})")
    return 0
