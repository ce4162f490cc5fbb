"""Exception types raised by colframe.

Every error a user can hit derives from :class:`ColframeError`, so
``except colframe.errors.ColframeError`` catches colframe's own failures and
nothing else. Where coffea raises an exception of its own type, colframe's is
also an instance of that type: a :class:`ChunkError` is also an instance of the
type of the exception that ended the chunk (``except FileNotFoundError`` catches
it), and :data:`TreeNotFoundError` is also coffea's ``UprootMissTreeError``.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "CheckpointError",
    "ChunkError",
    "ClusterConnectionError",
    "ColframeError",
    "EnvError",
    "ExecutorError",
    "FileChangedError",
    "FilesetError",
    "MergeError",
    "MissingProtocolError",
    "NoWorkersError",
    "OutputPathError",
    "PreflightError",
    "ProcessorError",
    "ProcessorOutputError",
    "ResourceExhaustedError",
    "RunInterrupted",
    "SavedOutputError",
    "SpoolError",
    "TaskEngineError",
    "TreeNotFoundError",  # noqa: F822  (built on first use: module __getattr__)
    "UnpicklableError",
    "WorkerDiedError",
    "chunk_error",
]


class ColframeError(Exception):
    """Base class of every error colframe raises on purpose."""


class FilesetError(ColframeError, ValueError):
    """A fileset specification is malformed; the message names the dataset and key."""


class EnvError(ColframeError, RuntimeError):
    """A software environment cannot be packed, unpacked or used here; the message says what differs."""


class PreflightError(EnvError):
    """Workers cannot run the tasks (a module missing, other versions than the driver's).

    Raised by ``preflight=True`` before the first chunk; ``problems`` holds the rows
    (worker, problem, fix) of the table in the message.
    """

    def __init__(self, message: str, problems: list | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []


class ExecutorError(ColframeError, ValueError):
    """An executor name or option is not valid."""


class ProcessorOutputError(ColframeError, TypeError):
    """The processor returned something colframe cannot merge (None, or not addable)."""


class MergeError(ColframeError, TypeError, ValueError):
    """Two partial outputs could not be added together.

    A TypeError, and a ValueError like coffea's accumulate raises for mappings
    of incompatible types.

    ``path`` locates the values inside the output (``['muon_pt']['2018']``);
    it is filled in as the error passes up through nested dicts.
    """

    path: str = ""

    def __str__(self) -> str:
        message = super().__str__()
        return f"at output{self.path}: {message}" if self.path else message


class UnpicklableError(ColframeError, TypeError):
    """An object that must travel to workers or to disk cannot be pickled.

    The message names the object, the attribute path to the part that cannot be
    pickled (e.g. ``.processor.lock``) and its type.
    """


class CheckpointError(ColframeError):
    """A checkpoint could not be written, or the checkpoint option is not valid.

    Deliberately not an OSError: ``skipbadfiles`` must never skip a chunk whose
    output was computed but could not be saved.
    """


class ChunkError(ColframeError):
    """A chunk failed for good and the run was stopped.

    ``failure`` holds the :class:`colframe.report.ChunkFailure` (file, entry
    range, exception type, message and traceback) and ``report`` the run report
    up to the failure. Raise it through :func:`chunk_error`, which makes it also
    an instance of the type of the exception that ended the chunk.
    """

    def __init__(self, message: str, failure=None, report=None) -> None:
        super().__init__(message)
        self.failure = failure
        self.report = report

    def __str__(self) -> str:  # a KeyError cause would repr() the message
        return str(self.args[0]) if self.args else ""

    def __reduce__(self):
        return chunk_error, (str(self), self.failure, self.report)


# ChunkError subclasses by the type of the exception that ended the chunk
_CHUNK_ERRORS: dict[type, type[ChunkError]] = {}


def chunk_error(message: str, failure: Any = None, report: Any = None) -> ChunkError:
    """A ChunkError that is also an instance of ``failure``'s exception type.

    So ``except FileNotFoundError`` (or coffea's ``UprootMissTreeError``,
    ``pyarrow.ArrowInvalid``) catches the error of a chunk that failed with one,
    as it catches coffea's. A type that cannot be combined with ChunkError (a
    BaseException that is not an Exception, a conflicting layout) gives a plain
    ChunkError.
    """
    types = getattr(failure, "exc_types", ())
    cause = types[0] if types else None
    if cause is None or not issubclass(cause, Exception) or issubclass(cause, ChunkError):
        return ChunkError(message, failure, report)
    cls = _CHUNK_ERRORS.get(cause)
    if cls is None:
        try:
            cls = type(f"ChunkError[{cause.__name__}]", (ChunkError, cause), {})
        except TypeError:  # e.g. a C type whose layout conflicts with Exception's
            cls = ChunkError
        cls.__module__ = __name__
        _CHUNK_ERRORS[cause] = cls
    try:
        return cls(message, failure, report)
    except TypeError:  # a cause whose constructor needs other arguments
        return ChunkError(message, failure, report)


def _tree_not_found_error() -> type:
    """TreeNotFoundError, built on first use: it derives from coffea's UprootMissTreeError.

    Built lazily so that ``import colframe`` does not import ``coffea.processor``;
    reached as ``colframe.errors.TreeNotFoundError`` (pickles by that name).
    """
    from coffea.processor.executor import UprootMissTreeError

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""

    doc = """A file holds no tree of the requested name; the message suggests the closest.

    Also coffea's ``UprootMissTreeError`` (an ``uproot.KeyInFileError``, a
    KeyError), not an OSError: as in coffea, ``skipbadfiles=True`` does not skip
    it; name it in a ``skipbadfiles`` tuple to skip such files.
    """
    cls = type(
        "TreeNotFoundError",
        (ColframeError, UprootMissTreeError),
        {"__doc__": doc, "__str__": __str__, "__module__": __name__},
    )
    globals()["TreeNotFoundError"] = cls
    return cls


def __getattr__(name: str) -> Any:
    if name == "TreeNotFoundError":
        return _tree_not_found_error()
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)


class WorkerDiedError(ColframeError, RuntimeError):
    """A worker process died while running a task (crash, or killed for memory)."""


class TaskEngineError(WorkerDiedError):
    """A TaskVine or Work Queue task ended without a result: the process running it died
    (crash, killed, worker lost) or the engine could not run it (sandbox full, ...)."""


class ResourceExhaustedError(TaskEngineError):
    """A task used more than its category's cores, memory or disk and was stopped."""


class NoWorkersError(ColframeError, TimeoutError):
    """No worker connected to the manager in time; the message gives the command to start one."""


class ProcessorError(ColframeError, TypeError):
    """What was given as the processor is not one (None, no ``process``, needs arguments)."""


class FileChangedError(ColframeError):
    """A file is not the one planned: its UUID or entry count differs from its preprocessing.

    Not an OSError: ``skipbadfiles`` must not silently skip a plan that no longer
    fits its input; the fix is to preprocess again (clear the metadata cache).
    """


class MissingProtocolError(ColframeError, ImportError):
    """A file's URL needs a protocol (``root://``, ``s3://``) that no installed package reads."""


class OutputPathError(ColframeError):
    """The path an output is to be written to cannot be written (checked before the run)."""


class SavedOutputError(ColframeError):
    """A file given as a saved colframe output is not one (or cannot be read)."""


class SpoolError(ColframeError):
    """Partial outputs could not be written to the spool directory (disk full, quota, unwritable).

    A local resource failure, deliberately not an OSError: it is never taken for
    an unreadable input file, so ``skipbadfiles`` never skips a computed chunk.
    """


class ClusterConnectionError(ColframeError):
    """The scheduler address given to an executor did not answer as a scheduler in time."""


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C (SIGINT) stopped a run: the tasks in flight were cancelled.

    ``report`` holds what finished (chunks processed, merges, retries); with a
    checkpoint, the chunks processed so far are saved and a new run with the
    same checkpoint continues from them. It is a ``KeyboardInterrupt``, not a
    :class:`ColframeError`, so ``except Exception`` in user code never swallows it.
    """

    def __init__(self, message: str, report=None) -> None:
        super().__init__(message)
        self.report = report

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""
