"""Readers of cycler files. ``READERS`` lists them; ``read`` detects the format and reads."""

from .registry import READERS, detect, read

__all__ = ["READERS", "detect", "read"]
