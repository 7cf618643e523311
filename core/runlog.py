"""Log from your own training loop: three lines, and the dashboard shows your run.

    import core
    with core.log_run(dataset="mnist", name="my-net", config={"lr": 0.01}) as run:
        for epoch in range(1, epochs + 1):
            ...  # your own loop; run.log_batch(loss.item(), examples=len(data)) if you like
            run.log_epoch(epoch, train_loss=..., val_loss=..., train_accuracy=..., val_accuracy=...)
        run.finish(model)  # evaluates validation and test, keeps the weights and a code-free copy

While the loop runs, the run is *running*, with a heartbeat from a background thread, so its curves
update live in the dashboard; an exception in the block marks it *failed* with the error, Ctrl-C
*cancelled*, and a process killed hard shows as *interrupted* (the run store's usual rules).
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import sys
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path

from torch import nn

from core.batchlosses import BatchLosses
from core.config import ConfigError, RunConfig, is_plain_record
from core.data import load_dataset
from core.external import check_outputs, keep_model, near_chance
from core.models import count_params
from core.runs import Run, beating, create_run, now_iso


class RunLog:
    """The handle ``log_run`` gives: log epochs and batches, then ``finish(model)``."""

    def __init__(self, run: Run, data, registered: bool = False):
        self.run, self.data, self.registered = run, data, registered
        self.history: list[dict] = []
        self.losses = BatchLosses()  # [examples seen, loss] since the last epoch, bounded in points
        self.examples_seen = 0
        self.finished = False  # finish(model) ran
        self.closed = False  # the with block ended: no more heartbeats
        self.percent_names: set[str] = set()  # accuracies logged in percent, said once each
        self._lock = threading.Lock()

    def log_batch(self, loss: float, examples: int | None = None) -> None:
        """One training batch's loss; ``examples``: how many images it held (the curve's x axis)."""
        loss = _number("loss", loss)
        with self._lock:
            self.examples_seen += int(examples) if examples else 1
            self.losses.add(self.examples_seen, loss)

    def log_epoch(self, epoch: int, **metrics: float) -> None:
        """One epoch's figures: train_loss, val_loss, train_accuracy, val_accuracy (fractions), lr, seconds,
        or any other name you like (kept, and plotted on the curves page)."""
        if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 1:
            raise ConfigError(f"epoch must be a whole number from 1 (got {epoch!r})")
        record = {"epoch": epoch, **{name: self._metric(name, value) for name, value in metrics.items()}}
        with self._lock:
            self.losses.flush()
            record.update(batch_losses=self.losses.points)
            if self.examples_seen:  # counted by log_batch; a loop that logs no batches leaves it out
                record.update(examples_seen=self.examples_seen)
            if self.history and epoch <= self.history[-1]["epoch"]:  # an epoch logged again: rewrite the file
                self.history = sorted([r for r in self.history if r["epoch"] != epoch] + [record], key=_epoch)
                self.run.write_history(self.history)
            else:  # the usual case: one line appended, the file never rewritten
                self.history.append(record)
                self.run.append_history(record)
            self.losses = BatchLosses()
            self.run.write_status("running", epoch=epoch, batch=0, batches=None, batch_losses=[])

    def _metric(self, name: str, value) -> float:
        """A logged figure as the history keeps it: an accuracy as a fraction.

        The tutorials' ``test()`` computes ``100. * correct / len(...)``: an accuracy over 1 is read as
        percent (said once per name), one outside 0–100 is refused."""
        number = _number(name, value)
        if not name.endswith("accuracy"):
            return number
        if not 0.0 <= number <= 100.0:
            raise ConfigError(f"{name} is {number}: an accuracy is a fraction from 0 to 1 (or a percent up to 100)")
        if number <= 1.0:
            return number
        if name not in self.percent_names:
            self.percent_names.add(name)
            _warn_your_line(f"{name}={number:g} read as {number:g}% ({number / 100:g}): the run keeps fractions")
        return number / 100.0

    def finish(self, model: nn.Module) -> float:
        """Evaluate ``model`` on the validation and test splits, keep it, mark the run completed; the test accuracy."""
        config = self.run.config
        output = check_outputs(model, self.data, config.mean, config.std)
        with self._lock:
            self.run.write_config(
                dataclasses.replace(
                    config,
                    model=type(model).__name__,
                    num_params=count_params(model),
                    epochs=max(1, len(self.history)),
                    source={**config.source, "output": output},
                )
            )
            accuracy = keep_model(self.run, model, self.data, registered=self.registered)
            self.finished = True
        doubt = near_chance(self.run)
        if doubt:
            _warn_your_line(doubt)
        return accuracy

    def heartbeat(self) -> None:
        with self._lock:
            if not (self.finished or self.closed):
                self.run.write_status("running", batch_losses=self.losses.points)

    def close(self, state: str | None, error: str | None = None) -> None:
        """The block ended: no more heartbeats; record ``state`` (None: leave the status as finish wrote it)."""
        with self._lock:
            self.closed = True
            if state is not None:
                self.run.write_status(state, error=error, finished=now_iso())


@contextlib.contextmanager
def log_run(
    dataset: str,
    name: str | None = None,
    config: dict | None = None,
    checkpoints: Path | None = None,
    data_dir: Path | None = None,
) -> Iterator[RunLog]:
    """A run of your own loop in the run store (``checkpoints``, default ``checkpoints/``); see the module."""
    data = load_dataset(dataset, data_dir)
    source = {"kind": "log_run", "hyperparameters": dict(config or {})}
    run = create_run(_config(data, source), checkpoints, run_id=name)
    if name is not None and run.id != name:  # the store never overwrites a run: say where this one goes
        _warn_your_line(f"a run named {name} exists already: this one is {run.id}")
    log = RunLog(run, data)
    run.write_status("running", started=now_iso(), error=None)
    with beating(log.heartbeat, name=f"heartbeat {run.id}"):
        try:
            yield log
        except KeyboardInterrupt:
            log.close("cancelled", "interrupted by the user (Ctrl-C)")
            raise
        except BaseException as error:
            log.close("failed", f"{type(error).__name__}: {error}")
            raise
        else:
            log.close(None if log.finished else "completed")  # without finish(): the curves alone


def _config(data, source: dict):
    """The run's config before the model is known: the dataset's; the model's name and output come at finish."""
    info = data.info
    config = RunConfig(dataset=info.name, model="your model", classes=info.classes, mean=info.mean, std=info.std)
    config.source = source
    if not is_plain_record(source["hyperparameters"], depth=1):  # as RunConfig.from_dict will read it back
        raise ConfigError("config must be a dict of names to numbers, texts or booleans (it is kept as JSON)")
    return config


def _epoch(record: dict) -> int:
    return record["epoch"]


def _number(name: str, value) -> float:
    try:
        number = float(value.item() if hasattr(value, "item") else value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a number (got {value!r})") from None
    if not math.isfinite(number):
        raise ConfigError(f"{name} is {number}: not a finite number")
    return number


_NOT_YOURS = (str(Path(__file__).resolve().parent) + os.sep, contextlib.__file__)  # core/, not core_x/


def _warn_your_line(message: str) -> None:
    """A warning that names the line of your loop that led to it, not a line of this package (or of
    contextlib, which runs ``log_run``'s ``with``)."""
    level, frame = 1, sys._getframe(0)
    while frame is not None and frame.f_code.co_filename.startswith(_NOT_YOURS):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, stacklevel=level)
