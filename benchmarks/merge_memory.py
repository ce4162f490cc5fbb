"""Merge memory of TopEFT-like histograms: dense hist.Hist, ChunkedHist, coffea, SparseHist.

    python -m benchmarks.merge_memory                      # full: N = 48 and 480 partials
    python -m benchmarks.merge_memory --quick              # reduced, < 1 minute
    python -m benchmarks.merge_memory --partials 48 --fan-in 2,20

Generates partial results directly (random events, no ROOT reading) with the histogram and
the fills of ``processors/topeft.py``: 12 processes (3 with 378 EFT coefficients), 20 channels,
16 systematics, 2 application regions, 8 (+2 flow) leading-lepton pT bins. Each partial is one
process (as a chunk of one sample is), stored once per representation:

- ``dense``: ``sh.to_hist()`` (categories the partial saw), plain pickle + lz4 level 1, merged
  with ``colframe.accumulate.merge_streaming`` (``+=`` into the first, in the order given);
- ``chunked``: ``sh.to_chunked()``, plain pickle + lz4, merged the same way;
- ``coffea``: the dense files merged as coffea's futures merge job does: all k compressed
  blobs in memory, ``coffea.processor.accumulate`` over them, result compressed in memory;
- ``sparse``: the ``SparseHist`` itself, ``colframe.serialize.dump`` (sparse wire), merged by
  ``merge_streaming`` over ``FileRef`` s, as the Runner's merge tasks do.

Every merge task runs in a fresh subprocess and reports its peak RSS minus the RSS after
imports, measured before any partial is read. The peak is Linux's ``VmHWM`` (reset after the
imports), not ``ru_maxrss``, which a child inherits from its parent across ``exec``. Prints
the tables and writes ``benchmarks/results/merge_memory.md`` (``--quick`` only prints).
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import gc
import io
import json
import math
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, BinaryIO

import lz4.frame
import numpy as np

from benchmarks._common import RESULTS, machine, markdown_table, timed, versions
from colframe import serialize
from colframe.accumulate import merge_streaming
from colframe.executors._store import FileRef
from colframe.hist import SparseHist
from processors.topeft import APPL, TopEFTProcessor  # imports coffea

__all__ = ["Config", "main", "make_partial", "run_task"]

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = ("dense", "chunked", "coffea", "sparse")
LABELS = {
    "dense": "dense hist.Hist, streamed +=",
    "chunked": "hist.chunked.ChunkedHist, streamed +=",
    "coffea": "coffea processor.accumulate (dense)",
    "sparse": "colframe SparseHist, merge_streaming (the Runner's)",
}
MB = 1e6


@dataclass(frozen=True)
class Config:
    """Shape of the synthetic TopEFT-like histogram and how densely it is filled."""

    processes: int = 12
    eft: int = 3
    channels: int = 20
    systematics: int = 16
    coeffs: int = 378
    #: fraction of the (channel, appl) combinations each EFT / SM process populates
    eft_fraction: float = 0.675
    sm_fraction: float = 0.6
    #: events per populated (process, channel, appl), over all partials together
    events_per_combo: int = 160
    seed: int = 2023

    @property
    def product_cells(self) -> int:
        """Cells of the full dense histogram, flow included."""
        axes = _processor(self).make_hist().axes
        cats = self.processes * self.channels * self.systematics * len(APPL)
        return cats * axes["l0pt"].extent * axes["coeff"].extent


QUICK = Config(channels=6, systematics=4, events_per_combo=80)


# -- partial results -------------------------------------------------------------------
def _processor(cfg: Config) -> TopEFTProcessor:
    """The processor whose histogram the partials are and whose fills they use."""
    return TopEFTProcessor(
        n_systematics=cfg.systematics,
        n_processes=cfg.processes,
        n_eft=cfg.eft,
        n_coeffs=cfg.coeffs,
    )


def _population(cfg: Config) -> list[np.ndarray]:
    """Per process, the (channel, appl) combination numbers it populates."""
    rng = np.random.default_rng([cfg.seed, 0])
    combos = cfg.channels * len(APPL)
    out = []
    for p in range(cfg.processes):
        fraction = cfg.eft_fraction if p < cfg.eft else cfg.sm_fraction
        out.append(np.sort(rng.choice(combos, round(fraction * combos), replace=False)))
    return out


def make_partial(cfg: Config, n_partials: int, index: int) -> SparseHist:
    """Partial ``index`` of ``n_partials``: one process, its share of that process's events.

    Random events (channel, appl, l0pt, weight, systematic factors, coefficient seeds) filled
    by ``TopEFTProcessor.fill`` into its histogram.
    """
    processor = _processor(cfg)
    p = index % cfg.processes
    population = _population(cfg)[p]
    siblings = len(range(p, n_partials, cfg.processes))
    total = cfg.events_per_combo * len(population)
    n = total // siblings + (index // cfg.processes < total % siblings)
    rng = np.random.default_rng([cfg.seed, n_partials, index])
    combo = population[rng.integers(len(population), size=n)]
    channel, appl = np.divmod(combo, len(APPL))
    proc = np.full(n, p)
    l0pt = 10 + rng.exponential(50, n)
    weight = rng.normal(1, 0.1, n)
    factors = [1.0, *(1 + rng.normal(0, 0.05, (cfg.systematics - 1, n)))]
    base = rng.integers(np.iinfo(np.uint64).max, size=n, dtype=np.uint64, endpoint=True)
    h = processor.make_hist()
    processor.fill(h, proc, channel, appl, l0pt, weight, base, factors)
    return h


def plain_dump(obj: Any, file: str | Path | BinaryIO) -> None:
    """Plain pickle through an lz4 frame (level 1), as coffea writes outputs.

    ``file`` is a path or a binary stream (left open).
    """
    with lz4.frame.open(file, "wb", compression_level=1) as stream:
        pickle.dump(obj, stream, protocol=pickle.HIGHEST_PROTOCOL)


def plain_load(file: str | Path | BinaryIO) -> Any:
    """Inverse of :func:`plain_dump`."""
    with lz4.frame.open(file, "rb") as stream:
        return pickle.load(stream)


def _plain_dumps(obj: Any) -> bytes:
    """:func:`plain_dump` into bytes."""
    with io.BytesIO() as raw:
        plain_dump(obj, raw)
        return raw.getvalue()


def _plain_loads(data: bytes) -> Any:
    """:func:`plain_load` from bytes."""
    with io.BytesIO(data) as raw:
        return plain_load(raw)


@dataclass(frozen=True)
class PlainRef:
    """A plain pickle + lz4 spool file: what ``merge_streaming`` needs (``nbytes``, ``load``)."""

    path: str
    nbytes: int

    def load(self) -> Any:
        return plain_load(self.path)


def write_partials(cfg: Config, n: int, directory: Path) -> dict[str, list[str]]:
    """Write ``n`` partials in every representation; ``coffea`` reuses the dense files."""
    files: dict[str, list[str]] = {"dense": [], "chunked": [], "sparse": []}
    for i in range(n):
        sh = make_partial(cfg, n, i)
        for variant, obj, dump in (
            ("sparse", sh, serialize.dump),
            ("dense", sh.to_hist(), plain_dump),
            ("chunked", sh.to_chunked(copy=False), plain_dump),
        ):
            path = directory / f"{variant}-{n}-{i:04d}.pkl.lz4"
            dump(obj, path)
            files[variant].append(str(path))
    files["coffea"] = files["dense"]
    return files


# -- what one merge task does (runs in a fresh subprocess) ---------------------------------
def _rss() -> int:
    with open("/proc/self/statm") as stream:
        return int(stream.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _peak() -> int:
    """Peak RSS of this process since the last :func:`_reset_peak` (Linux ``VmHWM``)."""
    # Not ru_maxrss: on Linux it inherits the PARENT's peak across fork/vfork + exec, so a
    # child of a big driver reports the driver's RSS. VmHWM belongs to the new address space.
    with open("/proc/self/status") as stream:
        for line in stream:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    msg = "no VmHWM in /proc/self/status: this benchmark measures memory on Linux only"
    raise RuntimeError(msg)


def _reset_peak() -> None:
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM := current RSS


def _trim() -> None:
    gc.collect()
    with contextlib.suppress(OSError):  # hand freed heap back, so RSS shows what is held
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def _coffea_reduce(blobs: list[bytes]) -> bytes:
    # coffea's _reduce(compression=1): blobs stay in memory, the last is the start, the rest
    # are decompressed one by one into it by processor.accumulate, the result compressed in memory.
    from coffea.processor import accumulate

    out = accumulate(map(_plain_loads, blobs[:-1]), _plain_loads(blobs[-1]))
    return _plain_dumps(out)


def _held_bytes(obj: Any) -> int:
    """Bytes of the arrays behind a histogram."""
    if isinstance(obj, SparseHist):
        return obj.nbytes
    if hasattr(obj, "items") and hasattr(obj, "chunk_axes"):  # ChunkedHist
        return sum(arr.nbytes for _, arr in obj.items())
    return int(obj.view(flow=True).nbytes)


def _warm_up(variant: str) -> None:
    """Import and exercise everything a merge uses, so the baseline includes it."""
    # coffea (processor.accumulate) is already imported with processors.topeft
    tiny = _processor(Config(systematics=1, coeffs=2)).make_hist()
    tiny.fill(process="a", channel="b", systematic="c", appl="d", l0pt=1.0, coeff=0)
    if variant == "sparse":
        copy = serialize.loads(serialize.dumps(tiny))
        copy += tiny
    else:
        obj = tiny.to_chunked() if variant == "chunked" else tiny.to_hist()
        copy = _plain_loads(_plain_dumps(obj))
        copy += obj
    del tiny, copy
    _trim()


def _merge_task(spec: dict[str, Any]) -> dict[str, Any]:
    variant, inputs, output = spec["variant"], spec["inputs"], spec["output"]
    _warm_up(variant)
    sparse = variant == "sparse"
    baseline = _rss()
    _reset_peak()  # import-time transients must not hide a smaller merge peak
    with timed() as t_merge:
        if variant == "coffea":
            result = _coffea_reduce([Path(p).read_bytes() for p in inputs])
        else:
            ref = FileRef if sparse else PlainRef
            refs = [ref(p, Path(p).stat().st_size) for p in inputs]
            result = merge_streaming(refs)
    merge_peak = _peak() - baseline
    held = len(result) if variant == "coffea" else _held_bytes(result)
    with timed() as t_write:
        if variant == "coffea":
            Path(output).write_bytes(result)
        elif sparse:
            serialize.dump(result, output)
        else:
            plain_dump(result, output)
    return {
        "peak": _peak() - baseline,
        "merge_peak": merge_peak,
        "baseline": baseline,
        "merge_s": t_merge.wall,
        "write_s": t_write.wall,
        "held": held,
        "file": Path(output).stat().st_size,
    }


def _best(fn, repeat: int = 3) -> tuple[float, Any]:
    best, value = math.inf, None
    for _ in range(repeat):
        value = None
        tic = time.perf_counter()
        value = fn()
        best = min(best, time.perf_counter() - tic)
    return best, value


def _inspect_task(spec: dict[str, Any]) -> dict[str, Any]:
    """Size, pickle sizes and encode/decode times of a final result."""
    variant, path = spec["variant"], spec["path"]
    _warm_up(variant)
    load = serialize.load if variant == "sparse" else plain_load
    _trim()
    before = _rss()
    obj = load(path)
    _trim()
    out = {"held": _held_bytes(obj), "resident": _rss() - before}
    if isinstance(obj, SparseHist):
        cells = sum(int(np.count_nonzero(obj.dense_block(k))) for k in obj)
        out |= {"keys": len(obj.keys()), "nonzero": cells}
    encodings = {
        "plain": (lambda o: pickle.dumps(o, pickle.HIGHEST_PROTOCOL), _plain_dumps, _plain_loads)
    }
    if variant in ("sparse", "dense"):
        encodings["colframe"] = (
            lambda o: serialize.dumps(o, compress=False),
            serialize.dumps,
            serialize.loads,
        )
    if variant == "sparse":
        del encodings["plain"]  # SparseHist's own pickle IS the sparse wire
    for name, (raw, dumps, loads) in encodings.items():
        size_raw = len(raw(obj))
        encode_s, blob = _best(lambda dumps=dumps: dumps(obj))
        decode_s, _ = _best(lambda loads=loads, blob=blob: loads(blob))
        out[name] = {"raw": size_raw, "lz4": len(blob), "encode_s": encode_s, "decode_s": decode_s}
        del blob
    return out


def run_task(spec: dict[str, Any]) -> dict[str, Any]:
    """Run one measurement (``spec["mode"]`` is ``merge`` or ``inspect``) in this process."""
    if spec["mode"] == "merge":
        return _merge_task(spec)
    return _inspect_task(spec)


def _spawn(spec: dict[str, Any]) -> dict[str, Any]:
    """``run_task(spec)`` in a fresh Python process."""
    cmd = [sys.executable, "-m", "benchmarks.merge_memory", "--task", json.dumps(spec)]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        msg = f"measurement {spec['mode']} {spec['variant']} failed:\n{done.stderr[-3000:]}"
        raise RuntimeError(msg)
    return json.loads(done.stdout.strip().splitlines()[-1])


# -- driver ---------------------------------------------------------------------------------
def _size(path: str) -> int:
    return Path(path).stat().st_size


def merge_tree(variant: str, leaves: list[str], fan_in: int, work: Path) -> dict[str, Any]:
    """The Runner's fixed tree over ``leaves`` (``colframe.schedule.MergeTree``: groups of
    ``fan_in`` consecutive nodes, level by level), one subprocess per task."""
    level = list(leaves)
    tasks, wall, count = [], 0.0, 0
    while len(level) > 1:
        above = []
        for first in range(0, len(level), fan_in):
            group = level[first : first + fan_in]
            if len(group) == 1:  # a last group of one moves up unmerged
                above.append(group[0])
                continue
            out = str(work / f"{variant}-tree-{len(leaves)}-{count}.pkl.lz4")
            count += 1
            result = _spawn({"mode": "merge", "variant": variant, "inputs": group, "output": out})
            result["inputs"] = sum(_size(p) for p in group)
            tasks.append(result)
            wall += result["merge_s"] + result["write_s"]
            for path in group:
                if path not in leaves:
                    Path(path).unlink()  # an intermediate result, now merged
            above.append(out)
        level = above
    ready = level
    worst = max(tasks, key=lambda t: t["peak"])
    return {
        "tasks": len(tasks),
        "peak": worst["peak"],
        "worst": worst,
        "wall": wall,
        "final": ready[0],
        "last": tasks[-1],
    }


def _as_sparse(variant: str, path: str) -> SparseHist:
    obj = serialize.load(path) if variant == "sparse" else plain_load(path)
    if isinstance(obj, SparseHist):
        return obj
    if hasattr(obj, "chunk_axes"):
        return SparseHist.from_chunked(obj)
    return SparseHist.from_hist(obj)


def _agree(finals: dict[str, str]) -> bool:
    """All final results hold the same keys and (up to summation order) the same content."""
    reference = _as_sparse("sparse", finals["sparse"])
    for variant, path in finals.items():
        other = _as_sparse(variant, path)
        if set(other.keys()) != set(reference.keys()):
            return False
        for key in reference:
            if not np.allclose(other.dense_block(key), reference.dense_block(key), rtol=1e-9):
                return False
    return True


def _mb(x: float) -> str:
    return f"{x / MB:,.1f}"


def _ratio(x: float, of: float) -> str:
    return f"{x / of:.2f}x"


def _parse_ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--partials", help="numbers of partials for the trees (default 48,480)")
    parser.add_argument("--fan-in", help="fan-ins of the single merge task (default 2,8,20,48)")
    parser.add_argument("--tree-fan-in", type=int, help="fan-in of the trees (default 20)")
    parser.add_argument("--quick", action="store_true", help="reduced configuration, < 1 minute")
    parser.add_argument("--workdir", help="where spool files go (default: a temporary directory)")
    parser.add_argument(
        "--output", help="markdown file (default results/merge_memory.md; none with --quick)"
    )
    parser.add_argument("--task", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.task:
        print(json.dumps(run_task(json.loads(args.task))))
        return 0

    cfg = QUICK if args.quick else Config()
    partials = _parse_ints(args.partials or ("12,48" if args.quick else "48,480"))
    fan_ins = _parse_ints(args.fan_in or ("2,8" if args.quick else "2,8,20,48"))
    tree_fan_in = args.tree_fan_in or (8 if args.quick else 20)
    # a quick smoke run only prints, unless told where to write
    default = None if args.quick else RESULTS / "merge_memory.md"
    output = Path(args.output) if args.output else default
    if any(k > max(partials) for k in fan_ins) or tree_fan_in < 2 or min(fan_ins) < 2:
        msg = f"fan-ins must be between 2 and the largest --partials ({max(partials)})"
        parser.error(msg)
    work = Path(args.workdir or tempfile.mkdtemp(prefix="colframe-merge-memory-"))
    work.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    try:
        text = _run(cfg, partials, fan_ins, tree_fan_in, work, argv)
    finally:
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)
    wall = time.perf_counter() - start
    text += f"\nTotal wall time of this run: {wall:,.0f} s.\n"
    print(text)
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text)
    return 0


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _run(cfg, partials, fan_ins, tree_fan_in, work: Path, argv) -> str:
    files = {}
    for n in partials:
        with timed() as t:
            files[n] = write_partials(cfg, n, work)
        _log(f"wrote {n} partials x 3 representations in {t.wall:.1f} s")

    # single merge tasks: the first k partials of the smallest set that has k
    single: dict[str, dict[int, dict]] = {v: {} for v in VARIANTS}
    for k in fan_ins:
        n = min(x for x in partials if x >= k)
        for variant in VARIANTS:
            out = str(work / f"{variant}-k{k}.pkl.lz4")
            spec = {"mode": "merge", "variant": variant, "inputs": files[n][variant][:k]}
            single[variant][k] = _spawn(spec | {"output": out})
            Path(out).unlink()
            _log(f"k={k:3d} {variant:8s} peak {_mb(single[variant][k]['peak'])} MB")

    trees: dict[str, dict[int, dict]] = {v: {} for v in VARIANTS}
    finals: dict[int, dict[str, str]] = {}
    for n in partials:
        for variant in VARIANTS:
            trees[variant][n] = merge_tree(variant, files[n][variant], tree_fan_in, work)
            tree = trees[variant][n]
            _log(
                f"N={n} {variant:8s} {tree['tasks']} tasks, max peak {_mb(tree['peak'])} MB, "
                f"{tree['wall']:.1f} s"
            )
        finals[n] = {v: trees[v][n]["final"] for v in VARIANTS}

    n0 = partials[0]
    inspect = {
        v: _spawn({"mode": "inspect", "variant": v, "path": finals[n0][v]})
        for v in ("dense", "chunked", "sparse")
    }
    agree = {n: _agree(finals[n]) for n in partials}
    runs = {"single": single, "trees": trees}
    return _report(cfg, partials, fan_ins, tree_fan_in, runs, inspect, agree, argv)


def _size_table(inspect: dict[str, dict]) -> str:
    rows = []
    for label, variant, enc in (
        ("dense hist.Hist (coffea's result too), plain pickle", "dense", "plain"),
        ("dense hist.Hist via colframe.serialize", "dense", "colframe"),
        ("hist.chunked.ChunkedHist, plain pickle", "chunked", "plain"),
        ("colframe SparseHist via colframe.serialize", "sparse", "colframe"),
    ):
        info = inspect[variant]
        e = info[enc]
        rows.append(
            [
                label,
                _mb(info["held"]),
                _mb(info["resident"]),
                _mb(e["raw"]),
                _mb(e["lz4"]),
                f"{e['encode_s']:.3f}",
                f"{e['decode_s']:.3f}",
            ]
        )
    return markdown_table(
        [
            "representation",
            "in memory MB (arrays)",
            "resident MB (RSS after load)",
            "pickle raw MB",
            "pickle lz4 MB",
            "encode s (lz4)",
            "decode s (lz4)",
        ],
        rows,
    )


def _peak_tables(runs: dict, final_held: dict[str, int], fan_ins, partials, tree_fan_in):
    """Peak RSS, wall time, and where the SparseHist peaks happen."""
    single, trees = runs["single"], runs["trees"]
    columns = [f"k={k}" for k in fan_ins] + [f"tree N={n}, fan-in {tree_fan_in}" for n in partials]
    peak_rows, time_rows, where_rows = [], [], []
    for v in VARIANTS:
        cells = [single[v][k] for k in fan_ins] + [trees[v][n]["worst"] for n in partials]
        f = final_held[v]
        peaks = [f"{_mb(c['peak'])} ({_ratio(c['peak'], f)})" for c in cells]
        peak_rows.append([LABELS[v], *peaks])
        time_rows.append(
            [
                LABELS[v],
                *[f"{c['merge_s'] + c['write_s']:.2f}" for c in cells[: len(fan_ins)]],
                *[f"{trees[v][n]['wall']:.1f} ({trees[v][n]['tasks']} tasks)" for n in partials],
            ]
        )
        if v == "sparse":
            where_rows += [
                [LABELS[v], name, _mb(c["peak"]), _mb(c["merge_peak"]), _mb(c["held"])]
                for name, c in zip(columns, cells, strict=True)
            ]
    peak = markdown_table(["merge", *columns], peak_rows)
    time = markdown_table(["merge", *[f"{c} s" for c in columns]], time_rows)
    where = markdown_table(
        ["merge", "task", "peak MB", "peak before writing the result MB", "result MB (arrays)"],
        where_rows,
    )
    return peak, time, where


def _goals(inspect: dict[str, dict], runs: dict, partials: list[int], fan_in: int) -> str:
    sparse, dense, chunked = inspect["sparse"], inspect["dense"], inspect["chunked"]
    F = sparse["held"]
    tree_peaks = [runs["trees"]["sparse"][n]["peak"] for n in partials]
    single = runs["single"]["sparse"]
    fan = [single[fan_in]["peak"]] if fan_in in single else []
    goals = [
        (
            "SparseHist in memory <= 1/5 of dense hist.Hist",
            dense["held"] >= 5 * F,
            f"{_mb(F)} vs {_mb(dense['held'])} MB (1/{dense['held'] / F:.1f})",
        ),
        (
            "SparseHist in memory <= 1/3 of ChunkedHist",
            chunked["held"] >= 3 * F,
            f"{_mb(F)} vs {_mb(chunked['held'])} MB (1/{chunked['held'] / F:.1f})",
        ),
        (
            "SparseHist raw pickle <= 1/5 of dense",
            sparse["colframe"]["raw"] * 5 <= dense["plain"]["raw"],
            f"{_mb(sparse['colframe']['raw'])} vs {_mb(dense['plain']['raw'])} MB",
        ),
        (
            "SparseHist lz4 pickle <= ChunkedHist lz4 pickle",
            sparse["colframe"]["lz4"] <= chunked["plain"]["lz4"],
            f"{_mb(sparse['colframe']['lz4'])} vs {_mb(chunked['plain']['lz4'])} MB",
        ),
        (
            f"SparseHist merge peak RSS at fan-in {fan_in} <= 2.5x the final result (k, trees)",
            all(p <= 2.5 * F for p in fan + tree_peaks),
            ", ".join(f"{_mb(p)} MB ({_ratio(p, F)})" for p in fan + tree_peaks),
        ),
        (
            "tree peak the same for N=" + " and N=".join(map(str, partials)) + " (within 25%)",
            max(tree_peaks) <= 1.25 * min(tree_peaks),
            " vs ".join(f"{_mb(p)} MB" for p in tree_peaks),
        ),
    ]
    return "\n".join(
        f"- {'met' if ok else '**missed**'}: {what}: {detail}" for what, ok, detail in goals
    )


def _report(cfg: Config, partials, fan_ins, tree_fan_in, runs, inspect, agree, argv) -> str:
    n0 = partials[0]
    sparse = inspect["sparse"]
    final_held = {v: runs["trees"][v][n0]["last"]["held"] for v in VARIANTS}
    final_held["coffea"] = inspect["dense"]["held"]  # its task's output is compressed bytes
    peak, time_table, where = _peak_tables(runs, final_held, fan_ins, partials, tree_fan_in)
    command = "python -m benchmarks.merge_memory " + " ".join(argv or sys.argv[1:])
    same = ", ".join(f"N={n}: {'yes' if ok else 'NO'}" for n, ok in agree.items())
    keys = cfg.processes * cfg.channels * cfg.systematics * len(APPL)
    l0pt = _processor(cfg).make_hist().axes["l0pt"]
    return (
        "# Merge memory: dense hist.Hist, ChunkedHist, coffea accumulate, colframe SparseHist\n\n"
        f"- command: `{command.strip()}`\n"
        f"- machine: {machine()}\n"
        f"- versions: {versions('colframe', 'hist', 'boost-histogram', 'coffea', 'numpy', 'lz4')}\n"
        f"- configuration: {asdict(cfg)}\n"
        f"- histogram: process ({cfg.processes}, {cfg.eft} with {cfg.coeffs} EFT coefficients) x "
        f"channel ({cfg.channels}) x systematic ({cfg.systematics}) x appl ({len(APPL)}) x l0pt "
        f"({l0pt.size} + 2 flow bins) x coeff ({cfg.coeffs}, no flow): "
        f"{keys:,} category combinations, {cfg.product_cells:,} cells "
        f"({_mb(cfg.product_cells * 8)} MB dense)\n"
        f"- final result (N={n0}): {sparse['keys']:,} keys filled "
        f"({sparse['keys'] / keys:.1%} of the category product), "
        f"{sparse['nonzero'] / cfg.product_cells:.1%} of all cells non-zero\n"
        f"- partials: one process each ({', '.join(f'N={n}' for n in partials)}: "
        f"{', '.join(str(n // cfg.processes) for n in partials)} per process), the same total "
        "events for every N; dense partials hold only the categories they saw (growing axes), "
        f"so no dense partial holds the full {_mb(cfg.product_cells * 8)} MB product\n"
        f"- every merge gives the same final result (allclose, key by key): {same}\n\n"
        f"## Final result (N={n0})\n\n{_size_table(inspect)}\n\n"
        "`resident` is the RSS increase from loading the result in a fresh process (after "
        "`malloc_trim`): arrays plus Python objects. `encode`/`decode` are the best of 3.\n\n"
        "## Peak RSS of one merge task, MB above the post-import baseline (x final result)\n\n"
        f"{peak}\n\n"
        f"k=n: one task merging the first n partials of N={n0} and writing its result. Trees: "
        "smallest-first groups of the fan-in, as the Runner forms them, every task a fresh "
        "process; the figure is the largest peak over the tasks. The ratio is to the final "
        "result's in-memory size in that representation (coffea: the dense hist).\n\n"
        f"## Where the SparseHist peak is reached (for the trees: the task with the largest peak)"
        f"\n\n{where}\n\n"
        f"## Wall time of the merges (read, add, write), s\n\n{time_table}\n\n"
        f"## Goals\n\n{_goals(inspect, runs, partials, tree_fan_in)}\n"
    )


if __name__ == "__main__":
    sys.exit(main())
