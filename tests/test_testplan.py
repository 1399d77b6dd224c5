"""Test plans: nominal C-rates per cycle, and the predecessor's charge/discharge mix-up fixed."""

from __future__ import annotations

import numpy as np
import pytest

import batteryviz as bv
from batteryviz.examples import HERE
from batteryviz.testplan import parse_test_plan

PLAN = HERE / "basytec_rate_fade.plan.txt"


def test_periods_unroll_the_loops():
    plan = parse_test_plan(PLAN)
    assert plan.periods == [
        (1, 2, 0.1, 0.1),
        (3, 5, 0.2, 0.2),
        (6, 8, 0.2, 0.5),
        (9, 11, 0.2, 1.0),
        (12, 14, 0.2, 2.0),
        (15, 34, 0.5, 1.0),
    ]
    assert plan.total_cycles == 34


def test_discharge_lines_do_not_overwrite_the_charge_rate():
    plan = parse_test_plan(
        "1: Charge I=0,2CA U>4.2V\n2: Discharge I=1CA U<2.8V\n3: Cycle-end Count=5\n"
    )
    assert plan.periods == [(1, 5, 0.2, 1.0)]


def test_cycle_end_without_count_names_the_line():
    with pytest.raises(bv.BatteryvizError, match="line 2"):
        parse_test_plan("1: Charge I=1CA\n2: Cycle-end\n")


@pytest.mark.parametrize("by_line", [True, False])
def test_summary_labels_every_cycle_with_the_truth_rates(example_ds, truth, by_line):
    ds = example_ds if by_line else example_ds.assign_attrs(cycler="other")
    s = bv.CycleSummary(test_plan=str(PLAN)).compute(ds)
    np.testing.assert_array_equal(
        s["charge_c_rate_nominal"], [c["charge_c_rate_nominal"] for c in truth["cycles"]]
    )
    np.testing.assert_array_equal(
        s["discharge_c_rate_nominal"], [c["discharge_c_rate_nominal"] for c in truth["cycles"]]
    )
    assert ("plan line" in s["charge_c_rate_nominal"].attrs["definition"]) == by_line
