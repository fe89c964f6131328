"""What ``import xloss`` costs over ``import numpy``, and that it imports no framework.

    python benchmarks/bench_import.py [--runs 15]

Fresh interpreters, alternating ``import numpy`` and ``import numpy, xloss``; the median of
each, and their difference. Then the frameworks found in ``sys.modules`` after ``import
xloss`` (there must be none).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

FRAMEWORKS = ("torch", "jax", "tensorflow", "keras", "dask", "optax", "scipy")


def _run(code: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    base, ours = [], []
    for _ in range(args.runs):
        base.append(_run("import numpy"))
        ours.append(_run("import numpy, xloss"))
    b, o = statistics.median(base), statistics.median(ours)
    print(
        f"import numpy: {1e3 * b:.0f} ms; import numpy, xloss: {1e3 * o:.0f} ms; "
        f"xloss adds {1e3 * (o - b):.0f} ms (median of {args.runs} fresh interpreters)"
    )
    check = f"import sys, xloss; print([m for m in {FRAMEWORKS!r} if m in sys.modules])"
    loaded = subprocess.run(
        [sys.executable, "-c", check], check=True, capture_output=True, text=True
    )
    print(f"frameworks imported by `import xloss`: {loaded.stdout.strip()}")


if __name__ == "__main__":
    main()
