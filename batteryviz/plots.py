"""Kept for code written before :mod:`batteryviz.viz`: the plot builders now live in
:mod:`batteryviz.viz.plots` (``from batteryviz import plots; plots.cycle_life(result)`` still
works)."""

from __future__ import annotations


def __getattr__(name: str):
    import importlib

    return getattr(importlib.import_module("batteryviz.viz.plots"), name)
