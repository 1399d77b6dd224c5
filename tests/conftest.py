from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

# Test servers build many pages from one address in quick succession; the page-build limit is
# pinned down by tests/security/test_page_limits.py on servers of its own.
os.environ.setdefault("BATTERYVIZ_PAGES_PER_MINUTE", "100000")
os.environ.setdefault("BATTERYVIZ_PAGE_BURST", "100000")

DATA = Path(__file__).parent / "data"
REAL = DATA / "real"


@pytest.fixture(scope="session")
def real():
    return REAL


@pytest.fixture(scope="session")
def example_path():
    from batteryviz.examples import example_file

    return example_file()


@pytest.fixture(scope="session")
def truth():
    from batteryviz.examples import HERE

    return json.loads((HERE / "basytec_rate_fade.truth.json").read_text())


@pytest.fixture(scope="session")
def example_ds(example_path):
    import batteryviz as bv

    return bv.read(example_path)


@pytest.fixture(scope="session")
def simulated_de_path():
    """The simulated 34-cycle BaSyTec export, space-separated with decimal commas."""
    return Path(__file__).parent / "data" / "simulated" / "basytec_rate_fade_de.txt"


@pytest.fixture(scope="module")
def browser():
    """Debian's headless Chromium driven by Playwright, one per test module."""
    from playwright.sync_api import sync_playwright

    from .dashboard_support import CHROMIUM, CHROMIUM_ARGS

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()
