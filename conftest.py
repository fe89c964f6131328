"""Collection rules for the whole repository (tests/conftest.py has the test fixtures).

``--doctest-modules`` imports every module under xloss/; the native-object integrations import
their framework, so they are skipped where it is missing. torch is imported before tensorflow
(keras imports it), the order that works when a process uses both.
"""

import importlib.util

if importlib.util.find_spec("torch") is not None:
    import torch  # noqa: F401

collect_ignore = [
    path
    for path, module in (
        ("xloss/integrations/keras.py", "keras"),
        ("xloss/integrations/torch.py", "torch"),
    )
    if importlib.util.find_spec(module) is None
]
