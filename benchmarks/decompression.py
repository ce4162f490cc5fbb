"""ZLIB inflaters: uproot reading the ADL queries' columns with the stdlib's zlib and with ISA-L.

    python -m benchmarks.decompression --events 8000000 --files 8 --repeats 5

Reads, in this one process, each column set (Q1's MET, Q6's five jet columns, Q7's jets and
leptons) of the first generated file with ``colframe.decompression.zlib_library`` set to
"zlib" and to "isal", alternating, ``--repeats`` times each, from a freshly opened file every
time (uproot caches baskets per open file). Reports the fastest time of each, the time spent in
the inflater itself (measured by wrapping it), checks the arrays are identical, prints a table
and writes ``benchmarks/results/decompression.md``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from benchmarks._common import RESULTS, machine, markdown_table, versions
from benchmarks.adl.generate import ensure_dataset

__all__ = ["main"]

ROOT = Path(__file__).resolve().parents[1]
LIBRARIES = ("zlib", "isal")


class _Inflation:
    """Seconds spent inside uproot's ZLIB inflater (whichever library it dispatches to)."""

    def __init__(self) -> None:
        import uproot.compression

        self.seconds = 0.0
        self._inflater = uproot.compression._decompress_ZLIB
        self._original = type(self._inflater).decompress

    def __enter__(self):
        original, timer = self._original, self

        def timed(inflater, data, uncompressed_bytes=None):
            tic = time.perf_counter()
            try:
                return original(inflater, data, uncompressed_bytes)
            finally:
                timer.seconds += time.perf_counter() - tic

        self._inflater.decompress = timed.__get__(self._inflater)
        return self

    def __exit__(self, *exc) -> None:
        del self._inflater.decompress


def _read(path: str, columns: list[str], library: str):
    import uproot

    from colframe.decompression import zlib_library

    with zlib_library(library), _Inflation() as inflation, uproot.open(path) as file:
        tic = time.perf_counter()
        arrays = file["Events"].arrays(columns, library="ak")
        return time.perf_counter() - tic, inflation.seconds, arrays


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="benchmarks.decompression", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--events", type=int, default=8_000_000)
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--data", default=str(ROOT / "data" / "adl"))
    parser.add_argument("--output", default=str(RESULTS / "decompression.md"))
    args = parser.parse_args(argv)

    import awkward as ak

    from processors.adl import columns

    files = ensure_dataset(
        Path(args.data) / f"{args.events}-{args.files}", args.events, args.files, seed=1
    )
    path = str(files[0])
    rows = []
    for query in ("q1", "q6", "q7"):
        cols = columns(query)
        best = {library: (float("inf"), float("inf")) for library in LIBRARIES}
        arrays = {}
        for _ in range(args.repeats):
            for library in LIBRARIES:
                wall, inflate, arrays[library] = _read(path, cols, library)
                best[library] = min(best[library], (wall, inflate))
        if not all(ak.array_equal(arrays["zlib"][c], arrays["isal"][c]) for c in cols):
            msg = f"{query}: isal and zlib arrays differ"
            raise AssertionError(msg)
        (zlib_wall, zlib_inflate), (isal_wall, isal_inflate) = best["zlib"], best["isal"]
        rows.append(
            [
                query,
                len(cols),
                f"{zlib_wall:.3f}",
                f"{isal_wall:.3f}",
                f"{zlib_wall / isal_wall:.2f}×",
                f"{zlib_inflate:.3f}",
                f"{isal_inflate:.3f}",
                f"{zlib_inflate / isal_inflate:.2f}×",
            ]
        )
        print(
            f"{query}: read {zlib_wall:.3f} s (zlib) vs {isal_wall:.3f} s (isal)", file=sys.stderr
        )
    command = "python -m benchmarks.decompression " + " ".join(
        argv if argv is not None else sys.argv[1:]
    )
    table = markdown_table(
        [
            "query columns",
            "branches",
            "read s, zlib",
            "read s, isal",
            "read speed-up",
            "inflate s, zlib",
            "inflate s, isal",
            "inflate speed-up",
        ],
        rows,
    )
    text = (
        "# ZLIB inflaters: stdlib zlib vs ISA-L\n\n"
        f"- command: `{command.strip()}`\n"
        f"- data: {Path(path).name}, the first of {args.files} files of {args.events:,} synthetic "
        "events (benchmarks/adl/generate.py, seed 1; ZLIB level 1), warm page cache\n"
        f"- fastest of {args.repeats} reads each, alternating, a freshly opened file every time; "
        "arrays checked identical\n"
        f"- machine: {machine()}\n"
        f"- versions: {versions('uproot', 'isal', 'awkward')}\n\n"
        f"{table}\n"
    )
    print(text)
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
