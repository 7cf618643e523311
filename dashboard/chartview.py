"""Drawing the charts of ``dashboard.charts``, each built and validated by Altair once per input.

Altair builds a chart and checks it against the Vega-Lite schema on every call: 10–60 ms per chart
measured here, on every rerun of every page, for a chart whose data has not changed. ``draw_chart``
keeps the finished Vega-Lite spec, keyed on the builder and its arguments, and hands it to
``st.vega_lite_chart`` (what ``st.altair_chart`` does after its own conversion).
"""

from __future__ import annotations

import marshal
import threading
import zlib
from collections.abc import Callable

import altair as alt
import streamlit as st

# Altair's theme and data transformer are settings of the whole process; sessions run in threads.
_ALTAIR_SETTINGS = threading.Lock()


def _build_spec(build: Callable[..., alt.TopLevelMixin], *args, **kwargs) -> dict:
    # As st.altair_chart converts: without Altair's default theme (its fixed 300-pixel view), and
    # with the data inline however many rows it has (Streamlit sends it as Arrow).
    with _ALTAIR_SETTINGS, alt.theme.enable("none"), alt.data_transformers.enable("default", max_rows=None):
        return build(*args, **kwargs).to_dict()


@st.cache_data(show_spinner=False, max_entries=256)
def _kept_spec(_build: Callable[..., alt.TopLevelMixin], builder_key: str, *args, **kwargs) -> dict:
    return _build_spec(_build, *args, **kwargs)


def _builder_key(build: Callable) -> str:
    """The builder's module, name and code: a module-level function, so that nothing outside its
    arguments (a closure's captured values) can change the chart under the same key."""
    if "<" in build.__qualname__ or build.__closure__:
        raise ValueError(f"draw_chart needs a module-level chart builder, not {build.__qualname__}")
    code = zlib.crc32(marshal.dumps(build.__code__))  # an edited builder, reloaded, makes new charts
    return f"{build.__module__}.{build.__qualname__}:{code:08x}"


def draw_chart(
    where,
    build: Callable[..., alt.TopLevelMixin],
    *args,
    key: str | None = None,
    selection_mode: str | None = None,
    kept: bool = True,
    **kwargs,
):
    """``where.altair_chart(build(*args, **kwargs))``, the chart's spec kept for the next rerun.

    ``build`` is a module-level function (its module, name and code key the cache, with the
    arguments). ``kept=False`` for a chart whose data changes on every rerun (a run's live curves):
    keeping it would only push the other pages' charts out of the cache. With ``selection_mode``
    ("cell", "brush"), a selection reruns the page and the chart's state is returned, as
    ``st.altair_chart(..., on_select="rerun")`` does.
    """
    spec = _kept_spec(build, _builder_key(build), *args, **kwargs) if kept else _build_spec(build, *args, **kwargs)
    if selection_mode is None:
        return where.vega_lite_chart(spec=spec, key=key)
    return where.vega_lite_chart(spec=spec, key=key, on_select="rerun", selection_mode=selection_mode)
