"""Entry point: ``streamlit run dashboard/app.py``. Shared sidebar pickers, navigation, the page."""

import sys
from pathlib import Path

import streamlit as st

# `streamlit run` puts dashboard/ on the path, not the project root that holds core/.
PROJECT_ROOT = Path(__file__).resolve().parent.parent
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

from dashboard.gallery import fold_sidebar_in_narrow_windows  # noqa: E402
from dashboard.pages import PAGES  # noqa: E402
from dashboard.sidebar import draw_sidebar  # noqa: E402
from dashboard.warmup import begin_run, end_run  # noqa: E402

PAGES_DIR = Path(__file__).parent / "app_pages"


def navigation_sections() -> dict[str, list]:
    """The page table as st.navigation's groups, in table order; the first page is the default."""
    sections: dict[str, list] = {}
    for entry in PAGES:
        page = st.Page(PAGES_DIR / entry.file, title=entry.title, icon=entry.icon, default=entry is PAGES[0])
        sections.setdefault(entry.section, []).append(page)
    return sections


def draw_app() -> None:
    # The pickers come before st.navigation: their values are bound to the URL's query
    # parameters, and they must claim them before the navigation resolves the page.
    link_notice = draw_sidebar()
    if link_notice:
        st.warning(link_notice, icon=":material/link_off:")
    # Every page listed: with more than twelve, Streamlit would hide all but ten behind "View more".
    page = st.navigation(navigation_sections(), expanded=True)
    with st.sidebar:
        fold_sidebar_in_narrow_windows(page.url_path)
    page.run()


# A file of our own: a material icon as the page icon is fetched from fonts.gstatic.com, which fails offline.
st.set_page_config(page_title="MNIST Lens", page_icon=str(Path(__file__).with_name("favicon.png")), layout="wide")
# Between script runs the heavy imports go on in the background (dashboard.warmup); never during one.
begin_run()
try:
    draw_app()
finally:
    end_run()
