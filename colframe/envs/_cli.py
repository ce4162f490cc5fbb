"""``colframe env pack|run|check|info``: the command line of colframe.envs."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from ..errors import EnvError
from . import _probe
from ._pack import pack
from ._probe import compare, format_problems, probe
from ._unpack import run, tarball_manifest

__all__ = ["add_parser"]


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``env`` command (with its own subcommands) to colframe's parser."""
    env = subparsers.add_parser("env", help="software environments for workers (poncho layout)")
    commands = env.add_subparsers(dest="env_command", required=True)

    pack_ = commands.add_parser("pack", help="build an environment tarball from a poncho spec")
    pack_.add_argument("spec", nargs="?", help="poncho spec JSON (e.g. envs/colframe.json)")
    pack_.add_argument("--output", "-o", required=True, help="tarball to write (env.tar.gz)")
    pack_.add_argument(
        "--bare", action="store_true", help="leave colframe and its dependencies out"
    )
    pack_.add_argument(
        "--from-current",
        action="store_true",
        help="pack the running environment (exact versions; editable packages built as wheels)",
    )
    pack_.add_argument(
        "--cache-dir", default=None, help="cache (default $COLFRAME_CACHE_DIR or ~/.cache/colframe)"
    )
    pack_.add_argument("--force", action="store_true", help="rebuild even when the cache has it")
    pack_.set_defaults(handler=_pack)

    run_ = commands.add_parser(
        "run",
        help="run a command inside an environment",
        usage="colframe env run [--cache-dir DIR] ENV.tar.gz -- CMD...",
    )
    run_.add_argument("environment", help="tarball written by `colframe env pack`")
    run_.add_argument("--cache-dir", default=None, help="where it is unpacked once")
    # REMAINDER: everything after the tarball is the command (options go before it)
    run_.add_argument("cmd", nargs=argparse.REMAINDER, help="-- the command and its arguments")
    run_.set_defaults(handler=_run)

    check = commands.add_parser(
        "check", help="import modules inside an environment and compare versions with this one"
    )
    check.add_argument("modules", nargs="*", help="modules the tasks import (e.g. the processor's)")
    where = check.add_mutually_exclusive_group()
    where.add_argument("--env", default=None, help="an environment tarball to check")
    where.add_argument(
        "--python", default="python3", help="an interpreter to check (default: PATH's python3)"
    )
    check.add_argument("--cache-dir", default=None)
    check.set_defaults(handler=_check)

    info = commands.add_parser("info", help="print an environment's manifest")
    info.add_argument("environment")
    info.set_defaults(handler=_info)


def _pack(args: argparse.Namespace) -> int:
    if args.spec is not None and args.from_current:
        msg = "give either a spec or --from-current, not both"
        raise EnvError(msg)
    out = pack(
        args.spec,
        args.output,
        bare=args.bare,
        from_current=args.from_current,
        cache_dir=args.cache_dir,
        force=args.force,
    )
    manifest = tarball_manifest(out)
    size = out.stat().st_size / 1e6
    print(
        f"{out}: {len(manifest['packages'])} packages, Python {manifest['python']['version']}, {size:.1f} MB"
    )
    return 0


def _run(args: argparse.Namespace) -> int:
    cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    if cmd is args.cmd and cmd and cmd[0].startswith("-"):
        msg = f"options go before the tarball: colframe env run [--cache-dir DIR] ENV.tar.gz -- CMD (not {cmd[0]!r} after it)"
        raise EnvError(msg)
    if not cmd:
        msg = (
            "give the command to run after --: colframe env run env.tar.gz -- python -c 'import x'"
        )
        raise EnvError(msg)
    return run(args.environment, cmd, cache_dir=args.cache_dir).returncode


def _check(args: argparse.Namespace) -> int:
    code = Path(_probe.__file__).read_text()
    cmd = ["python", "-c", code, *args.modules]
    if args.env is not None:
        done = run(args.env, cmd, cache_dir=args.cache_dir, capture_output=True, text=True)
    else:
        done = subprocess.run([args.python, *cmd[1:]], capture_output=True, text=True)
    if done.returncode != 0:
        msg = f"the probe did not run in {args.env or args.python}: {done.stderr.strip()[-500:]}"
        raise EnvError(msg)
    report = json.loads(done.stdout)
    problems = compare(probe(), report)
    if problems:
        print(format_problems(problems))
        return 1
    print(
        f"{report['environment']}: Python {report['python']}, imports {', '.join(args.modules) or 'none'} "
        f"ok, {len(report['versions'])} packages at the driver's versions"
    )
    return 0


def _info(args: argparse.Namespace) -> int:
    json.dump(tarball_manifest(Path(args.environment)), sys.stdout, indent=1)
    print()
    return 0
