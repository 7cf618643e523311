"""``python -m core train``: train a model and store the run.

Every TrainConfig field is a flag (``--batch-size`` for ``batch_size``), generated from the
dataclass with its help text: a new hyperparameter is one field in ``core.config``.
"""

from __future__ import annotations

import argparse
import dataclasses
import signal
import sys
import time
import typing
from pathlib import Path

from core.cli.common import DATASET_HELP, add_checkpoints, add_data_dir
from core.config import ConfigError, TrainConfig, require_batch_fits
from core.models import MODELS
from core.presets import PRESETS, preset_config, recipe_config
from core.train import Callback

DEFAULT_MODEL = "two-conv-dropout"
# Fields whose flags say more than the field does: the dataset has a default, a preset names its model.
SPECIAL = {
    "dataset": {"default": "mnist", "help": DATASET_HELP},
    "preset": {"help": f"one of: {', '.join(PRESETS)} (sets the model and its recipe)"},
    "model": {"help": f"one of: {', '.join(MODELS)} (default {DEFAULT_MODEL}, with its recipe)"},
}


def register(commands) -> None:
    train = commands.add_parser(
        "train",
        help="train a model and store the run",
        description="Values not given come from the preset, else from the model's recipe (`python -m core models`).",
    )
    add_config_flags(train)
    train.add_argument("--run-id", help="name of the run folder (default: date-dataset-model)")
    train.add_argument(
        "--run-dir", type=Path, help="train the run prepared in this folder (its config.json); used by the dashboard"
    )
    train.add_argument("--job-token", help=argparse.SUPPRESS)  # the dashboard's name for this job (core.jobs)
    train.add_argument("--standby", action="store_true", help=argparse.SUPPRESS)  # wait for a job (core.standby)
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    add_data_dir(train)
    add_checkpoints(train)
    add_distributed_flags(train)
    train.set_defaults(handler=run)


def add_distributed_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "one run on several processes or GPUs (torchrun and DistributedDataParallel; the README's section "
        "'One run on several processes, GPUs or machines')"
    )
    group.add_argument("--nproc", type=int, help="training processes on this machine (one per GPU; CPU: cores)")
    group.add_argument("--nnodes", type=int, default=1, help="machines taking part, each running this command")
    group.add_argument(
        "--rdzv-endpoint",
        metavar="HOST:PORT",
        help="where the machines meet, under torchrun (listens on every interface, no authentication: "
        "a trusted network only); without it, everything stays on 127.0.0.1",
    )


def add_config_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per TrainConfig field, typed as the field is, its help from the field's metadata.

    Defaults are None (not given), so that the preset's or recipe's values fill in what is not given.
    """
    types = typing.get_type_hints(TrainConfig)
    for item in dataclasses.fields(TrainConfig):
        options = {"help": item.metadata.get("help"), "default": None}
        kind = types[item.name]
        if kind is bool:
            options["action"] = argparse.BooleanOptionalAction
        else:
            options["type"] = next(t for t in typing.get_args(kind) or (kind,) if t is not type(None))
        if item.metadata.get("choices"):
            options["choices"] = item.metadata["choices"]
        options.update(SPECIAL.get(item.name, {}))
        parser.add_argument("--" + item.name.replace("_", "-"), **options)


def config_from_args(args) -> TrainConfig:
    """The preset's values (or the model's recipe), then every flag that was given."""
    if args.preset and args.model:
        raise ConfigError("give --preset or --model, not both (a preset names its model)")
    given = {
        item.name: getattr(args, item.name)
        for item in dataclasses.fields(TrainConfig)
        if item.name not in ("dataset", "model", "preset") and getattr(args, item.name) is not None
    }
    if args.preset:
        return preset_config(args.preset, args.dataset, **given)
    return recipe_config(args.model or DEFAULT_MODEL, args.dataset, **given)


def run(args) -> int:
    if args.standby:
        return train_when_asked()
    from core.distributed import Ranks

    ranks = Ranks.from_environment()
    if args.nproc is not None and ranks is None:
        return launch_processes(args)
    if ranks is not None and not ranks.is_main:
        return train_beside_rank_zero(args, ranks)
    return train_and_record(args, ranks)


def train_and_record(args, ranks=None) -> int:
    """Train in this process (rank 0 of several, or the only one) and keep the run folder."""
    from core.data import load_dataset
    from core.jobs import release_lock
    from core.runs import Run
    from core.train import fit, start_run

    config = _config(args)
    if args.run_dir:  # prepared by the dashboard: fit() itself marks the run failed if the data is missing
        run_folder = Run(args.run_dir)
        config.validate()
        data = None
    else:
        data = load_dataset(config.dataset, args.data_dir)  # a missing dataset stops here, before any run folder
        require_batch_fits(config, len(data.train))
        run_folder = start_run(config, args.checkpoints, run_id=args.run_id)
    _use_threads(config, ranks)
    # SIGTERM (a cancel from the dashboard) ends the run like Ctrl-C: marked cancelled, best weights kept.
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    bar = ProgressBar(quiet=args.quiet)
    trial = SweepTrial(run_folder)  # a sweep's queued trial reports each epoch and its end to Optuna
    try:
        if args.job_token and _cancelled_before_start(run_folder, args.job_token):
            trial.failed()
            print(f"cancelled: before training started\n{run_folder.path}", file=sys.stderr)
            return 130
        try:
            callbacks = [bar, *trial.callbacks]
            result = fit(config, run_folder, data=data, callbacks=callbacks, data_dir=args.data_dir, ranks=ranks)
        except BaseException:
            trial.failed()
            raise
        trial.finish(result)  # before the next job starts: it learns from this one
    finally:
        release_lock(run_folder.path.parent, run_folder.id)
        bar.close()
        if ranks is not None:
            ranks.stop()
        if args.run_dir:  # a job: the next one waiting in the queue starts now
            _start_next_job(run_folder.path.parent)
    if result.state == "completed":
        print(f"completed: best epoch {result.best_epoch}, test accuracy {result.test_accuracy:.2%}", file=sys.stderr)
    else:
        print(f"{result.state}: {result.error}", file=sys.stderr)
    print(run_folder.path)
    return {"completed": 0, "failed": 1, "cancelled": 130}[result.state]


def train_when_asked() -> int:
    """A standby (``core.standby``): with training's modules imported, wait for the job's command line,
    then be that command, its output in the job's log; no job (the server let it go): exit 0."""
    from core.cli import main
    from core.standby import await_job, write_output_to

    request = await_job()
    if request is None:
        return 0
    argv, log = request
    write_output_to(log)
    return main(argv)


def train_beside_rank_zero(args, ranks) -> int:
    """A rank other than 0: the same training on its share of each batch, writing and printing nothing."""
    from core.data import load_dataset
    from core.train import fit

    config = _config(args)
    data = load_dataset(config.dataset, args.data_dir)
    _use_threads(config, ranks)
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    try:
        result = fit(config, None, data=data, ranks=ranks)
    finally:
        ranks.stop()
    return {"completed": 0, "failed": 1, "cancelled": 130}[result.state]


def launch_processes(args) -> int:
    """``--nproc N``: this command again, N times (``core.distributed``); returns the processes' exit status."""
    import subprocess

    from core.distributed import launch_command, launch_environment, launch_here, require_even_shares

    config = _config(args)
    config.validate()  # a bad value is one message here, not one per process
    if not 1 <= args.nproc <= 1024 or not 1 <= args.nnodes <= 1024:
        raise ConfigError("--nproc and --nnodes must be from 1 to 1,024")
    require_even_shares(config.batch_size, args.nproc * args.nnodes)
    if args.nnodes > 1 and not args.rdzv_endpoint:
        raise ConfigError("--nnodes above 1 needs --rdzv-endpoint HOST:PORT, the same on every machine")
    if not args.rdzv_endpoint:  # this machine only: nothing listens beyond 127.0.0.1
        return train_and_record(args) if args.nproc == 1 else launch_here(worker_arguments(args), args.nproc)
    name = args.run_id or "mnist-lens"
    command = launch_command(worker_arguments(args), args.nproc, args.nnodes, args.rdzv_endpoint, name)
    process = subprocess.Popen(command, env=launch_environment(args.nproc, args.nnodes))
    # A cancel (SIGTERM) reaches torchrun, which stops every process; rank 0 marks the run cancelled.
    signal.signal(signal.SIGTERM, lambda signum, frame: process.send_signal(signum))
    return process.wait()


def worker_arguments(args) -> list[str]:
    """The flags of this command that each process gets: the config's, and where the run and data go."""
    values = []
    for item in dataclasses.fields(TrainConfig):
        value = getattr(args, item.name)
        flag = "--" + item.name.replace("_", "-")
        if isinstance(value, bool):
            values.append(flag if value else "--no-" + flag[2:])
        elif value is not None:
            values += [flag, str(value)]
    for name in ("run_id", "run_dir", "data_dir", "checkpoints"):
        if getattr(args, name):
            values += ["--" + name.replace("_", "-"), str(getattr(args, name))]
    return values + (["--quiet"] if args.quiet else [])


def _config(args) -> TrainConfig:
    """The run's config: from the prepared run folder, or from the preset and flags."""
    if args.run_dir:
        from core.runs import Run

        return TrainConfig.from_dict(Run(args.run_dir).config.train_values())
    return config_from_args(args)


def _use_threads(config: TrainConfig, ranks) -> None:
    """Every core for one process; the machine's cores shared out when several train on it."""
    from core.devices import available_cores, use_threads

    share = None if ranks is None else max(1, available_cores() // ranks.local_world)
    use_threads(config.threads or share)


class SweepTrial:
    """For a run that is a sweep's trial (its config says so): the pruning callback, and telling Optuna."""

    def __init__(self, run_folder):
        self.run, self.study, self.trial, self.callbacks = run_folder, None, None, []
        if run_folder.config.sweep and "trial_id" in run_folder.config.sweep:
            from core.sweeps import PruneByEpoch, trial_of_run

            self.study, self.trial = trial_of_run(run_folder, run_folder.path.parent)
            self.callbacks = [PruneByEpoch(self.trial)]

    def finish(self, result) -> None:
        if self.trial is not None:
            from core.sweeps import finish_trial

            finish_trial(self.study, self.trial, self.run, result)

    def failed(self) -> None:
        if self.trial is not None:
            from optuna.trial import TrialState

            from core.sweeps import tell_once

            tell_once(self.study, self.trial, state=TrialState.FAIL)


def _start_next_job(root) -> None:
    from core.jobqueue import start_next

    try:
        started = start_next(root)
    except Exception as error:  # this run is over whatever happens; the next visitor of the queue retries
        print(f"the next queued job could not start: {error}", file=sys.stderr)
        return
    if started is not None:
        print(f"started the next queued job: {started.run_id}", file=sys.stderr)


def _cancelled_before_start(run_folder, token: str) -> bool:
    """Tell the dashboard this job can be cancelled now (its token), then honour a Cancel pressed before."""
    from core.jobs import cancel_requested

    try:
        run_folder.update_status(job_token=token, heartbeat=time.time())  # the child's first beat
        if not cancel_requested(run_folder):
            return False
    except KeyboardInterrupt:  # the Cancel's signal, the moment the token was out
        pass
    run_folder.write_final_status("cancelled", error="cancelled before training started")
    return True


def _raise_keyboard_interrupt(signum, frame):
    raise KeyboardInterrupt


class ProgressBar(Callback):
    """A tqdm bar per epoch on standard error, and a line per finished epoch (a training callback)."""

    def __init__(self, quiet: bool = False):
        self.quiet, self.bar = quiet, None

    def on_batch(self, state) -> None:
        if self.quiet or not state.logged:
            return
        if self.bar is None:  # first report of an epoch
            from tqdm import tqdm

            self.bar = tqdm(
                total=state.batches,
                unit="batch",
                leave=False,
                desc=f"epoch {state.epoch}/{state.config.epochs}",
                file=sys.stderr,
            )
        self.bar.update(state.batch - self.bar.n)
        self.bar.set_postfix(loss=f"{state.running_loss:.4f}")

    def on_epoch(self, state, record: dict) -> None:
        self.close()
        if self.quiet:
            return
        from tqdm import tqdm

        tqdm.write(
            f"epoch {record['epoch']}/{state.config.epochs}: train loss {record['train_loss']:.4f} "
            f"acc {record['train_accuracy']:.2%} | val loss {record['val_loss']:.4f} "
            f"acc {record['val_accuracy']:.2%} | {record['seconds']:.1f} s",
            file=sys.stderr,
        )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
