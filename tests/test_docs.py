"""Every ```python block in README.md and docs/*.md runs (the docs are part of the feature)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)
BLOCKS = [
    pytest.param(
        f"{page.relative_to(ROOT)}-{number}", code, id=f"{page.relative_to(ROOT)}-{number}"
    )
    for page in PAGES
    for number, code in enumerate(BLOCK.findall(page.read_text()), start=1)
]


@pytest.mark.parametrize(("name", "code"), BLOCKS)
def test_code_block_runs(name, code):
    # One file name per block: xloss warns once per (file, line), and blocks share line numbers.
    exec(compile(code, f"<{name}>", "exec"), {"__name__": "docs_example"})
