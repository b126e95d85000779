#!/usr/bin/env bash
# Install what tests/hosts/test_hosts.py needs, from registries only: Node.js and a C toolchain and
# Chromium from Debian, the Node packages from hosts/*/package-lock.json, onnxruntime's C header
# from Debian trixie's libonnxruntime-dev (without touching the system's apt sources).
# Idempotent: a second run with nothing to do takes about a second.
#
#   PYTHON=.venv/bin/python bash .ci/setup-hosts.sh    (default: the `python` on PATH)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python}
case $PYTHON in /*) ;; */*) PYTHON=$PWD/$PYTHON ;; esac  # the C host's script changes directory

# onnxruntime-node's install script would fetch CUDA libraries from NuGet, outside the npm
# registry; its CPU build is already in the package (hosts/node/.npmrc says the same).
export ONNXRUNTIME_NODE_INSTALL=skip

missing=()
command -v node >/dev/null && command -v npm >/dev/null || missing+=(nodejs npm)
command -v cc >/dev/null && command -v make >/dev/null || missing+=(gcc make libc6-dev)
command -v chromium >/dev/null || missing+=(chromium)
if [ ${#missing[@]} -gt 0 ]; then
    SUDO=$([ "$(id -u)" -eq 0 ] || echo sudo)
    echo "setup-hosts: apt-get install ${missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >/dev/null
fi

# npm ci from the lock file, skipped when node_modules was installed from this very lock file.
for host in hosts/node hosts/web; do
    stamp=$host/node_modules/.installed-from-lock
    want=$(sha256sum "$host/package-lock.json" | cut -d' ' -f1)
    if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
        echo "setup-hosts: npm ci in $host"
        (cd "$host" && npm ci --no-audit --no-fund --loglevel=error)
        echo "$want" > "$stamp"
    fi
done

# The C example: header from Debian, library from the onnxruntime wheel that $PYTHON imports.
PYTHON=$PYTHON hosts/c/fetch-header.sh >/dev/null
make -s -C hosts/c PYTHON="$PYTHON"
echo "setup-hosts: node $(node --version), $(chromium --version 2>/dev/null | head -1)," \
    "hosts/c/build/embed_ids"
