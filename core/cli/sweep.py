"""``python -m core sweep create|work|show``: hyperparameter sweeps with Optuna, every trial a normal run."""

from __future__ import annotations

from core.cli.common import DATASET_HELP, Parser, add_checkpoints, add_data_dir, add_json, print_json, text_table
from core.config import ConfigError


def register(commands) -> None:
    sweep = commands.add_parser("sweep", help="hyperparameter sweeps with Optuna: create, work, show")
    verbs = sweep.add_subparsers(title="sweep commands", parser_class=Parser)
    create = verbs.add_parser("create", help="a new sweep: what to vary, over what, how many trials")
    create.add_argument("name")
    create.add_argument("--dataset", default="mnist", help=DATASET_HELP)
    create.add_argument("--preset", default="quick", help="the recipe each trial starts from")
    create.add_argument(
        "--param",
        action="append",
        required=True,
        help="NAME=loguniform:LOW:HIGH | uniform:LOW:HIGH | int:LOW:HIGH | choice:A,B,C (repeat for each)",
    )
    create.add_argument("--set", action="append", default=[], help="NAME=VALUE fixed for every trial (repeatable)")
    create.add_argument("--trials", type=int, default=8)
    create.add_argument("--sampler", choices=["tpe", "random", "grid"], default="tpe")
    add_storage(create)
    create.set_defaults(handler=run_create)
    work = verbs.add_parser("work", help="run the sweep's trials (start as many workers as you like)")
    work.add_argument("name")
    work.add_argument("--trials", type=int, help="at most this many here (default: until the sweep has its count)")
    add_storage(work)
    add_data_dir(work)
    work.set_defaults(handler=run_work)
    show = verbs.add_parser("show", help="the trials, the best one and what mattered")
    show.add_argument("name")
    add_storage(show)
    add_json(show)
    show.set_defaults(handler=run_show)


def add_storage(parser) -> None:
    parser.add_argument(
        "--storage", help="Optuna storage URL, e.g. postgresql://user@host/db (default: a journal file in the store)"
    )
    add_checkpoints(parser)


def run_create(args) -> int:
    from core.sweeps import SweepSpec, create_sweep, parse_param, safe_url

    params = dict(parse_param(text) for text in args.param)
    overrides = {name: _value(value) for name, value in (parse_param(text) for text in args.set)}
    spec = SweepSpec(args.name, args.dataset, args.preset, params, args.trials, args.sampler, overrides)
    create_sweep(spec, args.checkpoints, args.storage)
    print(f"sweep {spec.name}: {spec.trials} trials of {spec.preset} on {spec.dataset} in {safe_url(args.storage)}")
    print(f"run trials with: python -m core sweep work {spec.name}" + (" --storage URL" if args.storage else ""))
    return 0


def _value(text: str):
    from core.sweeps import parse_number

    return {"true": True, "false": False}.get(text.lower(), parse_number(text))


def run_work(args) -> int:
    from core.sweeps import work

    if args.trials is not None and args.trials < 1:
        raise ConfigError("--trials must be at least 1")
    ran = work(args.name, args.checkpoints, args.storage, args.trials, args.data_dir, on_trial=_print_trial)
    print(f"{ran} trial(s) ran here; python -m core sweep show {args.name}")
    return 0


def _print_trial(run) -> None:
    status = run.status()
    accuracy = f", test accuracy {status.test_accuracy:.2%}" if status.test_accuracy is not None else ""
    print(f"{run.id}: {status.state}{accuracy} {run.config.sweep['params']}")


def run_show(args) -> int:
    from core.sweeps import sweep_summary

    summary = sweep_summary(args.name, args.checkpoints, args.storage)
    if args.json:
        print_json(summary.to_dict())
        return 0
    spec = summary.spec
    print(f"sweep {spec.name}: {spec.preset} on {spec.dataset}, {len(summary.trials)}/{spec.trials} trials")
    names = list(spec.params)
    rows = [
        (
            t["number"],
            t["state"],
            *(_short(t["params"].get(n, "-")) for n in names),
            _percent(t["value"]),
            t["run_id"] or "-",
        )
        for t in summary.trials
    ]
    print(text_table(rows, ("trial", "state", *names, "best val", "run"), left=0))
    if summary.best is not None:
        print(f"best: trial {summary.best['number']} ({summary.best['run_id']}), {_percent(summary.best['value'])}")
    if summary.importance:
        print("importance: " + ", ".join(f"{k} {v:.2f}" for k, v in summary.importance.items()))
    return 0


def _short(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _percent(value) -> str:
    return "-" if value is None else f"{value:.2%}"
