"""The conformance case library: one source for the test suite, ``xloss report`` and users.

- `CASES`: inputs, the xloss call, a float64 reference, and the frameworks' own functions
  for the same quantity (keras.losses, torch.nn.functional, optax, tf.nn, ...).
- `run`: every case on every installed backend: a `Report` (the matrix behind
  ``xloss report``).
- `check`: the case library against your own loss function ("does my port compute the
  same loss?").

Importing this module imports no framework; running it imports the installed ones.
"""

from xloss.conformance._cases import CASES, Case, Native
from xloss.conformance._runner import Cell, CheckResult, Report, check, run, tolerance

__all__ = ["CASES", "Case", "Cell", "CheckResult", "Native", "Report", "check", "run", "tolerance"]
