"""Entry point: ``streamlit run dashboard/app.py``. Builds the navigation and runs the page."""

import sys
from pathlib import Path

import streamlit as st

# `streamlit run` puts dashboard/ on the path, not the project root that holds core/.
PROJECT_ROOT = Path(__file__).resolve().parent.parent
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

from dashboard.state import limit_torch_threads  # noqa: E402

st.set_page_config(page_title="MNIST Lens", page_icon="🔍", layout="wide")
limit_torch_threads()

PAGES_DIR = Path(__file__).parent / "app_pages"
navigation = st.navigation([st.Page(PAGES_DIR / "runs.py", title="Runs", icon="📋", default=True)])
navigation.run()
