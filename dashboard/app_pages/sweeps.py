"""Sweeps: which learning rate, how many epochs? Optuna's trials, what mattered, the best run; start one."""

import pandas as pd
import streamlit as st

from core.config import ConfigError
from core.runs import RunError
from core.sweeps import SweepSpec, create_sweep, parse_param, queue_trials, sweep_names, sweep_summary
from dashboard import charts
from dashboard.chartview import draw_chart
from dashboard.links import open_links
from dashboard.numbers import ACCURACY_FORMAT, accuracy_percent
from dashboard.sidebar import selected_dataset
from dashboard.text import plain

SWEEP_KEY, STARTED_KEY = "sweep", "sweep_started"
EXAMPLE_PARAMS = "lr=loguniform:0.01:0.5\nepochs=choice:1,2,3"


def page() -> None:
    st.title("Sweeps")
    st.caption(
        "A sweep trains one preset many times, Optuna choosing the values to try from the trials before; "
        "each trial is a normal run, judged by its best validation accuracy (never the test split). "
        "CLI: `python -m core sweep create|work|show`."
    )
    started = st.session_state.pop(STARTED_KEY, None)
    if started:  # a sweep just started from the form below: shown, and said so
        st.session_state[SWEEP_KEY] = started
        st.toast(f"Sweep {started}: its trials are queued. The Train page shows the queue.")
    names = sweep_names()
    if names:
        name = st.selectbox("Sweep", names, key=SWEEP_KEY, bind="query-params")
        sweep_view(name)
    else:
        st.info("No sweep yet. Start one below: its trials join the training queue.")
    new_sweep_form()


@st.fragment(run_every=3.0)
def sweep_view(name: str) -> None:
    """The sweep's state, read afresh every few seconds while its trials run."""
    try:
        summary = sweep_summary(name)
    except (ConfigError, RunError, KeyError, ValueError) as error:
        st.warning(f"Sweep {plain(name)} can't be read: {plain(error)}")
        return
    spec, trials = summary.spec, summary.trials
    states = pd.Series([t["state"] for t in trials]).value_counts().to_dict()
    st.markdown(
        f"**{plain(spec.name)}** · {plain(spec.preset)} on {plain(spec.dataset)} · "
        f"{len(trials)}/{spec.trials} trials · " + ", ".join(f"{count} {state}" for state, count in states.items())
    )
    best_trial(summary)
    finished = [t for t in trials if t["value"] is not None and t["state"] in ("complete", "pruned")]
    st.subheader("Trials across their values")
    if len(finished) >= 2:
        frame = pd.DataFrame([{"trial": t["number"], "value": t["value"], **t["params"]} for t in finished])
        log_params = {n for n, text in spec.params.items() if text.startswith("loguniform")}
        draw_chart(st, charts.parallel_coordinates, frame, list(spec.params), log_params)
        st.caption("A pruned trial shows the accuracy it had when it was stopped.")
    else:
        st.caption("The chart appears when two trials have finished.")
    st.subheader("What mattered")
    if summary.importance:
        draw_chart(st, charts.importance_bars, summary.importance)
    else:
        st.caption("Parameter importance needs two complete trials with different values.")
    trials_table(spec, trials)


def best_trial(summary) -> None:
    best = summary.best
    if best is None:
        st.caption("No trial has completed yet.")
        return
    values = ", ".join(f"{k} = {v:.4g}" if isinstance(v, float) else f"{k} = {v}" for k, v in best["params"].items())
    # The values come from the sweep's journal on disk: shown as written, never as markdown.
    st.success(f"Best: trial {best['number']}, validation accuracy {best['value']:.2%} with {plain(values)}.")
    open_links(best["run_id"], summary.spec.dataset)


def trials_table(spec: SweepSpec, trials: list[dict]) -> None:
    st.subheader("Trials")
    rows = [
        {"trial": t["number"], "state": t["state"], **t["params"], "best val accuracy": t["value"], "run": t["run_id"]}
        for t in trials
    ]
    frame = pd.DataFrame(rows, columns=["trial", "state", *spec.params, "best val accuracy", "run"])
    frame["best val accuracy"] = accuracy_percent(frame["best val accuracy"]).to_numpy()
    st.dataframe(
        frame,
        hide_index=True,
        column_config={"best val accuracy": st.column_config.NumberColumn(format=ACCURACY_FORMAT)},
    )


def new_sweep_form() -> None:
    """Create a sweep on the sidebar's dataset and queue its trials."""
    with st.expander("Start a sweep", expanded=not sweep_names()):
        with st.form("new_sweep"):
            top = st.columns([2, 1, 1, 1])
            name = top[0].text_input("Name", placeholder="lr-search")
            preset = top[1].selectbox("Preset", ["quick", "strong"])
            trials = top[2].number_input("Trials", min_value=1, max_value=200, value=8)
            sampler = top[3].selectbox("Sampler", ["tpe", "random", "grid"])
            params = st.text_area(
                "What to vary, one per line",
                value=EXAMPLE_PARAMS,
                help="NAME=loguniform:LOW:HIGH, uniform:LOW:HIGH, int:LOW:HIGH or choice:A,B,C; "
                "NAME is any training setting (python -m core train --help).",
            )
            subset = st.number_input(
                "Train subset (0 = all)",
                min_value=0,
                max_value=55_000,
                value=5_000,
                step=1_000,
                help="Fewer images make each trial quicker; the validation split is the same.",
            )
            submitted = st.form_submit_button(f"Queue the trials on {selected_dataset()}", type="primary")
        if submitted:
            start_sweep(name.strip(), preset, int(trials), sampler, params, int(subset))


def start_sweep(name: str, preset: str, trials: int, sampler: str, params: str, subset: int) -> None:
    try:
        parsed = dict(parse_param(line) for line in params.splitlines() if line.strip())
        overrides = {"train_subset": subset} if subset else {}
        spec = SweepSpec(name, selected_dataset(), preset, parsed, trials, sampler, overrides)
        create_sweep(spec)
        queued = queue_trials(spec.name)
    except (ConfigError, OSError) as error:
        st.error(f"Not started: {plain(error)}")
        return
    st.session_state[STARTED_KEY] = spec.name if queued else None
    st.rerun()


page()
