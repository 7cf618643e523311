"""The reliability guarantees of docs/reliability.md, one group per guarantee; each test fails without it."""

from __future__ import annotations

import dataclasses
import io
import os
import pickle
import signal
import subprocess
import sys
import threading
import time
import tomllib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from core.cli import main
from core.config import ConfigError, TrainConfig
from core.data import DATASETS, PROJECT_ROOT
from core.images import MAX_PIXELS, MAX_UPLOAD_BYTES, ImageError, decode_image, prepare_like_dataset
from core.jobs import LOCK_FILE, JobBusy, _read_lock, active_job, cancel_job, start_job
from core.runs import (
    CONFIG_FILE,
    HISTORY_FILE,
    PREDICTIONS_FILE,
    STATUS_FILE,
    WEIGHTS_FILE,
    RunError,
    list_runs,
    load_run,
    pid_alive,
    run_in_store,
)
from tests.conftest import small_config, write_idx_dataset
from tests.test_app import PAGES as APP_PAGES
from tests.test_jobs import wait_for
from tests.test_runs import completed_run

APP = str(PROJECT_ROOT / "dashboard" / "app.py")
PAGES = [*APP_PAGES, "train.py"]


class Booby:
    """Unpickling this creates the sentinel file: proof that something unpickled it."""

    def __init__(self, sentinel: Path):
        self.sentinel = sentinel

    def __reduce__(self):
        return (Path.touch, (self.sentinel,))


@pytest.fixture
def dashboard_store(tmp_path, monkeypatch):
    monkeypatch.setenv("CHECKPOINTS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "no-data"))
    return tmp_path / "runs"


def visit_every_page(query: dict) -> list[AppTest]:
    """Each page once, with the sidebar pointed at ``query``; the finished AppTests."""
    visited = []
    for page in PAGES:
        at = AppTest.from_file(APP, default_timeout=60)
        for key, value in query.items():
            at.query_params[key] = value
        at.run()
        at.switch_page(f"app_pages/{page}")
        visited.append(at.run())
    return visited


# --- 1. No code from disk --------------------------------------------------------------------------------


READ_NAMES = [CONFIG_FILE, STATUS_FILE, HISTORY_FILE, WEIGHTS_FILE, PREDICTIONS_FILE]


@pytest.mark.parametrize("name", READ_NAMES)
def test_a_hostile_pickle_under_any_name_is_never_executed(dashboard_store, tmp_path, name, capsys):
    sentinel = tmp_path / "sentinel"
    completed_run(dashboard_store, "good")
    hostile, _ = completed_run(dashboard_store, "hostile")
    (hostile.path / name).write_bytes(pickle.dumps(Booby(sentinel)))
    # Files nothing should read, but that someone might drop in: they must stay unread.
    for stray in ("model.pt", "model.pth", "checkpoint.ckpt", "weights.pkl"):
        (hostile.path / stray).write_bytes(pickle.dumps(Booby(sentinel)))

    summaries = {s.id: s for s in list_runs(dashboard_store)}
    with pytest.raises(RunError):
        run = load_run("hostile", dashboard_store)
        run.history(), run.load_model(), run.load_predictions()
    for at in visit_every_page({"dataset": "mnist", "run": "hostile"}):
        assert not at.exception, at.exception
    capsys.readouterr()
    main(["runs", "--checkpoints", str(dashboard_store)])
    main(["evaluate", "hostile", "--checkpoints", str(dashboard_store)])
    cli_errors = capsys.readouterr().err.strip().splitlines()

    assert not sentinel.exists(), f"unpickling {name} ran code"
    assert summaries["good"].state == "completed"
    if name in (CONFIG_FILE, STATUS_FILE, HISTORY_FILE):
        assert summaries["hostile"].state == "unreadable" and name in summaries["hostile"].error
    assert len(cli_errors) == 1 and cli_errors[0].startswith("error:"), cli_errors  # one line, no traceback


# --- 2. Corrupt runs stay contained ----------------------------------------------------------------------


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


DAMAGES = {
    "truncated weights": lambda run: _truncate(run.path / WEIGHTS_FILE),
    "config not JSON": lambda run: (run.path / CONFIG_FILE).write_text("{not json"),
    "unknown model": lambda run: run.write_config(dataclasses.replace(run.config, model="resnet-9000")),
    "bad history line": lambda run: (run.path / HISTORY_FILE).write_text('{"epoch": 1}\n{half a line\n'),
    "predictions of the wrong shape": lambda run: np.savez(
        run.path / PREDICTIONS_FILE, probs=np.zeros((3, 4)), labels=np.zeros(3, dtype=int), indices=np.arange(3)
    ),
    "truncated predictions": lambda run: _truncate(run.path / PREDICTIONS_FILE),
}


@pytest.mark.parametrize("damage", DAMAGES)
def test_a_corrupt_run_keeps_every_page_working_and_says_what_is_wrong(dashboard_store, damage):
    completed_run(dashboard_store, "good")
    broken, _ = completed_run(dashboard_store, "broken")
    DAMAGES[damage](broken)
    for at in visit_every_page({"dataset": "mnist", "run": "broken"}):
        assert not at.exception, (damage, at.exception)
    summaries = {s.id: s for s in list_runs(dashboard_store)}
    assert summaries["good"].state == "completed" and summaries["good"].error is None
    with pytest.raises(RunError) as reason:
        run = load_run("broken", dashboard_store)
        run.history(), run.load_model(), run.load_predictions()
    assert any(name in str(reason.value) for name in READ_NAMES), reason.value


# --- 3 & 4. Atomic writes; a killed process loses nothing saved ------------------------------------------

KILLED_DURING_SAVE = """
import sys, time
from pathlib import Path
import core.runs
from core.storage import atomic_open

ready, argv = Path(sys.argv[1]), sys.argv[2:]
saves = 0
real_write = core.runs.atomic_write_with

def write_then_hang(path, write):
    global saves
    saves += 1
    if Path(path).name == "model.safetensors" and saves > 1 and ready.parent.joinpath("go").exists():
        with atomic_open(path) as handle:  # half a file, then the process is killed
            handle.write(b"half a safetensors file")
            handle.flush()
            ready.touch()
            time.sleep(120)
    real_write(path, write)

core.runs.atomic_write_with = write_then_hang
from core.cli import main
sys.exit(main(argv))
"""


@pytest.mark.parametrize("moment", ["during an epoch", "during a checkpoint save"])
def test_a_training_process_killed_hard_loses_nothing_already_saved(tmp_path, moment):
    data_dir, store, ready = tmp_path / "data", tmp_path / "runs", tmp_path / "ready"
    write_idx_dataset(data_dir, "mnist", train_count=2_400, test_count=200)
    if moment == "during a checkpoint save":
        (tmp_path / "go").touch()
    argv = ["train", "--dataset", "mnist", "--model", "mlp", "--epochs", "500", "--train-subset", "2000"]
    argv += ["--batch-size", "32", "--lr", "0.05", "--optimizer", "sgd", "--threads", "1", "--quiet"]
    argv += [
        "--keep-best-by",
        "val_loss",
        "--run-id",
        "victim",
        "--data-dir",
        str(data_dir),
        "--checkpoints",
        str(store),
    ]
    child = subprocess.Popen([sys.executable, "-c", KILLED_DURING_SAVE, str(ready), *argv], cwd=PROJECT_ROOT)
    try:
        run_dir = store / "victim"
        if moment == "during a checkpoint save":
            wait_for(ready.exists, what="a checkpoint save to begin")
        else:
            # A first epoch is whole once its weights are kept (its history line is written just before them).
            wait_for(lambda: (run_dir / WEIGHTS_FILE).exists(), what="a first epoch's weights")
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.kill()
        child.wait()
    run = load_run("victim", store)
    status, history = run.status(), run.history()
    assert status.state == "interrupted" and "stopped without finishing" in status.error
    assert history and [r["epoch"] for r in history] == list(range(1, len(history) + 1))
    # The kept epoch is the one the weights name, and it is in the history (status.json may lag one write).
    assert run.kept_epoch() == run.weights_epoch() and run.kept_epoch() in [r["epoch"] for r in history]
    assert run.load_model() is not None  # the previous good weights, whole
    assert [s.state for s in list_runs(store)] == ["interrupted"]
    # Only a hidden temporary can be left, never half a file under a name that is read.
    assert all(p.name.startswith(".") for p in run_dir.iterdir() if p.name not in READ_NAMES + ["train.log"])


# --- 5. Uploads ------------------------------------------------------------------------------------------


def encode(image: Image.Image, fmt: str = "PNG", **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def digit_on_paper(mode: str = "L", size=(120, 90)) -> Image.Image:
    """A dark bar on white paper, in the given mode."""
    image = Image.new("L", size, 255)
    image.paste(0, (40, 20, 55, 75))
    return image.convert(mode)


def ink_on_transparent_canvas() -> Image.Image:
    black = Image.new("L", (120, 90), 0)
    return Image.merge("RGBA", [black, black, black, digit_on_paper("L").point(lambda v: 255 - v)])


def noisy_png() -> bytes:
    pixels = np.random.default_rng(0).integers(0, 256, size=(200, 200), dtype=np.uint8)
    return encode(Image.fromarray(pixels))


def bomb_png(side: int) -> bytes:
    """A 1-bit PNG of side × side pixels: a few kilobytes of file, side² bytes once decoded."""
    return encode(Image.new("1", (side, side)))


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"", "the file is empty"),
        (b"MZ\x90\x00 this is an executable, not an image" * 3, "not an image in an accepted format"),
        (b"%PDF-1.7 a document", "not an image in an accepted format"),
        (encode(Image.new("L", (1, 1))), "it needs at least 8 on each side"),
        (bomb_png(5_000), "the image is 5000×5000 pixels; the limit is 16,777,216 pixels"),  # under Pillow's limit
        (bomb_png(20_000), "the limit is 16,777,216 pixels"),  # over Pillow's own limit too
        (noisy_png()[:2000], "truncated or corrupt"),
        (encode(digit_on_paper(), "TIFF"), "not an image in an accepted format"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * (MAX_UPLOAD_BYTES + 1), "the limit is 5 MiB"),
    ],
    ids=["zero bytes", "executable", "pdf", "1x1", "bomb", "huge bomb", "truncated", "tiff", "too large"],
)
def test_a_bad_upload_gets_a_clear_message(data, fragment):
    with pytest.raises(ImageError, match=fragment):
        decode_image(data)


def test_pillow_own_bomb_limit_is_not_relied_on():
    assert MAX_PIXELS < Image.MAX_IMAGE_PIXELS


@pytest.mark.parametrize(
    "make",
    [
        lambda: encode(digit_on_paper("L")),
        lambda: encode(digit_on_paper("RGB"), "JPEG", quality=90),
        lambda: encode(digit_on_paper("P"), "GIF"),
        lambda: encode(digit_on_paper("RGB"), "BMP"),
        lambda: encode(digit_on_paper("RGB"), "WEBP"),
        lambda: encode(digit_on_paper("1")),
        # Black ink on a transparent canvas, as a drawing tool exports it.
        lambda: encode(
            Image.merge("RGBA", [Image.new("L", (120, 90), 0)] * 3 + [digit_on_paper("L").point(lambda v: 255 - v)])
        ),
        lambda: encode(Image.fromarray(np.asarray(digit_on_paper("L"), dtype=np.uint16) * 257)),
        lambda: encode(
            digit_on_paper("L"), "GIF", save_all=True, append_images=[Image.new("L", (120, 90), 255)], duration=100
        ),
    ],
    ids=["gray", "jpeg", "palette gif", "bmp", "webp", "1-bit", "rgba", "16-bit", "animated"],
)
def test_every_accepted_kind_of_image_becomes_the_same_centred_digit(make):
    image = prepare_like_dataset(decode_image(make()), DATASETS["mnist"])
    assert image.shape == (28, 28) and image.dtype == np.uint8
    rows, cols = np.nonzero(image > 64)
    assert rows.max() - rows.min() + 1 in range(18, 21)  # the bar, scaled to fit the 20×20 box
    mass = image.astype(float) / image.sum()
    centre = (mass.sum(axis=1) @ np.arange(28), mass.sum(axis=0) @ np.arange(28))
    assert np.allclose(centre, 13.5, atol=1.0)


# --- 6. Hyperparameters ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "changes",
    [{"epochs": 10**9}, {"batch_size": 0}, {"lr": float("nan")}, {"lr": "0.1"}, {"batch_size": None}, {"seed": -1}],
    ids=["epochs 1e9", "batch 0", "lr nan", "lr as text", "batch none", "seed -1"],
)
def test_absurd_values_are_refused_by_core_whoever_sends_them(tmp_path, changes):
    config = small_config(**changes)
    with pytest.raises(ConfigError):
        config.validate()
    with pytest.raises(ConfigError):  # the dashboard's way: nothing is started, nothing is created
        start_job(config, tmp_path / "runs")
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_the_train_page_refuses_a_forged_session_value(dashboard_store):
    at = AppTest.from_file(APP, default_timeout=60).run()
    at.switch_page("app_pages/train.py").run()
    at.session_state["train_lr"] = float("nan")  # what no widget would send
    next(button for button in at.button if button.label == "Train").click().run()
    assert not at.exception
    assert any("lr must be a number" in block.value for block in at.error)
    assert list_runs(dashboard_store) == []


# --- 7. Concurrency --------------------------------------------------------------------------------------


def test_two_simultaneous_train_clicks_start_exactly_one_job(tmp_path):
    store = tmp_path / "runs"
    sleeper = [sys.executable, "-c", "import time; time.sleep(60)"]
    barrier, started, refused = threading.Barrier(8), [], []

    def click():
        barrier.wait()
        try:
            started.append(start_job(TrainConfig(), store, command=sleeper))
        except JobBusy:
            refused.append(True)

    threads = [threading.Thread(target=click) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert len(started) == 1 and len(refused) == 7
        assert [p.name for p in store.iterdir() if p.is_dir()] == [started[0].run_id]
    finally:
        for job in started:
            os.kill(job.pid, signal.SIGKILL)


def test_a_forged_lock_can_neither_point_outside_the_store_nor_signal_another_process(tmp_path):
    store = tmp_path / "runs"
    store.mkdir()
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        lock = '{"run_id": "x", "run_path": "%s", "pid": %d, "host": "%s", "started": 0}'
        (store / LOCK_FILE).write_text(lock % (store / "x", bystander.pid, os.uname().nodename))
        assert cancel_job(store) is None, "a process that is not a training job must not be signalled"
        assert pid_alive(bystander.pid)
        assert active_job(store) is None, "a lock naming a process that is not the job is stale"
        (store / LOCK_FILE).write_text(lock % ("/etc/x", bystander.pid, os.uname().nodename))
        assert active_job(store) is None
        (store / LOCK_FILE).write_text(lock % (store / "x", os.getpid(), os.uname().nodename))
        assert _read_lock(store) is not None
        markdown = lock.replace('"x"', '"![x](http://127.0.0.1:9/x.png)"')  # its run id is shown on the Train page
        (store / LOCK_FILE).write_text(markdown % (store / "x", os.getpid(), os.uname().nodename))
        assert _read_lock(store) is None
    finally:
        bystander.kill()
        bystander.wait()


# --- 8. Safe defaults ------------------------------------------------------------------------------------


def test_the_server_listens_on_localhost_and_limits_uploads():
    config = tomllib.loads((PROJECT_ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["address"] in ("localhost", "127.0.0.1")
    from core.external import MAX_UPLOAD_MIB

    # The server's limit is the largest any form takes; the picture uploader keeps its own, smaller one.
    assert config["server"]["maxUploadSize"] == MAX_UPLOAD_MIB
    draw_page = (PROJECT_ROOT / "dashboard" / "app_pages" / "draw.py").read_text()
    assert "max_upload_size=MAX_UPLOAD_BYTES // 2**20" in draw_page and MAX_UPLOAD_BYTES == 5 * 2**20


ESCAPES = ["..", "../runs", "../../etc", "/etc", "/tmp", "a/../../b", "./good", "good/../good", "", "~"]


@pytest.mark.parametrize("run_id", ESCAPES)
def test_run_ids_never_reach_outside_the_store(tmp_path, run_id):
    store = tmp_path / "runs"
    completed_run(store, "good")
    completed_run(tmp_path, "outside")
    with pytest.raises(RunError):
        run_in_store(run_id, store)


def test_a_symlinked_run_that_leaves_the_store_is_refused(tmp_path):
    store = tmp_path / "runs"
    completed_run(store, "good")
    outside, _ = completed_run(tmp_path / "elsewhere", "outside")
    (store / "sneaky").symlink_to(outside.path)
    with pytest.raises(RunError, match="leads outside"):
        run_in_store("sneaky", store)


@pytest.mark.parametrize("run_id", ["../elsewhere/outside", "/etc", "..", "%2e%2e"])
def test_a_run_id_in_the_url_cannot_leave_the_store(dashboard_store, tmp_path, run_id):
    completed_run(dashboard_store, "good")
    completed_run(tmp_path / "elsewhere", "outside")
    for at in visit_every_page({"dataset": "mnist", "run": run_id}):
        assert not at.exception
        assert at.sidebar.selectbox[1].value in ("good", None)
        assert "outside" not in " ".join(str(element.value) for element in at.markdown)


def test_two_threads_catching_prints_at_once_leave_the_terminal_as_it_was():
    # Thread one starts catching, thread two starts while it still is, thread one ends first: without
    # turns, thread two would then put back thread one's buffer as sys.stdout, for good.
    import sys
    import threading

    from core.quiet import prints_caught

    terminal = sys.stdout
    one_inside, two_inside = threading.Event(), threading.Event()

    def one():
        with prints_caught():
            one_inside.set()
            two_inside.wait(timeout=1)

    def two():
        one_inside.wait(timeout=5)
        with prints_caught():
            two_inside.set()
            time.sleep(0.3)

    threads = [threading.Thread(target=one), threading.Thread(target=two)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sys.stdout is terminal
