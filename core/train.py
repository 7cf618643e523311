"""The training loop: ``fit(config, run)``. No printing, no UI, no process-wide settings.

Read ``fit`` and ``train_epochs`` top to bottom: the loop alone. What happens around it (status
and heartbeats, history, the kept weights on disk, a progress bar) is a ``Callback``; the run
folder's is ``RunRecorder``. Data lives as uint8 tensors (on the GPU when there is one); each batch
is indexed, scaled, optionally augmented and standardised as one tensor, never one image at a time.
The seed is the run's own (the process's random state is left as it was); the entry point, not
``fit``, sets torch's thread count (``core.devices.use_threads``).
"""

from __future__ import annotations

import contextlib
import copy
import math
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from core.augment import make_augmentation
from core.batchlosses import BatchLosses
from core.config import RunConfig, TrainConfig, require_batch_fits
from core.data import DatasetSplits, load_dataset, normalize
from core.devices import resolve_device
from core.distributed import Ranks
from core.evaluate import evaluate_loss_accuracy, store_test_predictions
from core.models import create_model
from core.runs import Run, create_run, epoch_score, now_iso
from core.steps import make_passes
from core.storage import describe_error

HELD_SIGNALS = (signal.SIGINT, signal.SIGTERM)  # held while an epoch's files are written
HEARTBEAT_EVERY_S = 1.0  # status.json also carries the live progress a page polls


class TrainingDiverged(RuntimeError):
    """The loss stopped being a finite number."""


@dataclass
class LoopState:
    """Where the loop is, and what it keeps: what callbacks read (and must not change)."""

    config: TrainConfig
    model: torch.nn.Module | None = None
    device: torch.device | None = None
    ranks: Ranks | None = None  # one of several training processes (core.distributed), or None
    epoch: int = 0  # 1-based; 0 before the first
    batch: int = 0  # batches done in this epoch
    batches: int = 0  # batches per epoch
    examples_seen: int = 0  # since the start of training
    history: list[dict] = field(default_factory=list)
    losses: BatchLosses = field(default_factory=BatchLosses)  # this epoch's running loss, bounded in points
    logged: bool = False  # whether the last batch logged the running loss (every ``log_every`` batches)
    running_loss: float = math.nan  # the last logged running loss
    best_state: dict | None = None
    best_epoch: int | None = None
    improved: bool = False  # whether the last epoch is the best so far
    test_accuracy: float | None = None
    _window: list[float] = field(default_factory=list)  # batch losses since the last logged point
    _epoch_loss: float = 0.0
    _epoch_correct: int = 0
    _epoch_examples: int = 0

    def start_epoch(self, epoch: int) -> None:
        self.epoch, self.batch, self.losses = epoch, 0, BatchLosses()
        self._epoch_loss, self._epoch_correct, self._epoch_examples = 0.0, 0, 0

    def after_batch(self, size: int, loss: float, correct: int) -> None:
        """Count one optimiser step; every ``log_every`` batches (and the last) log the running loss."""
        self.batch += 1
        self.examples_seen += size
        self._epoch_loss += loss * size
        self._epoch_correct += correct
        self._epoch_examples += size
        self._window.append(loss)
        self.logged = self.batch % self.config.log_every == 0 or self.batch == self.batches
        if self.logged:
            self.running_loss = sum(self._window) / len(self._window)
            self.losses.add(self.examples_seen, self.running_loss)
            self._window = []

    @property
    def batch_losses(self) -> list[list[float]]:
        """[examples seen, running loss] points of this epoch (at most ``core.batchlosses.MAX_POINTS``)."""
        return self.losses.points

    def end_epoch(self, val_loss: float, val_accuracy: float, lr: float, seconds: float) -> dict:
        """The epoch's history record; keeps the weights when it is the best so far."""
        self.losses.flush()
        record = {
            "epoch": self.epoch,
            "train_loss": self._epoch_loss / self._epoch_examples,
            "train_accuracy": self._epoch_correct / self._epoch_examples,
            "val_loss": val_loss,
            "val_accuracy": val_accuracy,
            "lr": lr,
            "seconds": seconds,
            "examples_seen": self.examples_seen,
            "batch_losses": self.batch_losses,
        }
        self.history.append(record)
        best = self.history[self.best_epoch - 1] if self.best_epoch else None
        keep_by = self.config.keep_best_by
        self.improved = best is None or epoch_score(record, keep_by) < epoch_score(best, keep_by)
        if self.improved:
            self.best_epoch, self.best_state = self.epoch, copy.deepcopy(self.model.state_dict())
        return record


class StopEarly(Exception):  # noqa: N818 (a request, not an error)
    """Raised by a callback to end training now, as *cancelled* with its reason (a sweep pruning a trial)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class Callback:
    """Hooks ``fit`` calls as training goes; each does nothing unless a subclass says otherwise."""

    def on_begin(self, state: LoopState) -> None:
        """Before the data is loaded."""

    def on_start(self, state: LoopState) -> None:
        """The model is built, the first epoch is about to start."""

    def on_batch(self, state: LoopState) -> None:
        """After every optimiser step."""

    def on_epoch(self, state: LoopState, record: dict) -> None:
        """After an epoch's validation; ``state.improved`` says whether its weights are the kept ones."""

    def on_complete(self, state: LoopState, data: DatasetSplits) -> None:
        """Every epoch ran; the model holds the kept weights."""

    def on_stop(self, state: LoopState, outcome: str, reason: str) -> None:
        """Training ended early: ``outcome`` is failed (a diverging loss, any error) or cancelled."""


@dataclass
class Progress:
    """What ``on_progress`` receives: ``kind`` is "batch" (every ``log_every`` batches) or "epoch"."""

    kind: str
    epoch: int  # 1-based
    epochs: int
    batch: int  # batches done in this epoch
    batches: int  # batches per epoch
    examples_seen: int  # since the start of training
    loss: float  # running mean of the batch losses since the last report
    record: dict | None = None  # the epoch's history record, for kind == "epoch"
    model: torch.nn.Module | None = None  # the model being trained, for kind == "epoch" (read it, don't keep it)


class ReportProgress(Callback):
    """Calls ``report(Progress)`` when the running loss is logged and after each epoch (a progress bar)."""

    def __init__(self, report: Callable[[Progress], None]):
        self.report = report

    def on_batch(self, state: LoopState) -> None:
        if state.logged:
            epochs = state.config.epochs
            self.report(
                Progress(
                    "batch", state.epoch, epochs, state.batch, state.batches, state.examples_seen, state.running_loss
                )
            )

    def on_epoch(self, state: LoopState, record: dict) -> None:
        self.report(
            Progress(
                "epoch",
                state.epoch,
                state.config.epochs,
                state.batches,
                state.batches,
                state.examples_seen,
                record["train_loss"],
                record,
                state.model,
            )
        )


class RunRecorder(Callback):
    """Keeps a run folder up to date: status with heartbeats, history, the kept weights, test predictions."""

    def __init__(self, run: Run):
        self.run = run
        self.last_heartbeat = 0.0

    def on_begin(self, state: LoopState) -> None:
        self.run.write_status("running", started=now_iso(), error=None)

    def on_start(self, state: LoopState) -> None:
        self.run.write_status("running", device=str(state.device), epoch=0, batch=0, batches=state.batches)
        self.last_heartbeat = time.monotonic()

    def on_batch(self, state: LoopState) -> None:
        if time.monotonic() - self.last_heartbeat > HEARTBEAT_EVERY_S:
            self.run.write_status(
                "running", epoch=state.epoch, batch=state.batch, batches=state.batches, batch_losses=state.batch_losses
            )
            self.last_heartbeat = time.monotonic()

    def on_epoch(self, state: LoopState, record: dict) -> None:
        # In this order, a kill between two writes leaves files that agree: the history has every epoch
        # the weights could come from, and the weights name their epoch, which readers believe over a
        # status.json written after them.
        self.run.append_history(record)
        if state.improved:
            self.run.save_state_dict(state.best_state, epoch=state.best_epoch)
        self.run.write_status(
            "running",
            epoch=state.epoch,
            batch=state.batches,
            batches=state.batches,
            best_epoch=state.best_epoch,
            batch_losses=[],
        )
        self.last_heartbeat = time.monotonic()

    def on_complete(self, state: LoopState, data: DatasetSplits) -> None:
        state.test_accuracy = store_test_predictions(self.run, state.model, data, state.device)
        best = state.history[state.best_epoch - 1]
        self.run.write_status(
            "completed",
            best_epoch=state.best_epoch,
            best_val_loss=best["val_loss"],
            best_val_accuracy=best["val_accuracy"],
            test_accuracy=state.test_accuracy,
            finished=now_iso(),
        )

    def on_stop(self, state: LoopState, outcome: str, reason: str) -> None:
        self.run.write_final_status(outcome, error=reason, best_epoch=state.best_epoch)


@dataclass
class FitResult:
    state: str  # completed | failed | cancelled
    model: torch.nn.Module
    history: list[dict] = field(default_factory=list)
    best_epoch: int | None = None
    test_accuracy: float | None = None
    error: str | None = None


def start_run(config: TrainConfig, root: Path | None = None, run_id: str | None = None) -> Run:
    """Validate the config and create its run folder (named ``run_id``, or date-dataset-model)."""
    config.validate()
    return create_run(RunConfig.for_training(config), root, run_id=run_id)


def fit(
    config: TrainConfig,
    run: Run | None = None,
    data: DatasetSplits | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    data_dir: Path | None = None,
    callbacks: Sequence[Callback] = (),
    ranks: Ranks | None = None,
) -> FitResult:
    """Train ``config``; with a ``run``, keep its status, history, kept weights and test predictions on disk.

    The weights of the best epoch on the validation split are kept (``keep_best_by``). A non-finite loss
    ends the run as ``failed``; KeyboardInterrupt (SIGINT, or SIGTERM turned into it by the CLI) ends it
    as ``cancelled``; either way the best weights so far are kept. Any other error marks the run
    ``failed`` and is raised. ``on_progress`` is a shorthand for ``ReportProgress(on_progress)``.

    With ``ranks`` (one of several processes under torchrun) the model is trained with
    DistributedDataParallel; give the ``run`` and callbacks to rank 0 only.
    """
    config.validate()
    hooks = CallbackList(
        [*([RunRecorder(run)] if run else []), *([ReportProgress(on_progress)] if on_progress else []), *callbacks]
    )
    state = LoopState(config, ranks=ranks)
    with torch.random.fork_rng():  # the run's seed, without changing the process's random state
        torch.manual_seed(config.seed)
        hooks.on_begin(state)
        try:
            data = data or load_dataset(config.dataset, data_dir)
            require_batch_fits(config, len(data.train))  # a job prepared by the page checks it here
            state.device = resolve_device(config.device)
            if ranks is not None:
                ranks.require_even_shares(config.batch_size)
                state.device = ranks.start(state.device)
            train_epochs(config, data, state, hooks)
            state.model.load_state_dict(state.best_state)
            hooks.on_complete(state, data)  # inside: a disk that fills while predictions are saved fails the run
        except TrainingDiverged as error:
            return _stopped(state, hooks, "failed", str(error))
        except KeyboardInterrupt:
            return _stopped(state, hooks, "cancelled", f"cancelled during epoch {state.epoch}, batch {state.batch}")
        except StopEarly as stop:
            return _stopped(state, hooks, "cancelled", stop.reason)
        except Exception as error:
            hooks.on_stop(state, "failed", describe_error(error))
            raise
    return FitResult("completed", state.model, state.history, state.best_epoch, state.test_accuracy)


def train_epochs(config: TrainConfig, data: DatasetSplits, state: LoopState, hooks: Callback) -> None:
    """The epoch loop: shuffle, a step per batch, validate; everything worth keeping goes into ``state``."""
    device, info = state.device, data.info
    shuffle = torch.Generator().manual_seed(config.seed)
    images, labels = training_images(config, data, shuffle)
    images, labels = images.to(device), labels.to(device)
    # Channels-last convolutions are faster on the GPU and on this CPU too (README, "Models").
    model = state.model = create_model(config.model, info.num_classes).to(device, memory_format=torch.channels_last)
    forward, augment = parallel_model(model, state, shuffle)
    passes = make_passes(forward, config.label_smoothing, device, config.batch_size, graphs=state.ranks is None)
    optimizer = make_optimizer(config, model)
    state.batches = math.ceil(epoch_size(len(labels), state.ranks) / config.batch_size)
    schedule = make_schedule(config, optimizer, steps_per_epoch=state.batches)
    hooks.on_start(state)

    for epoch in range(1, config.epochs + 1):
        state.start_epoch(epoch)
        model.train()
        started = time.perf_counter()
        order = torch.randperm(len(labels), generator=shuffle).to(device)
        if state.ranks is not None:
            order = state.ranks.whole_batches(order)
        for batch in order.split(config.batch_size):
            index = state.ranks.share(batch) if state.ranks else batch
            inputs = normalize(images[index], info.mean, info.std, augment).contiguous(
                memory_format=torch.channels_last
            )
            loss, correct = train_step(passes, optimizer, inputs, labels[index], config, state)
            if schedule is not None:
                schedule.step()
            state.after_batch(len(batch), loss, correct)
            hooks.on_batch(state)
        val_loss, val_accuracy = validate(model, data, state)
        if not math.isfinite(val_loss):
            raise TrainingDiverged(
                f"the validation loss became {val_loss} after epoch {epoch}. "
                f"Try a smaller learning rate, e.g. {config.lr / 10:g}."
            )
        lr = optimizer.param_groups[0]["lr"]
        record = state.end_epoch(val_loss, val_accuracy, lr, time.perf_counter() - started)
        with interruptions_held():  # a Cancel now still leaves the finished epoch's files whole
            epoch_hooks(state, hooks, record)


def parallel_model(model: torch.nn.Module, state: LoopState, shuffle: torch.Generator):
    """(what the batches go through, the augmentation): the model itself and ``shuffle`` in one process;
    under torchrun, DistributedDataParallel, and each rank's own draws for augmentation and dropout (the
    order, drawn from ``shuffle``, must stay the same on every rank)."""
    if state.ranks is None:
        return model, make_augmentation(state.config, shuffle)
    seed = state.config.seed * 1_000 + state.ranks.rank
    torch.manual_seed(seed)  # dropout: each rank its own masks
    return state.ranks.wrap(model, state.device), make_augmentation(state.config, torch.Generator().manual_seed(seed))


def epoch_size(count: int, ranks: Ranks | None) -> int:
    """How many training images an epoch goes through (``Ranks.whole_batches`` cuts it under torchrun)."""
    return count if ranks is None else len(ranks.whole_batches(torch.arange(count)))


def validate(model: torch.nn.Module, data: DatasetSplits, state: LoopState) -> tuple[float, float]:
    """Loss and accuracy on the validation split; under torchrun each rank takes a share, summed."""
    info, val, ranks = data.info, data.val, state.ranks
    if ranks is None:
        loss, accuracy, _ = evaluate_loss_accuracy(model, val.images, val.labels, info.mean, info.std, state.device)
        return loss, accuracy
    ranks.same_buffers(model)
    part = slice(ranks.rank, None, ranks.world)
    images, labels = val.images[part], val.labels[part]
    loss, accuracy, _ = evaluate_loss_accuracy(model, images, labels, info.mean, info.std, state.device)
    loss_sum, correct, count = ranks.sums(loss * len(labels), accuracy * len(labels), len(labels))
    return loss_sum / count, correct / count


@contextlib.contextmanager
def interruptions_held():
    """Ctrl-C (SIGINT) or a Cancel (SIGTERM) arriving in the block takes effect when the block ends.

    An epoch's files are written in turn (history line, kept weights, status): a Cancel that landed
    between the history and the weights would end the run with the epoch in its history but without
    its weights, although the run's promise is to keep its best weights so far. Outside the main
    thread (where no signal handler can be set, nor runs) the block runs as it is."""
    handlers_from_python = all(signal.getsignal(number) is not None for number in HELD_SIGNALS)
    if threading.current_thread() is not threading.main_thread() or not handlers_from_python:
        yield  # (a handler set outside Python could not be put back)
        return
    held: list[int] = []
    previous = {number: signal.signal(number, lambda number, _frame: held.append(number)) for number in HELD_SIGNALS}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        for number in dict.fromkeys(held):
            signal.raise_signal(number)  # its own handler now: KeyboardInterrupt, or the default


def epoch_hooks(state: LoopState, hooks: Callback, record: dict) -> None:
    """The epoch's callbacks; under torchrun only rank 0 has any, and its request to stop is every rank's."""
    if state.ranks is None:
        hooks.on_epoch(state, record)
        return
    stop = None
    try:
        hooks.on_epoch(state, record)
    except StopEarly as request:
        stop = request
    if state.ranks.agree(stop is not None):
        raise stop or StopEarly("stopped by rank 0")


def train_step(passes, optimizer, inputs, targets, config: TrainConfig, state: LoopState) -> tuple[float, int]:
    """One optimiser step on one batch (``passes``: core.steps); returns its loss and how many it got
    right (before the step)."""
    loss, correct = passes(inputs, targets)
    loss_value, correct = loss.item(), int(correct.item())
    if state.ranks is not None:  # the whole batch's, so that every rank sees the same loss
        loss_sum, correct_sum = state.ranks.sums(loss_value * len(targets), correct)
        loss_value, correct = loss_sum / (len(targets) * state.ranks.world), int(correct_sum)
    if not math.isfinite(loss_value):
        raise TrainingDiverged(
            f"the loss became {loss_value} at epoch {state.epoch}, batch {state.batch + 1} "
            f"(learning rate {optimizer.param_groups[0]['lr']:g}). "
            f"Try a smaller learning rate, e.g. {config.lr / 10:g}."
        )
    optimizer.step()
    return loss_value, correct


def training_images(
    config: TrainConfig, data: DatasetSplits, shuffle: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """The training split, or the seeded subset ``train_subset`` asks for (in file order)."""
    train = data.train
    if config.train_subset is None or config.train_subset >= len(train):
        return train.images, train.labels
    keep = torch.randperm(len(train), generator=shuffle)[: config.train_subset].sort().values
    return train.images[keep], train.labels[keep]


def make_optimizer(config: TrainConfig, model: torch.nn.Module) -> torch.optim.Optimizer:
    params = model.parameters()
    if config.optimizer == "sgd":
        return torch.optim.SGD(
            params,
            lr=config.lr,
            momentum=config.momentum,
            nesterov=config.nesterov and config.momentum > 0,
            weight_decay=config.weight_decay,
        )
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
    if config.optimizer == "adadelta":
        return torch.optim.Adadelta(params, lr=config.lr, weight_decay=config.weight_decay)
    return torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)


def make_schedule(config: TrainConfig, optimizer: torch.optim.Optimizer, steps_per_epoch: int):
    """A learning-rate schedule stepped after every batch, or None."""
    total_steps = config.epochs * steps_per_epoch
    if config.schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config.lr, total_steps=total_steps)
    if config.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total_steps)
    if config.schedule == "step":  # pytorch/examples' StepLR(step_size=1 epoch, gamma)
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=steps_per_epoch, gamma=config.step_gamma)
    return None


class CallbackList(Callback):
    """Several callbacks called in order, as one."""

    def __init__(self, callbacks: Sequence[Callback]):
        self.callbacks = list(callbacks)

    def on_begin(self, state):
        for callback in self.callbacks:
            callback.on_begin(state)

    def on_start(self, state):
        for callback in self.callbacks:
            callback.on_start(state)

    def on_batch(self, state):
        for callback in self.callbacks:
            callback.on_batch(state)

    def on_epoch(self, state, record):
        for callback in self.callbacks:
            callback.on_epoch(state, record)

    def on_complete(self, state, data):
        for callback in self.callbacks:
            callback.on_complete(state, data)

    def on_stop(self, state, outcome, reason):
        for callback in self.callbacks:
            callback.on_stop(state, outcome, reason)


def _stopped(state: LoopState, hooks: Callback, outcome: str, reason: str) -> FitResult:
    """A run that ended early: the best weights so far in the model, the reason recorded."""
    if state.model is not None and state.best_state is not None:
        state.model.load_state_dict(state.best_state)
    hooks.on_stop(state, outcome, reason)
    return FitResult(outcome, state.model, state.history, state.best_epoch, error=reason)
