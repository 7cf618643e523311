"""Your own model and your own loop: import with your class or a registered one, log_run, and every refusal.

Real child processes for the command line (the user's code runs there, as it would for a user) and
small synthetic data the tests make themselves.
"""

import json
import os
import re
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from core.cli import main
from core.config import ConfigError
from core.data import PROJECT_ROOT, load_dataset
from core.external import ImportProblem, fit_state_dict, import_model, load_user_class, read_state_dict
from core.history import history_frame, progress
from core.models import create_model
from core.runs import list_runs, load_run, pid_alive
from tests.conftest import write_idx_dataset

# A user's own class. Its head is registered before the layer that feeds it, so registration order
# would pick the wrong layer; forward order picks ``head`` (32 inputs).
USER_CODE = """
import torch
import torch.nn as nn
import torch.nn.functional as F


class TinyNet(nn.Module):
    def __init__(self, width=8):
        super().__init__()
        self.conv = nn.Conv2d(1, width, 3, padding=1)
        self.head = nn.Linear(32, 10)
        self.hidden = nn.Linear(width * 14 * 14, 32)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv(x)), 2).flatten(1)
        return F.log_softmax(self.head(F.relu(self.hidden(x))), dim=1)


if __name__ == "__main__":
    raise SystemExit("importing must not run the script's main part")
"""


def cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "core", *args],
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        timeout=300,
        env={**os.environ, **(env or {})},
    )


def page_of(monkeypatch, data_dir: Path, store: Path, run_id: str, page: str):
    """An AppTest of the dashboard on ``page`` with ``run_id`` chosen, over this data and store."""
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("DATA_DIR", str(data_dir))
    monkeypatch.setenv("CHECKPOINTS_DIR", str(store))
    at = AppTest.from_file(str(PROJECT_ROOT / "dashboard" / "app.py"), default_timeout=120)
    at.query_params["dataset"], at.query_params["run"] = "mnist", run_id
    at.run()
    at.switch_page(f"app_pages/{page}")
    return at.run()


def user_class(folder: Path):
    """The user's module, imported the way their own script would."""
    sys.path.insert(0, str(folder))
    try:
        import importlib

        module = importlib.import_module("user_model")
        return importlib.reload(module).TinyNet
    finally:
        sys.path.remove(str(folder))


@pytest.fixture(scope="module")
def user_files(tmp_path_factory):
    """Synthetic MNIST files, the user's code, and weights it trained (a few steps) and saved with torch.save."""
    root = tmp_path_factory.mktemp("user")
    # Some wrong labels, so that no model is perfect and an accuracy comparison means something.
    write_idx_dataset(root / "data", "mnist", train_count=600, test_count=200, label_noise=0.15)
    (root / "code").mkdir()
    (root / "code" / "user_model.py").write_text(USER_CODE)
    net = user_class(root / "code")()
    data = load_dataset("mnist", root / "data")
    images = ((data.train.images.float() / 255 - 0.1307) / 0.3081).unsqueeze(1)
    optimizer = torch.optim.Adam(net.parameters(), lr=3e-3)
    torch.manual_seed(0)
    for _ in range(30):
        batch = torch.randint(0, len(images), (64,))
        optimizer.zero_grad()
        torch.nn.functional.nll_loss(net(images[batch]), data.train.labels[batch]).backward()
        optimizer.step()
    torch.save(net.state_dict(), root / "mnist_cnn.pt")
    return root


def store_args(root: Path) -> list[str]:
    return ["--data-dir", str(root / "data"), "--checkpoints", str(root / "runs")]


@pytest.fixture(scope="module")
def imported(user_files):
    """The user's class and weights imported through the real command; its code file then deleted."""
    root = user_files
    code = root / "code" / "user_model.py"
    args = ["--dataset", "mnist", "--weights", str(root / "mnist_cnn.pt"), "--code", f"{code}:TinyNet"]
    result = cli("import", *args, "--run-id", "mine", "--json", *store_args(root))
    assert result.returncode == 0, result.stderr
    return root, json.loads(result.stdout)


def test_an_import_reports_what_the_users_own_evaluation_gives(imported):
    root, shown = imported
    net = user_class(root / "code")()
    net.load_state_dict(torch.load(root / "mnist_cnn.pt", weights_only=True))
    data = load_dataset("mnist", root / "data")
    with torch.no_grad():
        output = net.eval()(((data.test.images.float() / 255 - 0.1307) / 0.3081).unsqueeze(1))
    correct = int((output.argmax(1) == data.test.labels).sum())  # what the user's own test() counts
    assert round(shown["test_accuracy"] * len(data.test)) == correct
    assert 0.3 * len(data.test) < correct < len(data.test), "better than chance, not perfect: a real comparison"
    run = load_run("mine", root / "runs")
    assert run.config.source["output"] == "log_probs" and run.config.source["code"] == "user_model.py:TinyNet"
    assert (
        run.config.source["weights_sha256"]
        == __import__("hashlib").sha256((root / "mnist_cnn.pt").read_bytes()).hexdigest()
    )
    assert run.status().state == "completed" and run.history() == []


def test_the_imported_run_needs_no_code(imported, capsys):
    """With the user's file gone, the model loads from its ONNX graph; the embedding reads the forward-order head."""
    from core.analysis import classifier_of, penultimate_features

    root, _ = imported
    (root / "code" / "user_model.py").rename(root / "code" / "user_model.py.gone")
    try:
        run = load_run("mine", root / "runs")
        model = run.load_model()
        assert type(model).__name__ == "OnnxModel" and not model.differentiable
        data = load_dataset("mnist", root / "data")
        features = penultimate_features(model, classifier_of(run, model), data.test.images[:5], 0.1307, 0.3081)
        assert features.shape == (5, 32)  # the head's input, not the registration-order last Linear's
        logits = torch.from_numpy(np.log(run.load_predictions().probs[:5]))
        again = torch.log_softmax(model(((data.test.images[:5].float() / 255 - 0.1307) / 0.3081).unsqueeze(1)), 1)
        assert torch.allclose(again, logits, atol=1e-4)
        store = ["--checkpoints", str(root / "runs")]
        for argv in (["curves", "mine"], ["confusion", "mine"], ["errors", "mine"], ["card", "mine"]):
            assert main([*argv, *store]) == 0, capsys.readouterr().err
        assert "without a training history" in capsys.readouterr().out
        png = root / "saliency.png"
        assert main(["saliency", "mine", "3", "--output", str(png), *store, "--data-dir", str(root / "data")]) == 0
        assert "(occlusion)" in capsys.readouterr().out and png.stat().st_size > 0
        assert main(["saliency", "mine", "3", "--method", "saliency", *store, "--data-dir", str(root / "data")]) == 2
        assert "--method occlusion" in capsys.readouterr().err
    finally:
        (root / "code" / "user_model.py.gone").rename(root / "code" / "user_model.py")


def test_the_model_card_names_the_users_own_layers(imported):
    from core.onnxmodel import onnx_layer_table

    root, _ = imported
    table = onnx_layer_table(load_run("mine", root / "runs").load_onnx_bytes())
    layers = dict(zip(table["layer"], table["type"], strict=True))
    assert {"conv": "Conv", "hidden": "Gemm", "head": "Gemm"}.items() <= layers.items()  # not node_linear_1
    assert table.loc[table["layer"] == "head", "parameters"].item() == 32 * 10 + 10


def test_a_hostile_pickle_never_runs(user_files, tmp_path):
    sentinel = tmp_path / "ran"
    hostile = tmp_path / "weights.pt"
    payload = (
        "import pickle, os\nclass Bomb:\n    def __reduce__(self):\n"
        f"        return (os.system, ('touch {sentinel}',))\n"
        f"pickle.dump({{'conv.weight': Bomb()}}, open({str(hostile)!r}, 'wb'))\n"
    )
    subprocess.run([sys.executable, "-c", payload], check=True)
    code = f"{user_files / 'code' / 'user_model.py'}:TinyNet"
    args = ["--dataset", "mnist", "--weights", str(hostile), "--code", code, "--checkpoints", str(tmp_path / "runs")]
    result = cli("import", *args, "--data-dir", str(user_files / "data"))
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "is a pickle that torch.load does not read as weights alone" in result.stderr
    assert not sentinel.exists() and list_runs(tmp_path / "runs") == []


ODD_MODEL = """
import torch.nn as nn


class Odd(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear({inputs}, {outputs})

    def forward(self, x):
        {forward}
"""


def odd_model(
    tmp_path: Path, inputs: int, outputs: int, forward: str = "return self.fc(x.flatten(1))"
) -> tuple[str, Path]:
    """A class that flattens its input into one Linear layer (``forward``: its body), and zero weights for it."""
    (tmp_path / "odd.py").write_text(ODD_MODEL.format(inputs=inputs, outputs=outputs, forward=forward))
    weights = tmp_path / "odd.pt"
    torch.save({"fc.weight": torch.zeros(outputs, inputs), "fc.bias": torch.zeros(outputs)}, weights)
    return f"{tmp_path / 'odd.py'}:Odd", weights


def problem_inputs(problem: str, user_files: Path, tmp_path: Path) -> tuple[str, Path, list[str], dict]:
    """(--code, --weights, more arguments, environment) for one kind of bad input."""
    code, weights = user_files / "code" / "user_model.py", user_files / "mnist_cnn.pt"
    spec = f"{code}:TinyNet"
    if problem == "missing-code":
        return f"{tmp_path / 'nope.py'}:TinyNet", weights, [], {}
    if problem == "raising-code":
        (tmp_path / "broken.py").write_text("1 / 0\n")
        return f"{tmp_path / 'broken.py'}:TinyNet", weights, [], {}
    if problem == "upper-case-dataset":  # given after --dataset mnist: the last one counts
        return spec, weights, ["--dataset", "MNIST"], {}
    if problem == "spaced-run-id":
        return spec, weights, ["--run-id", "my net"], {}
    if problem == "wrong-class":
        return f"{code}:net", weights, [], {}
    if problem == "not-a-module":
        (tmp_path / "helper.py").write_text("class Helper:\n    pass\n")
        return f"{tmp_path / 'helper.py'}:Helper", weights, [], {}
    if problem == "wrong-output":
        return (*odd_model(tmp_path, 784, 3), [], {})
    if problem == "wrong-size":  # a model for 32×32 pictures
        return (*odd_model(tmp_path, 32 * 32, 10), [], {})
    if problem == "branching":  # torch.export can't follow it
        forward = "out = self.fc(x.flatten(1))\n        return out if out.sum().item() > 0 else -out"
        return (*odd_model(tmp_path, 784, 10, forward), [], {})
    if problem == "bool-branch":  # torch.export's own "Caused by" names a file of torch's here
        forward = "y = self.fc(x.flatten(1))\n        if y.sum() > 0:\n            return y\n        return -y"
        return (*odd_model(tmp_path, 784, 10, forward), [], {})
    if problem == "self-caused":  # the exporter summarises the chain of causes: this one loops
        forward = (
            "try:\n            return y if (y := self.fc(x.flatten(1))).sum() > 0 else -y\n"
            "        except Exception as error:\n            raise error from error"
        )
        return (*odd_model(tmp_path, 784, 10, forward), [], {})
    if problem == "fails-on-full-batches":
        forward = (
            "if len(x) > 64:\n            raise MemoryError('out of memory')\n        return self.fc(x.flatten(1))"
        )
        return (*odd_model(tmp_path, 784, 10, forward), [], {})
    if problem == "integer-scores":
        return (*odd_model(tmp_path, 784, 10, "return (self.fc(x.flatten(1)) * 100).long()"), [], {})
    if problem == "other-weights":
        state = torch.load(weights, weights_only=True)
        torch.save({**state, "conv.weight": torch.zeros(4, 1, 5, 5)}, tmp_path / "other.pt")
        return spec, tmp_path / "other.pt", [], {}
    if problem == "whole-model":
        save_whole = (
            f"import sys, torch; sys.path.insert(0, {str(code.parent)!r}); from user_model import TinyNet; "
            f"torch.save(TinyNet(), {str(tmp_path / 'whole.pt')!r})"
        )
        subprocess.run([sys.executable, "-c", save_whole], check=True)
        return spec, tmp_path / "whole.pt", [], {}
    if problem == "nan-normalize":
        return spec, weights, ["--normalize", "nan", "nan"], {}
    if problem == "nan-weights":
        state = torch.load(weights, weights_only=True)
        torch.save({key: torch.full_like(value, float("nan")) for key, value in state.items()}, tmp_path / "nan.pt")
        return spec, tmp_path / "nan.pt", [], {}
    if problem == "forced-pickle":
        return spec, weights, [], {"TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD": "1"}
    return spec, weights, ["--code-args", "{width: 8"], {}  # bad-args


@pytest.mark.parametrize(
    ("problem", "fragment"),
    [
        ("missing-code", "does not exist"),
        ("raising-code", "importing broken.py raised ZeroDivisionError"),
        ("not-a-module", "has no nn.Module class 'Helper', nor any other"),
        ("wrong-class", "user_model.py has no nn.Module class 'net': it has TinyNet"),
        ("upper-case-dataset", "unknown dataset 'MNIST' (did you mean 'mnist'?); choose one of: mnist"),
        ("spaced-run-id", "run id 'my net' may hold only letters, digits"),
        ("wrong-output", "the model's output is (8, 3); expected N × 10"),
        ("wrong-size", "can't take MNIST digits images"),
        (
            "branching",
            "torch.export stopped at odd.py line 12, in forward: its forward decides something from a tensor",
        ),
        ("bool-branch", "torch.export stopped at odd.py line 12, in forward: its forward decides something"),
        ("self-caused", "torch.export stopped at odd.py line 12, in forward: its forward decides something"),
        ("fails-on-full-batches", "the model raised MemoryError on a batch of"),
        ("integer-scores", "the model's outputs are torch.int64; class scores are floating-point numbers"),
        ("other-weights", "layer 'conv.weight' does not fit"),
        ("whole-model", "holds more than tensors"),
        ("forced-pickle", "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"),
        ("nan-normalize", "--normalize MEAN STD: the mean goes from 0 to 1 and the std above 0 to 1 (got nan nan)"),
        ("nan-weights", "are not all finite numbers (NaN or inf)"),
        ("bad-args", "--code-args is not JSON"),
    ],
)
def test_bad_input_is_one_line_and_leaves_nothing(user_files, tmp_path, problem, fragment):
    spec, weights, extra, env = problem_inputs(problem, user_files, tmp_path)
    paths = ["--data-dir", str(user_files / "data"), "--checkpoints", str(tmp_path / "runs")]
    result = cli("import", "--dataset", "mnist", "--weights", str(weights), "--code", spec, *extra, *paths, env=env)
    assert result.returncode == 2, result.stderr
    assert fragment in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not (tmp_path / "runs").exists() or list((tmp_path / "runs").iterdir()) == []


@pytest.mark.parametrize(
    ("given", "fragment"), [({}, "neither was given"), ({"code": "a.py:Net", "model_name": "mlp"}, "not both")]
)
def test_an_import_names_one_architecture(tmp_path, given, fragment):
    with pytest.raises(ImportProblem, match=f"give --code FILE:CLASS .* or --model NAME .*: {fragment}"):
        import_model("mnist", tmp_path / "w.pt", checkpoints=tmp_path / "runs", **given)


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        (lambda: torch.eye(3).to_sparse(), "a sparse tensor (torch.sparse_coo)"),
        (lambda: torch.quantize_per_tensor(torch.rand(3), 0.1, 0, torch.quint8), "a quantized tensor"),
        (lambda: torch.empty(3, device="meta"), "a meta tensor, which holds no values"),
        (lambda: torch.zeros(3, dtype=torch.complex64), "a complex tensor"),
        (lambda: torch.nested.nested_tensor([torch.zeros(2), torch.zeros(3)]), "a nested tensor"),
    ],
)
def test_tensors_a_plain_model_cant_hold_are_named(tmp_path, make, fragment):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch's notes on quantized tensors' future
        torch.save({"conv.weight": make()}, tmp_path / "odd.pt")
    with pytest.raises(ImportProblem, match=re.escape(f"odd.pt: 'conv.weight' is {fragment}; save the model's")):
        read_state_dict(tmp_path / "odd.pt")


@pytest.mark.parametrize("key", ["model_state_dict", "state_dict"])
def test_a_training_checkpoint_dict_gives_its_model_weights(tmp_path, key):
    # The PyTorch tutorials' "saving a general checkpoint": the weights beside the optimizer's state and the epoch.
    model = create_model("pytorch-examples-mnist")
    optimizer = torch.optim.Adadelta(model.parameters(), lr=1.0)
    checkpoint = {"epoch": 3, key: model.state_dict(), "optimizer_state_dict": optimizer.state_dict(), "loss": 0.1}
    torch.save(checkpoint, tmp_path / "checkpoint.pt")
    weights = read_state_dict(tmp_path / "checkpoint.pt")
    assert weights.keys() == model.state_dict().keys()
    assert all(torch.equal(weights[name], value) for name, value in model.state_dict().items())


def test_weights_for_another_registered_architecture_name_the_one_they_fit(user_files, tmp_path):
    torch.save(create_model("pytorch-examples-mnist").state_dict(), tmp_path / "mnist_cnn.pt")
    with pytest.raises(ImportProblem, match="the architecture 4 .*; the weights fit pytorch-examples-mnist$"):
        import_model(
            "mnist",
            tmp_path / "mnist_cnn.pt",
            model_name="mlp",
            checkpoints=tmp_path / "runs",
            data_dir=user_files / "data",
        )
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").iterdir())


def test_an_import_killed_while_it_evaluates_leaves_nothing(user_files, tmp_path, monkeypatch):
    import core.external

    def killed(*_args, **_kwargs):
        os.kill(os.getpid(), signal.SIGTERM)  # as `kill PID` would, while the run folder exists
        time.sleep(5)

    monkeypatch.setattr(core.external, "keep_model", killed)
    before = signal.getsignal(signal.SIGTERM)
    args = ["import", "--dataset", "mnist", "--weights", str(user_files / "mnist_cnn.pt")]
    args += ["--code", f"{user_files / 'code' / 'user_model.py'}:TinyNet", *store_args(user_files)[:2]]
    with pytest.raises(KeyboardInterrupt):
        main([*args, "--checkpoints", str(tmp_path / "runs"), "--run-id", "killed"])
    assert not (tmp_path / "runs" / "killed").exists()
    assert signal.getsignal(signal.SIGTERM) == before


def test_an_import_evaluating_for_longer_than_the_stale_limit_stays_running(user_files, tmp_path, monkeypatch):
    import core.external
    import core.runs

    monkeypatch.setattr(core.runs, "STALE_AFTER_S", 0.6)
    monkeypatch.setattr(core.runs, "HEARTBEAT_EVERY_S", 0.1)
    evaluate = core.external.evaluate_loss_accuracy
    seen = []

    def slow_evaluation(*args, **kwargs):  # a large model on a slow machine
        time.sleep(1.5)
        seen.append(load_run(tmp_path / "runs" / "slow").status().state)
        return evaluate(*args, **kwargs)

    monkeypatch.setattr(core.external, "evaluate_loss_accuracy", slow_evaluation)
    import_model(
        "mnist",
        user_files / "mnist_cnn.pt",
        code=f"{user_files / 'code' / 'user_model.py'}:TinyNet",
        run_id="slow",
        checkpoints=tmp_path / "runs",
        data_dir=user_files / "data",
    )
    assert seen == ["running"]
    assert load_run(tmp_path / "runs" / "slow").status().state == "completed"


@pytest.mark.parametrize(
    ("layers", "forward", "width", "scores"),
    [
        ("self.conv = nn.Conv2d(1, 10, 28)", "return self.conv(x).flatten(1)", 10, True),  # no Linear: the scores
        ("self.fc = nn.Linear(784, 10)", "return self.fc(input=x.flatten(1))", 10, True),  # called by keyword
        (  # the last Linear works on a learned constant: the last one that sees a row per image
            "self.fc = nn.Linear(784, 10)\n        self.bias = nn.Linear(4, 10)\n        self.one = nn.Parameter("
            "torch.ones(1, 4))",
            "return self.fc(x.flatten(1)) + self.bias(self.one)",
            784,
            False,
        ),
    ],
)
def test_features_are_one_row_per_image_whatever_the_head(
    user_files, tmp_path, monkeypatch, layers, forward, width, scores
):
    (tmp_path / "head.py").write_text(
        "import torch\nimport torch.nn as nn\n\n\nclass Head(nn.Module):\n    def __init__(self):\n"
        f"        super().__init__()\n        {layers}\n\n    def forward(self, x):\n        {forward}\n"
    )
    torch.save(load_user_class(f"{tmp_path / 'head.py'}:Head").state_dict(), tmp_path / "w.pt")
    run = import_model(
        "mnist",
        tmp_path / "w.pt",
        code=f"{tmp_path / 'head.py'}:Head",
        checkpoints=tmp_path / "runs",
        data_dir=user_files / "data",
    )
    model, seen = run.load_model(), []
    model.feature_tap.register_forward_hook(lambda _module, inputs, _output: seen.append(inputs[0]))
    model(torch.zeros(3, 1, 28, 28))
    assert seen[0].shape == (3, width)
    assert model.features_are_scores == scores
    if scores:  # the embedding map says what it is a map of, not a layer the model hasn't got
        at = page_of(monkeypatch, user_files / "data", tmp_path / "runs", run.id, "embedding.py")
        captions = [caption.value for caption in at.caption]
        assert any("placed by its class scores" in caption for caption in captions), captions


def test_registered_architecture_by_name_and_by_order(tmp_path):
    """The tutorial's layer names load by name into its registered twin, and a renamed state_dict by order."""
    sys.path.insert(0, str(PROJECT_ROOT))
    twin = create_model("pytorch-examples-mnist")
    fit_state_dict(twin, {name: torch.randn_like(value) for name, value in twin.state_dict().items()})
    target = create_model("two-conv-dropout")
    renamed = {f"layer{i}": torch.randn_like(v) for i, v in enumerate(target.state_dict().values())}
    fit_state_dict(target, renamed)
    assert torch.equal(target.state_dict()["0.weight"], renamed["layer0"])
    with pytest.raises(ValueError, match="the weights hold 2 tensors, the architecture 8"):
        fit_state_dict(target, {"a": torch.zeros(1), "b": torch.zeros(1)})
    path = tmp_path / "w.safetensors"
    from safetensors.torch import save_file

    save_file({name: value.contiguous() for name, value in twin.state_dict().items()}, path)
    assert set(read_state_dict(path)) == set(twin.state_dict())


LOOP = """
import sys, time
import torch
sys.path.insert(0, {project!r})
import core
from core.data import load_dataset

data = load_dataset("mnist", {data!r})
model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 10))
with core.log_run(dataset="mnist", name={name!r}, config={{"lr": 0.1}}, checkpoints={runs!r}, data_dir={data!r}) as run:
    for epoch in (1, 2):
        run.log_batch(1.0 / epoch, examples=64)
        run.log_epoch(epoch, train_loss=1.0 / epoch, val_accuracy=0.5 + epoch / 10, sharpness=epoch * 2.0)
    if {mode!r} == "raise":
        raise RuntimeError("my loop broke")
    if {mode!r} == "hang":
        print("ready", flush=True)
        time.sleep(600)
    print(run.finish(model))
"""


def run_loop(root: Path, name: str, mode: str) -> subprocess.Popen:
    script = LOOP.format(
        project=str(PROJECT_ROOT), data=str(root / "data"), runs=str(root / "runs"), name=name, mode=mode
    )
    return subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_log_run_from_a_users_loop(user_files, capsys):
    process = run_loop(user_files, "looped", "finish")
    out, err = process.communicate(timeout=300)
    assert process.returncode == 0, err
    run = load_run("looped", user_files / "runs")
    assert run.status().state == "completed" and run.status().test_accuracy == pytest.approx(float(out.strip()))
    assert [record["epoch"] for record in run.history()] == [1, 2]
    assert run.history()[1]["sharpness"] == 4.0 and run.config.source["hyperparameters"] == {"lr": 0.1}
    assert run.config.model == "Sequential" and run.load_model().differentiable is False
    assert main(["curves", "looped", "--json", "--checkpoints", str(user_files / "runs")]) == 0
    assert json.loads(capsys.readouterr().out)["kept_epoch"] == 2
    assert main(["curves", "looped", "--checkpoints", str(user_files / "runs")]) == 0
    assert "* the kept epoch (the model given, after the last epoch logged)" in capsys.readouterr().out


def test_log_run_reads_an_accuracy_in_percent_as_a_fraction_and_says_so(user_files):
    import core

    store = user_files / "percent-runs"
    with (
        pytest.warns(UserWarning, match=r"val_accuracy=97 read as 97% \(0.97\)"),
        core.log_run(dataset="mnist", name="percent", checkpoints=store, data_dir=user_files / "data") as run,
    ):
        run.log_epoch(1, val_loss=0.1, val_accuracy=97.0)  # the tutorials' test(): 100. * correct / len
        run.log_epoch(2, val_loss=0.1, val_accuracy=98.5, train_accuracy=0.9)
        with pytest.raises(ConfigError, match="val_accuracy is 250.0: an accuracy is a fraction"):
            run.log_epoch(3, val_accuracy=250.0)
    history = load_run("percent", store).history()
    assert [record["val_accuracy"] for record in history] == pytest.approx([0.97, 0.985])
    assert history[1]["train_accuracy"] == 0.9


def test_a_loop_stopped_before_finish_says_so_rather_than_offering_evaluate(user_files, capsys):
    import core
    from core.runs import RunError

    store = user_files / "stopped-runs"
    with (
        pytest.raises(RuntimeError),
        core.log_run(dataset="mnist", name="stopped", checkpoints=store, data_dir=user_files / "data") as run,
    ):
        run.log_epoch(1, val_loss=0.5, val_accuracy=0.8)
        raise RuntimeError("stopped")
    stopped = load_run("stopped", store)
    for read in (stopped.load_predictions, stopped.load_model):
        with pytest.raises(RunError, match=r"its loop stopped before run.finish\(model\)"):
            read()
    assert main(["evaluate", "stopped", "--checkpoints", str(store), "--data-dir", str(user_files / "data")]) == 1
    assert "its loop stopped before run.finish(model)" in capsys.readouterr().err


def test_the_draw_page_says_a_run_without_a_model_has_none_before_any_drawing(user_files, monkeypatch):

    import core

    store = user_files / "curves-only"
    with core.log_run(dataset="mnist", name="curves", checkpoints=store, data_dir=user_files / "data") as run:
        run.log_epoch(1, train_loss=0.5)  # no finish(model): the curves alone
    (listed,) = list_runs(store)
    assert (listed.state, listed.error) == (
        "completed",
        "no model: its loop stopped before run.finish(model), which evaluates the model and keeps it",
    )
    at = page_of(monkeypatch, user_files / "data", store, "curves", "draw.py")
    assert not at.exception
    said = [block.value.replace("\\", "") for block in at.info]  # as shown: markdown's escapes gone
    assert any("curves has no model to classify with: its loop stopped before run.finish(model)" in s for s in said)
    assert not at.tabs  # no canvas to draw on


def test_a_loop_logging_the_tutorials_test_figures_is_drawn_as_the_test_split(user_files, monkeypatch, capsys):
    # The tutorials' loop: test() each epoch, in percent, and no batch losses.

    import core

    store = user_files / "tutorial-loop"
    with (
        pytest.warns(UserWarning, match="read as"),
        core.log_run(dataset="mnist", name="tutorial", checkpoints=store, data_dir=user_files / "data") as run,
    ):
        for epoch, (loss, correct) in enumerate([(0.22, 93.04), (0.14, 96.02)], start=1):
            run.log_epoch(epoch, test_loss=loss, test_accuracy=correct)
    assert all("examples_seen" not in record for record in load_run("tutorial", store).history())
    assert main(["curves", "tutorial", "--checkpoints", str(store)]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].split() == ["epoch", "test", "loss", "test", "acc"]
    assert printed[2].split() == ["2", "0.1400", "96.02%"]  # no model given: no kept epoch to mark

    at = page_of(monkeypatch, user_files / "data", store, "tutorial", "curves.py")
    assert not at.exception
    assert at.segmented_control(key="curves_metric").options == ["loss", "accuracy"]
    assert at.segmented_control(key="curves_x").options == ["epoch"]  # no batches counted, no examples axis
    assert any(caption.value.startswith("Dotted: test.") for caption in at.caption)


def test_a_history_that_counted_no_examples_has_no_examples_axis():
    frame = history_frame([{"epoch": 1, "examples_seen": 0}, {"epoch": 2, "examples_seen": 0}])
    assert progress(frame)["examples_seen"].isna().all()
    counted = history_frame([{"epoch": 1, "examples_seen": 0}, {"epoch": 2, "examples_seen": 64}])
    assert progress(counted)["examples_seen"].tolist() == [0, 64]


def test_a_loops_own_metric_names_are_plain_words_and_few_and_long_histories_are_thinned():
    from core.history import MAX_LOGGED_METRICS, curve_rows, drawn_epochs, other_metrics

    record = {"epoch": 1, "sharpness": 1.0, "![h](http://127.0.0.1:9/h.png)": 0.5, "[x](http://x)": 0.1}
    record |= {f"m{number}": 0.0 for number in range(100)}
    assert other_metrics(history_frame([record])) == ["sharpness", *[f"m{n}" for n in range(MAX_LOGGED_METRICS - 1)]]
    frame = history_frame([{"epoch": e, "val_loss": 1 / e, "seconds": 1.0} for e in range(1, 10_001)])
    drawn = curve_rows("long", frame)
    assert len(drawn) == 2_000 and drawn["epoch"].iloc[[0, -1]].tolist() == [1, 10_000]
    assert drawn["elapsed"].iloc[-1] == 10_000.0  # summed over every epoch, not the drawn ones
    assert len(drawn_epochs(frame, 50)) == 50


def test_log_runs_warnings_name_the_line_of_your_loop(user_files):
    import core

    store = user_files / "warned-runs"
    with (
        pytest.warns(UserWarning) as warned,
        core.log_run(dataset="mnist", name="warned", checkpoints=store, data_dir=user_files / "data") as run,
    ):
        run.log_epoch(1, test_accuracy=93.0)  # the tutorials' percent
    with (
        pytest.warns(UserWarning) as named_twice,
        core.log_run(dataset="mnist", name="warned", checkpoints=store, data_dir=user_files / "data"),
    ):
        pass
    assert [Path(w.filename).name for w in [*warned, *named_twice]] == ["test_external.py"] * 2


def test_a_model_ending_in_softmax_keeps_its_own_probabilities(user_files):
    # Read as logits, its probabilities were softmaxed again: every confidence near 1/10.
    import core

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 10), torch.nn.Softmax(dim=1))
    with torch.no_grad():
        model[1].weight.mul_(40)  # confident answers, as a trained model gives
    store = user_files / "softmax-runs"
    with (
        core.log_run(dataset="mnist", name="soft", checkpoints=store, data_dir=user_files / "data") as run,
        pytest.warns(UserWarning, match="close to guessing"),  # random weights, confident or not
    ):
        run.finish(model)
    stored = load_run("soft", store)
    assert stored.config.source["output"] == "probs"
    data = load_dataset("mnist", user_files / "data")
    with torch.no_grad():
        expected = model(((data.test.images.float() / 255 - 0.1307) / 0.3081).unsqueeze(1)).numpy()
    assert expected.max(axis=1).mean() > 0.5
    np.testing.assert_allclose(stored.load_predictions().probs, expected, atol=1e-5)


def test_log_run_says_when_its_name_is_taken(user_files):
    import core

    store = user_files / "taken-runs"
    with core.log_run(dataset="mnist", name="my-net", checkpoints=store, data_dir=user_files / "data"):
        pass
    with (
        pytest.warns(UserWarning, match="a run named my-net exists already: this one is my-net-2"),
        core.log_run(dataset="mnist", name="my-net", checkpoints=store, data_dir=user_files / "data") as run,
    ):
        assert run.run.id == "my-net-2"


def test_weights_that_only_guess_or_a_taken_name_are_imported_with_a_warning(user_files, tmp_path):
    net = user_class(user_files / "code")()
    net.load_state_dict(torch.load(user_files / "mnist_cnn.pt", weights_only=True))
    with torch.no_grad():  # one answer whatever the image, as another dataset's weights come close to
        net.head.weight.zero_()
        net.head.bias.copy_(torch.arange(10.0))
    torch.save(net.state_dict(), tmp_path / "guessing.pt")
    code = f"{user_files / 'code' / 'user_model.py'}:TinyNet"
    args = ["--dataset", "mnist", "--code", code, *store_args(user_files)[:2], "--checkpoints", str(tmp_path)]
    args += ["--run-id", "mine"]
    guessing = cli("import", "--weights", str(tmp_path / "guessing.pt"), *args)
    assert guessing.returncode == 0, guessing.stderr
    assert "is close to guessing (10% for 10 classes)" in guessing.stderr
    assert "trained on another dataset than mnist" in guessing.stderr
    trained = cli("import", "--weights", str(user_files / "mnist_cnn.pt"), *args)
    assert trained.returncode == 0 and "guessing" not in trained.stderr, trained.stderr
    assert "warning: a run named mine exists already: this one is mine-2" in trained.stderr  # never overwritten


def test_log_run_marks_an_exception_failed_and_a_kill_interrupted(user_files):
    failing = run_loop(user_files, "broken-loop", "raise")
    _, err = failing.communicate(timeout=300)
    assert failing.returncode != 0 and "my loop broke" in err
    status = load_run("broken-loop", user_files / "runs").status()
    assert status.state == "failed" and status.error == "RuntimeError: my loop broke"

    hanging = run_loop(user_files, "killed-loop", "hang")
    assert hanging.stdout.readline().strip() == "ready"
    assert load_run("killed-loop", user_files / "runs").status().state == "running"
    os.kill(hanging.pid, signal.SIGKILL)
    hanging.wait(timeout=30)
    deadline = time.monotonic() + 10
    while pid_alive(hanging.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    run = load_run("killed-loop", user_files / "runs")
    assert run.status().state == "interrupted" and len(run.history()) == 2


def test_a_registered_architecture_imports_from_the_command_line(user_files, tmp_path, capsys):
    """--model: a tutorial's layer names (conv1, conv2, fc) in a safetensors file, matched to the registry's."""
    from safetensors.torch import save_file

    torch.manual_seed(0)
    model = create_model("fashion-two-conv")
    names = [f"{layer}.{kind}" for layer in ("conv1", "conv2", "fc") for kind in ("weight", "bias")]
    renamed = {name: value.contiguous() for name, value in zip(names, model.state_dict().values(), strict=True)}
    save_file(renamed, tmp_path / "weights.safetensors")
    paths = ["--data-dir", str(user_files / "data"), "--checkpoints", str(tmp_path / "runs")]
    argv = ["import", "--dataset", "mnist", "--weights", str(tmp_path / "weights.safetensors"), "--model"]
    assert main([*argv, "fashion-two-conv", "--run-id", "registered", *paths]) == 0, capsys.readouterr().err
    run = load_run("registered", tmp_path / "runs")
    assert run.model_file.name == "model.safetensors" and getattr(run.load_model(), "differentiable", True)
    assert run.config.source["output"] == "logits" and run.config.imported
    assert torch.equal(run.load_model().state_dict()["0.weight"], model.state_dict()["0.weight"])


@pytest.mark.parametrize("entry", [e for e in __import__("dashboard.pages").pages.PAGES], ids=lambda e: e.file)
def test_every_page_shows_an_imported_run_with_its_code_gone(imported, monkeypatch, entry):
    from streamlit.testing.v1 import AppTest

    root, _ = imported
    code = root / "code" / "user_model.py"
    monkeypatch.setenv("DATA_DIR", str(root / "data"))
    monkeypatch.setenv("CHECKPOINTS_DIR", str(root / "runs"))
    code.rename(code.with_suffix(".gone"))
    try:
        at = AppTest.from_file(str(PROJECT_ROOT / "dashboard" / "app.py"), default_timeout=120)
        at.query_params["dataset"], at.query_params["run"] = "mnist", "mine"
        at.run()
        at.switch_page(entry.script)
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        assert at.selectbox(key="run").value == "mine"
        if entry.file == "errors.py":
            assert at.segmented_control(key="attribution").options == ["Occlusion"]
            assert any("only Occlusion can explain it" in caption.value for caption in at.caption)
        if entry.file == "model_card.py":
            assert any("Imported from mnist_cnn.pt with your class user_model.py:TinyNet" in t.value for t in at.text)
    finally:
        code.with_suffix(".gone").rename(code)


def test_the_import_page_says_what_it_needs(imported, monkeypatch):
    from streamlit.testing.v1 import AppTest

    root, _ = imported
    monkeypatch.setenv("DATA_DIR", str(root / "data"))
    monkeypatch.setenv("CHECKPOINTS_DIR", str(root / "runs"))
    at = AppTest.from_file(str(PROJECT_ROOT / "dashboard" / "app.py"), default_timeout=60)
    at.run()
    at.switch_page("app_pages/import_model.py")
    at.run()
    assert not at.exception
    assert any("Upload its `mnist_cnn.pt` here" in block.value for block in at.markdown)
    assert [block.value for block in at.code] == [
        "python -m core import --dataset mnist --weights my_model.pt --code my_model.py:Net"
    ]
    at.button[0].click().run()  # Import without a file
    assert any("Choose a weights file first" in error.value for error in at.error)


def test_model_auto_finds_the_registered_architecture_the_weights_fit(user_files, tmp_path, capsys):
    torch.save(create_model("pytorch-examples-mnist").state_dict(), tmp_path / "mnist_cnn.pt")
    paths = ["--data-dir", str(user_files / "data"), "--checkpoints", str(tmp_path / "runs")]
    argv = ["import", "--dataset", "mnist", "--weights", str(tmp_path / "mnist_cnn.pt"), "--model", "auto"]
    assert main([*argv, "--run-id", "found", *paths]) == 0, capsys.readouterr().err
    assert load_run("found", tmp_path / "runs").config.model == "pytorch-examples-mnist"
    torch.save({"odd.weight": torch.zeros(3, 5)}, tmp_path / "odd.pt")
    argv[4] = str(tmp_path / "odd.pt")
    assert main([*argv, *paths]) == 2
    assert "fit no registered architecture; your own class can read them" in capsys.readouterr().err


def test_an_import_tells_each_step_as_it_begins(user_files, tmp_path):
    torch.save(create_model("pytorch-examples-mnist").state_dict(), tmp_path / "mnist_cnn.pt")
    steps = []
    import_model(
        "mnist",
        tmp_path / "mnist_cnn.pt",
        model_name="auto",
        checkpoints=tmp_path / "runs",
        data_dir=user_files / "data",
        progress=steps.append,
    )
    data = load_dataset("mnist", user_files / "data")
    assert steps == [
        "Reading the dataset and the weights",
        "Finding the architecture they fit",
        f"Evaluating it on the {len(data.val):,} validation images",
        f"Predicting the {len(data.test):,} test images",
    ]


def test_inputs_standardised_the_users_way(user_files, tmp_path, capsys):
    """--normalize MEAN STD is recorded and used for every prediction of the run."""
    torch.manual_seed(1)
    model = create_model("mlp").eval()
    torch.save(model.state_dict(), tmp_path / "mlp.pt")
    paths = ["--data-dir", str(user_files / "data"), "--checkpoints", str(tmp_path / "runs")]
    argv = ["import", "--dataset", "mnist", "--weights", str(tmp_path / "mlp.pt"), "--model", "mlp"]
    assert main([*argv, "--normalize", "0.5", "0.25", "--run-id", "halves", *paths]) == 0, capsys.readouterr().err
    run = load_run("halves", tmp_path / "runs")
    assert (run.config.mean, run.config.std) == (0.5, 0.25)
    images = load_dataset("mnist", user_files / "data").test.images
    with torch.no_grad():
        expected = torch.softmax(model(((images.float() / 255 - 0.5) / 0.25).unsqueeze(1)), dim=1).numpy()
    assert np.allclose(run.load_predictions().probs, expected, atol=1e-5)


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (
            bytes(range(7, 256)) * 16,
            "mnist_cnn.pt is not a file torch.save wrote (neither its zip archive nor a pickle)",
        ),
        (b"not a model at all", "mnist_cnn.pt is not a file torch.save wrote"),
        (b"PK\x03\x04 damaged", "mnist_cnn.pt is not a readable torch file"),
    ],
)
def test_a_file_that_is_not_torchs_says_so_by_its_own_name(tmp_path, content, fragment):
    weights = tmp_path / "mnist_cnn.pt"
    weights.write_bytes(content)
    with pytest.raises(ImportProblem) as raised:
        import_model("mnist", weights, model_name="pytorch-examples-mnist", checkpoints=tmp_path / "runs")
    assert fragment in str(raised.value) and "holds more than tensors" not in str(raised.value)
