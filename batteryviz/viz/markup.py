"""The one way text from users and files enters a page: as text, never as markup.

Panel's ``Markdown`` and ``Alert`` panes render Markdown *with raw HTML allowed*, and Bokeh's
``MultiChoice`` draws its option labels as HTML. A file name, a header value of a cycler file
(``~Name of Test: <img src=x onerror=…>``), a cell id from the URL or the text of an error that
quotes a file's first line would otherwise be markup in somebody's browser — stored cross-site
scripting, when it comes from a file kept in the workspace. So every string that did not come
from batteryviz's own source code goes through this module before it reaches a pane:

* :func:`escape` — a string shown literally inside Markdown (HTML special characters become
  entities, Markdown punctuation is backslash-escaped, so neither HTML nor Markdown syntax —
  links, images, emphasis — can be formed by it);
* :func:`md` — a Markdown template of our own with escaped values, ``md("**{}** saved", name)``;
* :func:`alert` — an ``Alert`` pane showing a plain-text message (what an error says);
* :func:`option_label` — a label for a widget that draws labels as HTML (``MultiChoice``);
* :func:`html_text` — text inside HTML we write ourselves (attribute-safe).

Long values are cut (:data:`MAX_TEXT`) so a hostile 10 MB field cannot make a 10 MB page.
"""

from __future__ import annotations

import html
import re

#: The most characters of one user- or file-derived string a page shows.
MAX_TEXT = 2000

# ASCII punctuation that can start or end Markdown syntax (CommonMark lets any of it be escaped
# with a backslash). ``&``, ``<``, ``>``, ``"`` and ``'`` are left to html.escape: a backslash
# before an entity would show the entity's name instead of its character.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~=:$%^@/])")


def shorten(text: object, limit: int = MAX_TEXT) -> str:
    """``str(text)`` cut to ``limit`` characters (with the number of characters left off)."""
    text = str(text)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text) - limit:,} more characters)"


def escape(text: object, limit: int = MAX_TEXT) -> str:
    """``text`` as Markdown that renders to exactly that text (no HTML, no Markdown syntax).

    >>> escape("<img src=x onerror=alert(1)> *bold*")
    '&lt;img src\\\\=x onerror\\\\=alert\\\\(1\\\\)&gt; \\\\*bold\\\\*'
    """
    out = _MARKDOWN_SPECIAL.sub(r"\\\1", shorten(text, limit))
    out = html.escape(out, quote=True)
    # a line break in a message stays a line break, never a Markdown block (a "- " list, a header)
    return out.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "  \n")


def md(template: str, *args: object, **kwargs: object) -> str:
    """Our own Markdown ``template`` formatted with escaped values."""
    return template.format(*(escape(a) for a in args), **{k: escape(v) for k, v in kwargs.items()})


def bullet_list(items) -> str:
    """Markdown list of escaped items."""
    return "\n".join(f"- {escape(item)}" for item in items)


def html_text(text: object, limit: int = MAX_TEXT) -> str:
    """``text`` for HTML we write ourselves (element content or a quoted attribute)."""
    return html.escape(shorten(text, limit), quote=True)


def option_label(text: object, limit: int = 200) -> str:
    """A label for widgets that draw their labels as HTML (Bokeh's ``MultiChoice``)."""
    return html.escape(shorten(text, limit), quote=True)


def alert(message: object, kind: str = "danger", heading: str = "", **params):
    """An ``Alert`` pane showing ``message`` as plain text (after an optional heading of ours,
    Markdown). Use it for every message that may quote a user's input or a file."""
    import panel as pn

    body = escape(message)
    return pn.pane.Alert(f"{heading}\n\n{body}" if heading else body, alert_type=kind, **params)


def to_text(markdown: str) -> str:
    """What a reader sees of ``markdown`` as Panel renders it (tags dropped, entities decoded):
    for logs and tests."""
    from .private import markdown_to_html

    rendered = markdown_to_html(markdown)
    return html.unescape(re.sub(r"<[^>]+>", "", rendered)).strip()
