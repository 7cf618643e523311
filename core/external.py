"""Your own model: weights from a file, an architecture from your own code, stored as a normal run.

    python -m core import --dataset mnist --weights mnist_cnn.pt --code main.py:Net
    python -m core import --dataset mnist --weights weights.safetensors --model two-conv-dropout

Weights are read without running code: safetensors, or a state_dict through
``torch.load(weights_only=True)`` and nothing else. The user's class runs only here, in the command
the user typed naming its file; what the run keeps is code-free (``core.onnxmodel``).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import re
import shutil
import sys
import uuid
import warnings
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from core.config import ConfigError, RunConfig, first_line
from core.data import DatasetSplits, load_dataset
from core.evaluate import evaluate_loss_accuracy, store_test_predictions
from core.models import count_params
from core.onnxmodel import ExportProblem, export_with_features
from core.runs import Run, beating, close_to_guessing, create_run, now_iso

MAX_WEIGHTS_BYTES = 2 * 2**30  # a state_dict larger than this is not an MNIST-family model
# The dashboard's import form takes at most this (also server.maxUploadSize in .streamlit/config.toml):
# the largest registered model's weights are 15 MB.
MAX_UPLOAD_MIB = 64


class ImportProblem(ConfigError):
    """Weights, code or outputs that can't become a run; the message says which and why (exit 2)."""


# --- weights -----------------------------------------------------------------------------------


WRAPPING_KEYS = ("state_dict", "model_state_dict", "model")


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Tensors by name from a .safetensors file or a state_dict saved by torch.save (weights only)."""
    path = Path(path)
    if not path.is_file():
        raise ImportProblem(f"{path} is not a file")
    if path.stat().st_size > MAX_WEIGHTS_BYTES:
        raise ImportProblem(f"{path} is {path.stat().st_size / 2**30:.1f} GiB; weights are at most 2 GiB here")
    weights = _read_safetensors(path) if path.suffix == ".safetensors" else _read_torch_state_dict(path)
    for name, tensor in weights.items():
        problem = _unusual_tensor(tensor)
        if problem:
            raise ImportProblem(f"{path.name}: {name!r} is {problem}; save the model's ordinary float weights")
    return weights


def _unusual_tensor(tensor: torch.Tensor) -> str | None:
    """What makes a tensor unfit to copy into a plain model's weights (torch.load can give all of these)."""
    if tensor.is_nested:
        return "a nested tensor"
    if tensor.layout != torch.strided:
        return f"a sparse tensor ({tensor.layout})"
    if tensor.is_quantized:
        return "a quantized tensor"
    if tensor.is_meta:
        return "a meta tensor, which holds no values"
    if tensor.is_complex():
        return "a complex tensor"
    return None


def _read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load

    try:
        return load(path.read_bytes())
    except (SafetensorError, OSError, ValueError) as error:
        raise ImportProblem(f"{path.name} is not a readable safetensors file ({error})") from None


def _read_torch_state_dict(path: Path) -> dict[str, torch.Tensor]:
    # PyTorch's SECURITY.md: weights_only=True is "secure to our knowledge"; this variable would
    # silently turn it off, so it is refused rather than obeyed.
    if os.environ.get("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "").strip() not in ("", "0"):
        raise ImportProblem(
            "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD is set, which would let torch.load run code from the file; unset it"
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's notes on pickle protocols; the outcome is what counts
            value = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises UnpicklingError, RuntimeError, … for what it refuses
        raise ImportProblem(_unread_torch_file(path, error)) from None
    # A checkpoint dict that wraps the state_dict: Lightning's "state_dict", the PyTorch tutorials'
    # "model_state_dict" (beside "optimizer_state_dict", "epoch", "loss").
    if isinstance(value, dict):
        value = next((value[key] for key in WRAPPING_KEYS if isinstance(value.get(key), dict)), value)
    if not isinstance(value, dict) or not value or not all(isinstance(t, torch.Tensor) for t in value.values()):
        raise ImportProblem(
            f"{path.name} is not a state_dict (a dict of tensors); save one with torch.save(model.state_dict(), …)"
        )
    return value


def _unread_torch_file(path: Path, error: Exception) -> str:
    """Why torch.load(weights_only=True) refused a file, in a newcomer's words: a whole pickled model (or
    another pickle) is not read, since unpickling it could run code; anything else is not a torch file."""
    save_weights = "Save the weights alone: torch.save(model.state_dict(), 'model.pt')"
    if "Unsupported global" in str(error):
        return (
            f"{path.name} holds more than tensors, so it is not read (it may be a whole pickled model, and "
            f"unpickling it could run code). {save_weights}"
        )
    with contextlib.suppress(OSError), open(path, "rb") as handle:
        start = handle.read(2)
        if start == b"PK":  # torch.save's zip archive, damaged or holding something else
            return f"{path.name} is not a readable torch file ({first_line(error)})"
        if start[:1] == b"\x80":  # a raw pickle: an older torch.save, or pickle.dump of any object
            return (
                f"{path.name} is a pickle that torch.load does not read as weights alone (it may hold other "
                f"objects, and unpickling those could run code). {save_weights}"
            )
    return (
        f"{path.name} is not a file torch.save wrote (neither its zip archive nor a pickle): "
        "was the right file chosen? A .safetensors file needs that extension"
    )


def fit_state_dict(model: nn.Module, weights: dict[str, torch.Tensor], file_order: bool = True) -> None:
    """Load ``weights`` into ``model``: by name when the names agree, else by order and shape.

    Tutorial scripts name layers ``conv1``, ``fc1``; a registry model names them ``0``, ``3``. When the
    names differ but the tensors line up one to one, they are matched in order: the file's own order
    (torch.save keeps the model's), or for a file that doesn't keep one (safetensors sorts its names)
    both sides in natural name order. The first pair that disagrees is named with both shapes.
    """
    expected = model.state_dict()
    if set(expected) == set(weights):
        pairs = [(name, name) for name in expected]
    elif len(expected) == len(weights):
        ours, theirs = list(expected), list(weights)
        if not file_order:
            ours, theirs = sorted(ours, key=_natural), sorted(theirs, key=_natural)
        pairs = list(zip(ours, theirs, strict=True))
    else:
        raise ImportProblem(
            f"the weights hold {len(weights)} tensors, the architecture {len(expected)} "
            f"(weights: {', '.join(list(weights)[:4])}…; architecture: {', '.join(list(expected)[:4])}…)"
        )
    for ours, theirs in pairs:
        if expected[ours].shape != weights[theirs].shape:
            raise ImportProblem(
                f"layer {ours!r} does not fit: the architecture has shape {tuple(expected[ours].shape)}, "
                f"the weights' {theirs!r} has {tuple(weights[theirs].shape)}"
            )
    model.load_state_dict({ours: weights[theirs].to(expected[ours].dtype) for ours, theirs in pairs})


# ``--model auto``: the registered architecture the weights fit (the first, in the registry's order).
ANY_THAT_FITS = "auto"


def _the_one_that_fits(weights: dict[str, torch.Tensor], num_classes: int, file_order: bool) -> str:
    fitting = registered_that_fit(weights, num_classes, file_order)
    if not fitting:
        raise ImportProblem(
            f"the weights ({len(weights)} tensors: {', '.join(list(weights)[:4])}…) fit no registered architecture; "
            "your own class can read them: python -m core import ... --code main.py:Net"
        )
    return fitting[0]


def registered_that_fit(weights: dict[str, torch.Tensor], num_classes: int, file_order: bool = True) -> list[str]:
    """The registered architectures these weights load into (what to suggest when the chosen one doesn't)."""
    from core.models import create_model, list_models

    fitting = []
    for name in list_models():
        try:
            fit_state_dict(create_model(name, num_classes), weights, file_order=file_order)
        except ImportProblem:
            continue
        fitting.append(name)
    return fitting


def _natural(name: str) -> list:
    """Sort key that puts layer2 before layer10."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def file_sha256(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


# --- the user's own class ------------------------------------------------------------------------


def load_user_class(spec: str, arguments: str | None = None) -> nn.Module:
    """``path/to/main.py:Net`` → an instance of Net (``arguments``: JSON keyword arguments).

    This runs the file's top level, as ``python main.py`` would up to its ``__main__`` guard: the one
    place the project runs a user's code, in the command the user typed.
    """
    file_name, _, class_name = spec.rpartition(":")
    if not file_name or not class_name:
        raise ImportProblem(f"--code takes FILE:CLASS, e.g. main.py:Net (got {spec!r})")
    path = Path(file_name)
    if not path.is_file():
        raise ImportProblem(f"--code: {path} does not exist")
    try:
        keywords = json.loads(arguments) if arguments else {}
    except json.JSONDecodeError as error:
        raise ImportProblem(f"--code-args is not JSON ({error.msg})") from None
    if not isinstance(keywords, dict):
        raise ImportProblem("--code-args must be a JSON object of keyword arguments, e.g. '{\"width\": 64}'")
    module = _import_file(path)
    cls = getattr(module, class_name, None)
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        # Its own classes, not the ones it imported (nn.Linear would be one of those).
        found = sorted(
            name
            for name, value in vars(module).items()
            if isinstance(value, type) and issubclass(value, nn.Module) and value.__module__ == module.__name__
        )
        has = f": it has {', '.join(found)}" if found else ", nor any other"
        raise ImportProblem(f"{path.name} has no nn.Module class {class_name!r}{has}")
    try:
        return cls(**keywords)
    except Exception as error:
        raise ImportProblem(f"{class_name}(**{keywords}) raised {type(error).__name__}: {error}") from None


def _import_file(path: Path):
    name = f"_user_model_{uuid.uuid4().hex}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(path.resolve().parent))  # its own imports of files beside it
    try:
        spec.loader.exec_module(module)
    except BaseException as error:  # its top level may raise anything, SystemExit included
        raise ImportProblem(f"importing {path.name} raised {type(error).__name__}: {error}") from None
    finally:
        sys.path.remove(str(path.resolve().parent))
    return module


# --- what the model answers ----------------------------------------------------------------------


@torch.inference_mode()
def check_outputs(model: nn.Module, data: DatasetSplits, mean: float, std: float) -> str:
    """Run a few images through; refuse outputs that aren't N × classes. Returns "logits", "log_probs" or
    "probs" (a model that ends in softmax)."""
    info = data.info
    images = data.val.images[:8].unsqueeze(1).float() / 255.0
    try:
        output = model.eval()((images - mean) / std)
    except Exception as error:
        raise ImportProblem(
            f"the model can't take {info.title} images ({len(images)} × {' × '.join(map(str, info.input_shape))}): "
            f"{type(error).__name__}: {first_line(error)}"
        ) from None
    if not isinstance(output, torch.Tensor) or tuple(output.shape) != (len(images), info.num_classes):
        shape = tuple(output.shape) if isinstance(output, torch.Tensor) else type(output).__name__
        raise ImportProblem(f"the model's output is {shape}; expected N × {info.num_classes} class scores")
    if not output.is_floating_point():
        raise ImportProblem(f"the model's outputs are {output.dtype}; class scores are floating-point numbers")
    if not bool(torch.isfinite(output).all()):
        raise ImportProblem(
            f"the model's outputs on {len(images)} validation images are not all finite numbers (NaN or inf): "
            "are the weights damaged, or the inputs standardised as the model expects (--normalize)?"
        )
    # Log-probabilities (log_softmax, as the tutorials end) exponentiate to rows that sum to 1;
    # probabilities (a softmax at the end) are rows of non-negative numbers that sum to 1 themselves.
    output = output.float()
    if bool(((output.exp().sum(dim=1) - 1).abs() < 1e-3).all()) and bool((output <= 1e-6).all()):
        return "log_probs"
    if bool(((output.sum(dim=1) - 1).abs() < 1e-3).all()) and bool((output >= 0).all()):
        return "probs"
    return "logits"


# --- the run it becomes ----------------------------------------------------------------------------


def import_model(
    dataset: str,
    weights: Path,
    *,
    code: str | None = None,
    code_args: str | None = None,
    model_name: str | None = None,
    run_id: str | None = None,
    normalize: tuple[float, float] | None = None,
    checkpoints: Path | None = None,
    data_dir: Path | None = None,
    history: list[dict] | None = None,
    progress: Callable[[str], None] = lambda step: None,
) -> Run:
    """A trained model as a completed run: weights read safely, fitted to the architecture, evaluated on the
    validation and test splits, kept code-free. Nothing is left in the store when anything fails.
    ``progress`` is told each step as it begins (a sentence without a full stop)."""
    if (code is None) == (model_name is None):
        which = "neither was given" if code is None else "not both"
        raise ImportProblem(f"give --code FILE:CLASS (your own class) or --model NAME (a registered one): {which}")
    progress("Reading the dataset and the weights")
    data = load_dataset(dataset, data_dir)
    state_dict = read_state_dict(weights)
    file_order = Path(weights).suffix != ".safetensors"
    if model_name == ANY_THAT_FITS:
        progress("Finding the architecture they fit")
        model_name = _the_one_that_fits(state_dict, data.info.num_classes, file_order)
    model = load_user_class(code, code_args) if code else _registered(model_name, data.info.num_classes)
    try:
        fit_state_dict(model, state_dict, file_order=file_order)
    except ImportProblem as problem:
        if model_name is None:
            raise
        fitting = registered_that_fit(state_dict, data.info.num_classes, file_order)
        hint = f"; the weights fit {', '.join(fitting)}" if fitting else ""
        raise ImportProblem(f"{problem}{hint}") from None
    code_file, _, class_name = (code or "").rpartition(":")
    source = {
        "kind": "import",
        "weights": Path(weights).name,
        "weights_sha256": file_sha256(Path(weights)),
        "code": f"{Path(code_file).name}:{class_name}" if code else None,
    }
    name = model_name or class_name
    config = external_config(data, model, name, source, normalize, epochs=max(1, len(history or [])))
    run = create_run(config, checkpoints, run_id=run_id)
    try:
        run.write_status("running", started=now_iso(), error=None)
        if history:
            run.write_history(history)
        keep_model(run, model, data, registered=model_name is not None, progress=progress)
    except BaseException:
        shutil.rmtree(run.path, ignore_errors=True)  # nothing half-written stays in the store
        raise
    return run


def external_config(
    data: DatasetSplits,
    model: nn.Module,
    name: str,
    source: dict,
    normalize: tuple[float, float] | None,
    epochs: int = 1,
) -> RunConfig:
    """The config of a run this project did not train: the dataset's classes, the inputs' mean and std,
    where the model came from and whether it answers in logits or log-probabilities."""
    info = data.info
    mean, std = normalize or (info.mean, info.std)
    if not (0.0 <= mean <= 1.0 and 0.0 < std <= 1.0):  # NaN fails both; std 0 would divide by zero
        raise ImportProblem(
            f"--normalize MEAN STD: the mean goes from 0 to 1 and the std above 0 to 1 (got {mean:g} {std:g})"
        )
    output = check_outputs(model, data, mean, std)
    config = RunConfig(
        dataset=info.name,
        model=name,
        epochs=epochs,
        classes=info.classes,
        mean=float(mean),
        std=float(std),
        num_params=count_params(model),
        source={**{key: value for key, value in source.items() if value is not None}, "output": output},
    )
    try:
        return RunConfig.from_dict(config.to_dict())  # every check the reader makes: nothing it would refuse is written
    except ConfigError as error:
        raise ImportProblem(str(error)) from None


class LogOfProbabilities(nn.Module):
    """A model that ends in softmax, answering log-probabilities: what every reader here takes (a softmax of
    its probabilities would squash them towards 1/classes)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return torch.log(self.model(inputs).clamp_min(1e-30))  # a probability of 0 stays finite


class _OneLineErrors(nn.Module):
    """The model as it is evaluated: an exception in its forward (one that fails on a full batch of 256
    images, say) becomes one line that names the batch, not a traceback through this project's code."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        try:
            return self.model(inputs)
        except Exception as error:
            raise ImportProblem(
                f"the model raised {type(error).__name__} on a batch of {len(inputs)} images: {first_line(error)}"
            ) from None


def keep_model(
    run: Run,
    model: nn.Module,
    data: DatasetSplits,
    registered: bool,
    progress: Callable[[str], None] = lambda step: None,
) -> float:
    """Store the model the code-free way, its validation and test results, and mark the run completed."""
    model = model.eval()
    if not registered and (run.config.source or {}).get("output") == "probs":
        model = LogOfProbabilities(model).eval()  # kept (and exported) answering log-probabilities
    config = run.config
    with beating(lambda: run.write_status("running"), name=f"heartbeat {run.id}"):
        run.save_state_dict(model.state_dict())
        if not registered:
            progress("Exporting your model as an ONNX graph")
            try:
                graph = export_with_features(model, data.info.input_shape)
            except ExportProblem as problem:
                raise ImportProblem(str(problem)) from None
            run.save_onnx(graph)
        evaluated = _OneLineErrors(model)
        progress(f"Evaluating it on the {len(data.val):,} validation images")
        val_loss, val_accuracy, _ = evaluate_loss_accuracy(
            evaluated, data.val.images, data.val.labels, config.mean, config.std
        )
        progress(f"Predicting the {len(data.test):,} test images")
        test_accuracy = store_test_predictions(run, evaluated, data)
    history = run.history()
    run.write_status(
        "completed",
        best_epoch=history[-1]["epoch"] if history else None,  # the model given is the last epoch's
        best_val_loss=val_loss,
        best_val_accuracy=val_accuracy,
        test_accuracy=test_accuracy,
        finished=now_iso(),
    )
    return test_accuracy


def near_chance(run: Run) -> str | None:
    """A sentence when the kept model's test accuracy is close to guessing (under three times chance): the
    usual causes are weights trained on another dataset, or inputs standardised another way."""
    accuracy, classes = run.status().test_accuracy, run.config.num_classes
    if not close_to_guessing(accuracy, classes):
        return None
    return (
        f"Test accuracy {accuracy:.2%} is close to guessing ({1 / classes:.0%} for {classes} classes): were these "
        f"weights trained on another dataset than {run.config.dataset}, or with inputs standardised another way?"
    )


def _registered(name: str, num_classes: int) -> nn.Module:
    from core.models import UnknownModelError, create_model

    try:
        return create_model(name, num_classes)
    except UnknownModelError as error:
        raise ImportProblem(str(error)) from None
