"""Text read from disk, made safe for Streamlit's markdown: shown as written, never as a link, image or format.

Streamlit renders st.caption, st.warning, st.markdown… as markdown: a run folder's model name or error
could fetch an image from a URL or draw a convincing link. Names are checked where they are read
(core.config); what still carries text from disk (errors quoting a file's values, a run's error
message) goes through ``plain``.
"""

from __future__ import annotations

import re

# CommonMark's backslash escapes cover ASCII punctuation; Streamlit adds :colour[…] and :icon: directives
# and $…$ for LaTeX, so ':' and '$' are escaped too.
_MARKDOWN = re.compile(r"([\\`*_{}\[\]<>()#+\-.!|~$:&\"'=])")


def plain(text: object) -> str:
    """``text`` with every character markdown could act on escaped, and no line breaks."""
    return _MARKDOWN.sub(r"\\\1", " ".join(str(text).split()))
