"""Exact comparison of processor outputs, insensitive to category insertion order.

Growable categorical axes list categories in the order chunks met them, which
depends on scheduling; the contents must still be identical bin by bin.
"""

from __future__ import annotations

from collections.abc import Mapping

import hist
import numpy as np


def canonical_hist(h: hist.Hist):
    """(axis descriptions, values, variances) with categorical axes sorted by label."""
    values = np.asarray(h.values(flow=True))
    variances = h.variances(flow=True)
    variances = None if variances is None else np.asarray(variances)
    axes = []
    for index, axis in enumerate(h.axes):
        if isinstance(axis, hist.axis.StrCategory | hist.axis.IntCategory):
            labels = list(axis)
            order = np.argsort(np.array(labels, dtype=object).astype(str), kind="stable")
            # flow bins (if any) stay at the end
            full = np.concatenate([order, np.arange(len(labels), values.shape[index])])
            values = np.take(values, full, axis=index)
            if variances is not None:
                variances = np.take(variances, full, axis=index)
            axes.append((axis.name, type(axis).__name__, sorted(map(str, labels))))
        else:
            axes.append((axis.name, type(axis).__name__, np.asarray(axis.edges).tolist()))
    return axes, values, variances


def assert_same(a, b, path: str = "output") -> None:
    """Assert two outputs are equal: dicts recursively, histograms bin by bin, exactly."""
    if isinstance(a, Mapping):
        assert isinstance(b, Mapping), f"{path}: {type(a)} vs {type(b)}"
        assert set(a) == set(b), f"{path}: keys {sorted(map(str, a))} vs {sorted(map(str, b))}"
        for key in a:
            assert_same(a[key], b[key], f"{path}[{key!r}]")
    elif isinstance(a, hist.Hist):
        assert isinstance(b, hist.Hist), f"{path}: {type(a)} vs {type(b)}"
        axes_a, values_a, var_a = canonical_hist(a)
        axes_b, values_b, var_b = canonical_hist(b)
        assert axes_a == axes_b, f"{path}: axes differ"
        np.testing.assert_array_equal(values_a, values_b, err_msg=path)
        if var_a is not None or var_b is not None:
            np.testing.assert_array_equal(var_a, var_b, err_msg=f"{path} variances")
    else:
        assert type(a) is type(b), f"{path}: {type(a)} vs {type(b)}"
        assert a == b, f"{path}: {a!r} != {b!r}"
