"""An absent backend is a visible skip, and a failure once ``XLOSS_REQUIRE_BACKENDS`` names it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _run_without_jax(tmp_path: Path, required: str) -> subprocess.CompletedProcess[str]:
    # Make `import jax` fail in the child, as it would where JAX is not installed.
    (tmp_path / "sitecustomize.py").write_text("import sys\nsys.modules['jax'] = None\n")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]),
        "XLOSS_REQUIRE_BACKENDS": required,
    }
    test = "tests/test_activations.py::test_log_sigmoid"
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", test, "-rs"]
    return subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True)


def test_absent_backend_is_a_visible_skip(tmp_path):
    run = _run_without_jax(tmp_path, required="")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "4 passed, 1 skipped" in run.stdout
    assert "backend jax is not installed" in run.stdout


def test_absent_required_backend_fails(tmp_path):
    run = _run_without_jax(tmp_path, required="numpy,jax")
    assert run.returncode == 1, run.stdout + run.stderr
    assert "4 passed, 1 error" in run.stdout  # the fixture fails, so the test errors
    assert "backend jax is required but failed to import" in run.stdout


def test_unknown_required_backend_is_a_usage_error(tmp_path):
    run = _run_without_jax(tmp_path, required="numpy,jaxx")
    assert run.returncode != 0
    assert "XLOSS_REQUIRE_BACKENDS names unknown backends: ['jaxx']" in run.stdout + run.stderr


@pytest.mark.parametrize("name", ["numpy", "jax"])
def test_sitecustomize_trick_only_hides_jax(tmp_path, name):
    """The tests above prove something only if the child really lacks JAX and nothing else."""
    (tmp_path / "sitecustomize.py").write_text("import sys\nsys.modules['jax'] = None\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    code = f"try:\n    import {name}\n    print('ok')\nexcept ImportError:\n    print('missing')"
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert run.stdout.strip() == ("missing" if name == "jax" else "ok")


def test_another_array_api_library_joins_the_suite_by_name(tmp_path):
    """XLOSS_EXTRA_BACKENDS adds any Array-API library (here array-api-compat's NumPy namespace,
    standing in for CuPy or Dask) to every backend-parametrized test."""
    env = {**os.environ, "XLOSS_EXTRA_BACKENDS": "array_api_compat.numpy"}
    test = "tests/test_activations.py::test_log_sigmoid"
    command = [sys.executable, "-m", "pytest", "-v", "-p", "no:cacheprovider", test]
    run = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "test_log_sigmoid[array_api_compat.numpy] PASSED" in run.stdout
    assert "6 passed" in run.stdout
