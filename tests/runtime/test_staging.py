"""train, export and conformance: the target is the old one byte for byte or the new one whole.

Like tests/runtime/test_writing.py for `embed`: a fault (KeyboardInterrupt, as a Ctrl-C
landing there, or a full disk) is injected at every step of saving, one run per step, until a
run gets through. After each run the target must be exactly the previous one or exactly what an
undisturbed run writes, with nothing left beside it. `staged_directory` itself gets a real
SIGINT at every line it executes, and a SIGKILL between the two renames of its fallback swap.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from helpers import TinyModel, needs_proc_fd, sigint_at_line

from cnnfeat.contract.errors import OutputError
from cnnfeat.runtime import staging, writing
from cnnfeat.runtime.staging import staged_directory

OLD = {"checkpoint.pt": b"yesterday's weights", "metrics.json": b"{}", "tokenizer.json": b"{}"}
FAULTS = {
    "interrupt": KeyboardInterrupt,
    "disk full": lambda: OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)),
}


def tree(root: Path) -> dict[str, bytes]:
    """Every file under root, by relative path: what "byte for byte" compares."""
    if not root.exists():
        return {}
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def put(root: Path, files: dict[str, bytes]) -> None:
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    for name, data in files.items():
        (root / name).write_bytes(data)


class Faults:
    """Wrap functions so that the k-th call, counted over all of them, raises the fault."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, steps: list[tuple[object, str]]):
        self.calls, self.at, self.error, self.fired = 0, 0, None, False
        for owner, name in steps:
            monkeypatch.setattr(owner, name, self._wrap(getattr(owner, name)))

    def step(self) -> None:
        self.calls += 1
        if self.calls == self.at:
            self.fired = True
            raise self.error()

    def _wrap(self, real):
        def wrapped(*args, **kwargs):
            self.step()
            return real(*args, **kwargs)

        return wrapped

    def arm(self, at: int, error) -> None:
        self.calls, self.at, self.error, self.fired = 0, at, error, False


def every_step(
    faults: Faults, save, target: Path, old: dict[str, bytes], new: dict[str, bytes], fault: str
) -> int:
    """Run `save` with the fault at step 1, 2, ... until it completes; after each run the
    target must be `old` or `new` exactly. Returns how many runs the fault stopped."""
    complete = None
    stopped = 0
    for at in range(1, 200):
        put(target, old) if old else shutil.rmtree(target, ignore_errors=True)
        faults.arm(at, FAULTS[fault])
        try:
            save()
        except (KeyboardInterrupt, OutputError) as exc:
            assert faults.fired, f"failed without a fault: {exc}"
            if isinstance(exc, OutputError):  # the user's path, never a staging one
                assert str(target) in str(exc) and ".staging-" not in str(exc)
        else:
            complete = tree(target)
            break
        stopped += 1
        assert sorted(p.name for p in target.parent.iterdir()) == [target.name] or not old
        assert not [
            p for p in target.parent.iterdir() if ".staging-" in p.name or ".old-" in p.name
        ]
        assert tree(target) in (old, new), f"{fault} at step {at} left a mix"
    assert complete, "no run got through"
    return stopped


def reference(save, target: Path) -> dict[str, bytes]:
    shutil.rmtree(target, ignore_errors=True)
    save()
    return tree(target)


def light_report(monkeypatch: pytest.MonkeyPatch) -> tuple[np.ndarray, np.ndarray]:
    """Stand in for matplotlib's report (seconds per save): the same kind of write into the
    staging directory, so the fault injection still covers a fourth file."""
    from cnnfeat.training import train

    def write(
        out: Path, metrics: dict, features: np.ndarray, labels: np.ndarray, name: str
    ) -> Path:
        (out / "report.html").write_text(f"<p>{len(labels)} dev rows</p>", encoding="utf-8")
        return out / "report.html"

    monkeypatch.setattr(train, "write_report", write)
    return np.zeros((2, 100), np.float32), np.zeros(2, np.int64)


# --- train ------------------------------------------------------------------------------------


@pytest.mark.parametrize("fault", FAULTS)
def test_train_save_at_every_step(
    tiny_global: TinyModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fault: str
) -> None:
    from tokenizers import Tokenizer

    from cnnfeat.training import train

    model = tiny_global.torch_model()
    tokenizer = Tokenizer.from_file(str(tiny_global.run_dir / "tokenizer.json"))
    metrics = {"vectors": {"source": "test"}, "dev": {"weighted_f1": 0.5}}
    target = tmp_path / "runs" / "run"
    dev = light_report(monkeypatch)

    class SavingTokenizer:  # tokenizers' class is built in Rust: it cannot be patched
        def to_str(self, pretty: bool = False) -> str:
            return tokenizer.to_str(pretty)

    def save() -> None:
        train._write_run(target, model, model.spec, SavingTokenizer(), metrics, dev)

    new = reference(save, target)
    assert set(new) == {"checkpoint.pt", "tokenizer.json", "metrics.json", "report.html"}
    faults = Faults(
        monkeypatch,
        [
            (Path, "write_bytes"),
            (SavingTokenizer, "to_str"),
            (Path, "write_text"),
            (staging.os, "fsync"),
            (staging.os, "rename"),
            (staging, "_exchange"),
            (staging.os, "chmod"),
            (staging.tempfile, "mkdtemp"),
        ],
    )
    assert every_step(faults, save, target, OLD, new, fault) >= 6
    assert tree(target) == new
    # A fresh target too: nothing, or the complete run.
    every_step(faults, save, target, {}, new, fault)


def test_train_save_when_the_system_cannot_exchange(
    tiny_global: TinyModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tokenizers import Tokenizer

    from cnnfeat.training import train

    monkeypatch.setattr(staging, "_exchange", lambda a, b: False)  # two renames instead
    model = tiny_global.torch_model()
    tokenizer = Tokenizer.from_file(str(tiny_global.run_dir / "tokenizer.json"))
    target = tmp_path / "run"
    dev = light_report(monkeypatch)

    def save() -> None:
        train._write_run(target, model, model.spec, tokenizer, {"vectors": None}, dev)

    new = reference(save, target)
    faults = Faults(monkeypatch, [(staging.os, "rename"), (staging.os, "fsync")])
    assert every_step(faults, save, target, OLD, new, "interrupt") >= 3


# --- export -----------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("fault", FAULTS)
def test_export_at_every_step(
    tiny_global: TinyModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fault: str
) -> None:
    from cnnfeat.export import onnx_export

    target = tmp_path / "models" / "model"
    old = tree(tiny_global.model_dir)
    old["cnnfeat.json"] = old["cnnfeat.json"].replace(b'"opset"', b'"opset" ')  # recognisable

    def save() -> None:
        onnx_export.export_model(tiny_global.run_dir, target)

    new = reference(save, target)
    assert new != old and set(new) == set(old)
    faults = Faults(
        monkeypatch,
        [
            (onnx_export.onnx, "save_model"),
            (onnx_export.shutil, "copyfile"),
            (Path, "write_text"),
            (Path, "write_bytes"),
            (staging, "_sync_tree"),
            (staging.os, "rename"),
            (staging, "_exchange"),
            (staging.tempfile, "mkdtemp"),
        ],
    )
    assert every_step(faults, save, target, old, new, fault) >= 7
    assert tree(target) == new


# --- conformance ------------------------------------------------------------------------------


@pytest.mark.parametrize("fault", FAULTS)
def test_conformance_at_every_step(
    tiny_global: TinyModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fault: str
) -> None:
    from cnnfeat.runtime.conformance import write_conformance

    model = Path(shutil.copytree(tiny_global.model_dir, tmp_path / "m" / "model"))
    path = model / "conformance.json"
    new = path.read_bytes()
    old = b'{"format": "cnnfeat-conformance", "old": true}\n'

    class Wrapped:  # a full disk fails a write; the interrupt lands in it
        def __init__(self, real):
            self.real = real

        def write(self, data):
            faults.step()
            return self.real.write(data)

        def __getattr__(self, name):
            return getattr(self.real, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.real.close()

    monkeypatch.setattr(writing, "open", lambda *a, **k: Wrapped(open(*a, **k)), raising=False)
    steps = ["fsync", "chmod", "replace"]
    faults = Faults(monkeypatch, [(writing.os, n) for n in steps] + [(writing.tempfile, "mkstemp")])
    stopped = 0
    for at in range(1, 50):
        path.write_bytes(old)
        faults.arm(at, FAULTS[fault])
        try:
            write_conformance(model)
            break
        except (KeyboardInterrupt, OutputError) as exc:
            assert faults.fired
            assert isinstance(exc, KeyboardInterrupt) or f"{path} was left as it was" in str(exc)
        stopped += 1
        assert path.read_bytes() in (old, new), f"{fault} at step {at}"
        assert sorted(p.name for p in model.iterdir()) == sorted(tree(tiny_global.model_dir))
    assert stopped >= 4
    assert path.read_bytes() == new


# --- staged_directory: a real signal at every line, and SIGKILL ---------------------------------


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize("exchange", [True, False])
def test_sigint_at_every_line_of_staging(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, exchange: bool
) -> None:
    """The target is never missing or mixed, and nothing is left beside it, though no signal
    is held back: every step after the staging directory exists runs inside the `try` whose
    cleanup (`_tidy`) puts the old one back if need be and removes the rest."""
    if not exchange:
        monkeypatch.setattr(staging, "_exchange", lambda a, b: False)
    target = tmp_path / "run"
    new = {"a.bin": b"new a", "b.json": b'{"new": 1}'}
    sources = {staging.__file__, writing.__file__}
    runs = 0
    for k in range(1, 5000):
        put(target, OLD)
        try:
            with sigint_at_line(k, sources), staged_directory(target) as folder:
                for name, data in new.items():
                    (folder / name).write_bytes(data)
            interrupted = False
        except KeyboardInterrupt:
            interrupted = True
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
        assert [p.name for p in tmp_path.iterdir()] == ["run"], f"line event {k}"
        assert tree(target) in (OLD, new), f"line event {k}"
        if not interrupted:
            assert tree(target) == new
            break
        runs += 1
    assert runs > 20


SIGKILLED = """
import os, signal, sys
from pathlib import Path
from cnnfeat.runtime import staging
staging._exchange = lambda a, b: False
target, where = Path(sys.argv[1]), sys.argv[2]
real_rename = os.rename
def rename(a, b):
    real_rename(a, b)
    if where == "swap":  # between moving the old one aside and the new one in
        os.kill(os.getpid(), signal.SIGKILL)
staging.os.rename = rename
with staging.staged_directory(target) as folder:
    (folder / "new.txt").write_text("new")
    if where == "body":
        os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize("where", ["body", "swap"])
def test_sigkill_leftovers_are_repaired_by_the_next_run(tmp_path: Path, where: str) -> None:
    target = tmp_path / "run"
    put(target, OLD)
    killed = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(SIGKILLED), str(target), where],
        capture_output=True,
        timeout=120,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    left = sorted(p.name for p in tmp_path.iterdir())
    # body: the old run and a staging folder; swap: the old one moved aside, and the new one.
    assert ("run" in left) == (where == "body") and len(left) == 2, left
    # The next run, of any command that stages this target, tidies first.
    staging.sweep_leftovers(target)
    assert [p.name for p in tmp_path.iterdir()] == ["run"] and tree(target) == OLD
    with staged_directory(target) as folder:
        (folder / "x").write_text("x")
    assert tree(target) == {"x": b"x"}


def test_mode_of_a_replaced_directory_and_the_umask(tmp_path: Path) -> None:
    target = tmp_path / "run"
    with staged_directory(target):
        pass
    assert target.stat().st_mode & 0o777 == 0o777 & ~writing._umask()
    target.chmod(0o700)
    with staged_directory(target):
        pass
    assert target.stat().st_mode & 0o777 == 0o700


def test_a_write_error_names_the_target(tmp_path: Path) -> None:
    # A write error inside the block names the target the user gave, not the staging folder.
    target = tmp_path / "run"
    with pytest.raises(OutputError, match=f"^writing {target} failed: No space left"):
        with staged_directory(target):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "/x/.run.staging-1-ab/f")
    assert list(tmp_path.iterdir()) == []


# --- a real write limit (ulimit -f), end to end through the CLI ---------------------------------


def _limited(limit: int):
    def preexec() -> None:
        import resource

        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return preexec


def _cli(args: list, limit: int) -> subprocess.CompletedProcess:
    # Python ignores SIGXFSZ, so a write past the limit fails with EFBIG, as on a full disk.
    return subprocess.run(
        [sys.executable, "-m", "cnnfeat", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=_limited(limit),
    )


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX resource limits")
def test_write_limit_keeps_old_outputs(tiny_global: TinyModel, tmp_path: Path) -> None:
    model = Path(shutil.copytree(tiny_global.model_dir, tmp_path / "m" / "model"))
    before = tree(model)
    result = _cli(["conformance", model], limit=8192)
    assert result.returncode == 1, result.stderr
    assert result.stderr.splitlines() == [
        f"cnnfeat: error: writing {model / 'conformance.json'} failed: File too large; "
        f"{model / 'conformance.json'} was left as it was"
    ]
    assert tree(model) == before and sorted(p.name for p in model.parent.iterdir()) == ["model"]

    result = _cli(["export", tiny_global.run_dir, "--out", model], limit=8192)
    assert result.returncode == 1, result.stderr
    [line] = result.stderr.splitlines()
    assert line.startswith(f"cnnfeat: error: writing {model} failed: File too large"), line
    assert tree(model) == before and sorted(p.name for p in model.parent.iterdir()) == ["model"]


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="POSIX resource limits")
def test_write_limit_while_train_saves(tmp_path: Path) -> None:
    rows = "".join(f"w{i} w{i + 1} w{i + 2},{'ab'[i % 2]}\n" for i in range(40))
    (tmp_path / "train.csv").write_text("text,label\n" + rows)
    (tmp_path / "vectors.txt").write_text(
        "".join(f"w{i} {i / 10} 0.5 -0.25 1\n" for i in range(45))
    )
    run = tmp_path / "run"
    put(run, OLD)
    result = _cli(
        [
            "train",
            "--train",
            tmp_path / "train.csv",
            "--out",
            run,
            "--vectors",
            tmp_path / "vectors.txt",
            "--epochs",
            "1",
            "--max-len",
            "10",
            "--vocab-top-n",
            "0",
            "-q",
        ],
        limit=16384,
    )
    assert result.returncode == 1, result.stderr
    [line] = result.stderr.splitlines()
    assert line.startswith(f"cnnfeat: error: writing {run} failed: "), line
    assert "staging" not in line and "internal error" not in line
    assert tree(run) == OLD
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run", "train.csv", "vectors.txt"]


# --- durability steps that no crash test can see ----------------------------------------


@needs_proc_fd
@pytest.mark.parametrize("existing", [False, True])
def test_staged_directory_syncs_its_files_and_the_parent(
    tmp_path: Path, events: list, existing: bool
) -> None:
    """Found by breaking the line on purpose (issue 13, hollow tests)."""
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


# --- one line, typed errors, files kept safe --------------------------------------------------


def _read_only_dir(d: Path) -> Path:
    (d / "locked").mkdir()
    (d / "locked").chmod(0o555)
    return d / "locked" / "run"


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (
            lambda d: (d / "notes.txt").write_text("x") and d / "notes.txt" / "run",
            "notes.txt is not a directory",
        ),
        (
            lambda d: (d / "notes.txt").write_text("x") and d / "notes.txt" / "a" / "run",
            "notes.txt is not a directory",
        ),
        (_read_only_dir, "Permission denied"),
    ],
)
def test_train_out_that_cannot_be_written_fails_before_any_work(
    tmp_path: Path, make, match: str
) -> None:
    """Found: such an --out failed only after the whole training run (`File exists` for a
    file in the path), losing hours on real data.
    Found by trying to break issue 9's promise (one line, typed errors, files kept safe)."""
    from helpers import invoke, one_error_line

    out = make(tmp_path)
    if match == "Permission denied" and os.access(out.parent, os.W_OK):
        pytest.skip("running as root: permissions do not bind")
    # The training file does not even exist: --out is checked first.
    line = one_error_line(invoke("train", "--train", tmp_path / "absent.csv", "--out", out))
    assert f"cannot write {out}: " in line and match in line, line
    assert "absent.csv" not in line


def test_out_on_a_read_only_file_system(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Found by trying to break issue 9's promise (one line, typed errors, files kept safe)."""
    from cnnfeat.runtime import staging

    real_statvfs = os.statvfs

    class ReadOnly:
        f_flag = os.ST_RDONLY

    monkeypatch.setattr(staging.os, "access", lambda path, mode: False)
    monkeypatch.setattr(staging.os, "statvfs", lambda path: ReadOnly())
    with pytest.raises(
        OutputError,
        match=f"cannot write {tmp_path / 'run'}: {tmp_path}: "
        "Read-only file system; choose another --out",
    ):
        staging.check_replaceable(tmp_path / "run", "cnnfeat run", "checkpoint.pt", ())
    monkeypatch.setattr(staging.os, "statvfs", real_statvfs)


def test_any_typed_error_from_inside_staging_names_the_target(tmp_path: Path) -> None:
    """A safety net for the defect above: no typed error names the staging directory. The file
    an error is about is its `path` field (the message text is never rewritten).
    Found by trying to break issue 9's promise (one line, typed errors, files kept safe)."""
    from cnnfeat.contract.errors import ModelError
    from cnnfeat.runtime.staging import staged_directory

    with pytest.raises(ModelError) as caught:
        with staged_directory(tmp_path / "model") as staging:
            raise ModelError("field 'x' is damaged", staging / "cnnfeat.json")
    assert str(caught.value) == f"{tmp_path / 'model' / 'cnnfeat.json'}: field 'x' is damaged"
    assert list(tmp_path.iterdir()) == []


# --- found by trying to break the API surface, tokenize and writing ---------------------------


def test_a_file_added_to_the_old_directory_while_writing_is_never_deleted(tmp_path: Path) -> None:
    """check_replaceable looks at --out before the work (hours of training); a file the user
    put in the old run/model directory meanwhile was deleted with it by the swap.
    Found by trying to break issue 13's changes (API surface, tokenize, writing)."""
    from cnnfeat import OutputError
    from cnnfeat.runtime.staging import staged_directory

    target = tmp_path / "run"
    target.mkdir()
    (target / "metrics.json").write_text("old")
    with pytest.raises(OutputError, match=r"notes\.txt.*left as it was"):
        with staged_directory(target, known=("metrics.json",)) as staging:
            (staging / "metrics.json").write_text("new")
            (target / "notes.txt").write_text("mine")  # the user, while cnnfeat works
    assert (target / "notes.txt").read_text() == "mine"
    assert (target / "metrics.json").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]
    # Only names it writes: the swap goes ahead.
    (target / "notes.txt").unlink()
    with staged_directory(target, known=("metrics.json",)) as staging:
        (staging / "metrics.json").write_text("new")
    assert (target / "metrics.json").read_text() == "new"


@pytest.mark.parametrize("name", ["checkpoint.pt", "metrics.json"])
def test_a_directory_under_a_name_cnnfeat_writes_is_never_deleted(tmp_path: Path, name) -> None:
    """`model.onnx/` or `checkpoint.pt/` holding the user's files passed as one of cnnfeat's
    own files: `train --out` or `export --out` into it (the advice for a model whose
    model.onnx is a directory says to re-run export there) deleted them with the swap."""
    from cnnfeat import OutputError
    from cnnfeat.runtime.staging import check_replaceable, staged_directory

    known = ("checkpoint.pt", "metrics.json")
    target = tmp_path / "run"
    (target / name).mkdir(parents=True)
    (target / name / "mine.txt").write_text("mine")
    if name != "checkpoint.pt":
        (target / "checkpoint.pt").touch()  # the marker, as a file
    with pytest.raises(OutputError, match=rf"also holds {name}/, which cnnfeat did not write"):
        check_replaceable(target, "cnnfeat run", "checkpoint.pt", known)
    with pytest.raises(OutputError, match=rf"now holds {name}/.*left as it was"):
        with staged_directory(target, known=known) as staging:
            (staging / "metrics.json").write_text("new")
    assert (target / name / "mine.txt").read_text() == "mine"


@pytest.mark.parametrize("kind", ["link to a file", "link to a directory", "fifo"])
def test_a_link_or_fifo_under_a_name_cnnfeat_writes_is_never_deleted(
    tmp_path: Path, kind: str
) -> None:
    """A symbolic link or a FIFO named report.html is the user's, not a file cnnfeat wrote:
    the swap deleted it (a link's target survived, the link did not)."""
    from cnnfeat import OutputError
    from cnnfeat.runtime.staging import check_replaceable

    target = tmp_path / "run"
    target.mkdir()
    (target / "checkpoint.pt").touch()
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine.html").write_text("mine")
    if kind == "fifo":
        os.mkfifo(target / "report.html")
        shown = "report.html (not a regular file)"
    else:
        linked = tmp_path / ("mine.html" if kind == "link to a file" else "mine")
        (target / "report.html").symlink_to(linked)
        shown = "report.html (a symbolic link)"
    with pytest.raises(OutputError, match=rf"also holds {re.escape(shown)}, which cnnfeat"):
        check_replaceable(target, "cnnfeat run", "checkpoint.pt", ("checkpoint.pt", "report.html"))
