"""The conformance library and the ``xloss`` command: the report, check(), doctor."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from backends import need

import xloss
from xloss import conformance
from xloss._cli import main
from xloss.conformance import _frameworks, _runner

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
    # Every installed framework's own functions, without running xloss on every backend.
    natives = {
        (case.name, native.label): _runner.run_native(case, native)
        for case in conformance.CASES
        for native in case.natives
        if _frameworks.installed(native.requires)
    }
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
    need("torch")  # named below: without it the report fails, as it should
    assert main(["report", "--backends", "numpy", "torch", "--format", "json", "--quiet"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["backends"] == ["numpy", "torch"]
    assert isinstance(data["summary"]["passed"], int) and data["summary"]["failed"] == 0
    assert data["problems"] == [] and data["summary"]["problems"] == 0
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


def _only_installed(monkeypatch, *names):
    """As if only ``names`` (among the backends and the frameworks the natives need) were
    installed: what `xloss report` and `check` see on a machine without the others."""
    monkeypatch.setattr(_frameworks, "installed", lambda name: name in names)


@pytest.mark.parametrize(
    "name, meant",
    [("pytorch", "torch"), ("tf", "tensorflow"), ("NumPy", "numpy"), ("nosuch", None)],
)
def test_report_rejects_an_unknown_backend_name(name, meant, capsys):
    """A typo in CI's --backends is a usage error, not a green run that checked nothing."""
    with pytest.raises(SystemExit) as exit:
        main(["report", "--backends", "numpy", name, "--quiet"])
    assert exit.value.code == 2
    err = capsys.readouterr().err
    assert f"unknown backend {name!r}" in err
    assert "numpy, jax, torch, tensorflow, array_api_strict" in err
    assert (f"did you mean {meant!r}?" in err) == (meant is not None), err


def test_report_names_commas_as_the_mistake(capsys):
    with pytest.raises(SystemExit) as exit:
        main(["report", "--backends", "numpy,tf", "--quiet"])
    assert exit.value.code == 2
    assert "separate the names with spaces: numpy tensorflow" in capsys.readouterr().err


def test_report_fails_when_a_backend_named_is_not_installed(monkeypatch, capsys):
    _only_installed(monkeypatch, "numpy")
    assert main(["report", "--backends", "numpy", "torch", "--quiet"]) == 1
    lines = capsys.readouterr().out.strip().splitlines()
    hint = 'pip install "xloss[torch]"'
    assert f"problem: torch was asked for but is not installed (install with: {hint})" in lines
    assert lines[-1].endswith(" passed, 0 failed, 1 problem")
    report = conformance.run(["torch"])
    assert not report.ok and report.backends == [] and report.missing["torch"] == hint
    assert report.problems[-1] == "no backend ran"


def test_report_fails_when_no_backend_runs(monkeypatch, capsys, tmp_path):
    """NumPy alone (a bare install) has no bfloat16: the default report must not pass empty."""
    _only_installed(monkeypatch, "numpy")
    out = tmp_path / "report.json"
    command = ["report", "--dtype", "bfloat16", "--format", "json", "--output", str(out)]
    assert main([*command, "--quiet"]) == 1
    printed = capsys.readouterr().out
    assert "problem: no backend ran: numpy has no bfloat16" in printed
    assert "0 passed, 0 failed, 1 problem" in printed
    data = json.loads(out.read_text())
    assert data["backends"] == [] and data["summary"]["problems"] == 1
    # Without --dtype, NumPy runs, and the backends that are not installed are only listed.
    assert main(["report", "--quiet"]) == 0
    text = capsys.readouterr().out
    assert 'missing: jax (install with: pip install "xloss[jax]")' in text
    assert "problem" not in text


def test_report_rejects_a_backend_named_without_the_dtype(capsys):
    with pytest.raises(SystemExit) as exit:
        main(["report", "--backends", "numpy", "--dtype", "bfloat16", "--quiet"])
    assert exit.value.code == 2
    assert "backend 'numpy' has no bfloat16" in capsys.readouterr().err


def test_run_checks_the_names_it_is_given():
    with pytest.raises(ValueError, match=r"unknown backend 'tf' \(did you mean 'tensorflow'\?\)"):
        conformance.run(["numpy", "tf"])
    with pytest.raises(ValueError, match="no backend asked for"):
        conformance.run([])
    with pytest.raises(ValueError, match="has no bfloat16"):
        conformance.run(["array_api_strict"], dtype="bfloat16")
    with pytest.raises(ValueError, match="`dtype` must be one of"):
        conformance.run(dtype="float8")


def test_a_backend_that_fails_to_import_fails_the_report_and_doctor(monkeypatch, capsys):
    """Found, but broken: said so, instead of a traceback or a silent skip."""
    _only_installed(monkeypatch, "numpy", "jax")
    real_load = _frameworks.load

    def load(name):
        if name == "jax":
            raise ImportError("libjax.so: cannot open shared object file")
        return real_load(name)

    monkeypatch.setattr(_frameworks, "load", load)
    report = conformance.run()
    assert report.backends == ["numpy"] and not report.ok
    assert report.problems == [
        "jax is installed but fails to import: ImportError: libjax.so: cannot open shared "
        "object file"
    ]
    assert main(["doctor"]) == 1
    out = capsys.readouterr().out
    assert "jax               installed, but fails to import: ImportError: libjax.so" in out
    assert "adapter:   xloss.adapters.numpy" in out


def test_every_backend_has_an_install_hint():
    assert set(_frameworks.INSTALL_HINT) == set(_frameworks.BACKENDS)
    assert all(hint.startswith("pip install ") for hint in _frameworks.INSTALL_HINT.values())


def test_check_names_the_known_backends_for_an_unknown_one(monkeypatch):
    def port(y, p):
        return xloss.sparse_categorical_crossentropy(y, p, from_logits=True)

    with pytest.raises(
        ValueError, match=r"unknown backend 'nosuch'; the known backends are numpy, "
    ):
        conformance.check(port, kind="sparse", backend="nosuch")
    with pytest.raises(ValueError, match=r"unknown backend 'pytorch' \(did you mean 'torch'\?\)"):
        conformance.check(port, kind="sparse", backend="pytorch")
    _only_installed(monkeypatch, "numpy")
    with pytest.raises(
        ValueError, match=r"'torch' is not installed; .*pip install \"xloss\[torch\]\""
    ):
        conformance.check(port, kind="sparse", backend="torch")


def _recording_case(calls, requires, error=None):
    """A softmax case whose natives (one per module in ``requires``) record that they ran, and
    are off from the float64 reference by a float32 rounding (about 1e-7)."""
    inputs = np.array([[0.1, 0.2, 0.7]], np.float32)

    def native(name):
        def compute(x):
            calls.append(name)
            if name == error:
                raise ImportError(f"simulated broken {name} install")
            return xloss.softmax(x)  # float32

        return conformance.Native(f"{name}.softmax", name, compute)

    return conformance.Case(
        "softmax/recorded", "activation", (inputs,), (True,), xloss.softmax,
        lambda x, **ctx: (e := np.exp(x.astype(np.float64))) / e.sum(-1, keepdims=True),
        tuple(native(name) for name in requires),
    )  # fmt: skip


NATIVE_MODULES = ("torch", "jax", "optax", "tensorflow", "keras")


@pytest.mark.parametrize(
    "backends, expected",
    [
        (["numpy"], []),
        (["numpy", "torch"], ["torch"]),
        (["jax"], ["jax", "optax"]),
        (["tensorflow"], ["tensorflow", "keras"]),
        (None, list(NATIVE_MODULES)),
    ],
)
def test_run_runs_only_the_natives_of_the_backends_named(backends, expected, monkeypatch):
    """`--backends numpy torch` checks only those: no JAX, optax, TensorFlow or Keras function
    is imported or run. optax's functions count as JAX's, Keras's as TensorFlow's."""
    calls: list[str] = []
    monkeypatch.setattr(_runner, "CASES", (_recording_case(calls, NATIVE_MODULES),))
    _only_installed(monkeypatch, "numpy", *NATIVE_MODULES)
    real_load = _frameworks.load
    monkeypatch.setattr(_frameworks, "load", lambda name: real_load("numpy"))  # no real import
    report = conformance.run(backends)
    assert calls == expected
    assert list(report.results[0].natives) == [f"{name}.softmax" for name in expected]
    assert report.ok


def test_report_passes_when_a_backend_left_out_is_broken(monkeypatch, capsys):
    """A broken JAX install does not fail `xloss report --backends numpy torch`."""
    calls: list[str] = []
    case = _recording_case(calls, ("torch", "jax", "optax"), error="jax")
    monkeypatch.setattr(_runner, "CASES", (case,))
    _only_installed(monkeypatch, "numpy", "torch", "jax", "optax")
    real_load = _frameworks.load
    monkeypatch.setattr(_frameworks, "load", lambda name: real_load("numpy"))
    assert main(["report", "--backends", "numpy", "torch", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert calls == ["torch"] and "jax" not in out and "optax" not in out


def test_report_in_float64_gives_the_natives_own_dtype_and_tolerance(monkeypatch, capsys, tmp_path):
    """The frameworks' own functions run in float32 and are judged at float32's tolerance,
    whatever --dtype says: the footer, the JSON and the HTML colours say so."""
    monkeypatch.setattr(_runner, "CASES", (_recording_case([], ("numpy",)),))
    f32, f64 = conformance.tolerance("float32"), conformance.tolerance("float64")
    command = ["report", "--backends", "numpy", "--dtype", "float64", "--quiet"]
    assert main(command) == 0
    out = capsys.readouterr().out
    assert f"dtype float64; tolerance {f64:.1e}" in out
    assert f"the frameworks' own functions: float32 inputs, tolerance {f32:.1e}" in out
    assert main([*command, "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["tolerance"] == f64 and data["dtype"] == "float64"
    assert data["native_dtype"] == "float32" and data["native_tolerance"] == f32
    page = tmp_path / "report.html"
    assert main([*command, "--format", "html", "--output", str(page)]) == 0
    cell = conformance.run(["numpy"], dtype="float64").results[0].natives["numpy.softmax"]
    assert cell.ok and 0 < cell.max_abs < f32 * 1e-1
    from xloss._cli import _heat

    native_row = page.read_text().split("<td>numpy.softmax</td>")[1].split("</tr>")[0]
    assert f"background:{_heat(cell, f32)}" in native_row
    assert _heat(cell, f32) != _heat(cell, f64)


def test_report_to_an_unwritable_output_is_a_usage_error_before_the_run(
    monkeypatch, capsys, tmp_path
):
    def run(*args, **kwargs):
        raise AssertionError("the report ran before --output was checked")

    monkeypatch.setattr(conformance, "run", run)
    target = tmp_path / "no such folder" / "report.txt"
    with pytest.raises(SystemExit) as exit:
        main(["report", "--backends", "numpy", "--quiet", "--output", str(target)])
    assert exit.value.code == 2
    err = capsys.readouterr().err
    assert f"cannot write the report to '{target}': No such file or directory" in err
    with pytest.raises(SystemExit) as exit:
        main(["report", "--backends", "numpy", "--quiet", "--output", str(tmp_path)])
    assert exit.value.code == 2
    assert f"cannot write the report to '{tmp_path}': Is a directory" in capsys.readouterr().err
