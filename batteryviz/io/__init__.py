"""Readers of cycler files. ``READERS`` lists them; ``read`` detects the format and reads."""

from .reading import read
from .registry import READERS, detect

__all__ = ["READERS", "detect", "read"]
