"""The shell scripts of poncho's tarball layout, written by colframe (no conda inside).

``bin/run_in_env CMD...`` is what TaskVine prefixes to every task of an environment and calls once
with no arguments after unpacking; ``bin/poncho_package_run -e ENV [-u DIR] CMD...`` is poncho's
and Work Queue's entry point (WorkQueueExecutor ships it beside each task to unpack the tarball
once per worker); ``bin/conda-unpack`` exists because ``poncho_package_run`` calls it.
All find the environment from their own location, so the unpacked directory can live anywhere.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

__all__ = ["PONCHO_PACKAGE_RUN", "relocate_shebangs", "version", "write_scripts"]

RUN_IN_ENV = r"""#!/bin/sh
# poncho-compatible entry point (written by colframe.envs): run "$@" inside this environment.
env_dir=$(CDPATH= cd -- "$(dirname -- "$0")/.." && pwd -P)
export PONCHO_PREFIX="$env_dir"
export VIRTUAL_ENV="$env_dir"
export PATH="$env_dir/bin:$PATH"
unset PYTHONPATH PYTHONHOME
if [ "$#" -eq 0 ]; then
    # TaskVine calls this once, without a command, right after unpacking: check the interpreter
    if ! "$env_dir/bin/python" -c "" 2>/dev/null; then
        echo "run_in_env: the interpreter $(readlink "$env_dir/bin/python") of environment" \
             "$env_dir does not run on $(hostname); see $env_dir/colframe-env.json" >&2
        exit 1
    fi
    exit 0
fi
exec "$@"
"""

PONCHO_PACKAGE_RUN = r"""#!/bin/sh
# poncho_package_run -e ENV.tar.gz|DIR [-u DIR] [-w SECS] [-d] [--] CMD...  (colframe.envs)
# Unpacks ENV once into DIR, under a lock, into a temporary sibling that is renamed into place
# only after bin/run_in_env ran in it once: a second process waits and reuses it, and a corrupt
# tarball leaves nothing behind. Then runs CMD inside the environment.
env= ; unpack_to= ; wait=300
while [ "$#" -gt 0 ]; do
    case "$1" in
        -e|--environment) shift; env="$1" ;;
        -u|--unpack-to) shift; unpack_to="$1" ;;
        -w|--wait-for-lock) shift; wait="$1" ;;
        -d|--debug) set -x ;;
        -h|--help) echo "usage: poncho_package_run -e ENV [-u DIR] [-w SECS] [--] CMD..."; exit 0 ;;
        --) shift; break ;;
        *) break ;;
    esac
    shift
done
if [ -z "$env" ]; then
    echo "poncho_package_run: give the environment with -e ENV.tar.gz or -e DIR" >&2; exit 1
fi
if [ -d "$env" ]; then
    dir="$env"
else
    dir="${unpack_to:-$(mktemp -d)/env}"
    mkdir -p "$(dirname -- "$dir")" || exit 1
    flock -w "$wait" "$dir.lock" sh -c '
        [ -e "$2/.poncho_package_run_expanded" ] && exit 0
        rm -rf "$2".partial.*
        partial="$2.partial.$$"
        mkdir "$partial" || exit 1
        if tar -xf "$1" -C "$partial" && "$partial/bin/run_in_env" \
           && date > "$partial/.poncho_package_run_expanded" \
           && { [ ! -d "$2" ] || rmdir "$2"; } && mv "$partial" "$2"; then
            exit 0
        fi
        rm -rf "$partial"
        exit 1
    ' sh "$env" "$dir" || {
        echo "poncho_package_run: cannot unpack $env into $dir on $(hostname) (corrupt tarball," \
             "full disk, or a lock held longer than $wait s)" >&2
        exit 1
    }
fi
[ "$#" -eq 0 ] && exit 0
exec "$dir/bin/run_in_env" "$@"
"""

CONDA_UNPACK = """#!/bin/sh
# nothing to relocate: colframe environments find themselves from their own location
exit 0
"""

# pip's and uv's relocatable launcher: sh runs the first lines, python reads them as a string
_TRAMPOLINE = (
    "#!/bin/sh\n"
    '\'\'\'exec\' "$(dirname -- "$(realpath -- "$0")")"/\'{python}\' "$0" "$@"\n'
    "' '''\n"
)


def version() -> str:
    """A hash of the scripts' text: tarballs packed with older scripts are not reused."""
    text = RUN_IN_ENV + PONCHO_PACKAGE_RUN + CONDA_UNPACK
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def write_scripts(env: Path) -> None:
    """Write the three poncho scripts into ``env/bin``, executable."""
    for name, text in [
        ("run_in_env", RUN_IN_ENV),
        ("poncho_package_run", PONCHO_PACKAGE_RUN),
        ("conda-unpack", CONDA_UNPACK),
    ]:
        path = env / "bin" / name
        path.write_text(text)
        path.chmod(0o755)


def relocate_shebangs(env: Path, build_dir: Path) -> list[str]:
    """Rewrite ``#!BUILD_DIR/bin/pythonX`` shebangs of ``env/bin`` scripts to the launcher.

    Returns the names of the scripts rewritten (uv's relocatable venvs normally need none).
    """
    pattern = re.compile(
        rb"#!" + re.escape(str(build_dir).encode()) + rb"/bin/(python[0-9.]*)\s*\n"
    )
    rewritten = []
    for path in sorted((env / "bin").iterdir()):
        if path.is_symlink() or not path.is_file():
            continue
        with path.open("rb") as f:
            head = f.read(len(str(build_dir)) + 40)
        match = pattern.match(head)
        if match:
            data = path.read_bytes()
            launcher = _TRAMPOLINE.format(python=match.group(1).decode()).encode()
            path.write_bytes(launcher + data[match.end() :])
            rewritten.append(path.name)
    return rewritten
