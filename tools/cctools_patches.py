"""Fixes colframe applies to a cctools source tree before building it (tools/build_cctools.sh).

    python tools/cctools_patches.py apply SRC_DIR     # patch the unpacked source tree
    python tools/cctools_patches.py mark SITE_DIR     # record them beside the installed ndcctools
    python tools/cctools_patches.py check SITE_DIR    # exit 0 when the install carries all of them

Each fix is a literal replacement that must match exactly once, so a cctools release that
changed the code fails the build loudly instead of building unpatched. The marker file
(``ndcctools/taskvine/colframe-patches.txt``) lists the fixes by name:
:func:`colframe.executors.taskvine.cctools_fixes` reads it (the TaskVine executor picks its default
``exec_mode`` from it).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import NamedTuple


class Fix(NamedTuple):
    name: str
    path: str
    old: str
    new: str
    why: str


FIXES = [
    Fix(
        name="vine-forsaken-first-task-div0",
        path="taskvine/src/manager/vine_manager.c",
        old="w->total_task_time / w->total_tasks_complete / 1000000.0);",
        new=(
            "(w->total_tasks_complete ? w->total_task_time / w->total_tasks_complete : 0)"
            " / 1000000.0);"
        ),
        why=(
            "exit_debug_message divides by the worker's completed-task count, which is 0 when "
            "a worker's first returned task is 'forsaken' (its library process crashed) or "
            "'input missing': an integer division by zero (SIGFPE) kills the manager, i.e. "
            "the driver. Present in 7.17.1 and on master (August 2026)."
        ),
    ),
    Fix(
        name="vine-worker-setpgid-race",
        path="taskvine/src/worker/vine_process.c",
        old="\t} else {\n\t\tif (chdir(p->sandbox)) {",
        new="\t} else {\n\t\tsetpgid(0, 0);\n\t\tif (chdir(p->sandbox)) {",
        why=(
            "the worker makes each task (and each library) the leader of its own process "
            "group from the parent side only, after fork: when the child execs first, "
            "setpgid fails (EACCES), the later kill(-pid, SIGKILL) reaches nothing and the "
            "worker blocks for ever in waitpid. A manager that evicts an idle library (as "
            "when a run switches from direct to fork mode after a crash) then hangs the run "
            "(2 runs in 30 of a crash test here). The child now sets its own group too. 7.17.1."
        ),
    ),
    Fix(
        name="wq-worker-setpgid-race",
        path="work_queue/src/work_queue_process.c",
        old="\t} else {\n\t\tif(chdir(p->sandbox)) {",
        new="\t} else {\n\t\tsetpgid(0, 0);\n\t\tif(chdir(p->sandbox)) {",
        why=(
            "the same race in the Work Queue worker: a task cancelled or timed out whose "
            "child exec'd before the parent's setpgid is never killed, and the worker "
            "blocks in waitpid until the task ends on its own. 7.17.1."
        ),
    ),
]

MARKER = Path("ndcctools") / "taskvine" / "colframe-patches.txt"


def apply(src: Path) -> None:
    for fix in FIXES:
        path = src / fix.path
        text = path.read_text()
        if text.count(fix.old) != 1:
            sys.exit(f"cctools patch {fix.name}: expected text not found once in {fix.path}")
        path.write_text(text.replace(fix.old, fix.new))
        print(f"cctools: applied fix {fix.name}")


def mark(site: Path) -> None:
    (site / MARKER).write_text("".join(f"{fix.name}\n" for fix in FIXES))


def check(site: Path) -> bool:
    marker = site / MARKER
    have = set(marker.read_text().split()) if marker.is_file() else set()
    return {fix.name for fix in FIXES} <= have


if __name__ == "__main__":
    command, where = sys.argv[1], Path(sys.argv[2])
    if command == "apply":
        apply(where)
    elif command == "mark":
        mark(where)
    elif command == "check":
        sys.exit(0 if check(where) else 1)
    else:
        sys.exit(f"unknown command {command!r}: apply, mark or check")
