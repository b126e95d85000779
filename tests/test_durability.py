"""Durability steps that no crash test can see: the data is fsynced before the rename, the
directory after it, and a staging directory of a run still going on is never swept.

Each was found by breaking the line on purpose (issue 13, hollow tests): deleting the directory
fsync or the liveness check left every other test green.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cnnfeat.runtime import staging, temporaries, writing
from cnnfeat.runtime.writing import FeatureWriter, output_for, write_file


@pytest.fixture
def events(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Every fsync (of a file or a directory, by path) and rename, in order."""
    seen: list[tuple[str, str]] = []
    real_fsync, real_replace, real_rename = os.fsync, os.replace, os.rename

    def fsync(fd: int) -> None:
        kind = "fsync-dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "fsync-file"
        seen.append((kind, os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def replace(src, dst) -> None:
        seen.append(("rename", os.fspath(dst)))
        real_replace(src, dst)

    def rename(src, dst) -> None:
        seen.append(("rename", os.fspath(dst)))
        real_rename(src, dst)

    monkeypatch.setattr(writing.os, "fsync", fsync)
    monkeypatch.setattr(writing.os, "replace", replace)
    monkeypatch.setattr(staging.os, "rename", rename)
    return seen


pytestmark = pytest.mark.skipif(
    not Path("/proc/self/fd").is_dir(), reason="names fds through /proc/self/fd (Linux)"
)


def _check_order(seen: list[tuple[str, str]], target: Path) -> None:
    renames = [i for i, (kind, path) in enumerate(seen) if kind == "rename" and path == str(target)]
    assert len(renames) == 1, seen
    at = renames[0]
    assert any(kind == "fsync-file" for kind, _ in seen[:at]), f"no data fsync before: {seen}"
    assert ("fsync-dir", str(target.parent)) in seen[at + 1 :], f"no directory fsync: {seen}"


@pytest.mark.parametrize("suffix", [".npy", ".npz", ".csv"])
def test_feature_writer_syncs_data_then_renames_then_syncs_the_directory(
    tmp_path: Path, events: list, suffix: str
) -> None:
    out = tmp_path / f"out{suffix}"
    with FeatureWriter(output_for(str(out)), 4) as writer:
        writer.write(np.ones((3, 4), np.float32))
    _check_order(events, out)


def test_write_file_syncs_data_then_renames_then_syncs_the_directory(
    tmp_path: Path, events: list
) -> None:
    out = tmp_path / "conformance.json"
    write_file(out, b"{}\n")
    _check_order(events, out)
    assert out.read_bytes() == b"{}\n"


@pytest.mark.parametrize("existing", [False, True])
def test_staged_directory_syncs_its_files_and_the_parent(
    tmp_path: Path, events: list, existing: bool
) -> None:
    target = tmp_path / "model"
    if existing:
        target.mkdir()
        (target / "old.txt").write_text("old")
    with staging.staged_directory(target) as folder:
        (folder / "a.bin").write_bytes(b"a")
    assert (target / "a.bin").read_bytes() == b"a"
    synced_files = [Path(p).name for kind, p in events if kind == "fsync-file"]
    assert "a.bin" in synced_files
    assert ("fsync-dir", str(tmp_path)) in events  # the swap itself made durable


def test_sweep_keeps_the_staging_directory_of_a_live_run(tmp_path: Path) -> None:
    """Two runs writing the same --out: the second must not delete the first one's staging
    directory while that run is still going; a dead run's leftovers go."""
    target = tmp_path / "run"
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        prefix = temporaries.temporary_prefix(target)
        busy = tmp_path / f"{prefix}staging-{live.pid}-abcd1234"
        busy.mkdir()
        (busy / "checkpoint.pt").write_bytes(b"half written")
        leftover = tmp_path / f"{prefix}staging-{_a_dead_pid()}-efgh5678"
        leftover.mkdir()
        staging.sweep_leftovers(target)
        assert busy.is_dir() and (busy / "checkpoint.pt").read_bytes() == b"half written"
        assert not leftover.exists()
    finally:
        live.kill()
        live.wait()


def _a_dead_pid() -> int:
    """The pid of a process that has exited and been reaped."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid
