"""Property-based tests of filesets and planning.

- a valid fileset is planned so that every entry is covered exactly once (the
  whole file, or exactly the steps given for it), whatever the chunking;
- a failed fileset reproduces exactly the failed chunks;
- malformed specifications (random nested junk, anywhere) raise FilesetError,
  never an unrelated TypeError, AttributeError, KeyError, ...
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from colframe.errors import FilesetError
from colframe.fileset import normalize_fileset
from colframe.plan import FileMeta, WorkItem, make_work_items
from colframe.report import ChunkFailure, RunReport

PATHS = [f"/data/f{i}.root" for i in range(6)]
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _metas(datasets, entries):
    return {
        spec: FileMeta(spec.path, spec.treename, entries[spec.path], f"uuid-{spec.path}")
        for dataset in datasets
        for spec in dataset.files
    }


@st.composite
def partition(draw, numentries: int):
    """A non-empty subset of the segments of a random cut of [0, numentries)."""
    cuts = draw(st.lists(st.integers(0, numentries), max_size=6))
    bounds = sorted({0, numentries, *cuts})
    segments = list(itertools.pairwise(bounds)) or [(0, 0)]
    keep = draw(st.lists(st.booleans(), min_size=len(segments), max_size=len(segments)))
    chosen = [segment for segment, kept in zip(segments, keep, strict=True) if kept]
    return chosen or segments[:1]


@st.composite
def planned(draw):
    """(fileset, entries per path, expected ranges per (dataset, path), chunksize)."""
    entries = {path: draw(st.integers(0, 100_000)) for path in PATHS}
    fileset, expected = {}, {}
    for index in range(draw(st.integers(1, 4))):
        name = f"ds{index}"
        paths = draw(st.lists(st.sampled_from(PATHS), min_size=1, max_size=4, unique=True))
        form = draw(st.sampled_from(["list", "treename", "dict", "preprocessed"]))
        files: dict = {}
        for path in paths:
            steps = None
            if form == "preprocessed" and draw(st.booleans()):
                steps = draw(partition(entries[path]))
                files[path] = {"object_path": "Events", "steps": [list(s) for s in steps]}
            elif form == "preprocessed":
                files[path] = {"object_path": "Events", "uuid": f"uuid-{path}"}
            else:
                files[path] = "Events"
            expected[name, path] = steps or [(0, entries[path])]
        metadata = draw(
            st.dictionaries(st.sampled_from(["xsec", "year"]), st.integers(), max_size=2)
        )
        if form == "list":
            fileset[name] = list(files)
        elif form == "treename":
            fileset[name] = {"treename": "Events", "files": list(files), "metadata": metadata}
        else:
            fileset[name] = {"files": files, "metadata": metadata}
    chunksize = max(draw(st.integers(1, 10**6)), max(entries.values()) // 300)
    return fileset, entries, expected, chunksize


def _joined(ranges):
    joined = []
    for start, stop in ranges:
        assert start <= stop
        if joined and joined[-1][1] == start and start != stop:
            joined[-1] = (joined[-1][0], stop)
        else:
            joined.append((start, stop))
    return joined


@FUZZ
@given(planned())
def test_plan_covers_every_entry_exactly_once(case):
    fileset, entries, expected, chunksize = case
    datasets = normalize_fileset(fileset, "Events")
    items = make_work_items(datasets, _metas(datasets, entries), chunksize)
    got: dict = {}
    for item in items:
        got.setdefault((item.dataset, item.filename), []).append((item.entrystart, item.entrystop))
    assert set(got) == set(expected)
    for key, ranges in got.items():
        assert ranges == sorted(ranges)
        for (_, stop), (start, _) in itertools.pairwise(ranges):
            assert stop <= start  # no entry twice
        given_steps = expected[key]
        if given_steps == [(0, entries[key[1]])]:
            assert _joined(ranges) == given_steps  # the whole file, tiled
        else:
            assert ranges == given_steps  # exactly the steps


@FUZZ
@given(planned(), st.integers(1, 20))
def test_maxchunks_takes_a_prefix_of_each_dataset(case, maxchunks):
    fileset, entries, _, chunksize = case
    datasets = normalize_fileset(fileset, "Events")
    metas = _metas(datasets, entries)
    full = make_work_items(datasets, metas, chunksize)
    limited = make_work_items(datasets, metas, chunksize, maxchunks)
    for dataset in datasets:
        mine = [i for i in full if i.dataset == dataset.name]
        assert [i for i in limited if i.dataset == dataset.name] == mine[:maxchunks]


@FUZZ
@given(planned(), st.data())
def test_failed_fileset_reproduces_exactly_the_failed_chunks(case, data):
    fileset, entries, _, chunksize = case
    datasets = normalize_fileset(fileset, "Events")
    items = make_work_items(datasets, _metas(datasets, entries), chunksize)
    failed = data.draw(st.lists(st.sampled_from(items), min_size=1, unique=True))
    report = RunReport(
        datasets=datasets,
        skipped=[ChunkFailure(item, "process", "OSError", "outage", "") for item in failed],
    )
    rerun = normalize_fileset(report.failed_fileset())
    rerun_items = make_work_items(rerun, _metas(rerun, entries), data.draw(st.integers(1, 10**6)))
    identity = [(i.dataset, i.filename, i.entrystart, i.entrystop, i.fileuuid) for i in failed]
    assert sorted(identity) == sorted(
        (i.dataset, i.filename, i.entrystart, i.entrystop, i.fileuuid) for i in rerun_items
    )
    metadata = {dataset.name: dict(dataset.metadata) or None for dataset in datasets}
    assert all(item.usermeta == metadata[item.dataset] for item in rerun_items)


# --- junk ---------------------------------------------------------------------

_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 10**12), st.floats(), st.text(max_size=6),
    st.binary(max_size=3),
)  # fmt: skip
_keys = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.text(max_size=6))
junk = st.recursive(
    _scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.tuples(children, children),
        st.dictionaries(_keys, children, max_size=4),
    ),
    max_leaves=12,
)


def maybe(valid):
    """Mostly valid, sometimes junk: malformed specs with the junk at any depth."""
    return st.one_of(valid, valid, junk)


_steps = st.lists(st.lists(st.integers(-2, 12), min_size=2, max_size=2), max_size=3)
_file_entry = st.one_of(
    st.none(),
    st.just("Events"),
    st.fixed_dictionaries(
        {},
        optional={
            "object_path": maybe(st.just("Events")),
            "steps": maybe(_steps),
            "uuid": maybe(st.just("uuid-x")),
            "num_entries": maybe(st.integers(0, 12)),
            "stpes": junk,
        },
    ),
)
_paths = st.sampled_from(["a.root", "b.root", ""])
_files = st.one_of(
    st.lists(maybe(_paths), max_size=3),
    st.dictionaries(st.one_of(_paths, _keys), maybe(_file_entry), max_size=3),
)
_dataset = st.one_of(
    maybe(_files),
    st.fixed_dictionaries(
        {},
        optional={
            "files": maybe(_files),
            "treename": maybe(st.just("Events")),
            "metadata": maybe(st.dictionaries(st.sampled_from(["xsec", "dataset"]), junk)),
            "form": junk,
            "metdata": junk,
        },
    ),
)
malformed = st.one_of(
    junk,
    st.dictionaries(st.one_of(st.sampled_from(["ds", "metadata"]), _keys), _dataset, max_size=3),
)


@settings(max_examples=1500, deadline=None)
@given(malformed, maybe(st.just("Events")), maybe(st.integers(1, 5)), st.integers(0, 12))
def test_malformed_specs_raise_fileset_error_only(spec, treename, chunksize, numentries):
    try:
        datasets = normalize_fileset(spec, treename)
        metas = {
            s: FileMeta(s.path, s.treename, numentries, "uuid-x") for d in datasets for s in d.files
        }
        make_work_items(datasets, metas, chunksize)
    except FilesetError:
        pass


@pytest.mark.parametrize("chunksize", [0, -1, 2.5, "10", None, True])
def test_bad_chunksize_is_a_fileset_error(chunksize):
    datasets = normalize_fileset({"d": ["a.root"]}, "Events")
    with pytest.raises(FilesetError, match="chunksize"):
        make_work_items(datasets, {}, chunksize)


def test_work_item_identity_survives_the_json_round_trip():
    item = WorkItem("d", "/data/f0.root", "Events", 10, 20, "uuid-/data/f0.root", None)
    report = RunReport(skipped=[ChunkFailure(item, "process", "OSError", "outage", "")])
    (dataset,) = normalize_fileset(report.failed_fileset())
    assert dataset.preprocessed[dataset.files[0]].steps == ((10, 20),)
    assert dataset.preprocessed[dataset.files[0]].uuid == "uuid-/data/f0.root"
