"""Train: start a short run from the page, watch it learn, cancel it, land on its results.

The job is a child process (core.jobs); its progress is read from the run folder, so a reload,
a second tab or a second user sees the same job.
"""

import time

import pandas as pd
import streamlit as st

from core.config import OPTIMIZERS, SCHEDULES, ConfigError, TrainConfig, require_batch_fits
from core.data import get_dataset_info
from core.devices import resolve_device
from core.history import batch_loss_rows, curve_rows, history_frame
from core.jobqueue import move_queued, queued_jobs, remove_queued, start_next, submit
from core.jobs import active_job, cancel_job, child_threads, prepare_standby
from core.models import MODELS, parameter_count
from core.presets import MAX_SCALED_EPOCHS, PRESETS, preset_config
from core.runs import Run, RunError, RunStatus, iso_timestamp, run_in_store
from core.storage import describe_error
from dashboard import charts
from dashboard.cached import get_dataset, run_history
from dashboard.chartview import draw_chart
from dashboard.pages import page_entry
from dashboard.sidebar import selected_dataset
from dashboard.store import runs_table
from dashboard.text import plain

LAST_RUN_KEY = "train_last_run"
QUEUED_NOTICE_KEY = "train_queued_notice"
FIELDS = ("model", "epochs", "batch_size", "lr", "optimizer", "schedule", "augment", "train_subset", "seed")


def key(field: str) -> str:
    """The form widget's session-state key for a TrainConfig field."""
    return field if field.startswith("train_") else f"train_{field}"


def fill_from_preset() -> None:
    """Preset or dataset changed: every field takes the preset's value."""
    config = preset_config(st.session_state["train_preset"], st.session_state["train_dataset"])
    for name in FIELDS:
        value = getattr(config, name)
        st.session_state[key(name)] = 0 if name == "train_subset" and value is None else value


def device_choices() -> dict[str, str]:
    found = resolve_device("auto").type
    labels = {"auto": f"auto: {found.upper()}", "cpu": "CPU"}  # short: a quarter of a 700-pixel window
    if found == "cuda":
        labels["cuda"] = "CUDA"
    if found == "mps":
        labels["mps"] = "MPS"
    return labels


def training_count(dataset: str) -> int:
    """How many images the dataset's training split holds (here, or as its record says when not fetched)."""
    data = get_dataset(dataset)
    return len(data.train) if data is not None else 55_000


def form_config() -> TrainConfig:
    """The preset's config (momentum, weight decay, label smoothing… included) with the form's values on top."""
    values = {name: st.session_state[key(name)] for name in FIELDS}
    values["train_subset"] = values["train_subset"] or None
    return preset_config(
        st.session_state["train_preset"],
        st.session_state["train_dataset"],
        device=st.session_state["train_device"],
        threads=child_threads(),
        **values,
    )


def page() -> None:
    st.title("Train")
    dataset = selected_dataset()
    if st.session_state.get("train_dataset") != dataset:  # the form trains the sidebar's dataset
        st.session_state.setdefault("train_preset", "quick")
        st.session_state["train_dataset"] = dataset
        fill_from_preset()
    job = active_job()
    if job is None:
        prepare_standby()  # the next click's process, started now: torch imported before the click (core.standby)
    job_panel()
    if get_dataset(dataset) is None:
        st.warning(
            f"{get_dataset_info(dataset).title} is not fetched here, so a run would fail at its start. Get it "
            f"first:\n\n```\npython -m core data fetch --dataset {dataset}\n```",
            icon=":material/download:",
        )

    st.subheader("A new run")
    top = st.columns(2)
    top[0].text_input(
        "Dataset",
        value=get_dataset_info(dataset).title,
        disabled=True,
        help="The dataset picked in the sidebar: change it there to train on another.",
    )
    preset = top[1].selectbox(
        "Preset",
        list(PRESETS),
        key="train_preset",
        on_change=fill_from_preset,
        help="Choosing a preset fills in the fields below.",
    )
    top[1].caption(PRESETS[preset].description)  # whole, where the box would cut it off
    with st.form("train_form", border=True):
        form_fields(dataset)
        ahead = (job is not None) + len(queued_jobs())
        submitted = st.form_submit_button(
            "Queue" if ahead else "Train",
            type="primary",
            icon=":material/queue:" if ahead else ":material/play_arrow:",
            help="Jobs run one at a time, in order; this one waits for those ahead of it." if ahead else None,
        )
        if ahead:
            st.caption(f"A job is training: this one will be queued, {ahead} ahead.")
        refusal = st.empty()  # beside the button: why a click did not queue the run
    if submitted:
        queue_from_form(dataset, refusal)


def form_fields(dataset: str) -> None:
    """The form's fields, each bound to its session-state key (``key``)."""
    model = st.selectbox(
        "Model", list(MODELS), key="train_model", format_func=lambda n: f"{n} ({parameter_count(n):,} parameters)"
    )
    st.caption(MODELS[model].description)
    row = st.columns(4)
    # No bounds on the inputs: a value out of range is refused beside the button, in words, by the
    # same checks as the command line's (a number input's own bounds only show a hover tooltip).
    row[0].number_input("Epochs", step=1, key="train_epochs", help=epochs_help())
    row[1].number_input("Batch size", step=1, key="train_batch_size")
    row[2].number_input("Learning rate", format="%.5g", step=None, key="train_lr")
    row[3].number_input(
        "Train subset",
        step=500,
        key="train_subset",
        help=f"Train on this many training images (0 = all {training_count(dataset):,}): a few thousand make "
        "a run of seconds.",
    )
    row = st.columns(4)
    row[0].selectbox("Optimizer", OPTIMIZERS, key="train_optimizer")
    row[1].selectbox("Schedule", SCHEDULES, key="train_schedule")
    row[2].number_input("Seed", min_value=0, step=1, key="train_seed")
    devices = device_choices()
    row[3].selectbox("Device", list(devices), format_func=devices.get, key="train_device")
    st.toggle("Augmentation (shifts and small rotations)", key="train_augment")
    st.text_input(
        "Run name (optional)",
        key="train_run_name",
        placeholder="date-dataset-model",
        help="Letters, digits, '.', '_' and '-'. Left empty, the run is named by its date, dataset and model.",
    )


def epochs_help() -> str | None:
    """Why the quick preset's epochs differ from one dataset to the next (None for a fixed recipe)."""
    preset = PRESETS[st.session_state["train_preset"]]
    if not preset.min_steps:
        return None
    return (
        f"The {preset.name} preset trains at least {preset.min_steps:,} batches: a dataset smaller than MNIST "
        f"gets more epochs of its fewer batches (up to {MAX_SCALED_EPOCHS}). A number typed here is kept."
    )


def queue_from_form(dataset: str, refusal) -> None:
    """Queue the form's run (started at once when the store is idle), or say in ``refusal`` why not."""
    try:
        config = form_config()
        config.validate()
        require_batch_fits(config, training_count(dataset))
        started, ahead = submit(config, run_id=st.session_state["train_run_name"].strip() or None)
    except (ConfigError, RunError) as error:
        refusal.error(f"Not queued: {plain(error)}", icon=":material/error:")
    except OSError as error:  # a full or read-only disk
        refusal.error(f"Not queued: the run store can't be written ({plain(describe_error(error))}).")
    else:
        if started is not None:
            st.session_state[LAST_RUN_KEY] = started.run_id
        else:
            st.session_state[QUEUED_NOTICE_KEY] = f"Queued, {ahead} ahead."
        st.rerun()  # the job panel above shows it at once


def last_trained_run() -> str | None:
    """The newest run of the sidebar's dataset trained here (so that its summary survives a reload of the page)."""
    table = runs_table()
    mine = (table["origin"] == "trained") & (table["dataset"] == selected_dataset())
    trained = table[mine & (table["state"] != "unreadable")]
    return str(trained["id"].iloc[0]) if len(trained) else None


def progress_text(run: Run) -> str:
    try:
        status = run.status()
    except RunError:
        return ""
    if status.batches:
        return f"It is at epoch {status.epoch}, batch {status.batch} of {status.batches}."
    return "It is starting."


@st.fragment(run_every=1.0)
def job_panel() -> None:
    """Polls the run folder: progress, ETA, live curves and state of the current (or last) job; the queue."""
    if active_job() is None:
        start_next()  # a job killed hard can't start the next itself: whoever looks does
    job = active_job()
    queue_panel()
    run_id = job.run_id if job else st.session_state.get(LAST_RUN_KEY) or last_trained_run()
    if run_id is None:
        st.info("No job is running, and none has run here yet. Fill in the form below and press **Train**.")
        return
    try:
        run = run_in_store(run_id)
        status, config = run.status(), run.config
    except RunError as error:
        st.warning(f"{plain(run_id)}: {plain(error)}")
        return
    # When the job ends, rerun the whole app once, so that the sidebar and the links know the new run.
    if st.session_state.get("train_seen_state") == "running" and status.state != "running":
        st.session_state["train_seen_state"] = status.state
        st.rerun(scope="app")
    st.session_state["train_seen_state"] = status.state
    name = plain(run_id)
    st.subheader(f"{name} · {status.state}" if job else f"The last run trained here: {name} · {status.state}")
    progress_bar(status, config.epochs)
    if status.state == "running" and st.button("Cancel", icon=":material/stop:"):
        cancel_job()
        st.toast("Cancelling… the run keeps its best weights so far.")
    if status.state in ("failed", "cancelled", "interrupted") and status.error:
        st.warning(plain(status.error))
    if status.state == "completed":
        st.success(f"Test accuracy {status.test_accuracy or 0:.2%} (best epoch {status.best_epoch}).")
        result_links(run_id, config.dataset)
    live_curves(run, status)


def queue_panel() -> None:
    """The jobs waiting, in order, each with buttons to move it or take it out of the queue."""
    notice = st.session_state.pop(QUEUED_NOTICE_KEY, None)
    if notice:
        st.toast(notice)
    waiting = queued_jobs()
    if not waiting:
        return
    st.subheader(f"Queue · {len(waiting)} waiting")
    for place, entry in enumerate(waiting):
        queue_row(place, entry, len(waiting))


def queue_row(place: int, entry, count: int) -> None:
    """One waiting job: what it trains, and Earlier / Later / Remove."""
    config = entry.config
    text, *buttons = st.columns([8, 1, 1, 1], vertical_alignment="center")
    preset = f" ({plain(config.preset)})" if config.preset else ""
    name = f" · {plain(entry.run_id)}" if entry.run_id else ""
    what = f"{plain(config.dataset)} · {plain(config.model)}{preset} · {config.epochs} epochs{name}"  # a file's text
    text.markdown(f"**{place + 1}.** {what}")
    actions = (
        ("arrow_upward", "Earlier", place == 0, lambda: move_queued(None, entry.id, -1)),
        ("arrow_downward", "Later", place == count - 1, lambda: move_queued(None, entry.id, +1)),
        ("close", "Take it out of the queue", False, lambda: remove_queued(None, entry.id)),
    )
    for column, (icon, label, disabled, act) in zip(buttons, actions, strict=True):
        if column.button("", icon=f":material/{icon}:", key=f"queue_{icon}_{entry.id}", help=label, disabled=disabled):
            act()
            st.rerun(scope="fragment")


def progress_bar(status: RunStatus, epochs: int) -> None:
    """Where the job is, from status.json (written at most a second ago), with the time left."""
    running, epoch, batch, batches = status.state == "running", status.epoch, status.batch, status.batches or 1
    done = ((max(epoch, 1) - 1) + batch / batches) / epochs if running else float(status.state == "completed")
    elapsed = (time.time() if running else _timestamp(status.finished)) - _timestamp(status.started)
    eta = elapsed * (1 - done) / done if 0 < done < 1 else 0
    took = f"{elapsed:.0f} s elapsed" if running else f"took {elapsed:.0f} s"
    label = f"epoch {max(epoch, 1)}/{epochs}, batch {batch}/{batches} · {took}"
    if running and status.batches is None:
        label = f"starting the training process: loading PyTorch and the dataset · {elapsed:.0f} s"
    elif running:
        label += f", about {eta:.0f} s to go" if done > 0 else ", starting…"
    st.progress(min(max(done, 0.0), 1.0), text=label)


def live_curves(run: Run, status: RunStatus) -> None:
    """The running batch loss (finished epochs, then the one under way) beside the accuracy per epoch."""
    try:
        history = run_history(run)
    except RunError:
        history = []
    points = batch_loss_rows(run.id, history, live=status.batch_losses)
    left, right = st.columns(2)
    if len(points) >= 2:
        # While the run trains, its batch loss is new on every poll: not worth keeping.
        draw_chart(left, charts.batch_loss_curve, pd.DataFrame(points), kept=status.state != "running")
    rows = curve_rows(run.id, history_frame(history))
    accuracy = rows[rows["metric"] == "accuracy"]
    if len(accuracy):
        kept = run.kept_epoch(history, status)
        draw_chart(right, charts.epoch_curves, accuracy, "accuracy", pd.DataFrame([{"run": run.id, "epoch": kept}]))
        right.caption("Accuracy per epoch. Solid: training; dashed: validation; the dotted rule: the kept epoch.")


def result_links(run_id: str, dataset: str) -> None:
    """A labelled row of links to the finished run's results."""
    query = {"dataset": dataset, "run": run_id}
    targets = [page_entry(file) for file in ("curves.py", "confusion.py", "errors.py")]
    row = st.container(horizontal=True, wrap=True, vertical_alignment="center")  # wraps, never cuts a label
    row.markdown("**See the results:**")
    for entry in targets:
        row.page_link(entry.script, label=entry.title, icon=entry.icon, query_params=query)


def _timestamp(iso: str | None) -> float:
    stamp = iso_timestamp(iso)
    return time.time() if stamp is None else stamp


page()
