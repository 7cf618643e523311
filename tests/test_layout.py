"""The house rules that keep the code easy to pick up, checked rather than hoped for."""

import ast
from pathlib import Path

import pytest

from core.data import PROJECT_ROOT

MAX_FUNCTION_LINES = 80


def python_files(*folders: str) -> list[Path]:
    return sorted(path for folder in folders for path in (PROJECT_ROOT / folder).rglob("*.py"))


@pytest.mark.parametrize("path", python_files("core"), ids=lambda path: str(path.relative_to(PROJECT_ROOT)))
def test_core_never_imports_streamlit(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    imported = [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names]
    imported += [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
    assert not [name for name in imported if name.split(".")[0] == "streamlit"], "core must not depend on the UI"


def test_no_function_is_longer_than_80_lines():
    long = []
    for path in python_files("core", "dashboard", "bench"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(PROJECT_ROOT)}:{node.lineno} {node.name} ({length} lines)")
    assert not long, long


def test_core_prints_only_from_its_command_line():
    printing = []
    for path in python_files("core"):
        if "cli" in path.relative_to(PROJECT_ROOT).parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "print":
                printing.append(f"{path.relative_to(PROJECT_ROOT)}:{node.lineno}")
    assert not printing, printing


def test_pages_draw_charts_through_draw_chart():
    """``st.altair_chart`` builds and validates the chart again on every rerun; ``draw_chart`` keeps it.
    Streamlit's own Altair charts (line, bar, area, scatter) would also set Altair's process-wide
    theme and data transformer under another lock than ``draw_chart``'s."""
    altair_elements = {"altair_chart", "line_chart", "bar_chart", "area_chart", "scatter_chart"}
    direct = []
    for path in python_files("dashboard"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr in altair_elements:
                direct.append(f"{path.relative_to(PROJECT_ROOT)}:{node.lineno}")
    assert not direct, f"use dashboard.chartview.draw_chart: {direct}"
