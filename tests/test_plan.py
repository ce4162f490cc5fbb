"""Planning is pure: chunk boundaries, maxchunks, empty files, and the metadata cache."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from colframe.errors import FilesetError
from colframe.fileset import FileSpec, normalize_fileset
from colframe.plan import FileMeta, chunk_ranges, files_to_preprocess, make_work_items
from colframe.preprocess import MetadataCache, fetch_metadata


def test_chunk_ranges_are_even_with_coffeas_chunk_count():
    assert chunk_ranges(40, 15) == [(0, 13), (13, 26), (26, 40)]
    assert chunk_ranges(50, 6) == [(0, 6), (6, 12), (12, 18), (18, 25), (25, 31), (31, 37), (37, 43), (43, 50)]
    assert chunk_ranges(40, 100) == [(0, 40)]
    assert chunk_ranges(100, 10) == [(i, i + 10) for i in range(0, 100, 10)]
    assert chunk_ranges(0, 10) == [(0, 0)]


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 10**7), st.integers(1, 10**6))
def test_chunks_cover_every_entry_once_and_are_near_equal(numentries, chunksize):
    chunksize = max(chunksize, numentries // 10_000)  # keep the number of chunks testable
    ranges = chunk_ranges(numentries, chunksize)
    assert ranges[0][0] == 0
    assert ranges[-1][1] == numentries
    for (_, stop), (start, _) in itertools.pairwise(ranges):
        assert stop == start
    sizes = [stop - start for start, stop in ranges]
    if numentries:
        assert max(sizes) - min(sizes) <= 1
        assert max(sizes) <= 2 * chunksize


def _metas(datasets, entries):
    return {
        spec: FileMeta(spec.path, spec.treename, entries[spec.path], f"uuid-{spec.path}")
        for ds in datasets
        for spec in ds.files
    }


def test_work_items_maxchunks_and_metadata():
    datasets = normalize_fileset(
        {"a": {"files": ["f1", "f2"], "metadata": {"xsec": 2.0}}, "b": ["f3"]}, "Events"
    )
    metas = _metas(datasets, {"f1": 25, "f2": 10, "f3": 0})
    items = make_work_items(datasets, metas, chunksize=10)
    assert [(i.dataset, i.filename, i.entrystart, i.entrystop) for i in items] == [
        ("a", "f1", 0, 12),
        ("a", "f1", 12, 25),
        ("a", "f2", 0, 10),
        ("b", "f3", 0, 0),
    ]
    assert items[0].usermeta == {"xsec": 2.0}
    assert items[0].fileuuid == "uuid-f1"
    limited = make_work_items(datasets, metas, chunksize=10, maxchunks=2)
    assert [(i.dataset, i.entrystart) for i in limited] == [("a", 0), ("a", 12), ("b", 0)]


def test_files_without_metadata_are_left_out():
    datasets = normalize_fileset({"a": ["f1", "bad"]}, "Events")
    metas = _metas(datasets, {"f1": 5, "bad": 1})
    del metas[FileSpec("bad", "Events")]
    assert [i.filename for i in make_work_items(datasets, metas, 10)] == ["f1"]


def test_maxchunks_preprocesses_only_needed_files():
    datasets = normalize_fileset({"a": ["f1", "f2", "f3"], "b": ["f1", "f4"]}, "Events")
    assert [s.path for s in files_to_preprocess(datasets, None)] == ["f1", "f2", "f3", "f4"]
    assert [s.path for s in files_to_preprocess(datasets, 1)] == ["f1"]


def test_workitem_equality_ignores_usermeta():
    datasets = normalize_fileset({"a": {"files": ["f"], "metadata": {"x": 1}}}, "Events")
    (item,) = make_work_items(datasets, _metas(datasets, {"f": 3}), 10)
    assert item == type(item)(*[getattr(item, f) for f in ("dataset", "filename", "treename", "entrystart", "entrystop", "fileuuid")])
    assert len(item) == 3
    assert "entries [0, 3)" in item.describe()


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, None])
def test_chunksize_validation(bad):
    datasets = normalize_fileset({"a": ["f"]}, "Events")
    with pytest.raises(FilesetError, match="chunksize"):
        make_work_items(datasets, {}, bad)


def test_metadata_cache_hit_opens_no_file(tmp_path, monkeypatch, generated):
    cache = MetadataCache(tmp_path)
    spec = FileSpec(str(generated[0]), "Events")
    assert cache.get(spec) is None
    cache.put(fetch_metadata(spec))

    import uproot

    def forbidden(*args, **kwargs):
        msg = "a cache hit must not open the file"
        raise AssertionError(msg)

    monkeypatch.setattr(uproot, "open", forbidden)
    meta = cache.get(spec)
    assert meta.numentries == 6_000
    assert len(meta.uuid) == 36


def test_metadata_cache_misses_after_file_changes(tmp_path, generated):
    copy = tmp_path / "copy.root"
    copy.write_bytes(generated[0].read_bytes())
    cache = MetadataCache(tmp_path / "cache")
    spec = FileSpec(str(copy), "Events")
    cache.put(fetch_metadata(spec))
    assert cache.get(spec) is not None
    copy.write_bytes(generated[1].read_bytes() + b"\0")  # new size and mtime
    assert cache.get(spec) is None


def test_metadata_cache_reads_many_files_in_batches(tmp_path, monkeypatch):
    import colframe.preprocess as preprocess

    monkeypatch.setattr(preprocess, "_BATCH", 7)  # several batches, the last one short
    paths = [tmp_path / f"f{i}.root" for i in range(30)]
    for path in paths:
        path.write_bytes(b"x" * len(path.name))
    cache = MetadataCache(tmp_path / "cache")
    specs = [FileSpec(str(path), "Events") for path in paths]
    assert cache.get_many(specs) == {}
    for i, spec in enumerate(specs[:25]):
        cache.put(FileMeta(spec.path, "Events", i, f"uuid-{i}"))
    paths[3].write_bytes(b"changed")  # a new size: its record no longer applies
    found = cache.get_many(specs)
    assert list(found) == [s for i, s in enumerate(specs[:25]) if i != 3]  # in the specs' order
    assert [m.numentries for m in found.values()] == [i for i in range(25) if i != 3]
    assert cache.get_many(specs, clusters=True) == {}  # no record holds cluster starts


def test_second_run_reads_all_metadata_from_cache(generated, tmp_path):
    from _processors import CoffeaStyle

    import colframe

    runner = colframe.Runner(status=False, savemetrics=True, chunksize=6_000, metadata_cache=tmp_path)
    fileset = {"d": [str(p) for p in generated]}
    _, first = runner(fileset, "Events", processor_instance=CoffeaStyle())
    _, second = runner(fileset, "Events", processor_instance=CoffeaStyle())
    assert (first.files_from_cache, second.files_from_cache) == (0, 3)


@pytest.mark.parametrize("chunking", ["even", "coffea"])
@pytest.mark.parametrize("maxchunks", [None, 3])
def test_plan_stores_coffea_and_cluster_aligned_chunks_as_each_files_steps(chunking, maxchunks):
    from colframe.plan import Plan, plan_chunks

    datasets = normalize_fileset({"d": {"files": {"a.root": "Events", "b.root": "Events"}}})
    specs = datasets[0].files
    metas = {
        specs[0]: FileMeta("a.root", "Events", 1000, "ua", (0, 90, 230, 400, 555, 700, 860, 1000)),
        specs[1]: FileMeta("b.root", "Events", 103, "ub"),
    }
    plan = plan_chunks(datasets, metas, 200, maxchunks, chunking)
    expected = []
    for spec in specs:
        meta = metas[spec]
        for start, stop in chunk_ranges(meta.numentries, 200, chunking, meta.clusters):
            expected.append((spec.path, start, stop))
    expected = expected[:maxchunks] if maxchunks else expected
    got = [(item.filename, item.entrystart, item.entrystop) for item in plan]
    assert got == expected
    assert [(i.filename, i.entrystart, i.entrystop) for i in plan[:]] == expected
    assert plan.events == sum(stop - start for _, start, stop in expected)
    assert list(plan) == make_work_items(datasets, metas, 200, maxchunks, chunking)
    # chunks planned earlier (Runner.preprocess's) come back as the same plan, in order
    again = Plan.of(list(plan))
    assert list(again) == list(plan)
    assert again.events == plan.events
    assert again.coverage() == plan.coverage()


def test_plan_refuses_an_unknown_chunking():
    from colframe.plan import plan_chunks

    datasets = normalize_fileset({"d": {"files": {"a.root": "Events"}}})
    metas = {datasets[0].files[0]: FileMeta("a.root", "Events", 10, "u")}
    with pytest.raises(FilesetError, match="chunking"):
        plan_chunks(datasets, metas, 5, chunking="uneven")
