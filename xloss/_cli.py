"""The ``xloss`` command: ``xloss report`` (the conformance matrix) and ``xloss doctor``."""

from __future__ import annotations

import argparse
import contextlib
import html
import json
import math
import os
import sys
from collections.abc import Sequence
from typing import Any

FORMATS = ("text", "markdown", "json", "html")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="xloss", description="xloss: one loss library, every array framework."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    report = commands.add_parser(
        "report",
        help="run the conformance case library on every installed backend",
        description="Run the case library on every installed backend and compare with a "
        "float64 reference and each framework's own functions. Exit status 1 on any failure "
        "(a backend named in --backends that is not installed included), 2 on a usage error "
        "(an unknown backend name, an --output file that cannot be written).",
    )
    report.add_argument(
        "--backends",
        nargs="+",
        metavar="NAME",
        type=_backend,
        help="among numpy, jax, torch, tensorflow, array_api_strict; each one named must be "
        "installed, or the run fails; only the named frameworks' own functions run (optax's "
        "with jax, Keras's with tensorflow) (default: every installed one, the others listed)",
    )
    report.add_argument(
        "--dtype",
        default="float32",
        choices=("float16", "bfloat16", "float32", "float64"),
        help="the dtype xloss runs in (default: float32); the frameworks' own functions always "
        "run in float32, at float32's tolerance",
    )
    report.add_argument("--format", default="text", choices=FORMATS)
    report.add_argument("--output", metavar="FILE", help="write the report there (default: stdout)")
    report.add_argument("--quiet", action="store_true", help="no progress on stderr")
    commands.add_parser("doctor", help="installed backends, versions, devices, adapters")
    args = parser.parse_args(argv)
    if args.command == "doctor":
        lines, ok = _doctor()
        print("\n".join(lines))
        return 0 if ok else 1
    from xloss.conformance import _runner

    try:  # a backend named that has no such dtype
        _runner.requested(args.backends, args.dtype)
    except ValueError as error:
        report.error(str(error))
    created = False
    if args.output:  # before the run, which takes a while: a wrong path is a usage error
        created = not os.path.lexists(args.output)
        try:  # opened to append: checked, but an existing report is kept until the new one
            open(args.output, "a", encoding="utf-8").close()
        except OSError as error:
            message = error.strerror or str(error)
            report.error(f"cannot write the report to {args.output!r}: {message}")
    try:
        return _report(args)
    except BaseException:  # an interrupted run leaves no empty file behind
        if created:
            with contextlib.suppress(OSError):
                os.remove(args.output)
        raise


def _backend(name: str) -> str:
    """``--backends``: a known backend name; argparse turns the ValueError into a usage error
    (exit status 2) that lists the known names."""
    from xloss.conformance import _runner

    try:
        return _runner.known(name)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _report(args: argparse.Namespace) -> int:
    """Run the report and write it (to ``--output`` once the run is over: an interrupted run
    leaves the previous report there as it was)."""
    from xloss import conformance

    progress = None if args.quiet else _progress
    result = conformance.run(args.backends, dtype=args.dtype, progress=progress)
    if progress:
        sys.stderr.write("\r\033[K" if sys.stderr.isatty() else "")
    render = {"text": text, "markdown": markdown, "json": to_json, "html": to_html}[args.format]
    output = render(result)
    if args.output:
        with open(args.output, "w", encoding="utf-8") as output_file:
            output_file.write(output)
        print(f"{args.output}: {_summary_line(result)}")
        for problem in result.problems:
            print(f"problem: {problem}")
    else:
        print(output)
    return 0 if result.ok else 1


def _progress(line: str) -> None:
    if sys.stderr.isatty():
        sys.stderr.write(f"\r\033[K{line}")
    else:
        sys.stderr.write(line + "\n")
    sys.stderr.flush()


def _cell_text(cell: Any) -> str:
    if cell.error:
        return "error"
    mark = "ok" if cell.ok else "FAIL"
    return f"{mark} {cell.max_abs:.0e}/{cell.max_rel:.0e}"


def _rows(report: Any) -> tuple[list[str], list[list[str]]]:
    header = ["case", *report.backends]
    rows = [[r.case, *(_cell_text(r.cells[b]) for b in report.backends)] for r in report.results]
    return header, rows


def _native_rows(report: Any) -> list[list[str]]:
    return [
        [r.case, label, _cell_text(cell)]
        for r in report.results
        for label, cell in r.natives.items()
    ]


def _summary_line(report: Any) -> str:
    s = report.summary
    line = f"{s['passed']} passed, {s['failed']} failed"
    problems = s["problems"]
    return line + (f", {problems} problem{'s' if problems > 1 else ''}" if problems else "")


def _footer(report: Any) -> list[str]:
    data = report.to_dict()
    lines = [
        _summary_line(report),
        f"dtype {report.dtype}; tolerance {data['tolerance']:.1e} (relative and "
        f"absolute, from finfo; plus eps * max |logit| of each sample for the losses from "
        f"logits); cells: max abs / max rel error against a float64 reference",
    ]
    native_dtype = data["native_dtype"]
    if native_dtype != report.dtype and any(r.natives for r in report.results):
        lines.append(
            f"the frameworks' own functions: {native_dtype} inputs, tolerance "
            f"{data['native_tolerance']:.1e} (they always run in {native_dtype})"
        )
    versions = ", ".join(f"{b} {v}" for b, v in report.versions.items())
    lines.append(f"backends: {versions}")
    skipped = [b for b in report.versions if b not in report.backends]
    if skipped:
        lines.append(f"not run: {', '.join(skipped)} (no {report.dtype})")
    for name, hint in report.missing.items():
        lines.append(f"missing: {name} (install with: {hint})")
    for name, why in report.natives_left_out.items():
        lines.append(f"not compared: {name}'s own functions ({why})")
    lines += [f"problem: {p}" for p in report.problems]
    errors = [
        f"{r.case} on {b}: {c.error}"
        for r in report.results
        for b, c in {**r.cells, **r.natives}.items()
        if c.error
    ]
    lines += [f"error: {e}" for e in errors]
    return lines


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(x)) for x in column) for column in zip(header, *rows)]
    line = lambda cells: "  ".join(str(c).ljust(w) for c, w in zip(cells, widths))  # noqa: E731
    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])


def text(report: Any) -> str:
    header, rows = _rows(report)
    parts = ["xloss conformance report", "", _table(header, rows), ""]
    natives = _native_rows(report)
    if natives:
        parts += ["The frameworks' own functions on the same inputs:", ""]
        parts += [_table(["case", "native", "result"], natives), ""]
    # The summary line comes last, alone, in the form CI readers recognise.
    footer = _footer(report)
    return "\n".join(parts + footer[1:] + [footer[0]])


def markdown(report: Any) -> str:
    def table(header: list[str], rows: list[list[str]]) -> list[str]:
        out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        return out + [
            "| " + " | ".join(f"`{c}`" if i else c for i, c in enumerate(r)) + " |" for r in rows
        ]

    header, rows = _rows(report)
    parts = ["### xloss on each backend", "", *table(header, rows), ""]
    natives = _native_rows(report)
    if natives:
        parts += [
            "### The frameworks' own functions",
            "",
            *table(["case", "native", "result"], natives),
            "",
        ]
    parts += [f"- {line}" for line in _footer(report)]
    return "\n".join(parts)


def to_json(report: Any) -> str:
    """Strict JSON (no NaN or Infinity literals: `Report.to_dict` gives null or a string)."""
    return json.dumps(report.to_dict(), indent=2, allow_nan=False)


def _heat(cell: Any) -> str:
    """A colour for a cell by the fraction of its allowance its worst error takes (``used``):
    green far inside it, yellow near it, red outside."""
    if cell.error or not cell.ok:
        return "#e45756"
    worst = cell.used if math.isfinite(cell.used) else 0.0
    if worst <= 0:
        return "#1a9850"
    level = min(max((math.log10(worst) + 4) / 4, 0.0), 1.0)  # 1e-4 of the allowance .. all of it
    red, green = int(102 + 153 * level), int(189 - 60 * level)
    return f"rgb({red},{green},99)"


def to_html(report: Any) -> str:
    data = report.to_dict()
    tol, native_tol = data["tolerance"], data["native_tolerance"]
    esc = html.escape

    def cell_td(cell: Any) -> str:
        style, title = f"background:{_heat(cell)}", esc(cell.describe())
        return f'<td style="{style}" title="{title}">{esc(_cell_text(cell))}</td>'

    head = "".join(f"<th>{esc(b)}</th>" for b in report.backends)
    body = "".join(
        f"<tr><th>{esc(r.case)}</th>{''.join(cell_td(r.cells[b]) for b in report.backends)}</tr>"
        for r in report.results
    )
    natives = "".join(
        f"<tr><th>{esc(r.case)}</th><td>{esc(label)}</td>{cell_td(c)}</tr>"
        for r in report.results
        for label, c in r.natives.items()
    )
    footer = "".join(f"<li>{esc(line)}</li>" for line in _footer(report))
    native_legend = (
        f"; {native_tol:.1e} for the frameworks' own functions, in {data['native_dtype']}"
        if native_tol != tol
        else ""
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>xloss conformance report</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; margin-bottom: 2em; }}
th, td {{ border: 1px solid #ccc; padding: 4px 8px; font-size: 13px; text-align: left; }}
td {{ font-family: ui-monospace, monospace; color: #fff; }}
td:not([style]) {{ color: #222; }}
.legend span {{ display: inline-block; padding: 2px 8px; color: #fff; margin-right: 4px; }}
</style></head><body>
<h1>xloss conformance report</h1>
<p class="legend">The largest error as a fraction of what the cell allows (the tolerance
{tol:.1e}{native_legend}, relative and absolute, plus the inputs' rounding for the losses from
logits):
<span style="background:{_heat(_Fake(0.0))}">exact</span>
<span style="background:{_heat(_Fake(1e-3))}">1e-3</span>
<span style="background:{_heat(_Fake(1e-1))}">1e-1</span>
<span style="background:{_heat(_Fake(1.0))}">at tolerance</span>
<span style="background:#e45756">fail</span></p>
<h2>xloss on each backend (max abs / max rel error)</h2>
<table><tr><th>case</th>{head}</tr>{body}</table>
<h2>The frameworks' own functions</h2>
<table><tr><th>case</th><th>native</th><th>result</th></tr>{natives}</table>
<ul>{footer}</ul>
</body></html>
"""


class _Fake:
    """A passing cell using a given fraction of its allowance, for the legend."""

    def __init__(self, used: float) -> None:
        self.used, self.ok, self.error = used, True, None


def doctor() -> str:
    """Installed backends with versions and devices, and the adapter and fast paths of each."""
    return "\n".join(_doctor()[0])


def _doctor() -> tuple[list[str], bool]:
    """The lines of `doctor`, and False when an installed backend fails to import."""
    import importlib

    from xloss.conformance import _frameworks

    lines, ok = ["xloss doctor", ""], True
    for name in _frameworks.BACKENDS:
        if not _frameworks.installed(name):
            lines.append(f"{name:<17} not installed ({_frameworks.INSTALL_HINT[name]})")
            continue
        try:
            framework = _frameworks.load(name)
        except Exception as error:  # found, but broken: say so, and look at the others
            message = f"{type(error).__name__}: {error}"[:300]
            lines.append(f"{name:<17} installed, but fails to import: {message}")
            ok = False
            continue
        adapter_name = name if name in ("numpy", "jax", "torch", "tensorflow") else "generic"
        adapter = importlib.import_module(f"xloss.adapters.{adapter_name}")
        sample = framework.from_numpy(__import__("numpy").zeros(2, "float32"))
        namespace = adapter.namespace(sample)
        fast = [f for f in ("top_k", "random_uniform") if getattr(adapter, f) is not None]
        lines.append(f"{name:<17} {framework.version}")
        lines.append(f"  devices:   {', '.join(_devices(name))}")
        lines.append(f"  adapter:   xloss.adapters.{adapter_name}; namespace {namespace.__name__}")
        lines.append(f"  native:    {', '.join(fast) or 'none (generic Array-API bodies)'}")
    return lines, ok


def _devices(name: str) -> list[str]:
    import importlib

    if name == "jax":
        return [str(d) for d in importlib.import_module("jax").devices()]
    if name == "torch":
        torch = importlib.import_module("torch")
        gpus = [f"cuda:{i}" for i in range(torch.cuda.device_count())]
        return ["cpu", *gpus]
    if name == "tensorflow":
        tf = importlib.import_module("tensorflow")
        return [d.name for d in tf.config.list_logical_devices()]
    return ["cpu"]


if __name__ == "__main__":
    sys.exit(main())
