"""The backend fixtures: every test that takes ``backend`` runs once per array library.

A library that is not installed is a visible skip, unless it is listed in the comma-separated
``XLOSS_REQUIRE_BACKENDS``, where failing to import it fails the test.
"""

from __future__ import annotations

import importlib.util
import os

import backends
import pytest

# torch must be imported before tensorflow in a process that uses both.
if importlib.util.find_spec("torch") is not None:
    import torch  # noqa: F401

REQUIRED = {n.strip() for n in os.environ.get("XLOSS_REQUIRE_BACKENDS", "").split(",") if n.strip()}
_unknown = REQUIRED - set(backends.NAMES)  # extra libraries come from XLOSS_EXTRA_BACKENDS
if _unknown:
    raise pytest.UsageError(f"XLOSS_REQUIRE_BACKENDS names unknown backends: {sorted(_unknown)}")

_loaded: dict[str, backends.TestBackend] = {}


@pytest.fixture(autouse=True)
def _fresh_warning_sites():
    """xloss warns once per call site; parametrized tests share call sites, so start afresh."""
    from xloss import _checks

    _checks._warned.clear()


@pytest.fixture(autouse=True)
def _shared_data_unchanged():
    """The arrays of ``data.py`` are shared by every test: a test that writes into one (through
    ``torch.from_numpy``'s shared memory, say) changes the inputs of the tests after it. Fails
    the test that did."""
    import data
    import numpy as np

    arrays = {k: v for k, v in vars(data).items() if isinstance(v, np.ndarray)}
    before = {k: v.copy() for k, v in arrays.items()}
    yield
    changed = [k for k, v in arrays.items() if not np.array_equal(v, before[k], equal_nan=True)]
    assert not changed, f"the test wrote into the shared test data: {changed}"


@pytest.fixture(autouse=True)
def _host_values(request: pytest.FixtureRequest) -> None:
    """Tests marked ``host_values`` need xloss's value checks, which read host memory only:
    skipped where ``XLOSS_TEST_DEVICE`` put the backend's arrays on an accelerator
    (``test_value_checks.py::test_arrays_off_the_host_are_not_read`` checks what happens
    there)."""
    if request.node.get_closest_marker("host_values") and "backend" in request.fixturenames:
        backend = request.getfixturevalue("backend")
        if not backend.on_host:
            pytest.skip(f"value checks read host memory only; {backend.name}'s arrays are not")


def _load(name: str) -> backends.TestBackend:
    if name not in _loaded:
        try:
            _loaded[name] = backends.load(name)
        except ImportError as error:
            if name in REQUIRED:
                pytest.fail(f"backend {name} is required but failed to import: {error}")
            pytest.skip(f"backend {name} is not installed ({error})")
    return _loaded[name]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend_dtype" in metafunc.fixturenames:
        pairs = [(n, d) for n in backends.NAMES for d in backends.FLOAT_DTYPES[n]]
        metafunc.parametrize(
            "backend_dtype", pairs, ids=[f"{n}-{d}" for n, d in pairs], scope="session"
        )
    elif "backend" in metafunc.fixturenames:
        only = metafunc.definition.get_closest_marker("backends")
        names = only.args if only else backends.NAMES
        metafunc.parametrize("backend_name", names, scope="session")


@pytest.fixture(scope="session")
def backend(backend_name: str) -> backends.TestBackend:
    return _load(backend_name)


@pytest.fixture(scope="session")
def backend_and_dtype(backend_dtype: tuple[str, str]) -> tuple[backends.TestBackend, str]:
    name, dtype = backend_dtype
    return _load(name), dtype
