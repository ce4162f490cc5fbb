"""Environments: pack time and tarball size, first and later start on a worker, --from-current rebuilds.

    python -m benchmarks.environments [--spec envs/colframe.json]

Measures, each once (they take tens of seconds, and a repeat of "cold" is no longer cold):

* ``pack`` of the spec, cold (empty uv download cache, empty colframe cache), warm (uv's cache
  filled, the tarball rebuilt with ``force=True``) and cached (the same call again);
* a worker's first start (``unpack``: hash, check, extract, then ``import colframe`` inside) and a
  later one (cached), both through ``colframe.envs.run`` and through TaskVine's ``bin/run_in_env``;
* ``--from-current`` of a scratch venv holding an editable copy of this work tree: the first pack,
  then the rebuild after editing one file of it (the copy, so the real checkout is never touched).

Writes ``benchmarks/results/environments.md``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import site
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks._common import RESULTS, machine, markdown_table, versions
from colframe.envs import pack, tarball_manifest, unpack
from colframe.envs._driver import installed_versions
from colframe.envs._pack import _uv_binary
from colframe.results import Ok

__all__ = ["main"]

ROOT = Path(__file__).resolve().parents[1]
IMPORT = ["python", "-c", "import colframe"]


def _seconds(function, *args, **kwargs) -> tuple[float, object]:
    start = time.perf_counter()
    result = function(*args, **kwargs)
    return time.perf_counter() - start, result


def _mb(path: Path) -> str:
    return f"{path.stat().st_size / 1e6:.0f}"


def _packs(spec: Path, scratch: Path) -> tuple[list[list[object]], Path]:
    cache = scratch / "colframe-cache"
    out = scratch / "env.tar.gz"
    rows = []
    cold, _ = _seconds(pack, spec, out, cache_dir=cache)
    rows.append(["pack, cold (empty uv and colframe caches)", f"{cold:.1f}", _mb(out)])
    warm, _ = _seconds(pack, spec, out, cache_dir=cache, force=True)
    rows.append(["pack, warm uv cache (tarball rebuilt)", f"{warm:.1f}", _mb(out)])
    cached, _ = _seconds(pack, spec, out, cache_dir=cache)
    rows.append(["pack, same spec again (cached tarball)", f"{cached:.2f}", _mb(out)])
    return rows, out


def _starts(tarball: Path, scratch: Path) -> list[list[object]]:
    rows = []
    worker = scratch / "worker-cache"
    first, env = _seconds(unpack, tarball, cache_dir=worker)
    task, _ = _seconds(
        subprocess.run, [str(env / "bin" / "run_in_env"), *IMPORT], check=True, cwd=scratch
    )
    rows.append(["first start: unpack (hash, check, extract)", f"{first:.1f}", ""])
    rows.append(["first task: run_in_env python -c 'import colframe'", f"{task:.2f}", ""])
    later, _ = _seconds(unpack, tarball, cache_dir=worker)
    rows.append(["later start: unpack (cached)", f"{later:.3f}", ""])
    task, _ = _seconds(
        subprocess.run, [str(env / "bin" / "run_in_env"), *IMPORT], check=True, cwd=scratch
    )
    rows.append(["later task: run_in_env python -c 'import colframe'", f"{task:.2f}", ""])
    bare, _ = _seconds(subprocess.run, [str(env / "bin" / "run_in_env"), "true"], check=True)
    rows.append(["run_in_env true (the wrapper alone)", f"{bare:.3f}", ""])
    cli = [
        sys.executable,
        "-m",
        "colframe.cli",
        "env",
        "run",
        "--cache-dir",
        str(worker),
        str(tarball),
    ]
    whole, _ = _seconds(subprocess.run, [*cli, "--", *IMPORT], check=True, cwd=scratch)
    rows.append(["later: colframe env run ENV -- python -c 'import colframe'", f"{whole:.2f}", ""])
    return rows


def _task(executor) -> float:
    """Seconds from submitting one small task to its result."""
    start = time.perf_counter()
    task = executor.submit(site.getsitepackages, None)
    [(_, result)] = executor.wait([task])
    if not isinstance(result, Ok):
        msg = f"the timing task failed on {executor!r}: {result}"
        raise RuntimeError(msg)
    return time.perf_counter() - start


def _engine_starts(tarball: Path) -> list[list[object]]:
    """First and later task on one real worker of each engine, with the environment attached
    (first: the tarball sent, unpacked once, then the task) and without it."""
    from colframe.executors.taskvine import TaskVineExecutor
    from colframe.executors.workqueue import WorkQueueExecutor

    engines = [
        ("Work Queue", lambda **kw: WorkQueueExecutor(workers=1, **kw)),
        ("TaskVine tasks", lambda **kw: TaskVineExecutor(workers=1, mode="tasks", **kw)),
    ]
    rows = []
    for name, make in engines:
        for label, options in (("environment=", {"environment": tarball}), ("no environment", {})):
            with make(**options) as executor:
                first, later = _task(executor), _task(executor)
            rows.append([f"{name}, {label}: first task on a worker", f"{first:.2f}", ""])
            rows.append([f"{name}, {label}: later task on that worker", f"{later:.2f}", ""])
    return rows


def _from_current(scratch: Path, uv_env: dict[str, str]) -> list[list[object]]:
    """--from-current in a scratch venv with an editable copy of the checkout; edit one file."""
    copy = scratch / "checkout"
    # the working tree as source_hash sees it (tracked and untracked, not ignored files)
    listed = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files", "-z", "-co", "--exclude-standard"],
        capture_output=True,
        check=True,
    ).stdout.decode()
    for rel in filter(None, listed.split("\0")):
        if (ROOT / rel).is_file():
            (copy / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, copy / rel)
    venv = scratch / "venv"
    uv = _uv_binary()
    pins = scratch / "pins.txt"
    pins.write_text(
        "".join(f"{n}=={v}\n" for n, v in installed_versions().items() if n != "colframe")
    )
    subprocess.run(
        [uv, "venv", "-q", "--python", sys._base_executable, str(venv)], check=True, env=uv_env
    )
    install = [
        uv,
        "pip",
        "install",
        "-q",
        "--python",
        str(venv / "bin" / "python"),
        "-c",
        str(pins),
    ]
    subprocess.run([*install, "-e", f"{copy}[envs]"], check=True, env=uv_env)
    cmd = [
        str(venv / "bin" / "colframe"),
        "env",
        "pack",
        "--from-current",
        "--cache-dir",
        str(scratch / "fc"),
    ]
    rows = []
    first, _ = _seconds(
        subprocess.run,
        [*cmd, "-o", str(scratch / "fc1.tar.gz")],
        check=True,
        env=uv_env,
        cwd=scratch,
    )
    rows.append(
        ["--from-current, first pack (warm uv cache)", f"{first:.1f}", _mb(scratch / "fc1.tar.gz")]
    )
    same, _ = _seconds(
        subprocess.run,
        [*cmd, "-o", str(scratch / "fc2.tar.gz")],
        check=True,
        env=uv_env,
        cwd=scratch,
    )
    rows.append(
        ["--from-current, nothing changed (cached)", f"{same:.2f}", _mb(scratch / "fc2.tar.gz")]
    )
    with (copy / "colframe" / "envs" / "_spec.py").open("a") as f:
        f.write("\n# edited by benchmarks/environments.py\n")
    edited, _ = _seconds(
        subprocess.run,
        [*cmd, "-o", str(scratch / "fc3.tar.gz")],
        check=True,
        env=uv_env,
        cwd=scratch,
    )
    rows.append(
        ["--from-current, one file edited (rebuilt)", f"{edited:.1f}", _mb(scratch / "fc3.tar.gz")]
    )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", type=Path, default=ROOT / "envs" / "colframe.json")
    parser.add_argument(
        "--engines-only",
        action="store_true",
        help="measure only the task starts on Work Queue and TaskVine workers (the spec packed "
        "with the default cache) and replace that section of the results",
    )
    args = parser.parse_args(argv)
    if args.engines_only:
        return _engines_only(args.spec)
    with tempfile.TemporaryDirectory(prefix="colframe-envs-bench-") as tmp:
        scratch = Path(tmp)
        # a private uv download cache: "cold" really downloads, and the user's cache is untouched
        os.environ["UV_CACHE_DIR"] = str(scratch / "uv-cache")
        uv_env = dict(os.environ)
        pack_rows, tarball = _packs(args.spec, scratch)
        manifest = tarball_manifest(tarball)
        rows = pack_rows + _starts(tarball, scratch) + _from_current(scratch, uv_env)
        unpacked = sum(
            f.stat().st_size for f in (scratch / "worker-cache").rglob("*") if f.is_file()
        )
        shutil.rmtree(scratch / "worker-cache", ignore_errors=True)
    table = markdown_table(["step", "seconds", "tarball MB"], rows)
    text = "\n".join(
        [
            "# Environments: pack and start times",
            "",
            f"- command: `python -m benchmarks.environments --spec {args.spec.relative_to(ROOT)}`",
            f"- environment: {len(manifest['packages'])} packages, Python {manifest['python']['version']}, "
            f"{unpacked / 1e6:.0f} MB unpacked (bytecode compiled at pack time)",
            "- each step once (cold cannot be repeated); uv's download cache private to the run; "
            "PyPI over the network for the cold pack",
            f"- machine: {machine()} (shared with other jobs while measured)",
            f"- versions: {versions('uv', 'isal')}",
            "",
            table,
            "",
        ]
    )
    print(text)
    (RESULTS / "environments.md").write_text(text + _engines_section(args.spec, tarball_rows=None))
    return 0


_ENGINES = "## Task start on a worker (Work Queue, TaskVine)"


def _engines_section(spec: Path, tarball_rows: list[list[object]] | None) -> str:
    if tarball_rows is None:
        with tempfile.TemporaryDirectory(prefix="colframe-envs-bench-") as tmp:
            tarball = pack(spec, Path(tmp) / "env.tar.gz")
            tarball_rows = _engine_starts(tarball)
    return "\n".join(
        [
            "",
            _ENGINES,
            "",
            f"- command: `python -m benchmarks.environments --engines-only --spec "
            f"{spec.relative_to(ROOT)}`",
            "- one local worker per engine (1 core), started by the executor; the task is "
            "`site.getsitepackages()` (what a chunk's start costs before its work); the first "
            "task with `environment=` includes sending the tarball and unpacking it once on "
            "the worker, the later one reuses the unpacked copy",
            "",
            markdown_table(["step", "seconds", ""], tarball_rows),
            "",
        ]
    )


def _engines_only(spec: Path) -> int:
    path = RESULTS / "environments.md"
    text = path.read_text()
    head = text.split("\n" + _ENGINES)[0].rstrip("\n") + "\n"
    section = _engines_section(spec, tarball_rows=None)
    print(section)
    path.write_text(head + section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
