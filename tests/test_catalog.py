"""intake 2 catalogs of cells: build, reopen, read lazily, combine, batch."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

import batteryviz as bv
from batteryviz import catalog as bvc
from batteryviz.cli import main

from .conftest import REAL

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture()
def lab(tmp_path):
    data = tmp_path / "lab" / "data"
    data.mkdir(parents=True)
    for rel in (
        "neware/cellpy_neware_uio.csv",
        "maccor/cellpy_maccor_001.txt",
        "biologic/bdf_PEIS-0.mpr",
    ):
        shutil.copy(REAL / rel, data / Path(rel).name)
    (data / "notes.md").write_text("# lab notes\n")
    return data


def test_build_and_reopen_a_catalog(lab, tmp_path):
    out = tmp_path / "lab" / "catalogs" / "lab.yaml"
    assert main(["catalog", "build", str(lab), "-o", str(out), "--tag", "2024-campaign"]) == 0
    text = out.read_text()
    assert (
        "version: 2" in text and "{CATALOG_DIR}/../data/" in text and "user_parameters: {}" in text
    )
    cat = bvc.open_catalog(out)
    names = bvc.cell_names(cat)
    assert names == ["bdf_peis_0_mpr", "cellpy_maccor_001_txt", "cellpy_neware_uio_csv"]
    meta = cat["cellpy_neware_uio_csv"].metadata
    assert (
        meta["reader"] == "neware" and meta["records"] == 9065 and "2024-campaign" in meta["tags"]
    )
    assert "notes.md" in cat.metadata["skipped"]
    ds = cat["cellpy_maccor_001_txt"].read()
    assert ds.attrs["reader"] == "maccor" and ds.sizes["record"] == 6704


def test_cells_open_lazily_and_combine(lab, tmp_path):
    out = tmp_path / "lab.yaml"
    bvc.build_catalog(lab, out)
    cat = bvc.open_catalog(out)
    cells = bvc.open_cells(
        cat, names=["cellpy_neware_uio_csv", "cellpy_maccor_001_txt"], chunks=2000
    )
    summaries = {name: bv.CycleSummary().compute(ds) for name, ds in cells.items()}
    assert all(hasattr(s["discharge_capacity_ah"].data, "dask") for s in summaries.values())
    combined = bvc.combine({k: v.compute() for k, v in summaries.items()})
    assert combined.sizes["cell"] == 2 and list(combined["cell"].values) == list(cells)
    neware = (
        combined["discharge_capacity_ah"].sel(cell="cellpy_neware_uio_csv").dropna("cycle").values
    )
    np.testing.assert_allclose(neware, [0.005086, 0.004368, 0.007974, 0.003315], atol=2e-6)


def test_bundled_example_catalog():
    cat = bvc.open_catalog(ROOT / "catalogs" / "example.yaml")
    assert bvc.cell_names(cat) == ["basytec_rate_fade_txt"]
    assert cat["basytec_rate_fade_txt"].read().sizes["record"] == 16325


def test_batch_over_a_catalog(lab, tmp_path):
    from batteryviz.cli import _batch_files

    out = tmp_path / "lab.yaml"
    bvc.build_catalog(lab, out)
    files = _batch_files([str(out)])
    assert sorted(Path(f).name for f in files) == [
        "bdf_PEIS-0.mpr",
        "cellpy_maccor_001.txt",
        "cellpy_neware_uio.csv",
    ]


def test_an_analysis_over_all_cells_of_a_catalog_is_lazy_and_on_a_cell_dimension(lab, tmp_path):
    import dask

    from .test_lazy import CountingScheduler

    out = tmp_path / "lab.yaml"
    bvc.build_catalog(lab, out)
    cat = bvc.open_catalog(out)
    names = ["cellpy_neware_uio_csv", "cellpy_maccor_001_txt"]
    cells = bvc.open_cells(cat, names=names, chunks="auto")
    scheduler = CountingScheduler()
    with dask.config.set(scheduler=scheduler):
        lazy = bv.CycleSummary().compute(cells)
        assert scheduler.calls == 0 and hasattr(lazy["discharge_capacity_ah"].data, "dask")
        result = lazy.compute()
    assert list(result["cell"].values) == names and result.attrs["analysis"] == "CycleSummary"
    for name in names:
        alone = bv.CycleSummary().compute(cat[name].read())
        got = result["discharge_capacity_ah"].sel(cell=name).sel(cycle=alone["cycle"].values)
        np.testing.assert_allclose(got, alone["discharge_capacity_ah"], rtol=1e-12)
    dqdu = bv.DifferentialCapacity(cycles=[1, 2]).compute(cells)
    assert dqdu.sizes["cell"] == 2 and "charge_peak_voltage" in dqdu
    with pytest.raises(ValueError, match="chunks must be"):
        bvc.open_cells(cat, chunks=0)


def test_several_cells_combine_without_the_catalog_extra(tmp_path):
    """Combining per-cell results is plain xarray: it works where intake is not installed."""
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['intake'] = "
        "None\n"  # importing intake now fails, as without the extra
        "import batteryviz as bv\n"
        "from batteryviz.analysis.summary import CycleSummary\n"
        "ds = bv.read(bv.example_file())\n"
        "r = CycleSummary().compute({'a': ds, 'b': ds})\n"
        "print(r.sizes['cell'], list(r['cell'].values))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split()[:1] == ["2"]
