"""The page table: every page of the dashboard, once.

Read by ``app.py`` (the navigation), the AppTests, the browser test and the benchmark, so a page
added here is drawn, tested and timed; a page is one file in ``app_pages/`` and one row below.
No Streamlit import: the benchmark and the tests read the table without starting an app.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PageEntry:
    file: str  # in dashboard/app_pages/
    title: str  # its name in the navigation
    heading: str  # how its title starts on the page (tests and the benchmark wait for it)
    icon: str  # a Material icon, as st.Page takes it
    section: str  # the navigation group it is listed under

    @property
    def script(self) -> str:
        """The path AppTest.switch_page and st.page_link take."""
        return f"app_pages/{self.file}"

    @property
    def url_path(self) -> str:
        """Where the page lives in the URL: "" for the first page, else the file's name."""
        return "" if self is PAGES[0] else self.file.removesuffix(".py")


PAGES: tuple[PageEntry, ...] = (
    PageEntry("runs.py", "Runs", "Runs", ":material/table_rows:", "Overview"),
    PageEntry("dataset.py", "Dataset", "Dataset ·", ":material/grid_view:", "Overview"),
    PageEntry("curves.py", "Training curves", "Training curves", ":material/show_chart:", "Overview"),
    PageEntry("confusion.py", "Confusion matrix", "Confusion matrix", ":material/apps:", "Where it goes wrong"),
    PageEntry("errors.py", "Errors", "Errors", ":material/error:", "Where it goes wrong"),
    PageEntry("label_issues.py", "Label issues", "Likely label errors", ":material/label_off:", "Where it goes wrong"),
    PageEntry("embedding.py", "Embedding map", "Embedding map", ":material/scatter_plot:", "Where it goes wrong"),
    PageEntry("compare.py", "Run against run", "Run against run", ":material/compare_arrows:", "Where it goes wrong"),
    PageEntry("draw.py", "Draw or upload", "Draw or upload", ":material/draw:", "Model"),
    PageEntry("model_card.py", "Model card", "Model card", ":material/account_tree:", "Model"),
    PageEntry("train.py", "Train", "Train", ":material/model_training:", "Model"),
    PageEntry("sweeps.py", "Sweeps", "Sweeps", ":material/tune:", "Model"),
    PageEntry("import_model.py", "Import a model", "Import a model", ":material/upload_file:", "Model"),
)


def page_entry(file: str) -> PageEntry:
    """The entry of one page file (``"errors.py"``); KeyError names the known files."""
    for entry in PAGES:
        if entry.file == file:
            return entry
    raise KeyError(f"no page {file!r}; the pages are: {', '.join(e.file for e in PAGES)}")
