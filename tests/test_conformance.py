"""The conformance library and the ``xloss`` command: the report, check(), doctor."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from backends import KNOWN, need

import xloss
from xloss import conformance
from xloss._cli import main
from xloss.conformance import _frameworks, _runner

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.backends(*KNOWN)  # the runner serves the five it names
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


@pytest.mark.backends(*KNOWN)  # the runner serves the five it names
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


def _report_without(modules: tuple[str, ...], tmp_path: Path) -> subprocess.CompletedProcess:
    """``xloss report --quiet`` in a child process from which ``modules`` are hidden."""
    (tmp_path / "sitecustomize.py").write_text(
        "import sys\n" + "".join(f"sys.modules[{m!r}] = None\n" for m in modules)
    )
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    return subprocess.run(
        [sys.executable, "-m", "xloss", "report", "--quiet"], env=env, cwd=ROOT,
        capture_output=True, text=True,
    )  # fmt: skip


def test_report_with_only_numpy_names_what_is_missing(tmp_path):
    """Other backends hidden from the child process: it still runs and says how to install."""
    blocked = ("jax", "torch", "tensorflow", "array_api_strict", "keras", "optax")
    run = _report_without(blocked, tmp_path)
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
    assert f"background:{_heat(cell)}" in native_row
    # Coloured by the share of float32's allowance it takes (at float64's it would fail).
    assert 0 < cell.used < 1e-1 and cell.max_abs > 2 * f64


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


# --- Judging: nan and infinities where the reference has them, finite values within the allowance


def _case(name):
    return next(case for case in conformance.CASES if case.name == name)


def test_compare_requires_the_same_nan_and_infinities():
    """A result that overflowed (inf) or broke (nan) where the reference is finite fails, and
    so does a finite one where the reference is not; matching ones pass."""
    tol = conformance.tolerance("float32")
    inf, nan = np.inf, np.nan
    for actual, expected in [
        ([inf, inf], [1.0, 2.0]),  # every position non-finite: nothing left to measure
        ([1.0, -inf], [1.0, 2.0]),
        ([1.0, nan], [1.0, 2.0]),
        ([1.0, 2.0], [1.0, nan]),
        ([1.0, 2.0], [1.0, inf]),
        ([1.0, -inf], [1.0, inf]),
    ]:
        cell = _runner.compare(np.array(actual), np.array(expected), tol)
        assert not cell.ok and cell.nonfinite == 1 + (actual[0] == inf), (actual, expected)
        assert cell.max_abs == cell.max_rel == np.inf and "nan/inf values" in cell.describe()
    same = _runner.compare(np.array([inf, -inf, nan, 1.0]), np.array([inf, -inf, nan, 1.0]), tol)
    assert same.ok and same.nonfinite == 0 and same.max_abs == 0


def test_check_fails_a_port_that_overflows_on_the_extreme_logits():
    """softmax, then log (torch's own functions): the label's probability underflows to 0 at
    -1e4, and the loss is inf where it is 2e4; the report called that ok."""
    torch = need("torch")

    def softmax_then_log(y, p):
        return torch.nn.functional.nll_loss(torch.log(torch.softmax(p, -1)), y, reduction="none")

    result = conformance.check(softmax_then_log, kind="sparse", backend="torch", from_logits=True)
    rows = dict(result.rows)
    assert not result.ok and rows["sparse_categorical_crossentropy/logits"].ok
    failing = rows["sparse_categorical_crossentropy/extreme-1e4"]
    assert not failing.ok and failing.nonfinite > 0


# --- The case library catches the common wrong ports


def _no_shift(y, x):  # categorical from logits without the max shift: exp overflows
    with np.errstate(all="ignore"):
        return -(y * (x - np.log(np.exp(x).sum(-1, keepdims=True)))).sum(-1)


def _softmax_clip_log(y, x):  # softmax, clip to 1e-7, log: caps the loss at 16.12
    z = np.exp(x - x.max(-1, keepdims=True))
    return -(y * np.log(np.clip(z / z.sum(-1, keepdims=True), 1e-7, 1 - 1e-7))).sum(-1)


def _zero_times_log(y, x):  # -(y * log_softmax).sum(): 0 * -inf = nan at masked classes
    z = x - x.max(-1, keepdims=True)
    with np.errstate(all="ignore"):
        return -(y * (z - np.log(np.exp(z).sum(-1, keepdims=True)))).sum(-1)


def test_the_masked_case_is_shown_not_counted():
    """``0 * -inf = nan`` at masked classes is what Keras, torch and tf.nn compute: the masked
    case shows that it differs from xloss's own answer, and does not fail the port."""
    result = conformance.check(_zero_times_log, kind="categorical", from_logits=True)
    rows = dict(result.rows)
    assert result.ok and not rows["categorical_crossentropy/masked-inf"].ok, str(result)
    assert result.extensions == {
        "categorical_crossentropy/masked-inf": conformance.CASES[
            [c.name for c in conformance.CASES].index("categorical_crossentropy/masked-inf")
        ].extension
    }


def _no_renormalisation(y, p):  # no renormalisation, no clip
    with np.errstate(all="ignore"):
        return -(y * np.log(p)).sum(-1)


def _clip_1e8(y, p):  # clips at 1e-8 instead of Keras's 1e-7
    return -(y * np.log(np.clip(p / p.sum(-1, keepdims=True), 1e-8, 1 - 1e-8))).sum(-1)


def _sparse_no_renormalisation(y, p):
    return -np.log(np.clip(np.take_along_axis(p, y[:, None], -1)[:, 0], 1e-7, 1 - 1e-7))


def _binary_overflow(z, x):  # (1 - z) x + log(1 + exp(-x)): exp overflows below -88
    with np.errstate(all="ignore"):
        return ((1 - z) * x + np.log(1 + np.exp(-x))).mean(-1)


def _binary_no_clip(z, p):
    with np.errstate(all="ignore"):
        return (-(z * np.log(p) + (1 - z) * np.log(1 - p))).mean(-1)


@pytest.mark.parametrize(
    "port, kind, from_logits, caught_by",
    [
        (_no_shift, "categorical", True, "categorical_crossentropy/extreme-1e4"),
        (_softmax_clip_log, "categorical", True, "categorical_crossentropy/extreme-1e4"),
        (_no_renormalisation, "categorical", False, "categorical_crossentropy/unnormalised"),
        (_clip_1e8, "categorical", False, "categorical_crossentropy/probabilities-0-and-1"),
        (_sparse_no_renormalisation, "sparse", False,
         "sparse_categorical_crossentropy/unnormalised"),
        (_binary_overflow, "binary", True, "binary_crossentropy/extreme"),
        (_binary_no_clip, "binary", False, "binary_crossentropy/probabilities-0-and-1"),
    ],
)  # fmt: skip
def test_check_catches_the_common_wrong_ports(port, kind, from_logits, caught_by):
    """Each port is right on the moderate inputs and wrong on an input the library now has."""
    result = conformance.check(port, kind=kind, from_logits=from_logits)
    rows = dict(result.rows)
    assert not result.ok and not rows[caught_by].ok, str(result)
    prefix = {"categorical": "categorical", "sparse": "sparse_categorical", "binary": "binary"}
    moderate = f"{prefix[kind]}_crossentropy/{'logits' if from_logits else 'probabilities'}"
    assert rows[moderate].ok, str(result)


def test_check_tells_the_frameworks_apart_on_the_new_inputs():
    """The frameworks' own losses, as ports: Keras clips and renormalises (the reference's
    semantics); torch and tf.nn give nan at masked classes (optax's safe_softmax_cross_entropy
    does not), and torch's binary_cross_entropy clamps the log at -100 instead of clipping.
    Keras on TensorFlow clips before it renormalises in its sparse loss."""
    torch, keras, optax, tf = need("torch"), need("keras"), need("optax"), need("tensorflow")
    F = torch.nn.functional

    def failing(result):
        return sorted(name for name, cell in result.rows if not cell.ok)

    for kind, fn in [
        ("categorical", keras.losses.categorical_crossentropy),
        ("binary", keras.losses.binary_crossentropy),
    ]:
        result = conformance.check(fn, kind=kind, backend="tensorflow")
        assert result.ok, str(result)
    keras_sparse = conformance.check(
        keras.losses.sparse_categorical_crossentropy, kind="sparse", backend="tensorflow"
    )
    assert failing(keras_sparse) == ["sparse_categorical_crossentropy/unnormalised"]
    torch_bce = conformance.check(
        lambda z, p: F.binary_cross_entropy(p, z, reduction="none").mean(-1),
        kind="binary", backend="torch",
    )  # fmt: skip
    assert failing(torch_bce) == ["binary_crossentropy/probabilities-0-and-1"]
    masked = ["categorical_crossentropy/masked-inf"]
    torch_cce = conformance.check(
        lambda y, p: F.cross_entropy(p, y, reduction="none"),
        kind="categorical", backend="torch", from_logits=True,
    )  # fmt: skip
    assert failing(torch_cce) == masked
    tf_cce = conformance.check(
        lambda y, p: tf.nn.softmax_cross_entropy_with_logits(labels=y, logits=p),
        kind="categorical", backend="tensorflow", from_logits=True,
    )  # fmt: skip
    assert failing(tf_cce) == masked
    # xloss's own answer there (optax's safe one): shown, not counted, so a port of torch's
    # or TensorFlow's loss passes (it could never pass before).
    for result in (torch_cce, tf_cce):
        assert result.ok and list(result.extensions) == masked, str(result)
        assert "not counted" in str(result) and "all counted cases agree" in str(result)
    optax_safe = conformance.check(
        lambda y, p: optax.safe_softmax_cross_entropy(p, y), kind="categorical", backend="jax",
        from_logits=True,
    )  # fmt: skip
    assert optax_safe.ok, str(optax_safe)


def test_the_new_cases_list_the_frameworks_that_agree():
    natives = {case.name: [n.label for n in case.natives] for case in conformance.CASES}
    for name in ("sparse_categorical_crossentropy/extreme-1e4",
                 "sparse_categorical_crossentropy/masked-inf"):  # fmt: skip
        assert natives[name] == [
            "keras.losses.sparse_categorical_crossentropy",
            "torch.nn.functional.cross_entropy",
            "optax.softmax_cross_entropy_with_integer_labels",
            "tf.nn.sparse_softmax_cross_entropy_with_logits",
        ]
    assert (
        natives["categorical_crossentropy/extreme-1e4"]
        == natives["categorical_crossentropy/logits"]
    )
    assert natives["categorical_crossentropy/masked-inf"] == ["optax.safe_softmax_cross_entropy"]
    assert natives["binary_crossentropy/extreme"] == natives["binary_crossentropy/logits"]
    for name in ("categorical_crossentropy/probabilities-0-and-1",
                 "categorical_crossentropy/unnormalised",
                 "sparse_categorical_crossentropy/probabilities-0-and-1",
                 "binary_crossentropy/probabilities-0-and-1"):  # fmt: skip
        assert [label.split(".")[0] for label in natives[name]] == ["keras"], name
    assert natives["sparse_categorical_crossentropy/unnormalised"] == []
    # The inputs hold what the cases are named for.
    assert np.abs(_case("binary_crossentropy/extreme").inputs[1]).max() == 1e4
    assert np.any(_case("binary_crossentropy/extreme").inputs[1] == -100)
    edge = _case("categorical_crossentropy/probabilities-0-and-1").inputs[1]
    assert np.any(edge == 0) and np.any(edge == 1)
    sums = _case("categorical_crossentropy/unnormalised").inputs[1].sum(-1)
    assert sums.min() < 0.2 and sums.max() > 1.5


# --- The mean under ignore_class


@pytest.mark.backends(*KNOWN)  # the runner serves the five it names
def test_check_compares_a_mean_under_ignore_class_with_the_mean_over_the_valid_ones(backend):
    """Keras, torch and xloss divide by the count of non-ignored samples (Keras's
    "sum_over_batch_size"), not by every sample."""
    own = xloss.SparseCategoricalCrossentropy(from_logits=True, ignore_class=-100)
    options = {"kind": "sparse", "from_logits": True, "ignore_class": -100}
    assert conformance.check(lambda y, p: own(y, p), backend=backend.name, **options).ok

    def by_every_sample(y, p):  # what no framework computes
        valid = y != -100
        loss = xloss.sparse_categorical_crossentropy(np.where(valid, y, 0), p, from_logits=True)
        return np.where(valid, loss, 0).mean()

    assert not conformance.check(by_every_sample, **options).ok


def test_check_passes_the_frameworks_means_under_ignore_class():
    torch, keras = need("torch"), need("keras")
    F = torch.nn.functional
    for ignore in (-100, -1):  # the cases' ignored labels are set to the one asked for
        result = conformance.check(
            lambda y, p, i=ignore: F.cross_entropy(p, y, ignore_index=i),
            kind="sparse", backend="torch", from_logits=True, ignore_class=ignore,
        )  # fmt: skip
        assert result.ok, str(result)
    keras_loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=-100)
    result = conformance.check(
        keras_loss, kind="sparse", backend="tensorflow", from_logits=True, ignore_class=-100
    )
    assert result.ok, str(result)


# --- The allowance for the inputs' own rounding


def test_backward_stable_ports_pass_the_extreme_logits_and_overflowing_ones_fail():
    """optax's logsumexp(x) - x[y] is 2.3e-4 off at +-1e4 (a quarter of an ulp of the inputs):
    within eps * max |logit|, and so it passes; the same without the max shift overflows."""
    optax, jax = need("optax"), need("jax")
    jnp = jax.numpy

    def textbook(y, p):
        return jax.nn.logsumexp(p, -1) - jnp.take_along_axis(p, y[:, None], -1)[:, 0]

    def no_shift(y, p):
        return jnp.log(jnp.exp(p).sum(-1)) - jnp.take_along_axis(p, y[:, None], -1)[:, 0]

    for port in (textbook, lambda y, p: optax.softmax_cross_entropy_with_integer_labels(p, y)):
        result = conformance.check(port, kind="sparse", backend="jax", from_logits=True)
        assert result.ok, str(result)
        extreme = dict(result.rows)["sparse_categorical_crossentropy/extreme-1e4"]
        assert extreme.max_rel > 1e-4 > 64 * np.finfo(np.float32).eps  # beyond the relative term
    result = conformance.check(no_shift, kind="sparse", backend="jax", from_logits=True)
    assert not dict(result.rows)["sparse_categorical_crossentropy/extreme-1e4"].ok


def test_the_input_term_is_eps_times_the_largest_finite_logit_of_each_sample():
    case = _case("sparse_categorical_crossentropy/masked-inf")
    term = _runner.input_term(case, case.inputs, "float32")
    logits = case.inputs[1]
    expected = np.finfo(np.float32).eps * np.abs(np.where(np.isinf(logits), 0, logits)).max(-1)
    np.testing.assert_array_equal(term, expected)
    axis1 = _case("sparse_categorical_crossentropy/axis=1")
    assert _runner.input_term(axis1, axis1.inputs, "float64").shape == (4, 6)
    probabilities = _case("categorical_crossentropy/probabilities")
    assert _runner.input_term(probabilities, probabilities.inputs, "float32") == 0.0


@pytest.mark.backends(*KNOWN)  # the runner serves the five it names
def test_xloss_passes_the_loss_cases_without_the_input_term(backend, monkeypatch):
    """The allowance for the inputs' rounding is for other ports: xloss's own cells keep within
    the relative tolerance of the output alone."""
    monkeypatch.setattr(_runner, "input_term", lambda *args: 0.0)
    framework = _frameworks.load(backend.name)
    for case in conformance.CASES:
        if case.kind in _runner.LOSS_KINDS:
            cell = _runner.run_case(case, framework, "float32")
            assert cell.ok, (case.name, cell.describe())


# --- The frameworks' own functions run only with their backend


def test_run_leaves_out_the_natives_whose_backend_is_missing_or_broken(monkeypatch):
    """Keras without TensorFlow, optax with a JAX that fails to import: their functions are
    left out, as the backends themselves are, instead of failing the report."""
    calls: list[str] = []
    monkeypatch.setattr(_runner, "CASES", (_recording_case(calls, NATIVE_MODULES),))
    _only_installed(monkeypatch, "numpy", "torch", "jax", "keras", "optax")
    real_load = _frameworks.load

    def load(name):
        if name == "jax":
            raise ImportError("libjax.so: cannot open shared object file")
        return real_load("numpy")

    monkeypatch.setattr(_frameworks, "load", load)
    report = conformance.run()
    assert calls == ["torch"] and list(report.results[0].natives) == ["torch.softmax"]
    assert report.problems == [
        "jax is installed but fails to import: ImportError: libjax.so: cannot open shared "
        "object file"
    ]


def test_report_passes_with_keras_but_without_tensorflow(tmp_path):
    """A machine with Keras and no TensorFlow (hidden from the child process): the default
    report leaves Keras's functions out and passes."""
    run = _report_without(("jax", "torch", "tensorflow", "array_api_strict", "optax"), tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "keras" not in run.stdout and "backends: numpy" in run.stdout


# --- check(): what fn may return, and its arguments


@pytest.mark.backends(*KNOWN)  # the runner serves the five it names
def test_check_accepts_a_python_or_numpy_number_as_the_mean(backend):
    def python_float(y, p):
        loss = xloss.sparse_categorical_crossentropy(y, p, from_logits=True)
        return float(np.mean(backend.to_numpy(loss)))

    def numpy_scalar(y, p):
        return np.float32(python_float(y, p))

    for fn in (python_float, numpy_scalar):
        result = conformance.check(fn, kind="sparse", backend=backend.name, from_logits=True)
        assert result.ok, str(result)


def test_check_accepts_torch_item_as_the_mean():
    torch = need("torch")
    result = conformance.check(
        lambda y, p: torch.nn.functional.cross_entropy(p, y).item(),
        kind="sparse", backend="torch", from_logits=True,
    )  # fmt: skip
    assert result.ok, str(result)


def _never_called(y, p):
    raise AssertionError("fn ran before the options were checked")


@pytest.mark.parametrize(
    "options, error, message",
    [
        ({"kind": "sparse", "from_logit": True}, TypeError,
         "unknown option 'from_logit' (did you mean 'from_logits'?); the options of "
         "kind='sparse' are from_logits, ignore_class, axis"),
        ({"kind": "sparse", "label_smoothing": 0.1}, TypeError,
         "`label_smoothing` is not an option of kind='sparse' (only of kind 'categorical' and "
         "'binary')"),
        ({"kind": "binary", "ignore_class": -100}, TypeError,
         "`ignore_class` is not an option of kind='binary' (only of kind 'sparse')"),
        ({"kind": "sparse", "reduction": "none"}, TypeError,
         "unknown option 'reduction' (check compares per-sample losses or their mean"),
        ({"kind": "sparse", "from_logits": 1}, TypeError,
         "`from_logits` must be True or False; received 1 (int)"),
        ({"kind": "sparse", "axis": 1.0}, TypeError, "`axis` must be an integer"),
        ({"kind": "sparse", "ignore_class": "pad"}, TypeError,
         "`ignore_class` must be an integer label or None; received 'pad'"),
        ({"kind": "categorical", "label_smoothing": 1.5}, ValueError,
         "`label_smoothing` must be in [0, 1]; received 1.5"),
        ({"kind": "sparse", "from_logits": True, "axis": 0}, ValueError,
         "no case of kind 'sparse' matches"),
        ({"kind": "multiclass"}, ValueError, "`kind` must be 'categorical', 'sparse' or 'binary'"),
    ],
)  # fmt: skip
def test_check_checks_its_options_before_calling_fn(options, error, message):
    with pytest.raises(error) as raised:
        conformance.check(_never_called, **options)
    assert message in str(raised.value)


def test_check_normalises_the_class_axis():
    """-2 is the class axis 1 of the 3-D case; 1 is also the last axis of the 2-D ones."""
    torch = need("torch")

    def torch_port(y, p):
        return torch.nn.functional.cross_entropy(p, y, reduction="none")

    three_d = "sparse_categorical_crossentropy/axis=1"
    by_minus_two = conformance.check(torch_port, "sparse", "torch", from_logits=True, axis=-2)
    assert by_minus_two.ok and [name for name, _ in by_minus_two.rows] == [three_d]
    by_one = conformance.check(torch_port, "sparse", "torch", from_logits=True, axis=1)
    names = [name for name, _ in by_one.rows]
    assert by_one.ok and three_d in names and "sparse_categorical_crossentropy/logits" in names


# --- tolerance()


@pytest.mark.parametrize(
    "dtype, name",
    [(np.float64, "float64"), ("f8", "float64"), ("double", "float64"),
     (np.dtype("float64"), "float64"), (np.float32, "float32"), ("f4", "float32"),
     ("single", "float32"), ("half", "float16"), (np.float16, "float16"),
     ("bfloat16", "bfloat16")],
)  # fmt: skip
def test_tolerance_reads_a_dtype_as_numpy_does(dtype, name):
    assert conformance.tolerance(dtype) == conformance.tolerance(name)
    assert conformance.tolerance("float64") < 1e-13 < conformance.tolerance("float32")


def test_tolerance_reads_ml_dtypes_bfloat16():
    ml_dtypes = pytest.importorskip("ml_dtypes")
    assert conformance.tolerance(ml_dtypes.bfloat16) == conformance.tolerance("bfloat16")


@pytest.mark.parametrize("dtype", ["float8", "int32", "complex64", None, "nosuch"])
def test_tolerance_refuses_an_unsupported_dtype(dtype):
    with pytest.raises(ValueError, match=r"`dtype` must be one of float16, bfloat16, float32"):
        conformance.tolerance(dtype)


# --- Rendering


def test_report_json_is_strict_and_names_infinite_errors():
    tol = conformance.tolerance("float32")
    cells = {
        "off-at-zero": _runner.compare(np.array([10.0]), np.array([0.0]), tol),
        "overflow": _runner.compare(np.array([np.inf]), np.array([1.0]), tol),
        "error": _runner.Cell(False, error="ValueError: broken"),
    }
    report = _runner.Report(
        ["numpy"], {}, {"numpy": np.__version__}, "float32",
        [_runner.CaseResult(name, {"numpy": cell}) for name, cell in cells.items()],
    )  # fmt: skip
    from xloss._cli import to_json

    def refuse(constant):
        raise ValueError(f"not strict JSON: {constant}")

    data = json.loads(to_json(report), parse_constant=refuse)
    got = {case["name"]: case["backends"]["numpy"] for case in data["cases"]}
    assert got["off-at-zero"]["max_abs"] == 10.0 and got["off-at-zero"]["max_rel"] == 0.0
    assert got["overflow"]["max_abs"] == "inf" and got["overflow"]["nonfinite"] == 1
    assert got["error"]["max_abs"] is None and got["error"]["allowance_used"] is None


def test_relative_error_leaves_out_a_zero_reference():
    """Where the reference is 0 only the absolute error means anything: no 1e+300 in an ok
    cell."""
    cell = _runner.compare(np.array([1e-9, 2.0]), np.array([0.0, 2.0]), 1e-6)
    assert cell.ok and cell.max_rel == 0.0 and cell.max_abs == 1e-9


def test_html_colour_is_the_share_of_the_cells_own_allowance():
    """The extreme-1e4 cell is off by 1e-3 where the loss is 2e4: 1% of its allowance, not
    "at tolerance"."""
    from xloss._cli import _Fake, _heat

    case = _case("sparse_categorical_crossentropy/extreme-1e4")
    cell = _runner.run_case(case, _frameworks.load("numpy"), "float32")
    assert cell.ok and cell.max_abs > conformance.tolerance("float32") and cell.used < 0.05
    assert _heat(cell) == _heat(_Fake(cell.used)) != _heat(_Fake(1.0))


def test_report_output_keeps_the_previous_report_when_the_run_is_interrupted(monkeypatch, tmp_path):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(conformance, "run", interrupted)
    previous = tmp_path / "report.txt"
    previous.write_text("the previous report")
    with pytest.raises(KeyboardInterrupt):
        main(["report", "--backends", "numpy", "--quiet", "--output", str(previous)])
    assert previous.read_text() == "the previous report"
    new = tmp_path / "new.txt"
    with pytest.raises(KeyboardInterrupt):
        main(["report", "--backends", "numpy", "--quiet", "--output", str(new)])
    assert not new.exists()


def test_report_leaves_keras_out_when_keras_runs_on_another_backend():
    """The cases list what Keras computes on TensorFlow; with ``KERAS_BACKEND=jax`` Keras's
    functions gave ``nan`` on a masked case (a failed report, its numbers credited to
    TensorFlow): they are left out, and the report passes."""
    need("jax")
    need("tensorflow")
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    run = subprocess.run(
        [sys.executable, "-m", "xloss", "report", "--backends", "numpy", "tensorflow", "--quiet"],
        env=env, cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    left_out, rest = _split_lines(run.stdout, "not compared: keras's own functions")
    assert len(left_out) == 1 and "keras runs on jax" in left_out[0]
    assert "keras" not in rest.lower()


def _split_lines(text, start):
    """(the lines of ``text`` beginning with ``start``, the others joined)."""
    lines = text.splitlines()
    return [x for x in lines if x.startswith(start)], "\n".join(
        x for x in lines if not x.startswith(start)
    )


def test_report_names_the_natives_left_out_beside_their_backend(tmp_path):
    """optax hidden while JAX runs: the report passes, and says that optax's own functions
    were not compared (it said nothing: a run that never compared optax looked like one that
    had)."""
    need("jax")
    blocked = ("torch", "tensorflow", "array_api_strict", "keras", "optax")
    run = _report_without(blocked, tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "backends: numpy" in run.stdout and "jax" in run.stdout
    assert (
        "not compared: optax's own functions (optax is not installed (install with: "
        "pip install optax))" in run.stdout
    )
