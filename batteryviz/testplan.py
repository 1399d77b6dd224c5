"""Cycler test plans (BaSyTec ``.pln`` exported as text): nominal C-rates per step and cycle.

A plan is a list of numbered lines::

    4: Charge        I=0.1CA             U>4.20V
    6: Discharge     I=0.1CA             U<2.80V
    8: Cycle-end     Count=2

``Charge``/``Discharge`` lines carry the current as a multiple of the nominal capacity
(``I=0.5CA``, decimal comma accepted); ``Cycle-end Count=N`` closes a loop run N times. The
predecessor matched "Charge" inside "Discharge" and so gave every period the discharge rate;
here the command is the first word of the line and is compared whole.

Two ways to label cycles with the plan's rates:

* by **line**: BaSyTec data carry the plan line of every record (``Line`` → ``step_index``), so
  each cycle's charge and discharge get the rate of the line they ran — exact, whatever the
  cycle numbering;
* by **period**: without line numbers, loops are unrolled into periods of cycle numbers
  ``(first, last, charge C, discharge C)``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import ParseError

_LINE = re.compile(r"^\s*(?:(\d+)\s*[:.)]\s*)?([A-Za-z][\w-]*)\s*(.*)$")
_RATE = re.compile(r"\bI\s*=\s*([-+]?\d+(?:[.,]\d+)?)\s*C(?:A)?\b", re.IGNORECASE)
_COUNT = re.compile(r"Count\s*=\s*(\d+)", re.IGNORECASE)


@dataclass
class PlanStep:
    line: int
    command: str
    c_rate: float | None
    text: str


@dataclass
class TestPlan:
    """A parsed test plan."""

    steps: list[PlanStep] = field(default_factory=list)
    periods: list[tuple[int, int, float | None, float | None]] = field(default_factory=list)
    name: str = ""

    __test__ = False  # not a pytest test class

    def rate_of_line(self) -> dict[int, float]:
        """Plan line → nominal C-rate of its Charge/Discharge command."""
        return {s.line: s.c_rate for s in self.steps if s.c_rate is not None}

    @property
    def total_cycles(self) -> int:
        return self.periods[-1][1] if self.periods else 0


def parse_test_plan(source: str | Path) -> TestPlan:
    """Parse a test plan from a file path or its text."""
    name = ""
    if isinstance(source, Path) or (
        isinstance(source, str) and "\n" not in source and Path(source).exists()
    ):
        path = Path(source)
        raw = path.read_bytes()
        for enc in ("utf-8", "cp1252", "latin-1"):
            try:
                text = raw.decode(enc)
                break
            except UnicodeDecodeError:
                continue
        name = path.name
    else:
        text = str(source)
    plan = TestPlan(name=name)
    pending_charge = pending_discharge = None
    cycle = 1
    for k, raw_line in enumerate(text.splitlines(), start=1):
        m = _LINE.match(raw_line)
        if not m or not raw_line.strip():
            continue
        line_no = int(m.group(1)) if m.group(1) else k
        command, rest = m.group(2), m.group(3)
        low = command.lower()
        rate = None
        if low in ("charge", "discharge"):
            r = _RATE.search(rest)
            if r:
                rate = abs(float(r.group(1).replace(",", ".")))
            if low == "charge":
                pending_charge = rate
            else:
                pending_discharge = rate
        elif low.replace("_", "-") in ("cycle-end", "cycleend"):
            c = _COUNT.search(rest)
            if not c:
                raise ParseError("Cycle-end without Count=N", path=name or None, line=k)
            count = int(c.group(1))
            plan.periods.append((cycle, cycle + count - 1, pending_charge, pending_discharge))
            cycle += count
        plan.steps.append(PlanStep(line_no, command, rate, raw_line.strip()))
    return plan


def nominal_rates(
    plan: TestPlan,
    cycle_numbers: np.ndarray,
    step_index: np.ndarray | None,
    step_type: np.ndarray | None,
    starts: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray, str]:
    """Nominal charge and discharge C-rate per cycle, and how they were assigned."""
    m = len(cycle_numbers)
    ch = np.full(m, np.nan)
    dis = np.full(m, np.nan)
    rates = plan.rate_of_line()
    if step_index is not None and step_type is not None and starts is not None and rates:
        n = step_index.size
        bounds = np.r_[starts, n]
        for k in range(m):
            sl = slice(bounds[k], bounds[k + 1])
            lines, types = step_index[sl], step_type[sl]
            for code, out in ((1, ch), (2, dis)):
                sel = lines[types == code]
                if sel.size:
                    out[k] = rates.get(int(sel[0]), np.nan)
        return ch, dis, "test plan, by the plan line each half cycle ran (step_index)"
    for first, last, c_rate, d_rate in plan.periods:
        sel = (cycle_numbers >= first) & (cycle_numbers <= last)
        ch[sel] = np.nan if c_rate is None else c_rate
        dis[sel] = np.nan if d_rate is None else d_rate
    return ch, dis, "test plan, by cycle-number periods of its loops"
