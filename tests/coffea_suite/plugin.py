"""pytest plugin: coffea.processor's public names become colframe.processor's.

Loaded with ``-p plugin`` before coffea's test files are imported, so
``from coffea import processor`` in them (and in ``coffea.processor.test_items``)
sees colframe's Runner, executors, ``accumulate`` and ``ProcessorABC``.
"""

from __future__ import annotations

import coffea.processor

import colframe.processor

for _name in colframe.processor.__all__:
    setattr(coffea.processor, _name, getattr(colframe.processor, _name))
