"""Time to plan N files from a warm metadata cache (no file is opened).

    python -m benchmarks.scale_warm_plan --files 100000

Makes N empty placeholder files under ``--dir`` (the cache keys on path, size and
mtime, so a warm plan never reads them), stores a record for each in a fresh
metadata cache, then times ``Runner.plan`` over them: normalizing the fileset,
one cache lookup per file, and cutting the chunks (10 per file). This is the
driver's time to its first task on a warm cache. Prints one line.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

__all__ = ["main"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--dir", default="/tmp/colframe-warm-plan")
    args = parser.parse_args(argv)

    import colframe
    from colframe.fileset import FileSpec
    from colframe.plan import FileMeta
    from colframe.preprocess import MetadataCache

    root = Path(args.dir) / f"n{args.files}"
    root.mkdir(parents=True, exist_ok=True)
    paths = [str(root / f"f{i:07d}.root") for i in range(args.files)]
    for path in paths:
        Path(path).touch()
    with tempfile.TemporaryDirectory(prefix="colframe-cache-") as cache_dir:
        cache = MetadataCache(cache_dir)
        tic = time.perf_counter()
        for i, path in enumerate(paths):
            cache.get(FileSpec(path, "Events"))  # the key, as a run takes it before reading
            cache.put(FileMeta(path, "Events", 10_000, f"00000000-0000-0000-0000-{i:012d}"))
        filled = time.perf_counter() - tic
        runner = colframe.Runner(chunksize=1_000, metadata_cache=cache_dir, status=False)
        fileset = {"d": {"files": dict.fromkeys(paths, "Events")}}
        tic = time.perf_counter()
        items, report = runner.plan(fileset)
        warm = time.perf_counter() - tic
    assert report.files_from_cache == args.files, report.files_from_cache
    print(
        f"{args.files:,} files, {len(items):,} chunks: warm plan {warm:.2f} s "
        f"({warm / args.files * 1e6:.0f} µs/file); filling the cache took {filled:.2f} s"
    )


if __name__ == "__main__":
    main()
