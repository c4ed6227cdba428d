"""Packing a notebook for hand-in: what goes into the archive, what is said about it, and what is refused."""
import json
import zipfile

import nbformat
import pytest

import fedlab
from fedlab import experiments
from fedlab.handin import PackError, pack


@pytest.fixture
def notebook(tmp_path, monkeypatch):
    """A released notebook (its release stamp names two experiments) in the student's folder."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FEDLAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(experiments, "_runs", {})
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_code_cell("print('hello')"))
    nb.metadata["fedlab"] = {"assignment": "02_noniid", "notebook": "noniid", "release": fedlab.__version__,
                             "experiments": ["noniid_fair", "noniid_unfair"]}
    path = tmp_path / "noniid (1).ipynb"  # renamed by a download: the archive uses the released name
    nbformat.write(nb, path)
    return path


def test_the_archive_holds_the_notebook_and_its_full_runs_named_for_zip_collect(notebook, quick_off, capsys):
    fedlab.experiment("noniid_fair", lambda: {"0": [10.0] * 100, "1": [20.0] * 100}, rounds=100)
    archive = pack(notebook, student="jdoe42", validate=False)
    assert archive == notebook.parent / "02_noniid-jdoe42.zip"
    with zipfile.ZipFile(archive) as zf:
        assert sorted(zf.namelist()) == ["jdoe42+noniid.ipynb", "jdoe42+noniid_fair.history.json"]
        assert json.loads(zf.read("jdoe42+noniid_fair.history.json"))["values"]["0"] == [10.0] * 100
    said = capsys.readouterr().out
    assert "noniid_fair.history.json: 100 rounds, full run" in said
    assert "WARNING noniid_unfair.history.json is missing" in said


def test_a_history_from_quick_mode_or_without_provenance_is_flagged(notebook, quick_off, capsys):
    (notebook.parent / "noniid_fair.history.json").write_text(json.dumps(
        {"values": [1.0, 2.0], "provenance": {"quick_mode": True, "config": {"rounds": 100}}}))
    (notebook.parent / "noniid_unfair.history.json").write_text(json.dumps({"values": [1.0] * 100}))
    pack(notebook, student="jdoe42", validate=False)
    said = capsys.readouterr().out
    assert "noniid_fair.history.json: 2 rounds, WARNING not from a full run" in said
    assert "noniid_unfair.history.json: 100 values, WARNING not from a full run" in said


def test_a_damaged_history_is_named_and_left_out(notebook, quick_off, capsys):
    (notebook.parent / "noniid_fair.history.json").write_text("{ not json")
    with zipfile.ZipFile(pack(notebook, student="jdoe42", validate=False)) as zf:
        assert zf.namelist() == ["jdoe42+noniid.ipynb"]
    assert "WARNING noniid_fair.history.json" in capsys.readouterr().out


def test_the_student_id_is_asked_once_and_remembered(notebook, quick_off, monkeypatch):
    answers = iter(["jdoe42"])
    monkeypatch.setattr("builtins.input", lambda prompt: next(answers))
    pack(notebook, validate=False)
    assert pack(notebook, validate=False).name == "02_noniid-jdoe42.zip"  # not asked again


@pytest.mark.parametrize("bad", ["", "j doe", "../x", "a+b", "-rf"])
def test_a_student_id_that_zip_collect_cannot_read_is_refused(notebook, quick_off, bad):
    with pytest.raises(PackError, match="student id"):
        pack(notebook, student=bad, validate=False)


def test_a_notebook_without_a_release_stamp_is_refused(tmp_path, quick_off):
    path = tmp_path / "mine.ipynb"
    nbformat.write(nbformat.v4.new_notebook(), path)
    with pytest.raises(PackError, match="no release stamp"):
        pack(path, student="jdoe42", validate=False)


def test_the_hand_in_cell_packs_nothing_in_quick_mode(notebook, quick_on, capsys):
    assert fedlab.hand_in(notebook.name) is None
    assert "nothing is packed" in capsys.readouterr().out
    assert not list(notebook.parent.glob("*.zip"))


def test_pack_validates_first_and_packs_anyway_when_problems_remain(notebook, quick_off, monkeypatch, capsys):
    validated = []
    monkeypatch.setattr("fedlab.validate.main", lambda path: validated.append(path) or 1)  # 1: problems found
    archive = pack(notebook, student="jdoe42")
    assert validated == [str(notebook)] and archive.is_file()
    assert "packing anyway" in capsys.readouterr().out
