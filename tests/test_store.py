"""Workspaces keep uploads byte for byte, never show half-written cells, and keep users apart.

Real files on disk (pytest's tmp_path) and fsspec's in-memory filesystem as a remote-like root.
"""

from __future__ import annotations

import hashlib
import json
import uuid

import numpy as np
import pytest

import batteryviz as bv
from batteryviz.errors import BatteryvizError, EmptyFileError
from batteryviz.store import (
    CellNotFoundError,
    UploadTooLargeError,
    Workspace,
    safe_filename,
    user_key,
)


@pytest.fixture
def upload(real):
    path = real / "basytec" / "pyprobe_sample_data_basytec.txt"
    return path.name, path.read_bytes()


def test_upload_is_kept_byte_for_byte_with_its_checksum(tmp_path, upload):
    ws = Workspace(str(tmp_path), "alice", seed_examples=False)
    name, data = upload
    cell = ws.add(name, data, metadata={"active_mass_mg": "2.5"})
    assert ws.original_bytes(cell.id) == data
    assert cell.sha256 == hashlib.sha256(data).hexdigest()
    assert ws.verify(cell.id)
    assert cell.metadata == {"active_mass_mg": 2.5}
    assert cell.format == "basytec" and cell.rows > 0 and cell.cycles >= 1
    # the parsed dataset reopens with its cycle structure, same records as a fresh read
    fresh = bv.read(tmp_path / "users" / user_key("alice") / "cells" / cell.id / "original" / name)
    stored = ws.open_dataset(cell.id)
    np.testing.assert_array_equal(stored["voltage_volt"].values, fresh["voltage_volt"].values)
    assert stored.sizes["cycle"] == cell.cycles


def test_workspace_survives_a_restart(tmp_path, upload):
    ws = Workspace(str(tmp_path), "alice", seed_examples=False)
    cell = ws.add(*upload)
    ws.update_metadata(cell.id, nominal_capacity_mah=50, cycle_mode="charge_first")
    summary = bv.CycleSummary().compute(ws.open_dataset(cell.id))
    ws.save_result(cell.id, "summary", summary)
    # a new process: a new Workspace object over the same root
    again = Workspace(str(tmp_path), "alice", seed_examples=False)
    [record] = again.cells()
    assert record.id == cell.id and record.metadata == {
        "nominal_capacity_mah": 50.0,
        "cycle_mode": "charge_first",
    }
    stored = again.load_result(cell.id, "summary")
    np.testing.assert_allclose(
        stored["discharge_capacity_ah"].values, summary["discharge_capacity_ah"].values
    )
    assert stored.attrs["ce_definition"] == summary.attrs["ce_definition"]


def test_interrupted_upload_is_never_listed_and_is_repaired(tmp_path, upload):
    ws = Workspace(str(tmp_path), "alice", seed_examples=False)
    name, data = upload
    cell_id = hashlib.sha256(data).hexdigest()[:16]
    # what a crash after the original was stored (before cell.json) leaves behind
    half = tmp_path / "users" / user_key("alice") / "cells" / cell_id / "original"
    half.mkdir(parents=True)
    (half / name).write_bytes(data[:100])
    (half.parent / f".tmp-{uuid.uuid4().hex}").write_bytes(b"partial")
    assert ws.cells() == []
    with pytest.raises(CellNotFoundError):
        ws.get(cell_id)
    cell = ws.add(name, data)
    assert cell.id == cell_id and ws.verify(cell.id)
    assert [c.id for c in ws.cells()] == [cell_id]


def test_same_bytes_twice_keep_the_first_cell_and_its_metadata(tmp_path, upload):
    ws = Workspace(str(tmp_path), "alice", seed_examples=False)
    first = ws.add(*upload, metadata={"active_mass_mg": 3.0})
    second = ws.add(upload[0], upload[1], metadata={"active_mass_mg": 9.0})
    assert second.id == first.id and second.metadata == {"active_mass_mg": 3.0}
    assert len(ws.cells()) == 1


def test_users_never_see_each_other(tmp_path, upload):
    alice = Workspace(str(tmp_path), "alice", seed_examples=False)
    cell = alice.add(*upload)
    for name in ("bob", "../alice", "alice/../../x", "alice ", "ALICE"):
        other = Workspace(str(tmp_path), name, seed_examples=False)
        assert other.cells() == []
        with pytest.raises(CellNotFoundError):
            other.get(cell.id)
        with pytest.raises(CellNotFoundError):
            other.original_bytes(cell.id)
        assert other.prefix.startswith(f"{tmp_path}/users/")
        assert other.prefix != alice.prefix
    for bad in ("../" + cell.id, cell.id + "/..", "*", ""):
        with pytest.raises(CellNotFoundError):
            alice.get(bad)


def test_rejected_uploads_are_not_kept(tmp_path, upload):
    ws = Workspace(str(tmp_path), "alice", seed_examples=False, max_upload_bytes=1000)
    with pytest.raises(UploadTooLargeError, match="larger than"):
        ws.add(*upload)
    ws = Workspace(str(tmp_path), "alice", seed_examples=False)
    with pytest.raises(EmptyFileError):
        ws.add("empty.txt", b"")
    with pytest.raises(BatteryvizError, match=r"^notes\.txt: not a format") as err:
        ws.add("notes.txt", b"shopping list\neggs\nmilk\n")
    assert "batteryviz-upload" not in str(err.value)  # no server paths in messages
    assert ws.cells() == []
    assert not list((tmp_path / "users" / user_key("alice") / "cells").iterdir())


def test_new_workspace_starts_with_the_bundled_example(tmp_path):
    ws = Workspace(str(tmp_path), "carol")
    [cell] = ws.cells()
    assert cell.example and cell.format == "basytec"
    assert cell.metadata["nominal_capacity_mah"] == 5000.0
    ws.delete(cell.id)
    assert Workspace(str(tmp_path), "carol").cells() == []  # deleted examples stay deleted


def test_fsspec_root_other_than_a_folder(upload):
    root = f"memory://bv-{uuid.uuid4().hex}"
    ws = Workspace(root, "alice", seed_examples=False)
    cell = ws.add(*upload)
    assert ws.verify(cell.id)
    assert ws.open_dataset(cell.id).sizes["cycle"] == cell.cycles
    assert (
        json.loads(ws.fs.cat_file(f"{ws.prefix}/cells/{cell.id}/cell.json"))["sha256"]
        == cell.sha256
    )


def test_metadata_is_checked(tmp_path, upload):
    ws = Workspace(str(tmp_path), "alice", seed_examples=False)
    cell = ws.add(*upload)
    with pytest.raises(ValueError, match="unknown cell metadata"):
        ws.update_metadata(cell.id, colour="red")
    with pytest.raises(ValueError, match="expected a number"):
        ws.update_metadata(cell.id, active_mass_mg="heavy")
    with pytest.raises(ValueError, match="positive"):
        ws.update_metadata(cell.id, active_mass_mg="-2")
    with pytest.raises(ValueError, match="charge_first"):
        ws.update_metadata(cell.id, cycle_mode="sideways")
    assert ws.update_metadata(cell.id, active_mass_mg="35,125", reference_cycle="30").metadata == {
        "active_mass_mg": 35.125,
        "reference_cycle": 30,
    }
    assert ws.update_metadata(cell.id, active_mass_mg=None, reference_cycle="").metadata == {}


@pytest.mark.parametrize(
    "name, expected",
    [
        ("../../etc/passwd", "passwd"),
        ("C:\\data\\cell 1.txt", "cell 1.txt"),
        ("", "upload"),
        ("a\x00b.txt", "a_b.txt"),
    ],
)
def test_safe_filename(name, expected):
    assert safe_filename(name) == expected


def test_uploaded_catalogs_are_never_opened(tmp_path):
    """An intake catalog can name arbitrary code: as an upload it is refused, not imported."""
    marker = tmp_path / "executed"
    catalog = f"""
metadata:
  version: 2
entries:
  evil:
    kwargs:
      path: "{{{{ __import__('pathlib').Path('{marker}').touch() }}}}"
    reader: os.system
""".encode()
    ws = Workspace(str(tmp_path / "ws"), "alice", seed_examples=False)
    with pytest.raises(BatteryvizError, match=r"^lab\.yaml: not a format"):
        ws.add("lab.yaml", catalog)
    assert not marker.exists() and ws.cells() == []


@pytest.mark.parametrize("name", ["summary", "dqdu", "dvdq", "rate", "cycle_life"])
def test_a_stored_result_gives_the_same_tables_after_a_reload(tmp_path, name):
    """The rate table differed after a page reload: the stored result came back with its
    dimensions in another order and its blocks were shown as the main table."""
    from batteryviz.analysis.registry import ANALYSES

    ws = Workspace(str(tmp_path), "u")
    [record] = ws.cells()
    analysis = ANALYSES[name](**({"cycles": [1, 10, 20]} if name in ("dqdu", "dvdq") else {}))
    result = analysis.compute(ws.open_dataset(record.id))
    ws.save_result(record.id, name, result)
    loaded = ws.load_result(record.id, name)
    assert set(loaded.coords) == set(result.coords) and list(loaded.data_vars) == list(
        result.data_vars
    )
    before, after = analysis.tables(result), analysis.tables(loaded)
    assert list(before) == list(after)
    for key in before:
        assert list(before[key].columns) == list(after[key].columns), key
        assert before[key].shape == after[key].shape, key
