"""The conformance library and the ``xloss`` command: the report, check(), doctor."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

import xloss
from xloss import conformance
from xloss._cli import main
from xloss.conformance import _runner

ROOT = Path(__file__).resolve().parent.parent


def test_every_case_passes_on_the_backend(backend):
    report = conformance.run([backend.name])
    assert report.backends == [backend.name]
    failures = {
        r.case: r.cells[backend.name].describe()
        for r in report.results
        if not r.cells[backend.name].ok
    }
    assert not failures
    assert len(report.results) == len(conformance.CASES)


def test_the_frameworks_own_functions_agree_with_the_reference():
    report = conformance.run(["numpy"])
    natives = {(r.case, label): c for r in report.results for label, c in r.natives.items()}
    assert len(natives) >= 30
    assert all(c.ok for c in natives.values()), {
        k: c.describe() for k, c in natives.items() if not c.ok
    }


def test_check_accepts_a_correct_port_and_names_what_differs_in_a_wrong_one(backend):
    def correct(y, p):
        return xloss.sparse_categorical_crossentropy(y, p, from_logits=True)

    def wrong(y, p):  # forgot that the labels were smoothed in the original
        return xloss.categorical_crossentropy(y, p, from_logits=True, label_smoothing=0.2)

    good = conformance.check(correct, kind="sparse", backend=backend.name, from_logits=True)
    assert good.ok and "all cases agree" in str(good)
    bad = conformance.check(wrong, kind="categorical", backend=backend.name, from_logits=True)
    assert not bad.ok and "FAIL" in str(bad) and "some cases differ" in str(bad)


def test_check_compares_a_mean_with_the_mean():
    def mean_loss(y, p):
        return float(np.mean(xloss.binary_crossentropy(y, p, from_logits=True)))

    assert conformance.check(mean_loss, kind="binary", from_logits=True).ok


def test_report_json_has_backends_and_summary(capsys):
    assert main(["report", "--backends", "numpy", "torch", "--format", "json", "--quiet"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["backends"] == ["numpy", "torch"]
    assert isinstance(data["summary"]["passed"], int) and data["summary"]["failed"] == 0
    assert data["summary"]["passed"] >= 2 * len(conformance.CASES)


def test_report_markdown_and_text(capsys):
    assert main(["report", "--backends", "numpy", "--format", "markdown", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "| case | numpy |" in out and "categorical_crossentropy/logits" in out
    assert main(["report", "--backends", "numpy", "--quiet"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1].endswith(" passed, 0 failed")


def test_report_html_is_one_self_contained_file(tmp_path, capsys):
    out = tmp_path / "report.html"
    assert (
        main(["report", "--backends", "numpy", "--format", "html", "--output", str(out), "--quiet"])
        == 0
    )
    page = out.read_text()
    assert page.startswith("<!doctype html>") and "background:" in page
    assert "http://" not in page and "https://" not in page and "<script" not in page


def test_report_fails_on_a_failing_case(monkeypatch, capsys):
    broken = conformance.Case(
        "softmax/deliberately-wrong", "activation", (np.ones((2, 3), np.float32),), (True,),
        lambda x: xloss.softmax(x) * 2, lambda x, **ctx: np.full((2, 3), 1 / 3),
    )  # fmt: skip
    monkeypatch.setattr(_runner, "CASES", (broken,))
    assert main(["report", "--backends", "numpy", "--quiet"]) == 1
    assert "FAIL" in capsys.readouterr().out


def test_report_with_only_numpy_names_what_is_missing(tmp_path):
    """Other backends hidden from the child process: it still runs and says how to install."""
    blocked = ("jax", "torch", "tensorflow", "array_api_strict", "keras", "optax")
    (tmp_path / "sitecustomize.py").write_text(
        "import sys\n" + "".join(f"sys.modules[{m!r}] = None\n" for m in blocked)
    )
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    run = subprocess.run(
        [sys.executable, "-m", "xloss", "report", "--quiet"], env=env, cwd=ROOT,
        capture_output=True, text=True,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    assert 'missing: torch (install with: pip install "xloss[torch]")' in run.stdout
    assert "backends: numpy" in run.stdout


def test_doctor_lists_backends_and_adapters():
    run = subprocess.run(
        [sys.executable, "-m", "xloss", "doctor"], cwd=ROOT, capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr
    assert "adapter:   xloss.adapters.numpy" in run.stdout and "native:" in run.stdout
