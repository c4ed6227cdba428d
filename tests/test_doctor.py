"""Issue 2, item 9: ``python -m fedlab doctor`` prints what a student pastes when asking for help."""
import os
import subprocess
import sys

import torch

import fedlab
from fedlab import data, doctor


def test_doctor_prints_versions_device_data_and_quick_mode(tmp_path):
    env = {**os.environ, "FEDLAB_DATA": "synthetic", "FEDLAB_QUICK": "1", "FEDLAB_CACHE": str(tmp_path)}
    env.pop("NBGRADER_EXECUTION", None)
    done = subprocess.run([sys.executable, "-m", "fedlab", "doctor"], env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert f"fedlab {fedlab.__version__}" in out and f"torch {torch.__version__}" in out
    for package in ("torchvision", "numpy", "flwr", "nbgrader"):
        assert f"\n{package} " in out
    assert f"compute device: {fedlab.compute_device()}" in out
    assert "data source: FEDLAB_DATA=synthetic -> synthetic" in out
    assert f"cache: {tmp_path}" in out
    assert "real CIFAR-10: absent" in out and "real CIFAR-100: absent" in out
    assert "synthetic stand-in: not generated yet" in out
    assert "quick mode: on" in out


def test_doctor_reports_a_bad_source_instead_of_failing(monkeypatch, quick_off):
    monkeypatch.setenv("FEDLAB_DATA", "cifar10")
    report = doctor.report()
    assert "data source: FEDLAB_DATA=cifar10 -> INVALID" in report and "synthetic" in report
    assert "quick mode: off" in report


def test_doctor_lists_a_generated_stand_in(cifar10):
    assert f"cifar10-seed{data.SYNTHETIC_SEED}-v{data.SYNTHETIC_VERSION}.pt" in doctor.report()


def test_doctor_reports_a_bad_cache_instead_of_failing(monkeypatch, tmp_path, quick_off):
    (tmp_path / "a-file").write_text("")
    monkeypatch.setenv("FEDLAB_CACHE", str(tmp_path / "a-file"))
    report = doctor.report()
    assert "cache: INVALID: FEDLAB_CACHE=" in report and "quick mode: off" in report
