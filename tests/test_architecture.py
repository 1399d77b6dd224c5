"""The package's import graph points one way: data model → io → analysis → viz → export, store,
batch, catalog → ui, serve, cli. Read from the source with ``ast`` (every ``import``, at module
level or inside a function; ``if TYPE_CHECKING:`` blocks are left out, they never run)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "batteryviz"

#: The bottom layer: what every other part speaks. It imports nothing above itself.
DATA_MODEL = {
    "batteryviz.atomic",
    "batteryviz.schema",
    "batteryviz.cycles",
    "batteryviz.quality",
    "batteryviz.errors",
    "batteryviz.testplan",
}
PLOTTING = ("panel", "holoviews", "bokeh", "batteryviz.viz", "batteryviz.ui", "batteryviz.plots")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Dotted names imported by one file (``from a import b`` gives ``a.b`` when that is a
    module)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = {
        id(n)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        for child in node.body
        for n in ast.walk(child)
    }
    out = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([node.module] if node.module else []))
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                out.add(sub if sub in MODULES else base)
    return out


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}
GRAPH = {name: {d for d in imports_of(p) if d != name} for name, p in MODULES.items()}


def internal(name: str) -> set[str]:
    return {d for d in GRAPH[name] if d in MODULES}


def circles() -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan)."""
    index, low, stack, on, found, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in internal(v):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in sorted(MODULES):
        if v not in index:
            visit(v)
    return found


def test_the_graph_is_read_from_every_module():
    assert {
        "batteryviz.io.reading",
        "batteryviz.analysis.summary",
        "batteryviz.viz.plots",
        "batteryviz.ui.app",
    } <= set(MODULES)
    assert (
        "batteryviz.viz.plots" in GRAPH["batteryviz.ui.app"]
        or "batteryviz.viz" in GRAPH["batteryviz.ui.app"]
    )


def test_there_is_no_import_circle():
    assert circles() == []


@pytest.mark.parametrize("name", sorted(n for n in MODULES if n.startswith("batteryviz.io")))
def test_readers_never_import_analyses_or_views(name):
    above = {d for d in GRAPH[name] if d.startswith(("batteryviz.analysis",) + PLOTTING[3:])}
    assert above == set()


@pytest.mark.parametrize("name", sorted(n for n in MODULES if n.startswith("batteryviz.analysis")))
def test_analyses_import_no_plotting_or_widget_library(name):
    assert {d for d in GRAPH[name] if d.startswith(PLOTTING)} == set()


@pytest.mark.parametrize("name", sorted(DATA_MODEL))
def test_the_data_model_imports_nothing_above_it(name):
    own = internal(name) - {"batteryviz"}
    assert own <= DATA_MODEL, own - DATA_MODEL


def test_analysis_modules_do_not_import_holoviews_when_used():
    """Computing needs no plotting library: run in a fresh interpreter and look at sys.modules."""
    import subprocess
    import sys

    code = (
        "import sys, batteryviz as bv; bv.CycleSummary().compute(bv.read(bv.example_file())); "
        "print(sorted(m for m in ('holoviews', 'panel', 'bokeh') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize("command", [["check"], ["format", "--check"]], ids=["lint", "format"])
def test_ruff_keeps_the_style(command):
    """``ruff`` with the configuration in pyproject.toml (line length 100, pyflakes, pycodestyle,
    import sorting) passes on the package, the tests and the benchmarks."""
    import subprocess
    import sys

    root = PACKAGE.parent
    done = subprocess.run(
        [sys.executable, "-m", "ruff", *command, "batteryviz", "tests", "benchmarks"],
        cwd=root,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]


def test_every_private_name_of_panel_holoviews_and_bokeh_is_listed_and_still_there():
    """An upgrade that drops a private name batteryviz relies on fails here, by name; and no
    module but those listed touches one."""
    import importlib

    from batteryviz.viz.private import PRIVATE_ACCESS

    for owner, attr, used_in, _why in PRIVATE_ACCESS:
        module, _, name = owner.rpartition(".")
        try:
            obj = importlib.import_module(owner)
        except ImportError:
            obj = getattr(importlib.import_module(module), name)
        # an attribute set by __init__ (Layout._max_cols) is looked for on an instance
        present = hasattr(obj, attr) or (isinstance(obj, type) and hasattr(obj(), attr))
        assert present, f"{owner}.{attr} (used by {used_in}) is gone"
    allowed = {u.rsplit(".", 1)[0] if u.count(".") > 2 else u for _, _, u, _ in PRIVATE_ACCESS}
    allowed |= {"batteryviz.viz.private"}
    names = {attr for _, attr, _, _ in PRIVATE_ACCESS}
    for module, path in MODULES.items():
        text = path.read_text(encoding="utf-8")
        found = {n for n in names if re.search(rf"\.{n}\b|\b{n}\s*=|def {n}\b", text)}
        if found and not any(module == a or a.startswith(module + ".") for a in allowed):
            pytest.fail(f"{module} uses private {sorted(found)} outside batteryviz.viz.private")
