"""Drawing the charts of ``dashboard.charts``, each built and validated by Altair once per input.

Altair builds a chart and checks it against the Vega-Lite schema on every call: 10–60 ms per chart
measured here, on every rerun of every page, for a chart whose data has not changed. ``draw_chart``
keeps the finished Vega-Lite spec, keyed on the builder and its arguments, and hands it to
``st.vega_lite_chart`` (what ``st.altair_chart`` does after its own conversion).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import altair as alt
import streamlit as st

# Altair's theme and data transformer are settings of the whole process; sessions run in threads.
_ALTAIR_SETTINGS = threading.Lock()


@st.cache_data(show_spinner=False, max_entries=256)
def _spec(_build: Callable[..., alt.TopLevelMixin], name: str, *args, **kwargs) -> dict:
    # As st.altair_chart converts: without Altair's default theme (its fixed 300-pixel view), and
    # with the data inline however many rows it has (Streamlit sends it as Arrow).
    with _ALTAIR_SETTINGS, alt.theme.enable("none"), alt.data_transformers.enable("default", max_rows=None):
        return _build(*args, **kwargs).to_dict()


def draw_chart(
    where,
    build: Callable[..., alt.TopLevelMixin],
    *args,
    key: str | None = None,
    selection_mode: str | None = None,
    **kwargs,
):
    """``where.altair_chart(build(*args, **kwargs))``, the chart's spec kept for the next rerun.

    ``build`` is a module-level function (its module and name key the cache, with the arguments).

    With ``selection_mode`` ("cell", "brush"), a selection reruns the page and the chart's state is
    returned, as ``st.altair_chart(..., on_select="rerun")`` does.
    """
    spec = _spec(build, f"{build.__module__}.{build.__qualname__}", *args, **kwargs)
    if selection_mode is None:
        return where.vega_lite_chart(spec=spec, key=key)
    return where.vega_lite_chart(spec=spec, key=key, on_select="rerun", selection_mode=selection_mode)
