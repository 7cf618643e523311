"""The run store: one folder per run under ``checkpoints/``, nothing that executes when read.

    <run-id>/config.json        RunConfig: the TrainConfig, class names, mean/std
    <run-id>/status.json        RunStatus: state, pid, host, heartbeat, error, kept epoch, test accuracy
    <run-id>/history.jsonl      one JSON object per epoch
    <run-id>/model.safetensors  the kept weights (best on validation, by the config's keep_best_by)
    <run-id>/predictions.npz    test-split probabilities and labels (no pickle)
    <run-id>/analysis/          results computed from the weights, keyed by their hash (core.analysis)

Every file is written atomically (``core.storage``) and read into a typed, validated record at the
edge: a file that is off-schema makes the run unreadable, with the reason (RunError).
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import hashlib
import io
import json
import math
import os
import re
import socket
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from safetensors import SafetensorError

from core.config import ConfigError, RunConfig, first_line
from core.data import PROJECT_ROOT
from core.storage import (
    UnsafeFile,
    atomic_write_json,
    atomic_write_text,
    atomic_write_with,
    read_file_head,
    read_regular_file,
)

if TYPE_CHECKING:  # torch is imported where weights are read or written: listing runs needs none
    import torch

CONFIG_FILE = "config.json"
STATUS_FILE = "status.json"
HISTORY_FILE = "history.jsonl"
WEIGHTS_FILE = "model.safetensors"
ONNX_FILE = "model.onnx"  # a model whose code is not ours: its graph, run by ONNX Runtime (core.onnxmodel)

# What each file may weigh: far above what the project writes, far below what would hurt a reader.
MAX_JSON_BYTES = 2**20  # config.json, status.json: a few kB (status with a live epoch's batch losses: < 100 kB)
MAX_HISTORY_BYTES = 32 * 2**20  # 1,000 epochs with a batch loss every 50 batches is about 2 MB
MAX_WEIGHTS_BYTES = 2**30  # the largest registered model is 15 MB
NO_WEIGHTS_YET = "no weights kept yet: the run stopped before its first epoch's were saved"
MAX_WEIGHTS_HEADER_BYTES = 2**20  # a safetensors header: a line per tensor, a few kB for the largest model
MAX_ONNX_BYTES = 512 * 2**20
MAX_PREDICTIONS_BYTES = 256 * 2**20  # on disk; 10,000 images × 10 classes compress to about 300 kB
MAX_PREDICTION_ARRAY_BYTES = 512 * 2**20  # one array once inflated: 10 million images × 10 classes, float32
PREDICTIONS_FILE = "predictions.npz"

STATES = ("running", "completed", "failed", "cancelled")
# The metrics an epoch record may carry as numbers (null where not measured).
EPOCH_METRICS = (  # the figures an epoch record may hold that the pages read by name: numbers, when present
    *("train_loss", "train_accuracy", "val_loss", "val_accuracy", "test_loss", "test_accuracy"),
    *("lr", "seconds", "examples_seen"),
)
# A running run whose heartbeat is older than this was interrupted (killed, machine stopped).
STALE_AFTER_S = 60.0
HEARTBEAT_EVERY_S = 5.0  # a background heartbeat's period: well inside STALE_AFTER_S
START_GRACE_S = 600.0  # how long a job's live child may take to start beating (see _is_gone)
RUN_ID = re.compile(r"^(?!.*www\.)[A-Za-z0-9][A-Za-z0-9._-]{0,127}$", re.IGNORECASE)  # www.: a bare link in markdown


class RunError(RuntimeError):
    """A run that cannot be read; the message says which file and what is wrong."""


class BadRunId(RunError, ValueError):
    """A run id that can't name a folder of the store: the user's input (a ValueError: exit 2 on the command line)."""


def default_checkpoints_dir() -> Path:
    """The run store: $CHECKPOINTS_DIR, else ``checkpoints/`` in the project."""
    return Path(os.environ.get("CHECKPOINTS_DIR") or PROJECT_ROOT / "checkpoints")


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def iso_timestamp(text: str | None) -> float | None:
    """Seconds since the epoch of a time as ``now_iso`` writes it; None when there is none or it isn't one."""
    try:
        return datetime.fromisoformat(text).timestamp() if text else None
    except (TypeError, ValueError):
        return None


@dataclass
class Run:
    """A run folder. Reading methods raise RunError with a readable reason."""

    path: Path
    _config: RunConfig | None = field(default=None, repr=False)

    @property
    def id(self) -> str:
        return self.path.name

    # --- reading ------------------------------------------------------------------

    @property
    def config(self) -> RunConfig:
        if self._config is None:
            try:
                self._config = RunConfig.from_dict(self._read_json(CONFIG_FILE))
            except ConfigError as error:
                raise RunError(f"{CONFIG_FILE}: {error}") from None
        return self._config

    def status(self) -> RunStatus:
        """status.json, with ``state`` turned into ``interrupted`` when a running job is gone."""
        status = RunStatus.from_dict(self._read_json(STATUS_FILE))
        if status.state == "running" and _is_gone(status):
            error = status.error or "the training process stopped without finishing"
            status = dataclasses.replace(status, state="interrupted", error=error)
        return status

    def kept_epoch(self, history: list[dict] | None = None, status: RunStatus | None = None) -> int | None:
        """The epoch whose weights the run keeps: the one written inside the weights, else the status's
        (see ``kept_epoch``). Pass the history and status when you have them already."""
        recorded = self.weights_epoch()
        if recorded is None:
            recorded = (status or self.status()).best_epoch
        return kept_epoch(self.history() if history is None else history, self.config.keep_best_by, recorded)

    def weights_epoch(self) -> int | None:
        """The epoch the weights file says it holds (training writes it there), or None.

        Reads the safetensors header alone. The weights are replaced before status.json records the new
        best epoch: a kill in between leaves the file's own word as the one that is true.
        """
        try:
            head = read_file_head(self.path / WEIGHTS_FILE, MAX_WEIGHTS_HEADER_BYTES + 8)
            size = int.from_bytes(head[:8], "little")
            header = json.loads(head[8 : 8 + size]) if 0 < size <= len(head) - 8 else {}
            epoch = header.get("__metadata__", {}).get("epoch")
        except (OSError, UnsafeFile, ValueError, RecursionError, AttributeError):
            return None
        return int(epoch) if isinstance(epoch, str) and epoch.isdecimal() and len(epoch) < 10 else None

    def history(self) -> list[dict]:
        try:
            text = _read_text(self.path / HISTORY_FILE, MAX_HISTORY_BYTES)
        except FileNotFoundError:
            return []
        lines = text.split("\n")  # the last is "" unless a write was cut short
        records = []
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                if number == len(lines):  # the last line, with no newline: a write a kill cut short
                    break
                raise RunError(f"{HISTORY_FILE} line {number} is not JSON ({error.msg})") from None
            except RecursionError:
                raise RunError(f"{HISTORY_FILE} line {number} is nested too deeply") from None
            except ValueError:  # Python refuses to read an integer of over 4,300 digits
                raise RunError(f"{HISTORY_FILE} line {number} holds a number too long to read") from None
            problem = epoch_record_problem(record)
            if problem:
                raise RunError(f"{HISTORY_FILE} line {number} is not an epoch record: {problem}")
            records.append(record)
        return records

    def load_state_dict(self) -> dict[str, torch.Tensor]:
        from safetensors.torch import load as load_safetensors

        data = _read_capped(self.path / WEIGHTS_FILE, MAX_WEIGHTS_BYTES, missing=self.why_no_model)
        try:
            return load_safetensors(data)
        except (SafetensorError, ValueError) as error:
            raise RunError(f"{WEIGHTS_FILE} is unreadable ({error})") from None

    @property
    def model_file(self) -> Path:
        """The file the dashboard runs the model from: the ONNX graph if there is one, else the weights."""
        onnx = self.path / ONNX_FILE
        return onnx if onnx.is_file() else self.path / WEIGHTS_FILE

    def weights_digest(self) -> str:
        """SHA-256 of the model file: what results computed from the model are keyed by."""
        path = self.model_file
        cap = MAX_ONNX_BYTES if path.name == ONNX_FILE else MAX_WEIGHTS_BYTES
        return hashlib.sha256(_read_capped(path, cap, missing=self.why_no_model)).hexdigest()

    def load_onnx_bytes(self) -> bytes:
        return _read_capped(self.path / ONNX_FILE, MAX_ONNX_BYTES)

    def load_model(self, device: str | torch.device = "cpu") -> torch.nn.Module:
        """The model with its kept weights, in eval mode (an ONNX graph's, for a model whose code is not ours)."""
        from core.models import UnknownModelError, create_model

        if (self.path / ONNX_FILE).is_file():
            from core.onnxmodel import OnnxModel

            try:
                return OnnxModel(self.load_onnx_bytes(), num_classes=self.config.num_classes).eval()
            except RunError:
                raise
            except Exception as error:  # onnxruntime raises its own types for a damaged graph
                raise RunError(f"{ONNX_FILE} is not a usable ONNX graph ({first_line(error)})") from None

        if not self.has_model_file():
            raise RunError(f"{self.id} has no model: {self.why_no_model()}")
        try:
            model = create_model(self.config.model, num_classes=self.config.num_classes)
        except UnknownModelError as error:
            raise RunError(f"{CONFIG_FILE}: {error}") from None
        weights = self.load_state_dict()  # its own RunError says what is wrong with the file
        try:
            model.load_state_dict(weights)
        except RuntimeError as error:
            raise RunError(f"{WEIGHTS_FILE} does not fit model {self.config.model!r} ({first_line(error)})") from None
        import torch

        # Channels-last like the inputs predict() gives it: mixing layouts costs a layout change per layer.
        return model.to(device, memory_format=torch.channels_last).eval()

    def _how_to_predict(self) -> str:
        """What to do about missing test predictions: evaluate the model, or say why there is none."""
        return f"run `python -m core evaluate {self.id}`" if self.has_model_file() else self.why_no_model()

    def has_model_file(self) -> bool:
        """Whether the run has a model file at all (a damaged one too: its reader says what is wrong)."""
        return os.path.lexists(self.model_file)

    def why_no_model(self) -> str:
        """Why a run keeps no model file, in words: still at its first epoch, or stopped before one was kept."""
        with contextlib.suppress(RunError):  # an unreadable status: say why a stopped run has none
            if self.status().state == "running":
                return "its first epoch's weights are not saved yet"
        if (self.config.source or {}).get("kind") == "log_run":
            return "its loop stopped before run.finish(model), which evaluates the model and keeps it"
        return NO_WEIGHTS_YET

    def load_predictions(self) -> Predictions:
        data = _read_capped(self.path / PREDICTIONS_FILE, MAX_PREDICTIONS_BYTES, missing=self._how_to_predict)
        arrays = read_npz_arrays(data, ("probs", "labels", "indices"), PREDICTIONS_FILE)
        probs, labels, indices = arrays["probs"], arrays["labels"], arrays["indices"]
        problem = predictions_problem(probs, labels, indices, self.config.num_classes)
        if problem:
            raise RunError(f"{PREDICTIONS_FILE} {problem}")
        return Predictions(probs.astype(np.float32), labels.astype(np.int64), indices.astype(np.int64))

    # --- writing ------------------------------------------------------------------

    def write_config(self, config: RunConfig) -> None:
        atomic_write_json(self.path / CONFIG_FILE, config.to_dict())
        self._config = config

    def write_status(self, state: str, **fields) -> None:
        """Set the state; a running state also refreshes pid, host and heartbeat."""
        if state not in STATES:
            raise ValueError(f"state must be one of {STATES}")
        if state == "running":
            fields.update(pid=os.getpid(), host=socket.gethostname(), heartbeat=time.time())
        self.update_status(state=state, **fields)

    def write_final_status(self, state: str, error: str | None = None, **fields) -> None:
        """How a run ended (failed, cancelled): written even on a full disk, by overwriting status.json in
        place when a new file can't be made, so that the cause is never lost."""
        try:
            self.write_status(state, error=error, finished=now_iso(), **fields)
        except OSError:
            self._overwrite_status_in_place(state, error)

    def _overwrite_status_in_place(self, state: str, error: str | None) -> None:
        # The file's blocks are already allocated: rewriting no more bytes than it holds needs no new space.
        path = self.path / STATUS_FILE
        with contextlib.suppress(OSError, RunError):
            previous = self._read_json(STATUS_FILE)
            room = path.stat().st_size
            kept = ("started", "host", "device", "epoch", "best_epoch")
            keep = {key: previous[key] for key in kept if key in previous}
            record = {**keep, "state": state, "error": error, "finished": now_iso()}
            text = json.dumps(record).encode()
            if len(text) > room:
                reason = error or ""
                record["error"] = reason[: max(0, len(reason) - (len(text) - room) - 3)] + "..."
                text = json.dumps(record).encode()
            if len(text) <= room:
                fd = os.open(path, os.O_WRONLY)
                try:
                    os.write(fd, text)
                    os.ftruncate(fd, len(text))
                    os.fsync(fd)
                finally:
                    os.close(fd)

    def update_status(self, **fields) -> None:
        """Merge fields into status.json, keeping the rest (an unreadable file is replaced)."""
        previous = {}
        if (self.path / STATUS_FILE).exists():
            try:
                previous = self._read_json(STATUS_FILE)
            except RunError:
                previous = {}
        atomic_write_json(self.path / STATUS_FILE, {**previous, **fields, "updated": now_iso()})

    def write_history(self, records: list[dict]) -> None:
        """Replace the whole history (an import, an epoch logged twice); training appends instead."""
        atomic_write_text(self.path / HISTORY_FILE, "".join(_history_line(record) for record in records))

    def append_history(self, record: dict) -> None:
        """Add one epoch's line: a training run never rewrites its history, however long it gets.

        The line goes out in one write and is flushed to disk; a process killed in the middle leaves at
        worst an unfinished last line, which ``history()`` leaves out.
        """
        line = _history_line(record).encode("utf-8")
        fd = os.open(self.path / HISTORY_FILE, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        try:
            written = os.write(fd, line)
            if written != len(line):
                raise OSError(errno.ENOSPC, f"{HISTORY_FILE}: only {written} of {len(line)} bytes written")
            os.fsync(fd)
        finally:
            os.close(fd)

    def save_onnx(self, data: bytes) -> None:
        atomic_write_with(self.path / ONNX_FILE, lambda handle: handle.write(data))

    def save_state_dict(self, state_dict: dict[str, torch.Tensor], epoch: int | None = None) -> None:
        """Keep the weights; ``epoch`` (the one they come from) is written inside the file (``weights_epoch``)."""
        from safetensors.torch import save as save_safetensors

        tensors = {key: value.detach().cpu().contiguous() for key, value in state_dict.items()}
        metadata = {"model": self.config.model, **({"epoch": str(epoch)} if epoch is not None else {})}
        data = save_safetensors(tensors, metadata=metadata)
        atomic_write_with(self.path / WEIGHTS_FILE, lambda handle: handle.write(data))

    def save_predictions(self, probs: np.ndarray, labels: np.ndarray, indices: np.ndarray) -> None:
        """Keep the test predictions; refused (RunError, the file left as it was) where the reader would refuse
        them: a model whose outputs aren't one finite score per class must not replace good predictions."""
        problem = predictions_problem(
            np.asarray(probs), np.asarray(labels), np.asarray(indices), self.config.num_classes
        )
        if problem:
            raise RunError(f"the model's test predictions can't be kept (the file {problem})")
        atomic_write_with(
            self.path / PREDICTIONS_FILE,
            lambda handle: np.savez_compressed(
                handle,
                probs=np.asarray(probs, dtype=np.float32),
                labels=np.asarray(labels, dtype=np.int64),
                indices=np.asarray(indices, dtype=np.int64),
            ),
        )

    # --- helpers ------------------------------------------------------------------

    def _read_json(self, name: str) -> dict:
        try:
            value = json.loads(_read_text(self.path / name, MAX_JSON_BYTES), parse_constant=_no_constant(name))
        except FileNotFoundError:
            raise RunError(f"{name} is missing") from None
        except json.JSONDecodeError as error:
            raise RunError(f"{name} is not valid JSON ({error.msg} at line {error.lineno})") from None
        except RecursionError:
            raise RunError(f"{name} is nested too deeply to be a record") from None
        except ValueError:  # Python refuses to read an integer of over 4,300 digits
            raise RunError(f"{name} holds a number too long to read") from None
        if not isinstance(value, dict):
            raise RunError(f"{name} is not a JSON object")
        return value


def _no_constant(name: str) -> Callable[[str], None]:
    """Python's reader takes NaN and Infinity, which JSON has not and nothing here writes: refused as read,
    so that no such value is carried into a file written back (the writers refuse them)."""

    def refuse(constant: str) -> None:
        raise RunError(f"{name} holds {constant}, which is not a JSON number")

    return refuse


@dataclass(frozen=True)
class RunStatus:
    """status.json: where a run is, and what it kept. ``from_dict`` checks every field it reads."""

    state: str  # running | completed | failed | cancelled, or interrupted (a running job that is gone)
    error: str | None = None
    started: str | None = None  # ISO times
    finished: str | None = None
    pid: int | None = None  # of the training process, on ``host``
    host: str | None = None
    heartbeat: float | None = None  # time.time() of its last sign of life
    device: str | None = None
    epoch: int = 0  # the epoch being trained (1-based), and the batch within it
    batch: int = 0
    batches: int | None = None
    batch_losses: tuple = ()  # [examples seen, running loss] pairs of the epoch under way
    best_epoch: int | None = None  # the epoch whose weights are kept
    best_val_loss: float | None = None
    best_val_accuracy: float | None = None
    test_accuracy: float | None = None
    job_token: str | None = None  # written by a dashboard job once it can be cancelled (core.jobs)

    @classmethod
    def from_dict(cls, values: dict) -> RunStatus:
        if values.get("state") not in STATES:
            raise RunError(f"{STATUS_FILE} has an unknown state {values.get('state')!r}")
        checks = {
            "error": str,
            "started": str,
            "finished": str,
            "host": str,
            "device": str,
            "job_token": str,
            "pid": int,
            "epoch": int,
            "batch": int,
            "batches": int,
            "best_epoch": int,
            "heartbeat": float,
            "best_val_loss": float,
            "best_val_accuracy": float,
            "test_accuracy": float,
        }
        for key, kind in checks.items():
            value = values.get(key)
            if value is not None and not _is_a(value, kind):
                raise RunError(f"{STATUS_FILE}: {key} is {value!r}, not {'text' if kind is str else 'a number'}")
        losses = values.get("batch_losses") or []
        if not isinstance(losses, list) or not all(_is_loss_pair(pair) for pair in losses):
            raise RunError(f"{STATUS_FILE}: batch_losses is not a list of [examples, loss] pairs")
        known = {f.name for f in dataclasses.fields(cls)}
        fields = {key: value for key, value in values.items() if key in known and value is not None}
        return cls(**{**fields, "batch_losses": tuple(tuple(pair) for pair in losses)})


def _is_a(value, kind: type) -> bool:
    """``value`` is of ``kind``; a number is an int or a float, never a bool; every number finite."""
    if isinstance(value, bool):
        return False
    if kind is str:
        return isinstance(value, str)
    if kind is int:
        return isinstance(value, int)
    return isinstance(value, int | float) and np.isfinite(value)


def _is_loss_pair(pair) -> bool:
    return isinstance(pair, list | tuple) and len(pair) == 2 and all(_is_a(v, float) for v in pair)


def epoch_record_problem(record) -> str | None:
    """What is wrong with one line of history.jsonl, or None: an object with a whole ``epoch`` from 1,
    its known metrics numbers (or null), its ``batch_losses`` [examples, loss] pairs."""
    if not isinstance(record, dict):
        return "not a JSON object"
    if not _is_a(record.get("epoch"), int) or record["epoch"] < 1:
        return f"epoch is {record.get('epoch')!r}"
    for key in EPOCH_METRICS:
        if record.get(key) is not None and not _is_a(record[key], float):
            return f"{key} is {record[key]!r}"
    losses = record.get("batch_losses", [])
    if not isinstance(losses, list) or not all(_is_loss_pair(pair) for pair in losses):
        return "batch_losses is not a list of [examples, loss] pairs"
    return None


def epoch_score(record: dict, keep_best_by: str) -> float:
    """How an epoch ranks for keeping its weights: lower is better (the validation loss, or minus the accuracy)."""
    value = record.get(keep_best_by)
    if value is None:
        return float("inf")
    return value if keep_best_by == "val_loss" else -value


def close_to_guessing(accuracy: float | None, classes: int) -> bool:
    """Whether a test accuracy is under three times chance: the usual causes are weights trained on another
    dataset, or inputs standardised another way (the one rule for imports, log_run and the runs listing)."""
    return accuracy is not None and classes > 0 and accuracy < 3 / classes


def predictions_problem(probs: np.ndarray, labels: np.ndarray, indices: np.ndarray, num_classes: int) -> str | None:
    """What is wrong with a set of test predictions, in words (for "predictions.npz …"); None when nothing is.
    The one check for what is written and what is read."""
    if probs.ndim != 2 or probs.shape[1] != num_classes or labels.shape != (len(probs),):
        return f"has the wrong shape: probs {probs.shape}, labels {labels.shape}, expected N×{num_classes} and N"
    if indices.shape != labels.shape:
        return f"has {len(indices)} indices for {len(labels)} labels"
    if not np.issubdtype(labels.dtype, np.integer) or labels.min(initial=0) < 0 or labels.max(initial=0) >= num_classes:
        return f"has labels outside 0–{num_classes - 1}"
    if len(labels) == 0:
        return "holds no predictions"
    if not np.issubdtype(indices.dtype, np.integer) or indices.min() < 0:
        return "has negative image indices"  # they would pick images from the end
    if indices.max() > np.iinfo(np.int64).max:  # unsigned, read as int64 they turn negative
        return "has image indices past any test split"
    if not np.issubdtype(probs.dtype, np.floating) or not np.isfinite(probs).all() or probs.min() < 0:
        return "has probabilities that are not finite numbers from 0"
    return None


def kept_epoch(history: list[dict], keep_best_by: str, recorded: int | None = None) -> int | None:
    """The epoch whose weights a run keeps: the one its status records, else the best by its own rule.

    The one rule for every reader (runs listing, curves, train page) and the training loop itself.
    """
    epochs = [record["epoch"] for record in history]
    if recorded in epochs:
        return recorded
    if not history:
        return None
    return min(history, key=lambda record: epoch_score(record, keep_best_by))["epoch"]


@dataclass(frozen=True)
class Predictions:
    probs: np.ndarray  # float32 N×C, softmax of the logits
    labels: np.ndarray  # int64 N, the true classes
    indices: np.ndarray  # int64 N, positions in the test file

    @property
    def predicted(self) -> np.ndarray:
        return self.probs.argmax(axis=1)


@dataclass
class RunSummary:
    """One row of the runs listing; ``error`` is set when the run could not be read."""

    id: str
    path: str
    dataset: str | None = None
    model: str | None = None
    preset: str | None = None
    state: str = "unreadable"
    epochs_done: int = 0
    epochs: int | None = None
    best_epoch: int | None = None
    best_val_accuracy: float | None = None
    test_accuracy: float | None = None
    created: str | None = None
    origin: str = "trained"  # trained here, "import"ed, or logged from the user's loop ("log_run")
    error: str | None = None


def create_run(config: RunConfig, root: Path | None = None, run_id: str | None = None) -> Run:
    """Make a new run folder holding ``config.json``; the id is unique in the store."""
    root = Path(root or default_checkpoints_dir())
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    base = run_id or f"{stamp}-{config.dataset}-{config.model}"
    if not RUN_ID.match(base):
        raise BadRunId(
            f"run id {base!r} may hold only letters, digits, '.', '_' and '-', "
            "starting with a letter or digit, and no www. (markdown would make it a link)"
        )
    root.mkdir(parents=True, exist_ok=True)
    for attempt in range(1000):
        path = root / (base if attempt == 0 else f"{base}-{attempt + 1}")
        try:
            path.mkdir()
            break
        except FileExistsError:
            continue
    else:
        raise RunError(f"could not find a free run id for {base!r}")
    run = Run(path)
    run.write_config(dataclasses.replace(config, created=now_iso()))
    return run


def run_in_store(run_id: str, root: Path | None = None) -> Run:
    """The run with this id, a folder directly inside the store; anything else is a RunError.

    Ids come from URLs, session state and run listings, so ``..``, absolute paths, separators
    and symbolic links that leave the store are refused rather than followed.
    """
    root = Path(root or default_checkpoints_dir())
    if not isinstance(run_id, str) or not RUN_ID.match(run_id) or run_id in (".", ".."):
        raise RunError(f"{run_id!r} is not a run id (letters, digits, '.', '_' and '-' only)")
    path = root / run_id
    if not path.is_dir():
        raise RunError(f"no run {run_id!r} in {root}")
    if path.resolve().parent != root.resolve():
        raise RunError(f"run {run_id!r} leads outside {root}")
    return Run(path)


def resolve_run(name: str | Path, root: Path | None = None) -> Run:
    """A run by folder path (given on the command line) or by id in the store."""
    candidate = Path(name)
    if candidate.is_dir() and (candidate / CONFIG_FILE).is_file():
        return Run(candidate)
    return run_in_store(str(name), root)


def load_run(name: str | Path, root: Path | None = None) -> Run:
    """Open a run and check that its config and status can be read."""
    run = resolve_run(name, root)
    run.config  # noqa: B018 - reading it validates it
    run.status()
    return run


def summarize(run: Run) -> RunSummary:
    summary = RunSummary(id=run.id, path=str(run.path))
    try:
        config = run.config
        summary.dataset, summary.model = config.dataset, config.model
        summary.epochs = None if config.imported else config.epochs  # planned epochs: none for a model made elsewhere
        summary.preset = config.preset or None
        summary.created = config.created or None
        status = run.status()
        summary.state = status.state
        summary.error = status.error
        if status.state == "completed" and status.error is None and not run.has_model_file():  # curves alone
            summary.error = f"no model: {run.why_no_model()}"
        summary.test_accuracy = status.test_accuracy
        history = run.history()
        summary.epochs_done = len(history)
        summary.best_epoch = run.kept_epoch(history, status)
        if summary.best_epoch is not None:
            summary.best_val_accuracy = next(r for r in history if r["epoch"] == summary.best_epoch).get("val_accuracy")
        if summary.best_val_accuracy is None:  # a model trained elsewhere: its validation split, evaluated here
            summary.best_val_accuracy = status.best_val_accuracy
        summary.origin = config.source.get("kind", "imported") if config.imported else "trained"
    except RunError as error:
        summary.state = "unreadable"
        summary.error = str(error)
    return summary


def list_runs(root: Path | None = None) -> list[RunSummary]:
    """Every run folder in the store, newest first; unreadable runs are listed with their error."""
    root = Path(root or default_checkpoints_dir())
    if not root.is_dir():
        return []
    folders = [p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")]
    summaries = [_cached_summary(folder, root) for folder in folders]
    for gone in [path for path in _SUMMARIES if path.parent == root and path not in folders]:
        del _SUMMARIES[gone]  # a deleted run's entry: the cache holds what the store holds
    return sorted(summaries, key=lambda s: (s.created or "", s.id), reverse=True)


# Every page view lists the store: a run is read again only when one of its files changed (size,
# modification time or inode), so a large history costs its reading once, not once a click.
_SUMMARIES: dict[Path, tuple[tuple, RunSummary]] = {}
_LISTED_FILES = (CONFIG_FILE, STATUS_FILE, HISTORY_FILE, WEIGHTS_FILE)


def _cached_summary(folder: Path, root: Path) -> RunSummary:
    signature = (str(root), *(_file_signature(folder / name) for name in ("", *_LISTED_FILES)))
    cached = _SUMMARIES.get(folder)
    if cached is not None and cached[0] == signature:
        return dataclasses.replace(cached[1])
    summary = _summarize_folder(folder, root)
    if summary.state != "running":  # a running job turns interrupted with time, not with a file: never cached
        _SUMMARIES[folder] = (signature, dataclasses.replace(summary))
    return summary


def _file_signature(path: Path) -> tuple | None:
    try:
        info = path.stat()
    except OSError:
        return None
    return info.st_mtime_ns, info.st_size, info.st_ino, info.st_mode


def _summarize_folder(folder: Path, root: Path) -> RunSummary:
    """A folder the store can open is summarised; one it can't (an odd name, a link that leaves the store)
    is listed as unreadable with the reason, its files unread, so that it is never picked by default."""
    try:
        run = run_in_store(folder.name, root)
    except RunError as error:
        return RunSummary(id=folder.name, path=str(folder), error=str(error))
    return summarize(run)


def _history_line(record: dict) -> str:
    return json.dumps(record, allow_nan=False) + "\n"


def _read_text(path: Path, cap: int) -> str:
    """A run file's text; FileNotFoundError when it is missing, RunError when it can't be used."""
    try:
        return read_regular_file(path, cap).decode("utf-8")
    except UnicodeDecodeError:
        raise RunError(f"{path.name} is not UTF-8 text") from None
    except UnsafeFile as error:
        raise RunError(str(error)) from None
    except (PermissionError, IsADirectoryError) as error:
        raise RunError(f"{path.name} is unreadable ({error.strerror})") from None


def _read_capped(path: Path, cap: int, missing: Callable[[], str] | None = None) -> bytes:
    """A run file's bytes, or RunError saying it is missing (and what to do: ``missing()``), not regular,
    or too large."""
    try:
        return read_regular_file(path, cap)
    except FileNotFoundError:
        raise RunError(f"{path.name} is missing" + (f" ({missing()})" if missing else "")) from None
    except UnsafeFile as error:
        raise RunError(str(error)) from None
    except OSError as error:
        raise RunError(f"{path.name} is unreadable ({error.strerror})") from None


def read_npz_arrays(
    data: bytes, names: tuple[str, ...], file_name: str, kinds: str = "biuf", optional: bool = False
) -> dict[str, np.ndarray]:
    """Arrays from an .npz, each member's header checked before a byte of it is inflated.

    A zip bomb inflates to gigabytes, and an array header can claim any shape: the inflated size,
    the dtype (numbers by default, ``kinds`` "U" for text, never objects) and the shape's size are
    checked against the caps first. With ``optional``, a missing array is left out, not an error.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            arrays = {}
            for name in names:
                try:
                    member = archive.getinfo(f"{name}.npy")
                except KeyError:
                    if optional:
                        continue
                    raise RunError(f"{file_name} has no array '{name}'") from None
                if member.file_size > MAX_PREDICTION_ARRAY_BYTES:
                    raise RunError(f"{file_name}: '{name}' inflates to {member.file_size / 2**20:.0f} MiB")
                with archive.open(member) as handle:
                    arrays[name] = _read_npy(handle, name, file_name, kinds)
            return arrays
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as error:
        raise RunError(f"{file_name} is unreadable ({error})") from None


def _read_npy(handle, name: str, file_name: str, kinds: str) -> np.ndarray:
    version = np.lib.format.read_magic(handle)
    readers = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
    if version not in readers:
        raise RunError(f"{file_name}: '{name}' is in .npy format {version}, not 1.0 or 2.0")
    shape, fortran, dtype = readers[version](handle)
    if dtype.kind not in kinds or dtype.hasobject:
        raise RunError(f"{file_name}: '{name}' holds {dtype}, not {'text' if kinds == 'U' else 'numbers'}")
    if int(np.prod(shape, dtype=np.float64)) * dtype.itemsize > MAX_PREDICTION_ARRAY_BYTES:
        raise RunError(f"{file_name}: '{name}' claims a shape of {shape}, over the limit")
    array = np.frombuffer(handle.read(int(np.prod(shape)) * dtype.itemsize), dtype=dtype)
    if array.size != int(np.prod(shape)):
        raise RunError(f"{file_name}: '{name}' is cut short")
    return array.reshape(shape, order="F" if fortran else "C")


@contextlib.contextmanager
def beating(beat: Callable[[], None], name: str) -> Iterator[None]:
    """Call ``beat`` every ``HEARTBEAT_EVERY_S`` from a background thread while the block works: a long step
    (evaluating a large model) must not let a running run's heartbeat go stale, which reads as interrupted."""
    stop = threading.Event()
    every_s = HEARTBEAT_EVERY_S

    def keep_beating() -> None:
        while not stop.wait(every_s):
            with contextlib.suppress(OSError, RunError):  # a full disk must not kill the work from this thread
                beat()

    thread = threading.Thread(target=keep_beating, name=name, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()  # no beat may land after the block: the caller writes how the run ended next


def _is_gone(status: RunStatus) -> bool:
    """A running status whose process has stopped: a dead pid on this host, or a stale heartbeat (but for
    a job's process still starting, whose live pid vouches for it for ``START_GRACE_S``)."""
    here = status.host == socket.gethostname() and status.pid is not None
    if here and not pid_alive(status.pid):
        return True
    age = math.inf if status.heartbeat is None else time.time() - status.heartbeat
    if age <= STALE_AFTER_S:
        return False
    # A job's child beats once it has imported torch and set up its Cancel handler (its job token): on a
    # busy machine that can take over a minute, and the pid its parent wrote is all there is until then.
    return not (here and status.job_token is None and age <= START_GRACE_S)


def pid_alive(pid: int) -> bool:
    """Whether a process of this machine is running (a zombie, dead but not yet reaped, is not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    except (OSError, OverflowError, ValueError):  # also a pid no process can have (a damaged status.json)
        return False
    try:  # Linux: the state letter follows the command name in /proc/<pid>/stat
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True
