"""The float64 references live in the package's conformance library: one source for the suite,
the ``xloss report`` command and users."""

from xloss.conformance._reference import *  # noqa: F403
from xloss.conformance._reference import EPS, f64  # noqa: F401
