"""A workaround for a race in Panel's delivery of page updates (found in Panel 1.9.4; not yet
reported upstream).

When a page's websocket is busy, Panel turns updates into messages, queues them per document
(``panel.io.document._WRITE_MSGS``) and starts a task that sends the queue
(``_dispatch_msgs``). If a second update is queued while that task awaits its writes, and the
task resumes before the second task starts, the first task ends the queue's "in progress" mark
and the second task, finding no mark, returns: the second update stays queued until the page
changes again. Under load (20 browsers on two cores) this left a dashboard tab showing
"Loading…" for good although the server had built it (two sessions of eighty in one benchmark
run of session 6). :func:`install` wraps ``_dispatch_msgs`` so that, after it returns, messages
still queued without a task on the way are sent.
"""

from __future__ import annotations

import functools

_INSTALLED_ATTR = "_batteryviz_sends_stragglers"


def install() -> bool:
    """Wrap Panel's message dispatch (once per process). Returns whether it is in place: False
    when this Panel has no such function (a version without the queue)."""
    try:
        from panel.io import document as pdoc
    except ImportError:  # pragma: no cover - panel is a dashboard extra
        return False
    original = getattr(pdoc, "_dispatch_msgs", None)
    needed = ("_WRITE_MSGS", "_WRITE_BLOCK", "_dispatch_write_task")
    if original is None or not all(hasattr(pdoc, name) for name in needed):
        return False
    if getattr(original, _INSTALLED_ATTR, False):
        return True

    @functools.wraps(original)
    async def dispatch_then_send_stragglers(doc):
        await original(doc)
        # queued while `original` awaited its writes, after it had taken the queue: if no
        # dispatch is marked as on the way, start one (a task already on the way sends them)
        if pdoc._WRITE_MSGS.get(doc) and doc not in pdoc._WRITE_BLOCK:
            pdoc._WRITE_BLOCK[doc] = True
            pdoc._dispatch_write_task(doc, pdoc._dispatch_msgs, doc)

    setattr(dispatch_then_send_stragglers, _INSTALLED_ATTR, True)
    pdoc._dispatch_msgs = dispatch_then_send_stragglers
    return True
