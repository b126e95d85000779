#!/bin/sh
# Fetch onnxruntime's C header from a registry: Debian's libonnxruntime-dev package (trixie has it,
# bookworm does not), unpacked into build/onnxruntime. The system's apt sources and package
# database are left alone: apt gets its own source list, lists and cache under build/apt.
#
#   ./fetch-header.sh            (PYTHON=... picks the Python whose onnxruntime wheel we link)
set -eu
cd "$(dirname "$0")"
SUITE=${ORT_DEB_SUITE:-trixie}
PYTHON=${PYTHON:-python3}
DEST=build/onnxruntime
HEADER=$DEST/usr/include/onnxruntime/onnxruntime_c_api.h

if [ ! -f "$HEADER" ]; then
  APT=$PWD/build/apt
  mkdir -p "$APT/lists/partial" "$APT/cache/archives/partial"
  KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
  echo "deb [signed-by=$KEYRING] http://deb.debian.org/debian $SUITE main" > "$APT/sources.list"
  set -- -o Dir::Etc::SourceList="$APT/sources.list" -o Dir::Etc::SourceParts=/dev/null \
    -o Dir::State::Lists="$APT/lists" -o Dir::Cache="$APT/cache" -o Dir::State::Status=/dev/null \
    -o APT::Sandbox::User=root -o Debug::NoLocking=1
  apt-get "$@" -qq update
  (cd "$APT" && rm -f libonnxruntime-dev_*.deb && apt-get "$@" -qq download libonnxruntime-dev)
  dpkg-deb -x "$APT"/libonnxruntime-dev_*.deb "$DEST"
  rm -rf "$APT"
fi

# The C API is backward compatible: a header older than the library works, a newer one does not.
HEADER_API=$(sed -n 's/^#define ORT_API_VERSION \([0-9]*\).*/\1/p' "$HEADER")
if ! LIB_API=$("$PYTHON" -c "import onnxruntime; print(onnxruntime.__version__.split('.')[1])" 2>/dev/null); then
  echo "fetch-header.sh: $PYTHON cannot import onnxruntime; install cnnfeat in it first, or set PYTHON=/path/to/venv/bin/python (an absolute path: this script changes directory)" >&2
  exit 1
fi
if [ "$HEADER_API" -gt "$LIB_API" ]; then
  echo "fetch-header.sh: header API $HEADER_API is newer than onnxruntime 1.$LIB_API; use an older suite" >&2
  exit 1
fi
echo "onnxruntime C header: API $HEADER_API (library 1.$LIB_API) in $DEST"
