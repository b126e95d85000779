"""Writing features: .npy, .npz, .jsonl or .csv, streamed, and never half-written.

Everything goes to a temporary file in the destination's directory and is renamed over the
destination only when complete, so an interrupted run leaves the previous file (or none).
`.npy` is streamed with a fixed-size header that is rewritten with the final row count.
"""

from __future__ import annotations

import os
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import BinaryIO

import numpy as np

from cnnfeat.runtime.errors import OutputError

FORMATS = (".npy", ".npz", ".jsonl", ".csv")
_NPY_HEADER_BYTES = 128  # magic(6) + version(2) + length(2) + dict padded to a 64-byte multiple


def output_format(path: str) -> str:
    if path == "-":
        return ".jsonl"
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise OutputError(f"{path}: unknown output format {suffix or '(none)'!r}; "
                          f"use one of {', '.join(FORMATS)}")  # fmt: skip
    return suffix


class FeatureWriter:
    """Context manager: `write(chunk)` any number of times; the file appears on clean exit."""

    def __init__(self, path: str, dim: int):
        self.path, self.dim, self.rows = path, dim, 0
        self.format = output_format(path)
        self._tmp: Path | None = None
        self._handle: BinaryIO | None = None

    def __enter__(self) -> FeatureWriter:
        if self.path == "-":
            self._handle = sys.stdout.buffer
            return self
        target = Path(self.path)
        if target.is_dir():
            raise OutputError(f"{self.path} is a directory; give a file name")
        try:
            fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
        except (FileNotFoundError, PermissionError, OSError) as exc:
            raise OutputError(f"cannot write in {target.parent or '.'}: {exc.strerror}") from None
        self._tmp = Path(tmp)
        self._handle = os.fdopen(fd, "w+b")
        if self.format in (".npy", ".npz"):
            self._handle.write(_npy_header(0, self.dim))
        elif self.format == ".csv":
            self._handle.write((",".join(f"f{i}" for i in range(self.dim)) + "\n").encode())
        return self

    def write(self, features: np.ndarray) -> None:
        assert self._handle is not None
        features = np.ascontiguousarray(features, dtype=np.float32)
        try:
            if self.format in (".npy", ".npz"):
                self._handle.write(features.tobytes())
            else:
                self._handle.write(_as_text(features, self.format).encode())
        except OSError as exc:
            raise OutputError(f"writing {self.path} failed: {exc.strerror}") from None
        self.rows += len(features)

    def __exit__(self, exc_type, exc, tb) -> None:
        if self.path == "-":
            self._handle.flush()
            return
        try:
            if exc_type is None:
                self._finish()
        except OSError as error:
            self._discard()
            raise OutputError(f"writing {self.path} failed: {error.strerror}") from None
        finally:
            if exc_type is not None:
                self._discard()

    def _finish(self) -> None:
        handle = self._handle
        if self.format in (".npy", ".npz"):
            handle.seek(0)
            handle.write(_npy_header(self.rows, self.dim))
        handle.flush()
        os.fsync(handle.fileno())
        handle.close()
        if self.format == ".npz":
            self._wrap_npz()
        os.chmod(self._tmp, 0o644)
        os.replace(self._tmp, self.path)

    def _wrap_npz(self) -> None:
        # An .npz is a zip of .npy members; ours holds one, "features", stored uncompressed.
        npy = self._tmp
        fd, zipped = tempfile.mkstemp(prefix=npy.name, suffix=".zip", dir=npy.parent)
        os.close(fd)
        try:
            with zipfile.ZipFile(zipped, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
                archive.write(npy, "features.npy")
        except BaseException:
            os.unlink(zipped)
            raise
        os.unlink(npy)
        self._tmp = Path(zipped)

    def _discard(self) -> None:
        if self._handle is not None and not self._handle.closed:
            self._handle.close()
        if self._tmp is not None and self._tmp.exists():
            self._tmp.unlink()


def _npy_header(rows: int, dim: int) -> bytes:
    described = f"{{'descr': '<f4', 'fortran_order': False, 'shape': ({rows}, {dim}), }}"
    body = described.ljust(_NPY_HEADER_BYTES - 10 - 1) + "\n"
    return b"\x93NUMPY\x01\x00" + len(body).to_bytes(2, "little") + body.encode("latin-1")


def _as_text(features: np.ndarray, fmt: str) -> str:
    # %.9g round-trips float32 exactly while staying short.
    row = ",".join(["%.9g"] * features.shape[1])
    if fmt == ".jsonl":
        row = "[" + row + "]"
    return "".join(row % tuple(values) + "\n" for values in features.tolist())
