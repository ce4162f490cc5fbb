"""Worker probes: imports and versions against the driver, as one table of worker, problem, fix."""

from __future__ import annotations

import pickle
import platform
import sys
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

from colframe.envs import compare, format_problems, pack, probe

from .conftest import colframe_cli


def test_probe_runs_in_another_process_and_reports_imports():
    assert pickle.loads(pickle.dumps(probe)) is probe
    with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
        report = pool.submit(probe, ["json", "inflection"]).result()
    assert report["python"] == platform.python_version()
    assert report["imports"]["json"] is None
    assert report["imports"]["inflection"] == "ModuleNotFoundError: No module named 'inflection'"
    assert report["versions"]["colframe"] == probe()["versions"]["colframe"]
    assert compare(probe(), probe([])) == []


def test_missing_module_and_other_python_are_problems():
    driver = probe()
    worker = probe(["inflection"])
    worker["python"] = "3.10.14"
    problems = compare(driver, worker)
    assert [p.problem.split(",")[0].split(" (")[0] for p in problems] == [
        "Python 3.10.14",
        "cannot import inflection: ModuleNotFoundError: No module named 'inflection'",
    ]
    assert "add inflection to the environment's spec" in problems[1].fix
    table = format_problems(problems).splitlines()
    assert table[0].split() == ["worker", "problem", "fix"]
    assert len(table) == 2 + len(problems)


def test_env_check_passes_inside_the_environment(test_env, tmp_path):
    done = colframe_cli(
        "env", "check", "--env", str(test_env), "--cache-dir", str(tmp_path), "inflection"
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "imports inflection ok" in done.stdout


def test_env_check_names_the_missing_module_outside_it():
    done = colframe_cli("env", "check", "--python", sys.executable, "inflection")
    assert done.returncode == 1
    [row] = [line for line in done.stdout.splitlines() if "inflection" in line]
    assert "cannot import inflection: ModuleNotFoundError" in row


def test_env_check_names_a_version_that_differs_from_the_driver(pack_cache, tmp_path):
    # toolz is pure Python and the driver has it (dask needs it) at another version
    driver_toolz = probe()["versions"]["toolz"]
    assert driver_toolz != "0.12.0"
    old = pack({"pip": ["toolz==0.12.0"]}, tmp_path / "old.tar.gz", bare=True, cache_dir=pack_cache)
    done = colframe_cli("env", "check", "--env", str(old), "--cache-dir", str(tmp_path), "toolz")
    assert done.returncode == 1
    [row] = [line for line in done.stdout.splitlines() if "toolz" in line]
    assert f"toolz 0.12.0, driver has {driver_toolz}" in row
    assert f"pin toolz=={driver_toolz}" in row
