"""Perplexity of saved logits with Dask: throughput against chunk size, from a ``.npy`` file.

    python benchmarks/bench_dask.py [--rows 32768] [--vocab 32000] [--repeats 3]
        [--chunks 256x32000 1024x32000 4096x32000 1024x8000 4096x8000] [--dir /tmp/xloss_bench]
        [--from-array-memmap]

Writes ``rows x vocab`` standard-normal float32 logits and int32 labels as ``.npy`` files (once;
reused if they are there), then, for each chunk shape ``ROWSxCOLS``, times the recipe of
docs/scaling.md:

    logits = da.from_array(NpyFile(path), chunks=(ROWS, COLS))  # blocks read by memmap
    nll = xloss.SparseCategoricalCrossentropy(from_logits=True)(labels, logits)
    perplexity = float(da.exp(nll).compute())

``NpyFile`` hides the memmap from ``da.from_array``, which copies any array with a ``copy``
method into memory when the graph is built (dask 2024.12 and later, dask/dask#11850): passing
``np.load(path, mmap_mode="r")`` itself reads the whole file into RAM. ``--from-array-memmap``
adds that variant (at the first chunk shape) to show it: the "graph RAM" column is the growth of
the process's anonymous memory while the graph is built.

Dask runs with its threaded scheduler, twice per repeat: *cold*, after ``posix_fadvise(DONTNEED)``
asks the kernel to drop this file's pages from the page cache (so the file is read from disk;
the kernel may keep some pages, and other processes' caches are untouched), and *warm*, right
after, with the file in the page cache. The baseline is a plain NumPy loop over the memmap,
``ROWS`` rows at a time, calling xloss on each block. Reports the median time per setting, in
rows/s and GB/s of logits, and checks every perplexity against the NumPy loop's.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np


def write_data(directory: Path, rows: int, vocab: int) -> tuple[Path, Path]:
    """Standard-normal float32 logits (written block by block) and uniform int32 labels."""
    directory.mkdir(parents=True, exist_ok=True)
    logits_path = directory / f"logits_{rows}x{vocab}.npy"
    labels_path = directory / f"labels_{rows}.npy"
    if not logits_path.exists():
        rng = np.random.default_rng(0)
        out = np.lib.format.open_memmap(
            logits_path.with_suffix(".partial.npy"),
            mode="w+",
            dtype=np.float32,
            shape=(rows, vocab),
        )
        step = max(1, (64 << 20) // (4 * vocab))  # 64 MB at a time
        for start in range(0, rows, step):
            block = out[start : start + step]
            block[...] = rng.standard_normal(block.shape, dtype=np.float32)
        out.flush()
        del out
        logits_path.with_suffix(".partial.npy").rename(logits_path)
    if not labels_path.exists():
        labels = np.random.default_rng(1).integers(0, vocab, size=rows, dtype=np.int32)
        np.save(labels_path, labels)
    return logits_path, labels_path


def drop_from_page_cache(path: Path) -> None:
    """Ask the kernel to evict this file's clean pages (no effect where fadvise is missing)."""
    if not hasattr(os, "posix_fadvise"):
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


class NpyFile:
    """A ``.npy`` file that ``da.from_array`` reads block by block (through a memmap per read).

    It has no ``copy`` method, so ``da.from_array`` does not copy it, and it pickles as its
    path and header, so workers in other processes open the file themselves. The header is
    parsed once (``np.load``'s ``ast.literal_eval`` from Dask's threads at once once failed in
    CPython 3.11.7: see docs/scaling.md).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        array = np.load(path, mmap_mode="r")
        self.shape, self.dtype, self.ndim = array.shape, array.dtype, array.ndim
        self.offset = array.offset
        self.order = "F" if array.flags.f_contiguous and not array.flags.c_contiguous else "C"

    def __getitem__(self, index: object) -> np.ndarray:
        layout = (self.dtype, "r", self.offset, self.shape, self.order)
        return np.memmap(self.path, *layout)[index]

    def __dask_tokenize__(self) -> object:
        return (str(self.path), os.path.getmtime(self.path))


def anonymous_memory() -> int:
    """This process's anonymous resident memory in bytes (Linux), else 0."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def perplexity_dask(
    logits_path: Path, labels_path: Path, chunks: tuple[int, int], *, memmap: bool = False
) -> tuple[float, int]:
    """``(perplexity, bytes of anonymous memory taken while building the graph)``."""
    import dask.array as da

    import xloss

    before = anonymous_memory()
    source = np.load(logits_path, mmap_mode="r") if memmap else NpyFile(logits_path)
    logits = da.from_array(source, chunks=chunks)
    labels = da.from_array(np.load(labels_path), chunks=chunks[0])
    nll = xloss.SparseCategoricalCrossentropy(from_logits=True)(labels, logits)
    graph_memory = anonymous_memory() - before
    return float(da.exp(nll).compute(scheduler="threads")), graph_memory


def perplexity_numpy_loop(logits_path: Path, labels_path: Path, rows: int) -> float:
    import xloss

    logits = np.load(logits_path, mmap_mode="r")
    labels = np.load(labels_path)
    total = 0.0
    for start in range(0, logits.shape[0], rows):
        block = np.asarray(logits[start : start + rows])
        total += float(
            xloss.sparse_categorical_crossentropy(
                labels[start : start + rows], block, from_logits=True
            ).sum(dtype=np.float64)
        )
    return float(np.exp(total / logits.shape[0]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=32768)
    parser.add_argument("--vocab", type=int, default=32000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--chunks",
        nargs="+",
        default=["256x32000", "1024x32000", "4096x32000", "1024x8000", "4096x8000"],
        help="chunk shapes ROWSxCOLS",
    )
    parser.add_argument("--dir", type=Path, default=Path("/tmp/xloss_bench"))
    parser.add_argument("--from-array-memmap", action="store_true")
    args = parser.parse_args()

    import dask
    import dask.array  # imported before the timings, like xloss

    import xloss  # noqa: F401

    logits_path, labels_path = write_data(args.dir, args.rows, args.vocab)
    size = logits_path.stat().st_size
    print(
        f"# {args.rows} x {args.vocab} float32 logits, {size / 1e9:.2f} GB, in {logits_path}; "
        f"{os.cpu_count()} CPUs, {platform.machine()}, dask {dask.__version__}, numpy "
        f"{np.__version__}; median of {args.repeats}"
    )
    settings = [("numpy loop", (1024, args.vocab))]
    for text in args.chunks:
        r, c = (int(v) for v in text.lower().split("x"))
        settings.append(("dask", (r, min(c, args.vocab))))
    if args.from_array_memmap:
        settings.append(("dask, from_array(memmap)", settings[1][1]))
    reference = None
    columns = ["method", "chunk (rows x classes)", "chunk MB", "graph RAM MB"]
    columns += [f"{state} {unit}" for state in ("cold", "warm") for unit in ("rows/s", "GB/s")]
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for method, chunks in settings:
        times: dict[str, list[float]] = {"cold": [], "warm": []}
        graph_memory = None
        for _ in range(args.repeats):
            for state in ("cold", "warm"):
                if state == "cold":
                    drop_from_page_cache(logits_path)
                start = time.perf_counter()
                if method.startswith("dask"):
                    value, graph_memory = perplexity_dask(
                        logits_path, labels_path, chunks, memmap="memmap" in method
                    )
                else:
                    value = perplexity_numpy_loop(logits_path, labels_path, chunks[0])
                times[state].append(time.perf_counter() - start)
                reference = value if reference is None else reference
                if abs(value - reference) > 1e-5 * reference:
                    raise AssertionError(f"{method} {chunks}: perplexity {value} != {reference}")
        cells = []
        for state in ("cold", "warm"):
            t = statistics.median(times[state])
            cells += [f"{args.rows / t:,.0f}", f"{size / t / 1e9:.2f}"]
        chunk_mb = chunks[0] * chunks[1] * 4 / 1e6
        ram = "n/a" if graph_memory is None else f"{graph_memory / 1e6:.0f}"
        row = [method, f"{chunks[0]} x {chunks[1]}", f"{chunk_mb:.0f}", ram]
        print("| " + " | ".join(row + cells) + " |")
    print(f"# perplexity {reference:.6g}")


if __name__ == "__main__":
    main()
