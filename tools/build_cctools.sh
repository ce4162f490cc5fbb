#!/usr/bin/env bash
# Build cctools (TaskVine, Work Queue, resource_monitor, poncho) from a source release into a venv.
#
#   tools/build_cctools.sh VENV
#
# Skips the build when VENV already imports ndcctools.taskvine at version >= 7.15, unless that
# is an earlier build of this script without the fixes of tools/cctools_patches.py (then rebuilds).
# The source tarball is ../shared/vendor/cctools-7.17.1-src.tar.gz beside the checkout, or
# CCTOOLS_SRC=path/to/cctools-X-src.tar.gz. Needs a C compiler, make, and the zlib and OpenSSL
# headers; swig comes from pip. Users with conda install `ndcctools` from conda-forge instead.
set -euo pipefail

venv=$(cd "${1:?usage: $0 VENV}" && pwd)
py="$venv/bin/python"
here=$(cd "$(dirname "$0")/.." && pwd)
src=${CCTOOLS_SRC:-$here/../shared/vendor/cctools-7.17.1-src.tar.gz}

have_taskvine() {
    "$py" - <<'PY' 2>/dev/null
import re, sys
import ndcctools.taskvine as vine
major, minor = map(int, re.match(r"(\d+)\.(\d+)", vine.__version__).groups())
sys.exit(0 if (major, minor) >= (7, 15) else 1)
PY
}

# library tasks import conda_pack and threadpoolctl on the worker; swig builds the bindings
"$py" -m pip install --quiet swig conda-pack threadpoolctl

site_of_taskvine() {
    "$py" -c 'import pathlib, ndcctools.taskvine as v; print(pathlib.Path(v.__file__).parents[2])'
}

if have_taskvine; then
    if [ ! -x "$venv/bin/vine_worker" ]; then
        echo "cctools: ndcctools.taskvine already importable from $venv (installed elsewhere), not building"
        exit 0
    fi
    if "$py" "$here/tools/cctools_patches.py" check "$(site_of_taskvine)"; then
        echo "cctools: ndcctools.taskvine already in $venv with colframe's fixes, not building"
        exit 0
    fi
    echo "cctools: $venv has an earlier build without colframe's fixes: rebuilding"
fi
if [ ! -f "$src" ]; then
    echo "cctools: source tarball not found: $src" >&2
    echo "  set CCTOOLS_SRC=path/to/cctools-X-src.tar.gz, or install ndcctools from conda-forge" >&2
    exit 1
fi
for tool in cc make; do
    command -v "$tool" >/dev/null || { echo "cctools: '$tool' is needed to build cctools" >&2; exit 1; }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/cctools-build.XXXXXX")
trap 'rm -rf "$work"' EXIT
echo "cctools: building $(basename "$src") into $venv (about 20 s on 2 cores)"
tar xzf "$src" -C "$work"
cd "$work"/cctools-*/
"$py" "$here/tools/cctools_patches.py" apply .
# the programs a run starts (and may still be running): checked after the install
programs="taskvine/src/worker/vine_worker work_queue/src/work_queue_worker batch_job/src/vine_factory
    batch_job/src/work_queue_factory resource_monitor/src/resource_monitor"
{
    # TCP_LOW_PORT/TCP_HIGH_PORT must not leak into anything the build starts
    unset TCP_LOW_PORT TCP_HIGH_PORT
    ./configure --prefix "$venv" --with-python3-path "$py" --with-swig-path "$venv/bin/swig" \
        --with-perl-path no --without-system-chirp --without-system-doc --without-system-ftp-lite \
        --without-system-grow --without-system-makeflow --without-system-parrot
    make -j"$(nproc)"
    # a program that is running (a worker left by an earlier run) cannot be overwritten
    # (ETXTBSY) and cctools' install loops ignore the error: unlink the old programs
    # first (a running one keeps its copy), then check the new ones are in place
    for program in $programs; do rm -f "$venv/bin/$(basename "$program")"; done
    make install
} >"$work/build.log" 2>&1 || {
    tail -40 "$work/build.log" >&2
    echo "cctools: build failed (last lines above)" >&2
    exit 1
}
for program in $programs; do
    cmp -s "$program" "$venv/bin/$(basename "$program")" || {
        echo "cctools: $program was built but not installed into $venv/bin" >&2
        exit 1
    }
done
have_taskvine || { echo "cctools: built, but $py cannot import ndcctools.taskvine" >&2; exit 1; }
"$py" "$here/tools/cctools_patches.py" mark "$(site_of_taskvine)"
echo "cctools: ndcctools.taskvine $("$py" -c 'import ndcctools.taskvine as v; print(v.__version__)') installed in $venv"
