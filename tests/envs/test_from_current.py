"""--from-current: the running environment at exact versions, rebuilt only when a source changes."""

from __future__ import annotations

import pytest

from colframe.envs import pack, tarball_manifest
from colframe.envs._driver import installed_versions, normalize, source_hash

from .conftest import ROOT


def test_source_hash_follows_content_not_timestamps(tmp_path):
    src = tmp_path / "analysis"
    (src / "analysis").mkdir(parents=True)
    module = src / "analysis" / "proc.py"
    module.write_text("X = 1\n")
    first = source_hash(src)
    module.touch()
    (src / "analysis" / "__pycache__").mkdir()
    (src / "analysis" / "__pycache__" / "proc.cpython-311.pyc").write_bytes(b"\0")
    (src / "build").mkdir()
    (src / "build" / "junk").write_text("built")
    assert source_hash(src) == first  # timestamps, caches and build output do not count
    module.write_text("X = 2\n")
    assert source_hash(src) != first
    module.write_text("X = 1\n")
    assert source_hash(src) == first


@pytest.mark.slow
def test_from_current_pins_every_package_and_is_cached(pack_cache, tmp_path):
    checkout = source_hash(ROOT)
    tarball = pack(None, tmp_path / "current.tar.gz", from_current=True, cache_dir=pack_cache)
    packed = {
        normalize(name): version for name, version in tarball_manifest(tarball)["packages"].items()
    }
    driver = installed_versions()
    differ = {name: (v, packed.get(name)) for name, v in driver.items() if packed.get(name) != v}
    assert set(differ) <= {"pip", "uv"}  # the packaging tools are left out on purpose
    assert packed["colframe"] == driver["colframe"]  # the editable checkout, as a built wheel
    [cached] = (pack_cache / "packs").glob(
        f"env-{tarball_manifest(tarball)['spec_hash'][:32]}.tar.gz"
    )
    before = cached.stat().st_mtime_ns
    again = pack(None, tmp_path / "again.tar.gz", from_current=True, cache_dir=pack_cache)
    if source_hash(ROOT) == checkout:  # a shared checkout may be edited while this test runs
        assert again.read_bytes() == tarball.read_bytes()
        assert cached.stat().st_mtime_ns == before  # not rebuilt
    else:
        assert tarball_manifest(again)["spec_hash"] != tarball_manifest(tarball)["spec_hash"]
