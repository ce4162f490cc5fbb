"""What a worker must import to run a task: found from the task's function on the driver.

Two sources: the modules that unpickling the function imports (its classes and
functions sent by reference, and the modules that by-value code refers to), and
the ``import`` statements inside the methods of the processor it carries (a
processor often imports its heavy or optional packages inside ``process``).
"""

from __future__ import annotations

import dis
import inspect
import io
import pickle
import sys
from collections.abc import Iterator
from types import CodeType
from typing import Any

import cloudpickle

from .. import serialize

__all__ = ["needed_modules"]

# classes of these packages are the framework's, not the analysis': their methods' imports
# (often optional integrations) are not requirements of the run
_FRAMEWORK = {"builtins", "abc", "colframe", "coffea"}


def needed_modules(function: Any) -> list[str]:
    """Modules (dotted names, sorted) a worker must import to run ``function``.

    The standard library and ``__main__`` (sent by value) are left out.
    """
    found: set[str] = set()
    copy = _Recorder(io.BytesIO(serialize.dumps(function, compress=False)), found).load()
    for code in _processor_code(copy):
        found.update(_imports(code))
    return sorted(name for name in found if _wanted(name))


class _Recorder(pickle.Unpickler):
    """Unpickles as usual, noting every module it imports."""

    def __init__(self, file: io.BytesIO, found: set[str]) -> None:
        super().__init__(file)
        self.found = found

    def find_class(self, module: str, name: str) -> Any:
        self.found.add(module)
        obj = super().find_class(module, name)
        if obj is cloudpickle.cloudpickle.subimport:  # a module referred to by by-value code

            def subimport(modname: str) -> Any:
                self.found.add(modname)
                return obj(modname)

            return subimport
        return obj


def _processor_code(obj: Any, depth: int = 0) -> Iterator[CodeType]:
    """Code of the processor(s) ``obj`` holds: its class's methods, or a plain function."""
    if depth > 3:
        return
    if inspect.isfunction(obj):
        yield obj.__code__
        return
    cls = type(obj)
    if callable(getattr(cls, "process", None)):
        for klass in cls.__mro__:
            if klass.__module__.split(".")[0] in _FRAMEWORK:
                continue
            for value in vars(klass).values():
                func = getattr(value, "__func__", value)
                if inspect.isfunction(func):
                    yield func.__code__
        return
    for value in getattr(obj, "__dict__", {}).values():
        yield from _processor_code(value, depth + 1)


def _imports(code: CodeType) -> Iterator[str]:
    """Absolute ``import`` targets in ``code`` and the code nested in it."""
    instructions = list(dis.get_instructions(code))
    for i, ins in enumerate(instructions):
        if ins.opname == "IMPORT_NAME":
            level = instructions[i - 2].argval if i >= 2 else 0
            if level == 0:
                yield ins.argval
    for const in code.co_consts:
        if isinstance(const, CodeType):
            yield from _imports(const)


def _wanted(name: str) -> bool:
    top = name.split(".")[0]
    return top not in sys.stdlib_module_names and top not in ("__main__", "__mp_main__", "")
