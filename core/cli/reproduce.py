"""``python -m core reproduce``: every tutorial recipe, trained and compared with what its tutorial reported."""

from __future__ import annotations

import sys
from pathlib import Path

from core.presets import TUTORIAL_MODELS


def register(commands) -> None:
    reproduce = commands.add_parser(
        "reproduce", help="train every tutorial recipe and write results/reproduce.md (about 15 minutes on 2 cores)"
    )
    reproduce.add_argument("--model", action="append", choices=TUTORIAL_MODELS, help="only these (repeatable)")
    reproduce.add_argument("--keep-runs", type=Path, help="store the runs here (default: thrown away)")
    reproduce.add_argument("--results", type=Path, help="folder for reproduce.json and reproduce.md")
    reproduce.set_defaults(handler=run)


def run(args) -> int:
    from core.devices import use_threads
    from core.reproduce import RESULTS_DIR, reproduce, write_results

    def report(result) -> None:
        accuracy = f"{result.test_accuracy:.2%}" if result.test_accuracy is not None else result.state
        print(
            f"{result.model} on {result.dataset}: {accuracy} in {result.seconds:.0f} s (reported: {result.reported})",
            file=sys.stderr,
        )

    use_threads(None)
    results = reproduce(args.model, args.keep_runs, on_result=report)
    _, markdown = write_results(results, args.results or RESULTS_DIR)
    print(markdown)
    return 0
