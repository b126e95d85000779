"""Breaking the sweep of dead runs' temporaries (runtime/temporaries.py, sweep_temporaries)."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from helpers import needs_proc_fd

from cnnfeat.runtime import staging, temporaries, writing

DIM = 4

# A writer that creates its temporary, prints its name, and finishes when told to.
WRITER = """
import sys, numpy as np
from pathlib import Path
from cnnfeat.runtime.writing import FeatureWriter, output_for
out = Path(sys.argv[1])
with FeatureWriter(output_for(str(out)), 4) as writer:
    writer.write(np.ones((2, 4), np.float32))
    print(*[p.name for p in out.parent.iterdir() if p.name.endswith(".part")], flush=True)
    sys.stdin.readline()
    writer.write(np.ones((1, 4), np.float32))
"""


@contextmanager
def live_writer(command: list[str], out: Path) -> Iterator[Path]:
    """Run WRITER (`command`) until it has its temporary for `out`; yield that temporary's
    path; then let the writer finish and check that `out` is complete."""
    writer = subprocess.Popen(
        command, text=True, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert writer.stdin is not None and writer.stdout is not None and writer.stderr is not None
    try:
        yield out.parent / writer.stdout.readline().strip()
        writer.stdin.write("go\n")
        writer.stdin.close()
        assert writer.wait(timeout=60) == 0, writer.stderr.read()
        assert np.load(out).shape == (3, DIM)
    finally:
        if writer.poll() is None:
            writer.kill()


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX file locks")
def test_a_live_writer_whose_pid_means_nothing_here_keeps_its_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A writer in another PID namespace (a container sharing the directory) or on another host
    # (NFS) names its temporary with a PID that is dead, or someone else's, here.
    out = tmp_path / "out.npy"
    with live_writer([sys.executable, "-c", WRITER, str(out)], out) as temp:
        monkeypatch.setattr(temporaries, "pid_alive", lambda pid: False)
        assert temporaries.sweep_temporaries(out) == []
        assert temp.is_file()


def _can_unshare() -> bool:
    if sys.platform != "linux" or os.geteuid() != 0 or shutil.which("unshare") is None:
        return False
    probe = [
        "unshare",
        "--pid",
        "--fork",
        "--mount-proc",
        "sh",
        "-c",
        "echo 500 > /proc/sys/kernel/ns_last_pid",
    ]
    return subprocess.run(probe, capture_output=True).returncode == 0


@pytest.mark.skipif(not _can_unshare(), reason="needs root and unshare (PID namespaces)")
def test_a_live_writer_in_another_pid_namespace_keeps_its_temporary(tmp_path: Path) -> None:
    # The real case: the writer runs in its own PID namespace with a PID that no process has
    # in ours; the sweep of a write here must not remove its temporary.
    pid_max = int(Path("/proc/sys/kernel/pid_max").read_text())
    dead = next(
        p
        for p in iter(lambda: random.randrange(1000, pid_max - 1), None)
        if not Path(f"/proc/{p + 1}").exists()
    )
    out = tmp_path / "out.npy"
    script = f"echo {dead} > /proc/sys/kernel/ns_last_pid; {sys.executable} -c '{WRITER}' {out}"
    with live_writer(
        ["unshare", "--pid", "--fork", "--mount-proc", "sh", "-c", script], out
    ) as temp:
        assert temp.name.startswith(f".out.npy.{dead + 1}-"), temp.name
        assert not temporaries.pid_alive(dead + 1)
        assert temporaries.sweep_temporaries(out) == []
        assert temp.is_file()


def test_no_process_is_signalled_to_learn_whether_it_lives_on_windows(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # On Windows os.kill(pid, 0) is TerminateProcess: it would end whatever process now has
    # the PID of a dead run's temporary.
    signalled: list[int] = []
    monkeypatch.setattr(os, "kill", lambda pid, sig: signalled.append(pid))
    monkeypatch.setattr(sys, "platform", "win32")
    assert temporaries.pid_alive(os.getpid() + 1)
    assert signalled == []


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX file locks")
@pytest.mark.parametrize("name", ["out.npy", "out.npz", "out.jsonl", "out.csv", "staged.bin"])
def test_a_temporary_stays_locked_until_it_is_renamed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    # The last instants count too: the file is closed (and, for .npz, zipped into a second
    # temporary) before the rename; a sweep from elsewhere then must still see it held.
    monkeypatch.setattr(temporaries, "pid_alive", lambda pid: False)
    install, removed = writing._install, []

    def sweep_then_install(temp: Path, target: Path) -> None:
        removed.extend(temporaries.sweep_temporaries(target))
        install(temp, target)

    monkeypatch.setattr(writing, "_install", sweep_then_install)
    out = tmp_path / name
    if name == "staged.bin":
        with writing.staged_file(out) as temp:
            temp.write_bytes(b"content")
            removed.extend(temporaries.sweep_temporaries(out))
        assert out.read_bytes() == b"content"
    else:
        with writing.FeatureWriter(writing.output_for(str(out)), DIM) as writer:
            writer.write(np.ones((2, DIM), np.float32))
            removed.extend(temporaries.sweep_temporaries(out))
        assert out.stat().st_size > 0
    assert removed == []
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]


def test_a_name_with_non_ascii_digits_is_not_a_temporary(tmp_path: Path) -> None:
    # str.isdigit and the regex \d take '²' or Arabic-Indic digits; such a name is the user's.
    from cnnfeat.runtime import staging

    dead = int(
        subprocess.run(
            [sys.executable, "-c", "import os; print(os.getpid())"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    arabic = str(dead).translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
    users = [".model.staging-²-abcdefgh", f".out.npy.{arabic}-abcdefgh.part"]
    (tmp_path / users[0]).mkdir()
    (tmp_path / users[1]).write_bytes(b"x")
    assert not temporaries.pid_alive(int(arabic))  # what the digits read as: a dead run's PID
    with staging.staged_directory(tmp_path / "model") as staged:
        (staged / "file").write_text("x")
    with writing.FeatureWriter(writing.output_for(str(tmp_path / "out.npy")), DIM) as writer:
        writer.write(np.ones((1, DIM), np.float32))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*users, "model", "out.npy"])


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX file locks")
def test_a_live_runs_staging_directory_is_kept_whatever_its_pid_reads_as(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # train/export in a container sharing --out's directory: its PID means nothing here.
    from cnnfeat.runtime import staging

    target = tmp_path / "model"
    with staging.staged_directory(target) as staged:
        (staged / "weights").write_text("new")
        monkeypatch.setattr(staging, "pid_alive", lambda pid: False)
        staging.sweep_leftovers(target)
        assert staged.is_dir()
    assert (target / "weights").read_text() == "new"


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX file locks")
def test_the_old_directory_set_aside_by_a_live_swap_is_not_put_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Without an atomic exchange the swap is two renames; a sweep from elsewhere between them
    # sees `.model.old-PID-...` with `model` missing, and must not put it back (the second
    # rename would then fail, and the new run be lost).
    from cnnfeat.runtime import staging

    target = tmp_path / "model"
    target.mkdir()
    (target / "weights").write_text("old")
    monkeypatch.setattr(staging, "_exchange", lambda a, b: False)
    monkeypatch.setattr(staging, "pid_alive", lambda pid: False)
    rename = os.rename

    def rename_then_sweep(source, destination) -> None:
        rename(source, destination)
        if Path(source) == target:
            staging.sweep_leftovers(target)

    monkeypatch.setattr(os, "rename", rename_then_sweep)
    with staging.staged_directory(target) as staged:
        (staged / "weights").write_text("new")
    assert (target / "weights").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


# --- durability steps that no crash test can see ----------------------------------------


@needs_proc_fd
def test_sweep_keeps_the_staging_directory_of_a_live_run(tmp_path: Path) -> None:
    """Two runs writing the same --out: the second must not delete the first one's staging
    directory while that run is still going; a dead run's leftovers go.
    Found by breaking the line on purpose (issue 13, hollow tests)."""
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
