"""Models this project did not define, kept as an ONNX graph and run by ONNX Runtime: no Python from disk.

A user's own ``nn.Module`` runs once, in the command that imports it (``python -m core import --code``)
or in their own training loop (``core.log_run``). There it is exported with two outputs: the logits
and the input of its classifier layer (found by tracing the forward pass), so that the embedding
map needs no code either. Reading the run back (``OnnxModel``) loads only that graph.

What a graph can't do is give gradients: saliency for these runs uses Occlusion, a perturbation
method that needs only forward passes (``OnnxModel.differentiable`` is False).
"""

from __future__ import annotations

import io
import re
import warnings

import numpy as np
import pandas as pd
import torch
from torch import nn

from core.config import first_line
from core.quiet import prints_caught

OUTPUTS = ("logits", "features")
# The graph's note on what its features output is, for a model with no classifier layer to read:
# its class scores again (the embedding map says so rather than naming a layer the model hasn't got).
FEATURES_NOTE, FEATURES_ARE_SCORES = "features", "class scores"


def find_classifier(model: nn.Module, input_shape: tuple[int, int, int]) -> nn.Linear | None:
    """The last nn.Linear the forward pass calls on a row per image: the layer that turns features into class
    scores (None for a model that calls none, such as an all-convolutional one).

    Found by running the model once with hooks on every Linear, so it is forward order that counts,
    not the order in which the class happened to register its layers. A Linear called by keyword, or on
    a tensor that isn't one row per image (a learned constant), can't give features and is passed over.
    """
    batch = 2
    called: list[nn.Linear] = []

    def seen(module, inputs, _output) -> None:
        if inputs and isinstance(inputs[0], torch.Tensor) and inputs[0].ndim >= 1 and len(inputs[0]) == batch:
            called.append(module)

    hooks = [module.register_forward_hook(seen) for module in model.modules() if isinstance(module, nn.Linear)]
    try:
        with torch.no_grad():
            model(torch.zeros(batch, *input_shape))
    finally:
        for hook in hooks:
            hook.remove()
    return called[-1] if called else None


class _WithFeatures(nn.Module):
    """The model's output, and what its classifier layer was given (flattened): the two graph outputs.
    Without a classifier layer the features are the class scores themselves (the embedding map still works)."""

    def __init__(self, model: nn.Module, classifier: nn.Linear | None):
        super().__init__()
        self.model = model
        self.captured: torch.Tensor | None = None
        self.hook = classifier.register_forward_hook(self._capture) if classifier is not None else None

    def _capture(self, _module, inputs, _output) -> None:
        self.captured = inputs[0]

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        try:
            output = self.model(images)
        except BaseException as error:
            _cut_cause_loops(error)
            raise
        features = output if self.hook is None else self.captured
        return output, features.flatten(1)


def _cut_cause_loops(error: BaseException) -> None:
    """End a chain of causes that comes back on itself (``raise e from e`` in a forward): the exporter walks
    the chain to summarise it, and would walk such a loop for ever."""
    seen = {id(error)}
    while error.__cause__ is not None:
        if id(error.__cause__) in seen:
            error.__cause__ = None
            return
        error = error.__cause__
        seen.add(id(error))


def export_with_features(model: nn.Module, input_shape: tuple[int, int, int]) -> bytes:
    """The model as ONNX with outputs ``logits`` and ``features`` and a free batch size (seconds)."""
    model = model.eval()
    wrapper = _WithFeatures(model, find_classifier(model, input_shape)).eval()
    try:
        # The exporter prints its progress notes, and on failure pages of graph listings.
        with warnings.catch_warnings(), prints_caught():
            warnings.simplefilter("ignore")
            program = torch.onnx.export(
                wrapper,
                (torch.zeros(1, *input_shape),),
                dynamo=True,
                input_names=["image"],
                output_names=list(OUTPUTS),
                dynamic_shapes=({0: torch.export.Dim("batch")},),
                verbose=False,
            )
    except Exception as error:  # torch.export's errors come in many classes; the root cause says what stopped it
        raise ExportProblem(_why_not_exported(error)) from None
    finally:
        if wrapper.hook is not None:
            wrapper.hook.remove()
    if wrapper.hook is None:
        program.model.metadata_props[FEATURES_NOTE] = FEATURES_ARE_SCORES
    buffer = io.BytesIO()
    program.save(buffer)
    return buffer.getvalue()


class ExportProblem(ValueError):
    """A model torch.export can't turn into a graph; the message says what stopped it, in one line."""


def _why_not_exported(error: BaseException) -> str:
    """One line on why torch.export gave up: where in the user's file, and what to change there."""
    _cut_cause_loops(error)
    while error.__cause__ is not None:  # the innermost cause
        error = error.__cause__
    where = _users_line(str(error))
    if "data-dependent" in str(error):
        what = (
            "its forward decides something from a tensor's values (if x.sum() > 0, .item(), a loop over a tensor): "
            "compute both outcomes and choose with torch.where, or make the decision outside forward"
        )
    else:
        what = f"{first_line(error)}; a forward that leaves torch (numpy, Python lists) can't be followed either"
    return (
        "the model can't be kept as an ONNX graph, which lets the dashboard run it without your code: "
        f"torch.export stopped{where}: {what}"
    )


def _users_line(message: str) -> str:
    """ " at main.py line 17, in forward": the last place the exporter's message names outside torch and this
    project (its "Caused by:" line may be inside torch), or "" where it names none."""
    places = [
        match
        for pattern in _EXPORT_PLACES
        for match in pattern.finditer(message)
        if not any(part in match["path"] for part in _NOT_THE_USERS)
    ]
    if not places:
        return ""
    place = max(places, key=lambda match: match.start())
    return f" at {place['path'].rsplit('/', 1)[-1]} line {place['line']}, in {place['function']}"


# The places the exporter's messages name: "(…/main.py:17 in forward)", the path perhaps cut, and
# traceback lines ('File "/home/me/main.py", line 17, in forward').
_EXPORT_PLACES = (
    re.compile(r"\((?P<path>[^()\n]*?\.py):(?P<line>\d+) in (?P<function>\w+)\)"),
    re.compile(r'File "(?P<path>[^"\n]+\.py)", line (?P<line>\d+), in (?P<function>\w+)'),
)
_NOT_THE_USERS = ("site-packages", "/torch/", "/core/onnxmodel.py", "/core/external.py")


class OnnxModel(nn.Module):
    """An ONNX graph behind the nn.Module interface the pages use: ``model(images)`` gives the logits.

    ``feature_tap`` is called with the graph's features output on every forward pass, so a forward
    hook on it sees what the classifier layer saw, as on any registered model's classifier.
    """

    differentiable = False  # gradients don't flow through ONNX Runtime

    def __init__(self, data: bytes, num_classes: int):
        super().__init__()
        import onnxruntime

        from core.runs import ONNX_FILE, RunError

        problem = graph_problem(data)
        if problem:
            raise RunError(f"{ONNX_FILE} {problem}")
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()  # as many as torch is allowed here
        options.inter_op_num_threads = 1
        self.session = onnxruntime.InferenceSession(data, options, providers=["CPUExecutionProvider"])
        names = [output.name for output in self.session.get_outputs()]
        if names[: len(OUTPUTS)] != list(OUTPUTS):
            raise ValueError(f"the graph's outputs are {names}, expected {list(OUTPUTS)}")
        inputs = self.session.get_inputs()
        if len(inputs) != 1 or len(inputs[0].shape) < 1 or _fixed_sizes(inputs[0].shape[:1]) != (None,):
            raise ValueError("the graph must take one input, a batch of images of any size")
        self.input_name = inputs[0].name
        # What one image must be (channels, height, width), None where the graph leaves a size free; a graph
        # for other pictures is refused when given this run's, in one line.
        self.image_shape = _fixed_sizes(inputs[0].shape[1:])
        declared = _fixed_sizes(self.session.get_outputs()[0].shape[1:])
        if not _fits((num_classes,), declared):  # what it really gives is checked again, every batch
            raise RunError(f"{ONNX_FILE} gives {_sizes(declared)} scores per image; this run has {num_classes} classes")
        self.num_classes = num_classes
        self.feature_tap = nn.Identity()
        notes = self.session.get_modelmeta().custom_metadata_map
        self.features_are_scores = notes.get(FEATURES_NOTE) == FEATURES_ARE_SCORES

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        from core.runs import ONNX_FILE, RunError

        if not _fits(tuple(images.shape[1:]), self.image_shape):
            raise RunError(
                f"{ONNX_FILE} takes images of {_sizes(self.image_shape)}, not {_sizes(tuple(images.shape[1:]))}: "
                "the graph was made for other pictures than this run's dataset"
            )
        pixels = np.ascontiguousarray(images.detach().float().cpu().numpy())
        try:
            logits, features = self.session.run(list(OUTPUTS), {self.input_name: pixels})
        except Exception as error:  # onnxruntime's own error types, for a graph that can't run these images
            raise RunError(f"{ONNX_FILE} failed on a batch of {len(pixels)} images ({first_line(error)})") from None
        if logits.shape != (len(pixels), self.num_classes) or features.ndim < 1 or len(features) != len(pixels):
            raise RunError(
                f"{ONNX_FILE} answered {len(pixels)} images with scores of shape {logits.shape} and features of "
                f"shape {features.shape}; expected one row of {self.num_classes} scores, and one of features, "
                "per image"
            )
        self.feature_tap(torch.from_numpy(features))
        return torch.from_numpy(logits).to(images.device)


# Operations that repeat a subgraph as often as a tensor says: a graph could loop 10¹² times on one image.
UNBOUNDED_OPERATIONS = ("Loop", "Scan")


def graph_problem(data: bytes) -> str | None:
    """Why a graph is not run here, in words ("holds a Loop …"), or None. Exported models hold neither an
    unbounded repetition nor weights kept in other files (which would be read from wherever the dashboard
    runs: a graph could take a README's bytes as weights). The model's own functions are looked into too."""
    import onnx

    try:
        proto = onnx.load_from_string(data)
    except Exception as error:  # protobuf's DecodeError, onnx's own: a damaged or hostile file
        return f"is not a readable ONNX graph ({first_line(error)})"
    nodes, tensors = _everything_in(proto)
    if any(tensor.data_location == onnx.TensorProto.EXTERNAL for tensor in tensors):
        return "keeps weights in other files; a graph here holds its own (torch.onnx.export's default)"
    unbounded = next((node.op_type for node in nodes if node.op_type in UNBOUNDED_OPERATIONS), None)
    if unbounded:
        return f"holds a {unbounded}, which repeats as often as a tensor says: such graphs aren't run here"
    return None


def _everything_in(proto) -> tuple[list, list]:
    """Every node and every tensor of a model: its graph, the subgraphs of its nodes (If, and any other),
    and the functions it defines, with initializers, sparse ones and tensors given as attributes."""
    nodes, tensors = [], []
    bodies = [proto.graph, *proto.functions]  # a function body has nodes as a graph has
    while bodies:
        body = bodies.pop()
        if hasattr(body, "initializer"):  # a graph (a function has no initializers)
            tensors += [*body.initializer, *(sparse.values for sparse in body.sparse_initializer)]
        for node in body.node:
            nodes.append(node)
            for attribute in node.attribute:
                if attribute.HasField("g"):
                    bodies.append(attribute.g)
                bodies += list(attribute.graphs)
                if attribute.HasField("t"):
                    tensors.append(attribute.t)
                tensors += list(attribute.tensors)
                if attribute.HasField("sparse_tensor"):
                    tensors.append(attribute.sparse_tensor.values)
                tensors += [sparse.values for sparse in attribute.sparse_tensors]
    return nodes, tensors


def _fixed_sizes(dims) -> tuple[int | None, ...]:
    """A graph's dimensions as sizes, None for a free one (a name like "batch", or unknown)."""
    return tuple(dim if isinstance(dim, int) and dim > 0 else None for dim in dims)


def _fits(shape: tuple[int, ...], expected: tuple[int | None, ...]) -> bool:
    return len(shape) == len(expected) and all(want in (None, size) for size, want in zip(shape, expected, strict=True))


def _sizes(shape: tuple[int | None, ...]) -> str:
    return " × ".join("any" if size is None else str(size) for size in shape)


def onnx_layer_table(data: bytes) -> pd.DataFrame:
    """The graph's operations in order, with output shapes and parameters: the model card of an ONNX run."""
    import onnx

    from core.runs import ONNX_FILE, RunError

    try:
        proto = onnx.shape_inference.infer_shapes(onnx.load_from_string(data))
    except Exception as error:  # protobuf's DecodeError, onnx's own errors: a damaged or hostile file
        raise RunError(f"{ONNX_FILE} is not a readable ONNX graph ({first_line(error)})") from None
    shapes = {value.name: _shape(value) for value in [*proto.graph.value_info, *proto.graph.output]}
    weights = (onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16, onnx.TensorProto.BFLOAT16, onnx.TensorProto.DOUBLE)
    # Weights are the floating-point initializers; integer ones are shapes and axes.
    sizes = {init.name: int(np.prod(init.dims)) for init in proto.graph.initializer if init.data_type in weights}
    rows = [
        {
            "layer": _layer_name(node) or node.name or f"{node.op_type}_{number}",
            "type": node.op_type,
            "output shape": shapes.get(node.output[0], "") if node.output else "",
            "parameters": sum(sizes.get(name, 0) for name in node.input),
        }
        for number, node in enumerate(proto.graph.node)
    ]
    return pd.DataFrame(rows, columns=["layer", "type", "output shape", "parameters"])


def _layer_name(node) -> str | None:
    """The user's own name for the module that made ``node`` ("conv1", "fc.0"), or the function it called
    ("relu_1"), from the exporter's notes on each node; None where the graph has none (another exporter).

    The exporter's names (``node_conv2d``) say only the operation. Its notes list the module scopes from
    the top, which here is this project's wrapper (and a log-of-probabilities one): their ``model.`` is
    cut off, so the names are those of the user's class."""
    notes = {prop.key: prop.value[:4000] for prop in node.metadata_props}  # a hostile graph's notes stay short
    scopes = _QUOTED.findall(notes.get("pkg.torch.onnx.name_scopes", ""))
    classes = _QUOTED.findall(notes.get("pkg.torch.onnx.class_hierarchy", ""))
    if len(scopes) < 2:
        return None
    prefix = ".".join(["model"] * sum(1 for name in classes if name.startswith("core."))) + "."
    modules = [scope.removeprefix(prefix) for scope in scopes if scope.startswith(prefix)]
    return modules[-1] if modules else scopes[-1]  # inside a module of theirs, else a function their forward called


# The quoted items of the exporter's list-shaped notes ("['', 'model', 'model.conv', 'conv2d']").
_QUOTED = re.compile(r"'([^']*)'")


def _shape(value) -> str:
    """An ONNX value's shape without its batch dimension, as the layer table writes shapes ("64 × 7 × 7")."""
    dims = [dim.dim_value if dim.HasField("dim_value") else "?" for dim in value.type.tensor_type.shape.dim]
    return " × ".join(str(dim) for dim in dims[1:])
