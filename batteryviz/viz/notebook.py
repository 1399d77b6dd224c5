"""What a Jupyter kernel needs before batteryviz's views display in it.

A lab without internet access must see its plots: in a notebook the JavaScript and CSS of
Bokeh, HoloViews and Panel (and of the Panel extensions a view uses) go into the notebook itself
instead of coming from their CDNs (the default), where a blocked request leaves every plot and
widget an empty box with no message. Outside a kernel (a server, a script, a test) nothing is
displayed and the served pages bring their own resources.
"""

from __future__ import annotations

import sys


def in_notebook() -> bool:
    """Whether this process is a Jupyter kernel (not a server, a script or a test)."""
    shell = sys.modules.get("IPython") and sys.modules["IPython"].get_ipython()
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


_loaded: set[str] = set()


def load_extensions(*panel_extensions: str) -> None:
    """Load HoloViews' Bokeh backend, and in a notebook Panel with ``panel_extensions`` (e.g.
    ``"tabulator"``), their resources inlined into the notebook. Each extension is loaded once
    per kernel, so a view needs no ``pn.extension(...)`` cell of its own."""
    import holoviews as hv

    if not in_notebook():
        if not hv.Store.renderers:
            hv.extension("bokeh", logo=False)
        return
    import panel as pn

    pn.config.inline = True
    if "holoviews" not in _loaded:
        hv.extension("bokeh", logo=False, inline=True)
        _loaded.add("holoviews")
    wanted = [name for name in panel_extensions if name not in _loaded]
    if wanted:
        pn.extension(*wanted, inline=True)
        _loaded.update(wanted)
