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
one yet (a ``tf.Variable``'s value); and native fast paths the core prefers when present, each
returning what the core's generic body would (or ``None`` to decline):
``top_k(x, k, axis, largest) -> (values, indices)``.

Adapters are leaves: they never import ``xloss``'s core.
"""
