"""Named cluster configurations: parsing, generated batch job scripts, real runs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from _compare import assert_same
from _processors import CoffeaStyle

import colframe
from colframe.config import executor_from_config, jobqueue_cluster, load_config
from colframe.errors import ExecutorError

CONFIG = """
[dask_local]
workers = 2
dashboard_address = ":0"
chunksize = 2000
zlib_library = "zlib"

[dask_slurm]
cores = 4
memory = "8GB"
walltime = "01:00:00"
queue = "short"
adapt_max = 50
scheduler_options = { host = "127.0.0.1", dashboard_address = ":0" }

[dask_condor]
cores = 2
memory = "4GB"
disk = "2GB"
scheduler_options = { host = "127.0.0.1", dashboard_address = ":0" }

[dask_pbs]
cores = 8
memory = "16GB"
walltime = "02:00:00"
account = "physics"
scheduler_options = { host = "127.0.0.1", dashboard_address = ":0" }
"""


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "colframe.toml"
    path.write_text(CONFIG)
    return load_config(path)


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        (
            "dask_slurm",
            [
                "#SBATCH -p short",
                "#SBATCH --cpus-per-task=4",
                "#SBATCH --mem=8G",
                "#SBATCH -t 01:00:00",
            ],
        ),
        (
            "dask_condor",
            [
                "MY.DaskWorkerCores = 2",
                "MY.DaskWorkerMemory = 4000000000",
                "MY.DaskWorkerDisk = 2000000000",
            ],
        ),
        (
            "dask_pbs",
            ["#PBS -A physics", "#PBS -l select=1:ncpus=8:mem=15GB", "#PBS -l walltime=02:00:00"],
        ),
    ],
)
def test_generated_job_scripts(config, section, expected):
    options = {k: v for k, v in config[section].items() if k != "adapt_max"}
    cluster = jobqueue_cluster(section.removeprefix("dask_"), options, section)
    try:
        script = cluster.job_script()
    finally:
        cluster.close()
    for line in expected:
        assert line in script, script
    assert "distributed.cli.dask_worker tcp://127.0.0.1:" in script


def test_runner_options_are_split_from_cluster_options(config):
    executor, options = executor_from_config("dask_local", config)
    assert options == {"chunksize": 2000, "zlib_library": "zlib"}
    assert executor.workers == 2


# dask-jobqueue's __del__ trips over the cluster its __init__ refused to build
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_errors_name_the_section_and_the_choices(config, tmp_path):
    with pytest.raises(ExecutorError, match=r"no section \[dask_lsf\].*dask_slurm"):
        executor_from_config("dask_lsf", config)
    with pytest.raises(ExecutorError, match=r"\[odd\]: unknown backend 'odd'"):
        executor_from_config("odd", {"odd": {}})
    bad = dict(config["dask_slurm"], walltime_typo=1)
    with pytest.raises(ExecutorError, match=r"\[dask_slurm\]: SLURMCluster rejected"):
        jobqueue_cluster("slurm", bad, "dask_slurm")
    broken = tmp_path / "broken.toml"
    broken.write_text("[dask_local\n")
    with pytest.raises(ExecutorError, match="not valid TOML"):
        load_config(broken)


def test_pyproject_tool_section(tmp_path):
    path = tmp_path / "pyproject.toml"
    path.write_text('[project]\nname = "x"\n\n[tool.colframe.dask_local]\nworkers = 1\n')
    assert load_config(path) == {"dask_local": {"workers": 1}}


def assert_runs_like_iterative(executor, options, generated) -> None:
    """The section's executor and Runner options give the iterative executor's output."""
    fileset = {"d": [str(p) for p in generated[:2]]}
    out = colframe.Runner(executor, status=False, **options)(
        fileset, "Events", processor_instance=CoffeaStyle()
    )
    expected = colframe.Runner(chunksize=2000, status=False)(
        fileset, "Events", processor_instance=CoffeaStyle()
    )
    assert_same(out, expected)


def test_run_through_the_configured_local_cluster(config, generated):
    executor, options = executor_from_config("dask_local", config)
    assert_runs_like_iterative(executor, options, generated)


def test_cli_picks_the_section(tmp_path, generated):
    (tmp_path / "colframe.toml").write_text(CONFIG)
    fileset = tmp_path / "fileset.json"
    fileset.write_text(json.dumps({"d": [str(generated[0])]}))
    tests_dir = Path(__file__).parent
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "colframe.cli",
            "run",
            "_processors:CoffeaStyle",
            "--fileset",
            str(fileset),
            "--executor",
            "dask_local",
            "--config",
            str(tmp_path / "colframe.toml"),
            "--output",
            str(tmp_path / "out.pkl"),
            "--no-status",
        ],
        cwd=tests_dir,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "DaskExecutor" in done.stdout
    assert "chunks: 3 planned, 3 ok" in done.stdout  # chunksize 2000 from the section


def test_cli_refuses_workers_for_a_configured_cluster(tmp_path, capsys):
    from colframe.cli import main

    config = tmp_path / "colframe.toml"
    config.write_text(CONFIG)
    fileset = tmp_path / "fileset.json"
    fileset.write_text(json.dumps({"d": ["unused.root"]}))
    argv = ["run", "_processors:CoffeaStyle", "--fileset", str(fileset), "--executor", "dask_local"]
    argv += ["--config", str(config), "--workers", "8", "--output", str(tmp_path / "out.pkl")]
    assert main(argv) == 1
    assert (
        "--workers does not apply to the configured cluster [dask_local]" in capsys.readouterr().err
    )
    assert not (tmp_path / "out.pkl").exists()


# dask-jobqueue's LocalJob kills its job processes without reaping them (ResourceWarning)
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.timeout(120)  # no scaling, no workers: the run would wait for ever
@pytest.mark.parametrize("scaling", ["jobs = 2", "adapt_max = 2"])
def test_a_batch_section_scales_real_jobs(monkeypatch, tmp_path, generated, scaling):
    """A batch backend end to end: dask-jobqueue's own LocalCluster stands in for the batch
    system (its jobs are local processes started through the same JobQueueCluster code as
    sbatch/condor_submit jobs), so the section's scaling keys really start workers."""
    import dask_jobqueue
    import dask_jobqueue.local

    from colframe import config as config_module

    monkeypatch.setitem(config_module.BACKENDS, "jobs", "LocalCluster")
    monkeypatch.setattr(
        dask_jobqueue, "LocalCluster", dask_jobqueue.local.LocalCluster, raising=False
    )
    path = tmp_path / "colframe.toml"
    # jobs inherit the environment: they import the test processors from tests/
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).resolve().parent))
    path.write_text(
        f'[dask_jobs]\ncores = 1\nmemory = "2GB"\nprocesses = 1\n{scaling}\nchunksize = 2000\n'
        'scheduler_options = { host = "127.0.0.1", dashboard_address = ":0" }\n'
    )
    executor, options = executor_from_config("dask_jobs", load_config(path))
    assert_runs_like_iterative(executor, options, generated)
