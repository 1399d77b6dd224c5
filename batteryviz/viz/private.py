"""Every use batteryviz makes of Panel's, HoloViews' and Bokeh's private names, in one place.

Private names change without notice between releases. Each use is listed in
:data:`PRIVATE_ACCESS` with why it is needed and where, checked against the versions in
:data:`CHECKED_WITH`; ``tests/test_architecture.py`` resolves every entry against the installed
libraries (an upgrade that removes one fails there, by name) and checks that no other module
touches these names. The simple reads are functions here; two places must subclass or wrap a
private method where it is (listed with their module).
"""

from __future__ import annotations

#: The versions every entry below was checked against.
CHECKED_WITH = {"panel": "1.9.4", "holoviews": "1.23.2", "bokeh": "3.9.2"}

#: (object path, private attribute, where batteryviz uses it, why).
PRIVATE_ACCESS = [
    (
        "holoviews.Layout",
        "_max_cols",
        "batteryviz.viz.private.layout_columns",
        "the columns a Layout was given with .cols(n): the dashboard lays figures out in as many",
    ),
    (
        "panel.pane.DataFrame",
        "_stylesheets",
        "batteryviz.viz.private.dataframe_stylesheets",
        "Panel's table CSS for HTML tables made in a worker thread instead of on the event loop",
    ),
    (
        "panel.pane.Markdown",
        "_get_parser",
        "batteryviz.viz.private.markdown_to_html",
        "render Markdown exactly as Panel does, to check what a reader sees of escaped text",
    ),
    (
        "panel.theme.Fast",
        "_resources",
        "batteryviz.viz.private.fast_resources_without_font",
        "the Fast design without its web font: a lab's page asks no third party for anything",
    ),
    (
        "panel.widgets.FileDropper",
        "_rename",
        "batteryviz.viz.private.file_dropper_rename",
        "the upload widget's own parameters are not sent to the browser model",
    ),
    (
        "panel.widgets.FileDropper",
        "_rename",
        "batteryviz.ui.upload.SpooledFileDropper",
        "overridden: the spooling widget's bounds (max bytes, stalls) stay on the server",
    ),
    (
        "panel.template.FastListTemplate",
        "_modify_doc",
        "batteryviz.ui.app._Page",
        "overridden: models are added with Bokeh's model index frozen (a fifth of a session)",
    ),
    (
        "panel.io.document",
        "_dispatch_msgs",
        "batteryviz.ui.panel_fixes.install",
        "wrapped: messages queued while a dispatch awaits its writes are sent (else lost)",
    ),
]


def layout_columns(layout) -> int:
    """The number of columns a HoloViews Layout was given (1 when none)."""
    return int(getattr(layout, "_max_cols", None) or 1)


def dataframe_stylesheets() -> list:
    """The stylesheets of Panel's DataFrame pane."""
    import panel as pn

    return list(pn.pane.DataFrame._stylesheets)


def markdown_to_html(markdown: str) -> str:
    """``markdown`` rendered to HTML by the parser Panel's Markdown pane uses."""
    import panel as pn

    return pn.pane.Markdown._get_parser("markdown-it", ()).render(markdown)


def fast_resources_without_font() -> dict:
    """The resources of Panel's Fast design with its web font left out."""
    import panel as pn

    return {**pn.theme.Fast._resources, "font": {}}


def file_dropper_rename() -> dict:
    """The FileDropper widget's map of parameters to browser-model properties."""
    import panel as pn

    return dict(pn.widgets.FileDropper._rename)
