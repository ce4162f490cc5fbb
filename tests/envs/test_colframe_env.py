"""envs/colframe.json: a worker that sees no other Python package runs colframe processors."""

from __future__ import annotations

import pickle
import subprocess

import pytest
from _compare import assert_same
from coffea import processor

from colframe.envs import tarball_manifest, unpack
from processors.adl import ADLNanoAODSchema, Q5Processor

# run inside the environment: colframe from the environment's wheel; the ADL processors are
# the analysis' own code (not in the wheel), taken from the checkout as a user's module would be
ADL_IN_ENV = """
import pickle, sys
import colframe
sys.path.append(sys.argv[3])
import processors.adl as adl
out = colframe.Runner("iterative", schema=adl.ADLNanoAODSchema, chunksize=300, status=False)(
    {"SingleMu": [sys.argv[1]]}, "Events", processor_instance=adl.Q5Processor()
)
pickle.dump((out, colframe.__file__, sys.prefix), open(sys.argv[2], "wb"))
"""


@pytest.mark.slow
def test_colframe_environment_runs_an_adl_query_like_coffea(colframe_env, tmp_path):
    from .conftest import ROOT

    data = ROOT.parent / "shared" / "data" / "adl" / "Run2012B_SingleMu_1000.root"
    tarball = colframe_env
    manifest = tarball_manifest(tarball)
    assert {"colframe", "coffea", "ndcctools", "cloudpickle", "threadpoolctl"} <= set(
        manifest["packages"]
    )
    env = unpack(tarball, cache_dir=tmp_path / "worker")
    # a worker's bare environment: no venv on PATH, no PYTHONPATH, run outside the checkout
    bare = {"PATH": "/usr/bin:/bin", "COLFRAME_CACHE_DIR": str(tmp_path / "meta")}
    out_file = tmp_path / "out.pkl"
    cmd = [
        *(str(env / "bin" / "run_in_env"), "python", "-c", ADL_IN_ENV),
        *(str(data), str(out_file), str(ROOT)),
    ]
    done = subprocess.run(cmd, cwd=tmp_path, env=bare, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    out, colframe_file, prefix = pickle.loads(out_file.read_bytes())
    assert colframe_file.startswith(str(env))
    assert prefix == str(env)
    expected = processor.Runner(
        executor=processor.IterativeExecutor(), schema=ADLNanoAODSchema, chunksize=300
    )({"SingleMu": [str(data)]}, processor_instance=Q5Processor(), treename="Events")
    assert_same(out, expected)
    worker = subprocess.run(
        [str(env / "bin" / "run_in_env"), "vine_worker", "--version"],
        env=bare,
        capture_output=True,
        text=True,
    )
    assert worker.returncode == 0
    assert "7.17" in worker.stdout
