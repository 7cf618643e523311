"""Sweeps: which learning rate, how many epochs? Optuna chooses, every trial is a normal run.

    spec = SweepSpec("lr-search", "mnist", "quick", {"lr": "loguniform:0.01:0.5"}, trials=8)
    create_sweep(spec, root)                 # an Optuna study holding the spec
    work(spec.name, root)                    # trials until the sweep has its count; any number of workers
    summary = sweep_summary(spec.name, root) # trials, best, importance

The study lives in Optuna's storage: by default a journal file in ``<checkpoints>/.sweeps/`` (one
machine, no server); ``--storage postgresql://…`` for workers on several machines that share the
checkpoints folder. The objective is the best *validation* accuracy of the trial's run — the test
split never chooses anything — reported each epoch so that Optuna's median pruner can stop a trial
that lags (its run ends *cancelled*, with the reason). Optuna hands each trial to exactly one worker;
a worker killed mid-trial leaves its run *interrupted* (the run store's heartbeat), and the next look
at the sweep marks that trial failed, so none is lost as "running" forever.

A storage URL's password is never written to a run's config or printed: only the sweep's name is.
"""

from __future__ import annotations

import contextlib
import re
import stat
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from core.config import ConfigError, TrainConfig, first_line
from core.runs import STALE_AFTER_S, default_checkpoints_dir, iso_timestamp, now_iso
from core.train import Callback, StopEarly

SWEEP_FOLDER = ".sweeps"
SAMPLERS = ("tpe", "random", "grid")
DISTRIBUTIONS = ("loguniform", "uniform", "int", "choice")
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,59}")
SPEC_ATTR = "mnist_lens_spec"


@dataclass
class SweepSpec:
    name: str
    dataset: str
    preset: str
    params: dict[str, str]  # field → "loguniform:0.01:0.5", "choice:1,2,3", "uniform:a:b", "int:a:b"
    trials: int = 8
    sampler: str = "tpe"
    overrides: dict = field(default_factory=dict)  # fixed values on top of the preset (e.g. train_subset)

    def validate(self) -> None:
        if not NAME.fullmatch(self.name):
            raise ConfigError(f"{self.name!r} can't name a sweep: letters, digits, '.', '_' and '-'")
        if self.sampler not in SAMPLERS:
            raise ConfigError(f"unknown sampler {self.sampler!r}; choose one of: {', '.join(SAMPLERS)}")
        if not 1 <= self.trials <= 10_000:
            raise ConfigError(f"trials must be from 1 to 10,000 (got {self.trials})")
        if not self.params:
            raise ConfigError("a sweep needs at least one --param")
        fields = TrainConfig.__dataclass_fields__
        for name, text in self.params.items():
            if name not in fields or name in ("dataset", "model", "preset"):
                raise ConfigError(f"--param {name}: not a training setting (python -m core train --help lists them)")
            parse_distribution(name, text)
        self.base_config().validate()

    def base_config(self) -> TrainConfig:
        from core.presets import preset_config

        return preset_config(self.preset, self.dataset, **self.overrides)


def parse_param(text: str) -> tuple[str, str]:
    """``lr=loguniform:0.01:0.5`` → ("lr", "loguniform:0.01:0.5")."""
    name, sep, distribution = text.partition("=")
    if not sep or not name:
        raise ConfigError(f"--param {text!r}: write NAME=KIND:… (e.g. lr=loguniform:0.01:0.5)")
    return name.strip().replace("-", "_"), distribution.strip()


def parse_distribution(name: str, text: str):
    """The Optuna distribution a parameter's text describes; ConfigError says what is wrong."""
    import optuna.distributions as d

    kind, _, rest = text.partition(":")
    try:
        if kind == "choice":
            values = [parse_number(v) for v in rest.split(",") if v.strip()]
            if not values:
                raise ValueError("no values")
            return d.CategoricalDistribution(values)
        low, high = (float(v) for v in rest.split(":"))
        if kind == "loguniform":
            return d.FloatDistribution(low, high, log=True)
        if kind == "uniform":
            return d.FloatDistribution(low, high)
        if kind == "int":
            return d.IntDistribution(int(low), int(high))
    except ValueError as error:
        raise ConfigError(f"--param {name}={text}: {error}") from None
    raise ConfigError(f"--param {name}={text}: the kind must be one of {', '.join(DISTRIBUTIONS)}")


def parse_number(text: str):
    """A choice's or a fixed value's text as an int, else a float, else the text itself."""
    text = text.strip()
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return text


# --- storage and the study ------------------------------------------------------------------------


def default_storage(name: str, root: Path) -> str:
    return str(Path(root) / SWEEP_FOLDER / f"{name}.journal")


def open_storage(url: str | None, name: str, root: Path):
    """Optuna storage: a journal file by default, else a database URL (postgresql://, sqlite:///)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # its per-trial lines would repeat what we print

    if url and "://" in url:
        return _database_storage(url)
    path = Path(url or default_storage(name, root))
    path.parent.mkdir(parents=True, exist_ok=True)
    backend = optuna.storages.journal.JournalFileBackend(
        str(path), lock_obj=optuna.storages.journal.JournalFileOpenLock(str(path))
    )
    return optuna.storages.JournalStorage(backend)


def _database_storage(url: str):
    """Optuna's RDBStorage; a URL it can't use (no driver, no server, refused) is one line naming it safely."""
    import optuna
    import sqlalchemy.exc

    try:
        return optuna.storages.RDBStorage(url, heartbeat_interval=None)
    except ImportError:
        raise ConfigError(
            f"no database driver for {safe_url(url)}; PostgreSQL's (psycopg) comes with the requirements"
        ) from None
    except (sqlalchemy.exc.SQLAlchemyError, ValueError) as error:
        reason = first_line(getattr(error, "orig", None) or error)
        password = _password(url)
        if password:
            reason = reason.replace(password, "***")
        raise ConfigError(f"can't open the sweep storage {safe_url(url)}: {reason}") from None


def _password(url: str) -> str | None:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).password
    except Exception:
        return None


def safe_url(url: str | None) -> str:
    """A storage URL with its password masked, for anything printed or written."""
    from sqlalchemy.engine import make_url

    if not url or "://" not in url:
        return url or "journal file"
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL SQLAlchemy reads: say nothing of it
        return "(a database URL)"


def create_sweep(spec: SweepSpec, root: Path | None = None, storage: str | None = None):
    """A new Optuna study maximising validation accuracy, holding the spec; ConfigError if the name is taken.

    Trials are pruned by the median pruner: after two complete trials, a trial whose validation
    accuracy at an epoch is below the median of the earlier trials' at that epoch stops there."""
    import optuna

    spec.validate()
    # A preset's model can change from one version to the next, and its epochs with the dataset's size
    # (the quick preset's step floor): every trial of a sweep trains the same model for as many epochs,
    # so that the pruner compares like with like.
    base = spec.base_config()
    spec = replace(spec, overrides={"model": base.model, "epochs": base.epochs, **spec.overrides})
    root = Path(root or default_checkpoints_dir())
    samplers = {
        "tpe": lambda: optuna.samplers.TPESampler(seed=0),
        "random": lambda: optuna.samplers.RandomSampler(seed=0),
        "grid": lambda: optuna.samplers.GridSampler(_grid(spec)),
    }
    try:
        study = optuna.create_study(
            storage=open_storage(storage, spec.name, root),
            study_name=spec.name,
            direction="maximize",
            sampler=samplers[spec.sampler](),
            pruner=_pruner(),
        )
    except optuna.exceptions.DuplicatedStudyError:
        raise ConfigError(f"a sweep named {spec.name!r} exists already; choose another name") from None
    study.set_user_attr(SPEC_ATTR, asdict(spec))
    return study


def _grid(spec: SweepSpec) -> dict[str, list]:
    grid = {}
    for name, text in spec.params.items():
        distribution = parse_distribution(name, text)
        if not hasattr(distribution, "choices"):
            raise ConfigError(f"--sampler grid needs choice:… for every --param ({name} is {text})")
        grid[name] = list(distribution.choices)
    return grid


def load_sweep(name: str, root: Path | None = None, storage: str | None = None):
    """(study, spec) of an existing sweep; ConfigError when there is none of that name."""
    import optuna

    root = Path(root or default_checkpoints_dir())
    if not storage and not Path(default_storage(name, root)).is_file():
        raise ConfigError(f"no sweep named {name!r} in {root}")
    try:
        study = optuna.load_study(study_name=name, storage=open_storage(storage, name, root))
    except KeyError:
        raise ConfigError(f"no sweep named {name!r} in {safe_url(storage)}") from None
    except ConfigError:
        raise
    except Exception as error:  # Optuna replays a journal with asserts, JSON and its own errors: damaged
        raise ConfigError(f"sweep {name!r}'s journal can't be read ({first_line(error)})") from None
    try:
        spec = SweepSpec(**study.user_attrs[SPEC_ATTR])
        spec.validate()
    except (KeyError, TypeError, AttributeError, ValueError) as error:  # ConfigError is a ValueError
        raise ConfigError(
            f"sweep {name!r} has no readable spec ({first_line(error)}); create it again under a new name"
        ) from None
    study.sampler, study.pruner = _sampler(spec), _pruner()  # neither is kept in the storage
    return study, spec


def _pruner():
    import optuna

    return optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0)


def _sampler(spec: SweepSpec):
    """The spec's sampler; unseeded, so that two workers don't draw the same values."""
    import optuna

    if spec.sampler == "grid":
        return optuna.samplers.GridSampler(_grid(spec))
    return optuna.samplers.RandomSampler() if spec.sampler == "random" else optuna.samplers.TPESampler()


# --- trials ---------------------------------------------------------------------------------------


def work(
    name: str,
    root: Path | None = None,
    storage: str | None = None,
    trials: int | None = None,
    data_dir: Path | None = None,
    on_trial=None,
) -> int:
    """Run trials until the sweep has its count (or ``trials`` more here); returns how many ran here."""
    root = Path(root or default_checkpoints_dir())
    study, spec = load_sweep(name, root, storage)
    done = 0
    while trials is None or done < trials:
        reconcile(study, root)
        if _counted(study) >= spec.trials:
            break
        run = run_trial(study, spec, root, data_dir)
        done += 1
        if on_trial is not None:
            on_trial(run)
    return done


def _counted(study) -> int:
    """Trials that count toward the sweep's total: all but those that failed (a crash is tried again)."""
    from optuna.trial import TrialState

    return sum(t.state != TrialState.FAIL for t in study.get_trials(deepcopy=False))


def run_trial(study, spec: SweepSpec, root: Path, data_dir: Path | None = None):
    """Ask Optuna for a trial, train it as a normal run (pruned by epoch), tell Optuna its objective."""
    from core.train import fit

    trial, run, config = ask_trial(study, spec, root)
    result = fit(config, run, data_dir=data_dir, callbacks=[PruneByEpoch(trial)])
    finish_trial(study, trial, run, result)
    return run


def ask_trial(study, spec: SweepSpec, root: Path):
    """A new trial: its values drawn now (from every trial finished so far), its run folder made."""
    from optuna.trial import TrialState

    from core.config import RunConfig
    from core.train import start_run

    trial = study.ask()
    params = {name: suggest(trial, name, parse_distribution(name, text)) for name, text in spec.params.items()}
    config = TrainConfig(**{**spec.base_config().__dict__, **params})
    try:
        config.validate()
    except ConfigError as error:
        study.tell(trial, state=TrialState.FAIL)
        raise ConfigError(f"trial {trial.number}: {error}") from None
    run = start_run(config, root, run_id=f"{spec.name}-trial-{trial.number:03d}")
    # The storage's id of the trial (Optuna has no public name for it): how another process reopens it.
    sweep = {"name": spec.name, "trial": trial.number, "trial_id": trial._trial_id, "params": params}
    run.write_config(RunConfig.from_dict({**run.config.to_dict(), "sweep": sweep}))
    # Running before the trial names it: another worker's reconcile must never find it without a status.
    run.write_status("running", started=now_iso(), error=None)
    trial.set_user_attr("run_id", run.id)
    return trial, run, config


def queue_trials(name: str, root: Path | None = None, count: int | None = None) -> int:
    """Queue ``count`` trials of a sweep (default: as many as it still needs) as training jobs; each draws its
    values when it starts, so it learns from every trial finished before it."""
    from core.jobqueue import enqueue, start_next

    root = Path(root or default_checkpoints_dir())
    study, spec = load_sweep(name, root)
    count = max(0, spec.trials - _counted(study)) if count is None else count
    for _ in range(count):
        enqueue(spec.base_config(), root, sweep=name)
    start_next(root)
    return count


def launch_trial(lock, name: str, root: Path, data_dir: Path | None = None, command: list[str] | None = None):
    """Start a queued trial under the store's lock: its values drawn now, its run trained by a child job.

    A sweep that has all its trials already gives the lock back and starts nothing (returns None)."""
    from core.jobs import launch_locked_run, release_taken_lock

    try:
        study, spec = load_sweep(name, root)
        reconcile(study, root)
        if _counted(study) >= spec.trials:
            release_taken_lock(root)
            return None
        _, run, config = ask_trial(study, spec, root)
    except BaseException:
        release_taken_lock(root)
        raise
    return launch_locked_run(lock, run, root, data_dir, command)


def trial_of_run(run, root: Path):
    """(study, trial) of a run made by ``ask_trial`` (in another process: a queued trial's child)."""
    import optuna

    study, _ = load_sweep(run.config.sweep["name"], root)
    return study, optuna.trial.Trial(study, int(run.config.sweep["trial_id"]))


def finish_trial(study, trial, run, result) -> None:
    """Tell Optuna how the trial's run ended: its best validation accuracy, pruned, or failed."""
    tell_once(study, trial, *trial_outcome(run, result.state, result.history))


def trial_outcome(run, state: str, history: list[dict]):
    """(value, TrialState) of a run that ended in ``state``: completed with its best validation accuracy,
    pruned (cancelled by ``PruneByEpoch``), else failed."""
    from optuna.trial import TrialState

    best = max((r["val_accuracy"] for r in history), default=None)
    if state == "completed" and best is not None:
        return best, TrialState.COMPLETE
    if state == "cancelled" and best is not None and PruneByEpoch.pruned(run):
        return None, TrialState.PRUNED
    return None, TrialState.FAIL


def tell_once(study, trial, value: float | None = None, state=None) -> None:
    """Tell Optuna how a trial ended, unless it has been told already: by another worker's ``reconcile``
    (this one's heartbeat went stale: a suspended machine) or by two reconciles at once. The first word
    stands; the run keeps its own record."""
    from optuna.exceptions import UpdateFinishedTrialError

    with contextlib.suppress(UpdateFinishedTrialError):  # told by another process between Optuna's check and its write
        study.tell(trial, value, state=state, skip_if_finished=True)


def suggest(trial, name: str, distribution):
    """The trial's value for one parameter, through Optuna's public suggest_* calls."""
    from optuna.distributions import CategoricalDistribution, IntDistribution

    if isinstance(distribution, CategoricalDistribution):
        return trial.suggest_categorical(name, list(distribution.choices))
    if isinstance(distribution, IntDistribution):
        return trial.suggest_int(name, distribution.low, distribution.high)
    return trial.suggest_float(name, distribution.low, distribution.high, log=distribution.log)


class PruneByEpoch(Callback):
    """A training callback: each epoch's validation accuracy reported; a lagging trial stopped."""

    REASON = "pruned by the sweep: its validation accuracy lagged the median of earlier trials at epoch"

    def __init__(self, trial):
        self.trial = trial

    def on_epoch(self, state, record: dict) -> None:
        from optuna.exceptions import UpdateFinishedTrialError

        try:
            self.trial.report(record["val_accuracy"], record["epoch"])
        except UpdateFinishedTrialError:
            return  # another worker ended the trial (a stale heartbeat); the run trains on and keeps its record
        last = record["epoch"] >= state.config.epochs  # nothing left to save: the trial completes, value and all
        if not last and self.trial.should_prune():
            raise StopEarly(f"{self.REASON} {record['epoch']}")

    @classmethod
    def pruned(cls, run) -> bool:
        return (run.status().error or "").startswith(cls.REASON)


def reconcile(study, root: Path) -> int:
    """Trials left *running* by a worker that died, told how their run ended: failed when the run was
    interrupted (or never named, or can't be read); as the run says (completed, pruned, failed) when it
    ended but its worker didn't tell Optuna within ``STALE_AFTER_S`` (a worker tells it moments after)."""
    from optuna.trial import TrialState

    from core.runs import RunError, run_in_store

    ended = 0
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        run_id = trial.user_attrs.get("run_id")
        if not run_id:  # Optuna gives naive local times, which timestamp() reads as local
            started = trial.datetime_start.timestamp() if trial.datetime_start else None
            outcome = (None, TrialState.FAIL) if _older_than_stale(started) else None
        else:
            try:
                run = run_in_store(run_id, root)
                outcome = _outcome_of_a_left_run(run, run.status())
            except RunError:
                outcome = None, TrialState.FAIL
        if outcome is not None:
            tell_once(study, trial.number, *outcome)
            ended += 1
    return ended


def _outcome_of_a_left_run(run, status):
    """(value, state) for a trial whose run no worker will report any more, or None while one may."""
    from optuna.trial import TrialState

    if status.state == "interrupted":
        return None, TrialState.FAIL
    if status.state == "running" or not _older_than_stale(iso_timestamp(status.finished)):
        return None
    return trial_outcome(run, status.state, run.history())


def _older_than_stale(stamp: float | None) -> bool:
    """Whether ``stamp`` (seconds since the epoch) is ``STALE_AFTER_S`` past; one not known counts as long past."""
    return stamp is None or time.time() - stamp > STALE_AFTER_S


# --- what the page and `sweep show` read ----------------------------------------------------------


@dataclass
class SweepSummary:
    spec: SweepSpec
    trials: list[dict]  # number, state, params, value (best validation accuracy), run_id
    best: dict | None
    importance: dict[str, float]  # parameter → share of the objective's variance it explains (fANOVA)

    def to_dict(self) -> dict:
        return {"spec": asdict(self.spec), "trials": self.trials, "best": self.best, "importance": self.importance}


def sweep_summary(name: str, root: Path | None = None, storage: str | None = None) -> SweepSummary:
    """The sweep's trials (runs left running by a dead worker marked failed first), its best and importance."""
    import optuna

    root = Path(root or default_checkpoints_dir())
    study, spec = load_sweep(name, root, storage)
    reconcile(study, root)
    trials = [
        {
            "number": t.number,
            "state": t.state.name.lower(),
            "params": dict(t.params),
            "value": t.value,
            "run_id": t.user_attrs.get("run_id"),
        }
        for t in study.get_trials(deepcopy=False)
    ]
    complete = [t for t in trials if t["state"] == "complete" and t["value"] is not None]
    best = max(complete, key=lambda t: t["value"]) if complete else None
    importance = {}
    if len(complete) >= 2 and len(spec.params) >= 1:
        try:
            importance = optuna.importance.get_param_importances(
                study, evaluator=optuna.importance.FanovaImportanceEvaluator(seed=0)
            )
        except (RuntimeError, ValueError):  # e.g. every complete trial drew the same values
            importance = {}
    return SweepSummary(spec, trials, best, {k: float(v) for k, v in importance.items()})


def sweep_names(root: Path | None = None) -> list[str]:
    """The sweeps whose journal is in this store, newest first."""
    folder = Path(root or default_checkpoints_dir()) / SWEEP_FOLDER
    if not folder.is_dir():
        return []
    modified = {path: _modified(path) for path in folder.glob("*.journal") if NAME.fullmatch(path.stem)}
    journals = [path for path, stamp in modified.items() if stamp is not None]
    return [path.stem for path in sorted(journals, key=modified.get, reverse=True)]


def _modified(path: Path) -> float | None:
    """When a journal was last written; None for what is no plain file (a dangling link, a folder, a FIFO,
    a link to a device). A link to a journal is one."""
    try:
        info = path.stat()
    except OSError:
        return None
    return info.st_mtime if stat.S_ISREG(info.st_mode) else None
