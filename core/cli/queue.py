"""``python -m core queue``: the training queue the Train page shows — list, add, move, remove."""

from __future__ import annotations

import argparse

from core.cli.common import Parser, add_checkpoints, add_data_dir, add_json, print_json, text_table
from core.cli.train import add_config_flags, config_from_args


def register(commands) -> None:
    queue = commands.add_parser("queue", help="the training queue: jobs run one at a time, in order")
    add_json(queue)  # `queue` alone lists, so it takes list's flags too
    add_checkpoints(queue)
    verbs = queue.add_subparsers(title="queue commands", parser_class=Parser)
    listing = verbs.add_parser("list", help="the job training now and the jobs waiting, in order")
    add_json(listing, default=argparse.SUPPRESS)
    add_checkpoints(listing, default=argparse.SUPPRESS)
    listing.set_defaults(handler=run_list)
    add = verbs.add_parser("add", help="queue a training job (the flags of `train`); it starts when its turn comes")
    add_config_flags(add)
    add.add_argument("--run-id", help="name of the run folder (default: date-dataset-model)")
    add_data_dir(add)
    add_checkpoints(add, default=argparse.SUPPRESS)
    add.set_defaults(handler=run_add)
    move = verbs.add_parser("move", help="move a waiting job earlier (negative) or later")
    move.add_argument("id", help="the job's id (queue list)")
    move.add_argument("--by", type=int, required=True, help="places: -1 is one earlier")
    add_checkpoints(move, default=argparse.SUPPRESS)
    move.set_defaults(handler=run_move)
    remove = verbs.add_parser("remove", help="take a waiting job out of the queue")
    remove.add_argument("id", help="the job's id (queue list)")
    add_checkpoints(remove, default=argparse.SUPPRESS)
    remove.set_defaults(handler=run_remove)
    queue.set_defaults(handler=run_list, json=False, checkpoints=None)


def run_list(args) -> int:
    from core.jobqueue import queued_jobs
    from core.jobs import active_job

    job, waiting = active_job(args.checkpoints), queued_jobs(args.checkpoints)
    if args.json:
        print_json(
            {
                "training": job.run_id if job else None,
                "waiting": [
                    {"id": e.id, "run_id": e.run_id, "config": e.config.to_dict(), "queued_at": e.queued_at}
                    for e in waiting
                ],
            }
        )
        return 0
    print(f"training: {job.run_id or '(starting)'}" if job else "training: nothing")
    rows = [
        (e.id, place + 1, e.config.dataset, e.config.model, e.config.preset or "-", e.config.epochs, e.run_id or "-")
        for place, e in enumerate(waiting)
    ]
    if rows:
        print(text_table(rows, ("id", "place", "dataset", "model", "preset", "epochs", "run name"), left=1))
    else:
        print("waiting: nothing")
    return 0


def run_add(args) -> int:
    from core.jobqueue import submit

    started, ahead = submit(config_from_args(args), args.checkpoints, args.data_dir, args.run_id)
    print(f"started: {started.run_id}" if started else f"queued, {ahead} ahead")
    return 0


def run_move(args) -> int:
    from core.config import ConfigError
    from core.jobqueue import move_queued

    if not move_queued(args.checkpoints, args.id, args.by):
        raise ConfigError(f"no waiting job {args.id!r} can move {args.by:+d} places")
    return 0


def run_remove(args) -> int:
    from core.config import ConfigError
    from core.jobqueue import remove_queued

    if not remove_queued(args.checkpoints, args.id):
        raise ConfigError(f"no waiting job {args.id!r} (it may have started)")
    return 0
