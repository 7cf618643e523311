"""One odd file in a run folder makes that run unreadable with its reason — never a hang, an exhausted
memory or a crash of the listing, the CLI or a page. Each case here hung, exhausted or crashed before."""

from __future__ import annotations

import io
import json
import os
import shutil
import threading
import zipfile

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from core.cli import main
from core.data import PROJECT_ROOT
from core.runs import (
    HISTORY_FILE,
    PREDICTIONS_FILE,
    STATUS_FILE,
    WEIGHTS_FILE,
    Run,
    RunError,
    list_runs,
    load_run,
)
from tests.test_runs import completed_run

APP = str(PROJECT_ROOT / "dashboard" / "app.py")


def fifo(path):
    path.unlink(missing_ok=True)
    os.mkfifo(path)


def link_to_dev_zero(path):
    path.unlink(missing_ok=True)
    path.symlink_to("/dev/zero")


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def npz_bytes(**arrays) -> bytes:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()


def zip_bomb(path):
    """4 MB on disk that inflates to 512 MB and more: zeros compress almost to nothing."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False, "shape": (150_000_000, 1)})
    with (
        zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive,
        archive.open("probs.npy", "w", force_zip64=True) as member,
    ):
        member.write(header.getvalue())
        chunk = bytes(2**24)
        for _ in range(36):  # 600 MB of zeros
            member.write(chunk)


def lying_header(path):
    """A header that claims 37 GiB; a naive reader allocates before it notices the data is missing."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False, "shape": (10**9, 10)})
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("probs.npy", header.getvalue() + bytes(64))


def predictions(**changes):
    def write(path):
        arrays = {
            "probs": np.full((6, 10), 0.1, dtype=np.float32),
            "labels": np.arange(6) % 10,
            "indices": np.arange(6),
            **changes,
        }
        path.write_bytes(npz_bytes(**arrays))

    return write


DAMAGE = {
    "history is a FIFO": (HISTORY_FILE, fifo, "not a regular file"),
    "status is a FIFO": (STATUS_FILE, fifo, "not a regular file"),
    "history links to /dev/zero": (HISTORY_FILE, link_to_dev_zero, "not a regular file"),
    "weights link to /dev/zero": (WEIGHTS_FILE, link_to_dev_zero, "not a regular file"),
    "config nested 100,000 deep": ("config.json", lambda p: p.write_text(nested(100_000)), "nested too deeply"),
    "status nested 100,000 deep": (STATUS_FILE, lambda p: p.write_text(nested(100_000)), "nested too deeply"),
    "history nested 100,000 deep": (HISTORY_FILE, lambda p: p.write_text(nested(100_000)), "nested too deeply"),
    "a 40 MB history": (HISTORY_FILE, lambda p: p.write_bytes(b"\n" * (40 * 2**20)), "over its limit"),
    "created is a number": ("config.json", "created", 5, "created must be a date"),
    "epochs is a word": ("config.json", "epochs", "two", "epochs must be a whole number"),
    "classes is a number": ("config.json", "classes", 10, "classes must be a list of names"),
    "model is a list": ("config.json", "model", ["a"], "model must be a name"),
    "mean is text": ("config.json", "mean", "x", "mean must be a number"),
    "model is markdown": ("config.json", "model", "![x](http://127.0.0.1:9/x.png)", "is not a plain name"),
    "a class is a link": ("config.json", "classes", ["[Session expired: sign in](http://x)", *"123456789"], "plain"),
    "two classes share a name": ("config.json", "classes", ["0", "0", *"23456789"], "name each class once"),
    "a class is a bare link": ("config.json", "classes", ["www.evil.example", *"123456789"], "not a plain name"),
    "a class is a list item": ("config.json", "classes", ["- x", *"123456789"], "not a plain name"),
    "a class is emphasis": ("config.json", "classes", ["_x_", *"123456789"], "not a plain name"),
    "a class is quoted emphasis": ("config.json", "classes", ["'_x_'", *"123456789"], "not a plain name"),
    "a class links after _": ("config.json", "classes", ["Zero_www.evil.example", *"123456789"], "not a plain name"),
    "test accuracy is text": (STATUS_FILE, "test_accuracy", "99%", "test_accuracy is '99%', not a number"),
    "a val_loss of 'a'": (HISTORY_FILE, lambda p: p.write_text('{"epoch": 1, "val_loss": "a"}\n'), "val_loss is 'a'"),
    "a test_accuracy of 'abc'": (
        HISTORY_FILE,
        lambda p: p.write_text('{"epoch": 1, "test_accuracy": "abc"}\n'),
        "test_accuracy is 'abc'",
    ),
    "a zip bomb of predictions": (PREDICTIONS_FILE, zip_bomb, "inflates to"),
    "a header claiming 37 GiB": (PREDICTIONS_FILE, lying_header, "claims a shape"),
    "negative image indices": (PREDICTIONS_FILE, predictions(indices=-np.arange(1, 7)), "negative image indices"),
    "indices near 2⁶⁴": (
        PREDICTIONS_FILE,
        predictions(indices=np.uint64(2**64 - 7) + np.arange(6, dtype=np.uint64)),
        "past any",
    ),
    "NaN probabilities": (PREDICTIONS_FILE, predictions(probs=np.full((6, 10), np.nan, np.float32)), "not finite"),
    # Python's reader takes NaN, which no writer here will write back: a heartbeat died on it.
    "status holds NaN": (STATUS_FILE, lambda p: p.write_text('{"state": "completed", "x": NaN}'), "holds NaN"),
    # Python reads no integer of over 4,300 digits (a ValueError that isn't a JSONDecodeError).
    "config with a 5,000-digit number": ("config.json", lambda p: long_number(p, "epochs"), "number too long to read"),
    "status with a 5,000-digit number": (STATUS_FILE, lambda p: long_number(p, "epoch"), "number too long to read"),
    "history with a 5,000-digit number": (
        HISTORY_FILE,
        lambda p: p.write_text('{"epoch": ' + "9" * 5000 + "}\n"),
        "holds a number too long to read",
    ),
    "no predictions at all": (
        PREDICTIONS_FILE,
        predictions(probs=np.zeros((0, 10), np.float32), labels=np.zeros(0, int), indices=np.zeros(0, int)),
        "holds no predictions",
    ),
}


def make_damaged_store(trained_store, root):
    """Every damage above, each in its own copy of a real run, beside the good run (the newest)."""
    _, trained = trained_store
    good = root / "good"
    shutil.copytree(trained / "mnist-tiny", good)
    config = json.loads((good / "config.json").read_text())
    (good / "config.json").write_text(json.dumps({**config, "created": "2999-01-01T00:00:00"}))
    for number, case in enumerate(DAMAGE):
        shutil.copytree(trained / "mnist-tiny", root / f"damaged-{number:02d}")
        damage(Run(root / f"damaged-{number:02d}"), case)
    return root


def long_number(path, key: str) -> None:
    """The JSON file with ``key`` set to a number of 5,000 digits."""
    text = json.dumps({**json.loads(path.read_text()), key: "LONG"})
    path.write_text(text.replace('"LONG"', "9" * 5000))


def damage(run, case: str) -> str:
    """Damage ``run`` as the case says; return the fragment its reason must contain."""
    name, *how, fragment = DAMAGE[case]
    path = run.path / name
    if len(how) == 1:
        how[0](path)
    else:  # a field of a JSON file set to an odd value
        key, value = how
        values = json.loads(path.read_text())
        path.write_text(json.dumps({**values, key: value}))
    return fragment


def read_everything(run) -> None:
    """What the listing, the pages and the CLI read of a run."""
    load_run(run.path)
    run.history()
    run.load_predictions()
    run.load_model()


def within(seconds: float, work) -> object:
    """``work()``'s outcome (its value or its exception), failing the test if it takes longer (a hang)."""
    outcome: dict = {}

    def run() -> None:
        try:
            outcome["value"] = work()
        except BaseException as error:  # handed to the test
            outcome["error"] = error

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(seconds)
    assert not worker.is_alive(), f"still running after {seconds} s: it hangs"
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


@pytest.mark.parametrize("case", list(DAMAGE))
def test_one_odd_file_makes_its_run_unreadable_with_the_reason(tmp_path, case):
    good, _ = completed_run(tmp_path, "good")
    bad, _ = completed_run(tmp_path, "bad")
    fragment = damage(bad, case)
    with pytest.raises(RunError, match=fragment.replace("(", r"\(")):
        within(30, lambda: read_everything(load_run("bad", tmp_path)))
    summaries = {summary.id: summary for summary in within(30, lambda: list_runs(tmp_path))}
    assert summaries["good"].state == "completed" and summaries["good"].test_accuracy == pytest.approx(5 / 6)
    if summaries["bad"].state == "unreadable":
        assert fragment in summaries["bad"].error
    read_everything(good)


@pytest.mark.parametrize(
    ("case", "verb"),
    [("history is a FIFO", "curves"), ("test accuracy is text", "curves"), ("a zip bomb of predictions", "confusion")],
)
def test_the_cli_and_every_page_stay_up_beside_a_damaged_run(tmp_path, monkeypatch, capsys, case, verb):
    completed_run(tmp_path, "good")
    bad, _ = completed_run(tmp_path, "bad")
    damage(bad, case)
    assert main(["runs", "--checkpoints", str(tmp_path)]) == 0
    assert "good" in capsys.readouterr().out
    assert within(30, lambda: main([verb, "bad", "--checkpoints", str(tmp_path)])) == 1
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
    monkeypatch.setenv("CHECKPOINTS_DIR", str(tmp_path))
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "no-data"))
    from dashboard.pages import PAGES

    for entry in PAGES:
        at = AppTest.from_file(APP, default_timeout=60)
        at.query_params["dataset"], at.query_params["run"] = "mnist", "bad"
        at.run()
        at.switch_page(entry.script)
        at.run()
        assert not at.exception, (entry.file, [e.value for e in at.exception])


def test_text_from_disk_is_shown_as_written_never_as_markdown():
    import markdown  # Python-Markdown (TensorBoard's dependency), as an independent renderer

    from dashboard.text import plain

    hostile = "![x](http://127.0.0.1:9/x.png) [sign in again](http://x) **bold** :red[alarm] $x^2$ <b>"
    html = markdown.markdown(plain(hostile))
    assert "<img" not in html and "<a " not in html and "<strong>" not in html and "<b>" not in html
    assert "sign in again" in html and "red" in html


WRITER = """
import sys
sys.path.insert(0, {project!r})
from pathlib import Path
from core.analysis import LabelReviews

reviews = LabelReviews(Path({path!r}))
for index in range({first}, {first} + 200):
    reviews.mark("test", index, "wrong")
"""


def test_two_processes_marking_at_once_keep_every_verdict(tmp_path):
    import subprocess
    import sys

    from core.analysis import LabelReviews

    path = tmp_path / "MNIST" / "label-reviews.json"
    writers = [
        subprocess.Popen([sys.executable, "-c", WRITER.format(project=str(PROJECT_ROOT), path=str(path), first=first)])
        for first in (0, 1000)
    ]
    assert [writer.wait(timeout=120) for writer in writers] == [0, 0]
    assert len(LabelReviews(path).load()["test"]) == 400  # last writer wins lost about 190 of these


def test_verdicts_can_be_scripted(trained_store, capsys):
    from core.analysis import LabelReviews

    data_dir, checkpoints = trained_store
    store = ["--checkpoints", str(checkpoints), "--data-dir", str(data_dir)]
    assert main(["label-issues", "mnist-tiny", "--mark", "12=wrong", "--mark", "40=fine", *store]) == 0
    reviews = LabelReviews(data_dir / "MNIST" / "label-reviews.json")
    marks = reviews.load()["test"]  # other tests share this store and may have marked others
    assert (marks["12"], marks["40"]) == ("wrong", "fine")
    assert main(["label-issues", "mnist-tiny", "--mark", "12=clear", *store]) == 0
    assert "12" not in reviews.load()["test"] and reviews.load()["test"]["40"] == "fine"
    assert main(["label-issues", "mnist-tiny", "--mark", "12=maybe", *store]) == 2
    assert "--mark takes INDEX=wrong" in capsys.readouterr().err
    reviews.mark("test", 40, None)


def test_the_whole_damaged_store_on_the_cli(damaged_store, capsys):
    _, root = damaged_store
    assert within(60, lambda: main(["runs", "--checkpoints", str(root)])) == 0
    listing = capsys.readouterr().out
    assert all(f"damaged-{number:02d}" in listing for number in range(len(DAMAGE))) and "good" in listing
    for number in range(len(DAMAGE)):
        for verb in ("curves", "confusion", "errors", "card"):
            argv = [verb, f"damaged-{number:02d}", "--checkpoints", str(root)]
            code = within(60, lambda argv=argv: main(argv))
            error = capsys.readouterr().err.strip()
            assert code in (0, 1) and len(error.splitlines()) <= 1, (verb, list(DAMAGE)[number], error)


def test_every_page_opens_the_good_run_beside_the_whole_damaged_store(damaged_store, monkeypatch):
    data_dir, root = damaged_store
    monkeypatch.setenv("CHECKPOINTS_DIR", str(root))
    monkeypatch.setenv("DATA_DIR", str(data_dir))
    from dashboard.pages import PAGES

    for entry in PAGES:
        at = AppTest.from_file(APP, default_timeout=60)
        at.query_params["dataset"] = "mnist"
        at.run()
        at.switch_page(entry.script)
        at.run()
        assert not at.exception, (entry.file, [e.value for e in at.exception])
        assert at.session_state["run"] == "good", entry.file
    unreadable = [s for s in list_runs(root) if s.state == "unreadable"]
    assert len(unreadable) >= 15 and all(s.error for s in unreadable)


@pytest.mark.parametrize("name", ["with space", "ünïcödé", "x" * 140, "outside-link"])
def test_a_folder_the_store_cannot_open_is_listed_unreadable_and_never_chosen(tmp_path, monkeypatch, name):
    store = tmp_path / "runs"
    good, _ = completed_run(store, "good")
    if name == "outside-link":
        outside, _ = completed_run(tmp_path / "elsewhere", "outside")
        (store / name).symlink_to(outside.path)
    else:
        completed_run(store, "template")[0].path.rename(store / name)
    summaries = {summary.id: summary for summary in list_runs(store)}
    assert summaries[name].state == "unreadable" and summaries[name].error
    monkeypatch.setenv("CHECKPOINTS_DIR", str(store))
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "no-data"))
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["dataset"] = "mnist"
    at.run()
    assert not at.exception and at.selectbox(key="run").value == "good"
    at.switch_page("app_pages/curves.py")
    assert not at.run().exception


def test_files_are_written_with_the_usual_mode_not_privately(tmp_path):
    from core.storage import atomic_write_text

    previous = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "status.json", "{}")
    finally:
        os.umask(previous)
    assert (tmp_path / "status.json").stat().st_mode & 0o777 == 0o644  # mkstemp alone gives 0600


def test_evaluate_leaves_identical_predictions_alone_and_says_what_changed(trained_store, tmp_path, capsys):
    import shutil

    data_dir, checkpoints = trained_store
    store = tmp_path / "runs"
    shutil.copytree(checkpoints / "mnist-tiny", store / "mnist-tiny")
    paths = ["--checkpoints", str(store), "--data-dir", str(data_dir), "--device", "cpu"]
    predictions = store / "mnist-tiny" / PREDICTIONS_FILE
    before = predictions.read_bytes()
    assert main(["evaluate", "mnist-tiny", *paths]) == 0
    assert "files untouched" in capsys.readouterr().out and predictions.read_bytes() == before
    run = load_run("mnist-tiny", store)
    stored = run.load_predictions()
    flipped = stored.probs.copy()
    flipped[:3] = flipped[:3, ::-1]  # three images now answer another class
    run.save_predictions(flipped, stored.labels, stored.indices)
    assert main(["evaluate", "mnist-tiny", *paths]) == 0
    out = capsys.readouterr().out
    assert "images changed class" in out and "→" in out
    assert np.array_equal(load_run("mnist-tiny", store).load_predictions().probs.argmax(1), stored.predicted)


def test_a_pid_no_process_can_have_lists_the_run_as_interrupted(tmp_path):
    import socket
    import time

    from core.runs import pid_alive

    assert pid_alive(2**70) is False and pid_alive(-(2**70)) is False
    completed_run(tmp_path, "good")
    bad, _ = completed_run(tmp_path, "bad")
    status = {"state": "running", "host": socket.gethostname(), "heartbeat": time.time() + 1e9, "pid": 2**70}
    (bad.path / STATUS_FILE).write_text(json.dumps(status))
    states = {summary.id: summary.state for summary in list_runs(tmp_path)}
    assert states == {"good": "completed", "bad": "interrupted"}


@pytest.mark.parametrize(
    ("pixels", "scores", "fragment"),
    [
        (32, 10, "model.onnx takes images of 1 × 32 × 32, not 1 × 28 × 28: the graph was made for other pictures"),
        (28, 7, "model.onnx gives 7 scores per image; this run has 10 classes"),
    ],
)
def test_an_onnx_graph_for_other_pictures_or_classes_is_named(tmp_path, capsys, pixels, scores, fragment):
    import torch
    from PIL import Image

    from core.onnxmodel import export_with_features
    from core.runs import ONNX_FILE

    other = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(pixels * pixels, scores))
    run, _ = completed_run(tmp_path, "swapped")
    (run.path / ONNX_FILE).write_bytes(export_with_features(other, (1, pixels, pixels)))
    Image.frombytes("L", (28, 28), bytes(range(256)) * 3 + bytes(16)).save(tmp_path / "digit.png")
    assert main(["predict", "swapped", str(tmp_path / "digit.png"), "--checkpoints", str(tmp_path)]) == 1
    assert fragment in capsys.readouterr().err


SLICING = (("zero", 0), ("one", 1), ("two", 2))


def hand_made_graph(batch, scores: int, declared_scores, extra_input: bool = False, sliced: bool = False) -> bytes:
    """image → flatten → one matrix product → logits and features, built node by node (no exporter checks);
    ``sliced``: the scores cut to the image's height / 2 columns, a width no shape inference can know."""
    from onnx import TensorProto, helper, numpy_helper

    from core.onnxmodel import OUTPUTS

    weights = numpy_helper.from_array(np.full((784, scores), 0.01, dtype=np.float32), "W")
    shape = numpy_helper.from_array(np.array([-1, 784], dtype=np.int64), "shape")
    nodes = [
        helper.make_node("Reshape", ["image", "shape"], ["flat"]),
        helper.make_node("MatMul", ["flat", "W"], ["scores" if sliced else "logits"]),
        helper.make_node("Identity", ["scores" if sliced else "logits"], ["features"]),
    ]
    constants = [numpy_helper.from_array(np.array([value], dtype=np.int64), name) for name, value in SLICING]
    if sliced:
        nodes += [
            helper.make_node("Shape", ["image"], ["dims"]),
            helper.make_node("Gather", ["dims", "two"], ["height"]),
            helper.make_node("Div", ["height", "two"], ["end"]),
            helper.make_node("Slice", ["scores", "zero", "end", "one"], ["logits"]),
        ]
    inputs = [helper.make_tensor_value_info("image", TensorProto.FLOAT, [batch, 1, 28, 28])]
    if extra_input:
        inputs.append(helper.make_tensor_value_info("extra", TensorProto.FLOAT, [1]))
    outputs = [helper.make_tensor_value_info(name, TensorProto.FLOAT, ["N", declared_scores]) for name in OUTPUTS]
    model = helper.make_model(
        helper.make_graph(nodes, "g", inputs, outputs, initializer=[weights, shape, *constants]),
        opset_imports=[helper.make_opsetid("", 17)],
    )
    model.ir_version = 8
    return model.SerializeToString()


@pytest.mark.parametrize(
    ("graph", "fragment"),
    [
        (dict(batch=1, scores=10, declared_scores=10), "the graph must take one input, a batch of images of any size"),
        (dict(batch="N", scores=10, declared_scores=10, extra_input=True), "the graph must take one input"),
        (dict(batch="N", scores=14, declared_scores="k"), "model.onnx gives 14 scores per image; this run has 10"),
        (dict(batch="N", scores=20, declared_scores="k", sliced=True), "answered 1 images with scores of shape (1, 14"),
    ],
)
def test_an_onnx_graph_that_cant_answer_its_run_is_one_line(tmp_path, capsys, graph, fragment):
    from PIL import Image

    from core.runs import ONNX_FILE

    run, _ = completed_run(tmp_path, "odd")
    (run.path / ONNX_FILE).write_bytes(hand_made_graph(**graph))
    Image.frombytes("L", (28, 28), bytes(range(256)) * 3 + bytes(16)).save(tmp_path / "digit.png")
    assert main(["predict", "odd", str(tmp_path / "digit.png"), "--checkpoints", str(tmp_path)]) == 1
    assert fragment in capsys.readouterr().err


def model_card_of(monkeypatch, store, run_id: str) -> AppTest:
    """The Model card page of ``run_id`` in ``store``, with no dataset fetched."""
    monkeypatch.setenv("CHECKPOINTS_DIR", str(store))
    monkeypatch.setenv("DATA_DIR", str(store / "no-data"))
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["dataset"], at.query_params["run"] = "mnist", run_id
    at.run()
    at.switch_page("app_pages/model_card.py")
    return at.run()


def test_a_damaged_onnx_graph_is_named_on_the_model_card_and_the_cli(tmp_path, monkeypatch, capsys):
    graph = b"\x0a\xff\xff\xff\xff garbage"  # protobuf's wire format broken at once
    from core.runs import ONNX_FILE

    bad, _ = completed_run(tmp_path, "bad")
    (bad.path / ONNX_FILE).write_bytes(graph)
    assert main(["card", "bad", "--checkpoints", str(tmp_path)]) == 1
    assert "model.onnx is not a readable ONNX graph" in capsys.readouterr().err
    at = model_card_of(monkeypatch, tmp_path, "bad")
    assert not at.exception
    assert any("readable ONNX graph" in block.value for block in at.warning)


def test_predictions_naming_images_past_the_test_split_are_said_so_on_every_page(trained_store, tmp_path, monkeypatch):
    data_dir, checkpoints = trained_store
    store = tmp_path / "runs"
    for name, shift in (("shifted", 10**6), ("also-shifted", 10**6)):
        run = Run(shutil.copytree(checkpoints / "mnist-tiny", store / name))
        kept = run.load_predictions()
        # A different model's answers, so that the comparison has images to show.
        probs = np.roll(kept.probs, 1, axis=1) if name == "also-shifted" else kept.probs
        (run.path / PREDICTIONS_FILE).write_bytes(
            npz_bytes(probs=probs, labels=kept.labels, indices=kept.indices + shift)
        )
    monkeypatch.setenv("CHECKPOINTS_DIR", str(store))
    monkeypatch.setenv("DATA_DIR", str(data_dir))
    for page in ("confusion.py", "label_issues.py", "compare.py", "errors.py"):
        at = AppTest.from_file(APP, default_timeout=60)
        at.query_params["dataset"], at.query_params["run"] = "mnist", "shifted"
        at.run()
        at.switch_page(f"app_pages/{page}")
        at.run()
        assert not at.exception, (page, [e.value for e in at.exception])
        assert any("name test images beyond the" in w.value for w in at.warning), page


def odd_shaped_graph() -> bytes:
    """A valid graph whose first Reshape takes a shape computed from the pixels: its size can't be inferred."""
    from onnx import TensorProto, helper, numpy_helper

    weights = numpy_helper.from_array(np.zeros((784, 10), np.float32), "W")
    two = numpy_helper.from_array(np.array([2], dtype=np.int64), "two")
    nodes = [
        helper.make_node("ReduceMax", ["image"], ["top"], keepdims=0),
        helper.make_node("Cast", ["top"], ["whole"], to=TensorProto.INT64),
        helper.make_node("Mul", ["whole", "two"], ["size"]),
        helper.make_node("Identity", ["image"], ["x"]),
        helper.make_node("Reshape", ["x", "size"], ["unknown"]),
        helper.make_node("Flatten", ["image"], ["flat"]),
        helper.make_node("MatMul", ["flat", "W"], ["logits"]),
        helper.make_node("Identity", ["flat"], ["features"]),
    ]
    outputs = [
        helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 10]),
        helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", 784]),
    ]
    image = helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 1, 28, 28])
    graph = helper.make_graph(nodes, "g", [image], outputs, [weights, two])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


def test_a_graph_beside_a_run_trained_here_is_described_on_the_model_card(tmp_path, monkeypatch, capsys):
    from core.runs import ONNX_FILE

    run, _ = completed_run(tmp_path, "graph")  # trained here: its config names no source
    (run.path / ONNX_FILE).write_bytes(odd_shaped_graph())
    assert main(["card", "graph", "--checkpoints", str(tmp_path)]) == 0
    at = model_card_of(monkeypatch, tmp_path, "graph")
    assert not at.exception, [e.value for e in at.exception]
    assert any("no record of where it came from" in block.value for block in at.text)


def test_the_command_line_prints_names_and_errors_from_disk_without_control_characters(tmp_path, capsys):
    completed_run(tmp_path, "good")
    (tmp_path / "zz\nfake-row").mkdir()  # a folder name with a line break: its own row, not two
    bad, _ = completed_run(tmp_path, "bad")
    status = json.loads((bad.path / STATUS_FILE).read_text())
    status.update(state="failed", error="\x1b]0;pwned\x07\x1b[2J")  # would retitle the window, clear the screen
    (bad.path / STATUS_FILE).write_text(json.dumps(status))
    assert main(["runs", "--checkpoints", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out and "\\x1b]0;pwned" in out
    assert "zz\\nfake-row" in out and not any(line.startswith("fake-row") for line in out.splitlines())
    from core.cli.common import printable

    words = "café a\xa0b 👨\u200d👩 نمی\u200cخواهم 中文"  # accents, a no-break space, joiners: text, not controls
    assert printable(words) == words


def graph_with(kind: str) -> bytes:
    """A graph of the run's shape that repeats as often as a constant says (``loop``), or that takes its
    weights from a file beside wherever it is run (``external``)."""
    from onnx import TensorProto, helper, numpy_helper

    initializers = [numpy_helper.from_array(np.zeros((784, 10), np.float32), "W")]
    nodes = [helper.make_node("Flatten", ["image"], ["flat"]), helper.make_node("Identity", ["flat"], ["features"])]
    if kind == "loop":
        body = helper.make_graph(
            [helper.make_node("Identity", ["c_in"], ["c_out"]), helper.make_node("Identity", ["x_in"], ["x_out"])],
            "body",
            [
                helper.make_tensor_value_info("i", TensorProto.INT64, []),
                helper.make_tensor_value_info("c_in", TensorProto.BOOL, []),
                helper.make_tensor_value_info("x_in", TensorProto.FLOAT, None),
            ],
            [
                helper.make_tensor_value_info("c_out", TensorProto.BOOL, []),
                helper.make_tensor_value_info("x_out", TensorProto.FLOAT, None),
            ],
        )
        initializers += [
            numpy_helper.from_array(np.array(10**12, np.int64), "trips"),
            numpy_helper.from_array(np.array(True), "go"),
        ]
        nodes += [
            helper.make_node("MatMul", ["flat", "W"], ["scores"]),
            helper.make_node("Loop", ["trips", "go", "scores"], ["logits"], body=body),
        ]
    else:
        weights = initializers[0]
        weights.ClearField("raw_data")
        weights.data_location = TensorProto.EXTERNAL
        for key, value in (("location", "README.md"), ("offset", "0"), ("length", str(784 * 10 * 4))):
            entry = weights.external_data.add()
            entry.key, entry.value = key, value
        nodes.append(helper.make_node("MatMul", ["flat", "W"], ["logits"]))
    outputs = [
        helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 10]),
        helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", 784]),
    ]
    image = helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 1, 28, 28])
    model = helper.make_model(
        helper.make_graph(nodes, "g", [image], outputs, initializers), opset_imports=[helper.make_opsetid("", 17)]
    )
    model.ir_version = 8
    return model.SerializeToString()


@pytest.mark.parametrize(("kind", "fragment"), [("loop", "holds a Loop"), ("external", "keeps weights in other files")])
def test_a_graph_that_could_run_for_ever_or_read_other_files_is_not_run(tmp_path, capsys, kind, fragment):
    from core.runs import ONNX_FILE

    run, _ = completed_run(tmp_path, "graph")
    (run.path / WEIGHTS_FILE).unlink()
    (run.path / ONNX_FILE).write_bytes(graph_with(kind))
    with pytest.raises(RunError, match=fragment):
        within(30, run.load_model)
    assert within(30, lambda: main(["saliency", "graph", "0", "--checkpoints", str(tmp_path)])) == 1
    assert fragment in capsys.readouterr().err


def test_a_loop_or_an_outside_file_inside_a_models_own_function_is_found():
    from onnx import TensorProto, helper, numpy_helper

    from core.onnxmodel import graph_problem

    body = helper.make_graph(
        [helper.make_node("Identity", ["c_in"], ["c_out"]), helper.make_node("Identity", ["x_in"], ["x_out"])],
        "body",
        [helper.make_tensor_value_info(n, t, s) for n, t, s in (("i", 7, []), ("c_in", 9, []), ("x_in", 1, None))],
        [helper.make_tensor_value_info(n, t, s) for n, t, s in (("c_out", 9, []), ("x_out", 1, None))],
    )
    outside = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[10], data_location=TensorProto.EXTERNAL)
    entry = outside.external_data.add()
    entry.key, entry.value = "location", "README.md"
    steps = {
        "Loop": [
            helper.make_node("Constant", [], ["trips"], value=numpy_helper.from_array(np.array(10**12, np.int64))),
            helper.make_node("Constant", [], ["go"], value=numpy_helper.from_array(np.array(True))),
            helper.make_node("Loop", ["trips", "go", "x"], ["y"], body=body),
        ],
        "other files": [
            helper.make_node("Constant", [], ["w"], value=outside),
            helper.make_node("Add", ["x", "w"], ["y"]),
        ],
    }
    for what, nodes in steps.items():
        function = helper.make_function("mine", "Step", ["x"], ["y"], nodes, [helper.make_opsetid("", 17)])
        graph = helper.make_graph(
            [helper.make_node("Step", ["image"], ["logits"], domain="mine")],
            "g",
            [helper.make_tensor_value_info("image", TensorProto.FLOAT, [10])],
            [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [10])],
        )
        opsets = [helper.make_opsetid("", 17), helper.make_opsetid("mine", 1)]
        model = helper.make_model(graph, functions=[function], opset_imports=opsets)
        assert what in graph_problem(model.SerializeToString())
