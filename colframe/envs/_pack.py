"""``pack``: a poncho spec → a relocatable environment tarball in poncho's layout, built with uv."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement

from .. import extras
from ..errors import EnvError
from . import _driver, _scripts
from ._manifest import MANIFEST, build_manifest
from ._spec import Spec, load_spec, spec_hash

__all__ = ["default_cache", "pack"]

# cctools programs a worker runs from inside an environment (vine_factory --python-env)
_CCTOOLS_BIN = ("vine_worker", "work_queue_worker", "resource_monitor")
# imported by ndcctools on the worker: cloudpickle for tasks, threadpoolctl by library tasks
_CCTOOLS_DEPS = ("cloudpickle", "threadpoolctl")


def default_cache() -> Path:
    """colframe's cache (``$COLFRAME_CACHE_DIR``, else ``$XDG_CACHE_HOME/colframe``, else
    ``~/.cache/colframe``), whose ``wheels/``, ``packs/`` and ``envs/`` hold built wheels,
    tarballs and unpacked environments."""
    if "COLFRAME_CACHE_DIR" in os.environ:
        return Path(os.environ["COLFRAME_CACHE_DIR"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "colframe"


def pack(
    spec: str | Path | dict[str, Any] | None,
    output: str | Path,
    *,
    bare: bool = False,
    from_current: bool = False,
    cache_dir: str | Path | None = None,
    force: bool = False,
) -> Path:
    """Build the environment of a poncho ``spec`` and write it to ``output`` (``.tar.gz``).

    Unless ``bare``, colframe and its dependencies at the driver's versions are added.
    ``from_current`` packs the running environment instead of ``spec`` (exact pins).
    Tarballs are cached in ``cache_dir`` by the hash of the spec, the driver's pins and the
    contents of local (editable) sources; ``force`` rebuilds. Returns ``output``.
    Raises EnvError when the spec cannot be installed.
    """
    if from_current:
        spec = _driver.current_spec()
    elif spec is None:
        msg = "give a spec file to pack, or from_current=True (--from-current)"
        raise EnvError(msg)
    parsed = load_spec(spec)
    cache = Path(cache_dir) if cache_dir is not None else default_cache()
    plan = _plan(parsed, bare=bare or from_current)
    key = spec_hash(parsed, *plan["key"])
    tarball = cache / "packs" / f"env-{key[:32]}.tar.gz"
    if force or not tarball.exists():
        tarball.parent.mkdir(parents=True, exist_ok=True)
        _build(parsed, plan, key, tarball, cache, bare=bare)
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(f".{output.name}.{os.getpid()}")
    shutil.copyfile(tarball, partial)
    partial.replace(output)
    return output


def _plan(spec: Spec, *, bare: bool) -> dict[str, Any]:
    """Requirements, local sources to build as wheels, constraints, and what the cache key hashes."""
    requirements, local = [], {}
    names = list(spec.pip) + ([] if bare else ["colframe"])
    if spec.ndcctools:
        names += list(_CCTOOLS_DEPS)
    versions = _driver.installed_versions()
    for text in names:
        name = _requirement_name(text)
        source = _driver.local_source(name)
        if source is not None:
            local[name] = source
        elif bare and name in _CCTOOLS_DEPS and name in versions and text == name:
            requirements.append(f"{name}=={versions[name]}")  # the driver's, as the manager pickles
        else:
            requirements.append(text)
    # not bare: everything the driver also has comes at the driver's version
    constraints = (
        [] if bare else [f"{n}=={v}" for n, v in sorted(versions.items()) if n not in local]
    )
    sources = {name: _driver.source_hash(path) for name, path in sorted(local.items())}
    key = [
        f"bare={bare}",
        f"python={sys.version}",
        f"interpreter={_base_interpreter()}",
        *requirements,
        *(f"constraint {c}" for c in constraints),
        *(f"local {n} {h}" for n, h in sources.items()),
        f"ndcctools={_cctools_version() if spec.ndcctools else None}",
        f"scripts={_scripts.version()}",
    ]
    return {
        "requirements": requirements,
        "local": local,
        "sources": sources,
        "constraints": constraints,
        "key": key,
    }


def _build(
    spec: Spec, plan: dict[str, Any], key: str, tarball: Path, cache: Path, bare: bool
) -> None:
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="build-", dir=cache) as tmp:
        env = Path(tmp) / "env"
        interpreter = _base_interpreter()
        _uv(
            "venv", "--relocatable", "--no-python-downloads", "--python", str(interpreter), str(env)
        )
        wheels = [
            _wheel(name, path, plan["sources"][name], cache) for name, path in plan["local"].items()
        ]
        args = ["pip", "install", "--python", str(env / "bin" / "python"), "--compile-bytecode"]
        if plan["requirements"]:
            (Path(tmp) / "requirements.txt").write_text("\n".join(plan["requirements"]) + "\n")
            args += ["-r", str(Path(tmp) / "requirements.txt")]
        if plan["constraints"]:
            (Path(tmp) / "constraints.txt").write_text("\n".join(plan["constraints"]) + "\n")
            args += ["-c", str(Path(tmp) / "constraints.txt")]
        if plan["requirements"] or wheels:
            _uv(*args, *map(str, wheels))
        if spec.ndcctools:
            _add_cctools(env)
        _scripts.write_scripts(env)
        _scripts.relocate_shebangs(env, env)
        manifest = build_manifest(env, (env / "bin" / "python").readlink(), spec.raw, key, bare)
        (env / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
        _tar(env, Path(tmp) / "env.tar.gz")
        (Path(tmp) / "env.tar.gz").replace(tarball)


def _tar(env: Path, output: Path) -> None:
    """gzip'd tar of ``env``'s contents, manifest first (read without unpacking the rest)."""
    from isal import igzip  # a colframe dependency; compresses several times faster than zlib

    with (
        igzip.open(output, "wb", compresslevel=2) as raw,
        tarfile.open(fileobj=raw, mode="w|") as tar,
    ):
        tar.add(env / MANIFEST, arcname=MANIFEST)
        for entry in sorted(env.iterdir()):
            if entry.name not in (MANIFEST, ".lock"):  # .lock: uv's, of the build directory
                tar.add(entry, arcname=entry.name)


def _wheel(name: str, source: Path, digest: str, cache: Path) -> Path:
    """A wheel of the local package ``name`` built from ``source``, cached by content hash."""
    out = cache / "wheels" / f"{name}-{digest[:32]}"
    found = sorted(out.glob("*.whl")) if out.exists() else []
    if not found:
        partial = out.with_name(f".{out.name}.{os.getpid()}")
        shutil.rmtree(partial, ignore_errors=True)
        _uv("build", "--wheel", "--quiet", "--out-dir", str(partial), str(source))
        shutil.rmtree(out, ignore_errors=True)
        partial.replace(out)
        found = sorted(out.glob("*.whl"))
    return found[0]


def _add_cctools(env: Path) -> None:
    """Copy the driver's cctools build (ndcctools package, worker programs) into ``env``."""
    package = _driver.ndcctools_dir()
    if package is None:
        msg = (
            "the spec lists ndcctools but this Python has no ndcctools (cctools' bindings) to copy: "
            "`make setup` builds it into .venv (conda users: conda install -c conda-forge ndcctools)"
        )
        raise EnvError(msg)
    site = next(env.glob("lib/python*/site-packages"))
    shutil.copytree(package, site / "ndcctools", ignore=shutil.ignore_patterns("__pycache__"))
    # a dist-info so importlib.metadata (and the worker probe) sees its version
    info = site / f"ndcctools-{_cctools_version()}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: ndcctools\nVersion: {_cctools_version()}\n"
    )
    (info / "INSTALLER").write_text("colframe\n")
    (info / "RECORD").write_text("")
    for program in _CCTOOLS_BIN:
        found = shutil.which(program, path=str(Path(sys.prefix) / "bin")) or shutil.which(program)
        if found:
            shutil.copy2(found, env / "bin" / program)


def _cctools_version() -> str:
    """cctools' release (``7.17.1``) from ``vine_worker --version``; ``0+unknown`` without one."""
    worker = shutil.which("vine_worker", path=str(Path(sys.prefix) / "bin")) or shutil.which(
        "vine_worker"
    )
    if worker:
        out = subprocess.run([worker, "--version"], capture_output=True, text=True).stdout.split()
        if len(out) > 2 and out[1] == "version":
            return out[2]
    return "0+unknown"


def _base_interpreter() -> Path:
    """The interpreter the driver's environment is built on (what a venv's bin/python points to)."""
    return Path(getattr(sys, "_base_executable", sys.executable))


def _requirement_name(text: str) -> str:
    try:
        return _driver.normalize(Requirement(text).name)
    except InvalidRequirement as err:
        msg = f"cannot read the pip requirement {text!r} of the environment spec: {err}"
        raise EnvError(msg) from err


def _uv(*args: str) -> None:
    """Run uv; its error output goes into the EnvError."""
    uv = _uv_binary()
    done = subprocess.run([uv, *args], capture_output=True, text=True)
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-15:])
        msg = f"`uv {args[0]} {args[1] if len(args) > 1 else ''}` failed while packing the environment:\n{tail}"
        raise EnvError(msg)


def _uv_binary() -> str:
    return extras.uv().find_uv_bin()
