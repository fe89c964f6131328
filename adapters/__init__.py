"""Backend adapters: one module per array library, imported as ``xloss.adapters.<name>``.

A module named after a framework's import name (``numpy.py`` for ``numpy``, ``torch.py`` for
``torch``, ...) serves that framework's arrays. Dispatch imports it only once the framework is
already in ``sys.modules``, so the adapter may import its framework at the top. ``generic.py``
serves any other array that has ``__array_namespace__``.

Every adapter module defines:

- ``NAME``: the backend's name, as used in messages and by ``XLOSS_REQUIRE_BACKENDS``;
- ``owns(x) -> bool``: whether ``x`` is one of this framework's arrays (tracers and symbolic
  tensors included);
- ``namespace(x)``: the Array-API namespace to compute with for ``x``;
- ``device(x)``: the device to create companion arrays on (or ``None`` for the default);

and may define ``to_array(x)``: an array the namespace computes with, for inputs that are not
one yet (a ``tf.Variable``'s value).

Adapters are leaves: they never import ``xloss``'s core.
"""
