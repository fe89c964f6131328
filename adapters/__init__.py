"""Backend adapters: one module per array library, imported as ``xloss.adapters.<name>``.

A module named after a framework's import name (``numpy.py`` for ``numpy``, ``torch.py`` for
``torch``, ...) serves that framework's arrays; ``generic.py`` serves any other array that has
``__array_namespace__``. Dispatch imports every adapter with xloss, so adapters must not import
their framework at the top: they look it up in ``sys.modules`` (an array of a framework exists
only once that framework is imported) and import namespaces inside functions, where
``torch.compile`` can trace the import statement.

Every adapter module defines:

- ``NAME``: the backend's name, as used in messages and by ``XLOSS_REQUIRE_BACKENDS``;
- ``owns(x) -> bool``: whether ``x`` is one of this framework's arrays (tracers and symbolic
  tensors included);
- ``namespace(x)``: the Array-API namespace to compute with for ``x``;
- ``device(x)``: the device to create companion arrays on (or ``None`` for the default);
- ``readable(x)``: ``x`` (detached from autograd) if its values can be read for a check without
  tracing and without a device-to-host synchronisation (host memory, eager mode), else ``None``;

and may define ``to_array(x)``: an array the namespace computes with, for inputs that are not
one yet (a ``tf.Variable``'s value), or a ``TypeError``/``ValueError`` whose message completes
the argument's name (```y_pred` is ...``); and native fast paths the core prefers when present, each
returning what the core's generic body would (or ``None`` to decline):
``top_k(x, k, axis, largest) -> (values, indices)``, and
``kernel(name, generic, xp, *args, **options)``, a native kernel for the computation ``name``
(see ``xloss._fast``; the tables live in ``_<framework>_kernels.py``, which ``xloss`` imports
after its cores). Flags: ``TAKES_HALF`` (computations whose kernel takes half precision as is;
``"*"``: all), ``HALF_TARGETS_FROM`` (dense half-precision targets of at least this many
entries are left to the kernel to convert, with the predictions; `_fast.run` converts them
for the generic body), ``DRAWS_IN_KERNEL`` (``sample`` runs ``"gumbel_sample"``, the uniforms' draw
inside the kernel, where a compiler fuses it; otherwise it draws first, then runs
``"gumbel_argmax"``), ``ONE_LEVEL_SAMPLES`` (``sample`` never draws in two levels: Dask's,
whose blocks of the vocabulary would cut across its chunks), ``HOST_VIEW`` (``np.asarray`` of
a readable array is a view) and ``host_rows(x, index)`` (the value checks' sample rows as
NumPy, in one call of the adapter's).

Adapters that can draw random numbers (for ``xloss.sample``) define both of:

- ``check_rng(rng, like)``: raise ``TypeError`` (naming ``rng``) unless ``rng`` is this
  backend's own generator (``np.random.Generator``, a JAX key, ``torch.Generator``,
  ``tf.random.Generator``), ``ValueError`` if it cannot draw on ``like``'s device; the core
  has already accepted int seeds in ``[0, 2**32 - 1]``;
- ``random_uniform(rng, shape, dtype, like) -> array``: uniforms in ``[0, 1)`` of ``shape`` and
  ``dtype`` on ``like``'s device, from the generator, or from a fresh one built from the int
  seed ``rng`` (the same seed always gives the same draw). Drawn in float64 (53 random bits)
  and rounded to ``dtype``, or from as many random bits, so that the small ones keep their
  digits: ``sample``'s Gumbel noise takes its upper tail from them (``-log(-log1p(-u))``), and
  a float32 draw's 24 bits stop it at 16.6, which leaves out tokens 17 and more below the
  largest logit (a tail of 50,000 such tokens holds 0.2% of the mass). A ``None`` in
  ``shape`` (unknown while tracing) is ``like``'s size at the same position counted from the
  end. The generic adapter draws with NumPy and converts with ``xp.asarray(..., device=...)``:
  the standard has no random numbers.

Adapters are leaves: they never import ``xloss``'s core (their kernel tables do).
"""

from typing import Any

OPTIONAL: dict[str, Any] = {
    "to_array": None,
    "kernel": None,
    "top_k": None,
    "host_rows": None,
    "check_rng": None,
    "random_uniform": None,
    "TAKES_HALF": (),
    "HALF_TARGETS_FROM": None,
    "DRAWS_IN_KERNEL": False,
    "ONE_LEVEL_SAMPLES": False,
    "HOST_VIEW": False,
}
"""The optional attributes above, with the value an adapter that leaves one out gets:
`xloss._dispatch` sets them when it loads the adapters, so the core reads them directly (a
``getattr`` default for a module attribute that is missing raises and catches an
``AttributeError`` inside, 0.4 us, and an eager loss call asked for three or four)."""
