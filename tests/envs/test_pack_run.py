"""Pack envs/test.json and run inside it: `colframe env run`, and TaskVine's way (bin/run_in_env)."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import tarfile
from pathlib import Path

from colframe.envs import pack, tarball_manifest

from .conftest import TEST_SPEC, colframe_cli

IMPORT = "import inflection, os, sys; print(inflection.camelize('chunk_failure'), sys.prefix)"
BARE_ENV = {"PATH": "/usr/bin:/bin"}  # what a batch worker may have: no venv, no PYTHONPATH


def test_env_run_imports_a_package_the_driver_lacks(test_env, tmp_path):
    cache = tmp_path / "cache"
    done = colframe_cli(
        "env", "run", "--cache-dir", str(cache), str(test_env), "--", "python", "-c", IMPORT
    )
    assert done.returncode == 0, done.stderr
    word, prefix = done.stdout.split()
    assert word == "ChunkFailure"
    assert Path(prefix).parent == cache / "envs"
    # without the environment the same command fails: the package really came from it
    plain = subprocess.run([sys.executable, "-c", IMPORT], capture_output=True, text=True)
    assert "No module named 'inflection'" in plain.stderr


def test_run_in_env_after_plain_tar_elsewhere(test_env, tmp_path):
    # TaskVine: tar xf into a directory, run bin/run_in_env once without arguments,
    # then prefix every task's command with it (through a symlink, __vine_env_...)
    unpacked = tmp_path / "worker" / "output"
    unpacked.mkdir(parents=True)
    subprocess.run(["tar", "xf", str(test_env), "-C", str(unpacked)], check=True)
    link = tmp_path / "worker" / "__vine_env_test"
    link.symlink_to(unpacked)
    first = subprocess.run([str(link / "bin" / "run_in_env")], env=BARE_ENV, capture_output=True)
    assert first.returncode == 0, first.stderr
    cmd = [
        str(link / "bin" / "run_in_env"),
        "sh",
        "-c",
        f'python -c "{IMPORT}"; echo $PONCHO_PREFIX',
    ]
    done = subprocess.run(cmd, env=BARE_ENV, capture_output=True, text=True, check=True)
    word, prefix, poncho_prefix = done.stdout.split()
    assert word == "ChunkFailure"
    assert Path(prefix).resolve() == unpacked.resolve() == Path(poncho_prefix)


def test_poncho_package_run_unpacks_and_runs(test_env, tmp_path):
    # Work Queue's wrapper form: poncho_package_run -e ENV.tar.gz -u DIR -- CMD
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    subprocess.run(
        ["tar", "xf", str(test_env), "-C", str(scratch), "bin/poncho_package_run"], check=True
    )
    runner = scratch / "bin" / "poncho_package_run"
    target = tmp_path / "unpacked"
    cmd = [str(runner), "-e", str(test_env), "-u", str(target), "--", "python", "-c", IMPORT]
    done = subprocess.run(cmd, env=BARE_ENV, capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["ChunkFailure", str(target)]


def test_manifest_records_interpreter_platform_versions(test_env):
    manifest = tarball_manifest(test_env)
    assert manifest["python"]["version"] == platform.python_version()
    assert Path(manifest["python"]["interpreter"]).exists()
    assert manifest["packages"] == {"inflection": "0.5.1"}
    assert manifest["bare"] is True
    assert len(manifest["spec_hash"]) == 64
    with tarfile.open(test_env) as tar:
        names = set(tar.getnames())
    assert {"bin/run_in_env", "bin/poncho_package_run", "bin/conda-unpack", "bin/python"} <= names
    assert os.access(test_env, os.R_OK)


def test_pack_is_cached_by_spec(test_env, pack_cache, tmp_path):
    again = pack(TEST_SPEC, tmp_path / "again.tar.gz", bare=True, cache_dir=pack_cache)
    assert again.read_bytes() == test_env.read_bytes()  # same spec: the cached tarball
    other = {"conda": {"dependencies": [{"pip": ["inflection==0.5.0"]}]}}
    changed = pack(other, tmp_path / "other.tar.gz", bare=True, cache_dir=pack_cache)
    assert tarball_manifest(changed)["packages"] == {"inflection": "0.5.0"}
