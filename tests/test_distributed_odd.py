"""`cnnfeat embed-dataset` with odd input and signals: duplicate column names are an error,
a symlink loop never repeats rows, a bad output URI is one line, a successful run prints
nothing of Ray's own, and SIGTERM exits 143 with one line and no Ray process left behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from conftest import TinyModel, invoke, one_error_line

from cnnfeat.contract.errors import InputError
from cnnfeat.distributed.sources import list_inputs, read_blocks

pa = pytest.importorskip("pyarrow", reason="needs pyarrow (the [ray] extra)")
pq = pytest.importorskip("pyarrow.parquet", reason="needs pyarrow (the [ray] extra)")
try:
    import ray  # noqa: F401

    # Imported here, not first inside a CliRunner call below: Ray Data's logging handler keeps
    # the sys.stderr of its import, and a runner's stream is closed when the call returns
    # (test_distributed.py's later runs then logged "I/O operation on closed file").
    import ray.data  # noqa: F401
except ImportError:
    if os.environ.get("CI") == "true":
        raise
    ray = None
needs_ray = pytest.mark.skipif(ray is None, reason="Ray is not installed (CI installs it)")


def test_duplicate_column_names_are_an_error(tmp_path: Path) -> None:
    csv = tmp_path / "dup.csv"
    csv.write_text("id,text,id\n1,hello,2\n")
    twice = r"dup.csv:1: column names \['id'\] occur more than once"
    with open(csv, "rb") as handle, pytest.raises(InputError, match=twice):
        list(read_blocks(handle, str(csv), None, "strict", 100))
    parquet = tmp_path / "dup.parquet"
    table = pa.Table.from_arrays([pa.array(["a"]), pa.array(["b"]), pa.array([1])],
                                 names=["text", "x", "x"])  # fmt: skip
    pq.write_table(table, parquet)
    with pytest.raises(InputError, match=r"column names \['x'\] occur more than once"):
        list(read_blocks(str(parquet), str(parquet), None, "strict", 100))


def test_a_null_text_in_parquet_is_an_error_naming_the_row(tmp_path: Path) -> None:
    """Not an utterance: it would reach the embedder as None (a worker's internal error)."""
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"text": ["a", "b", None, "d"], "id": [1, 2, 3, 4]}), path)
    with pytest.raises(InputError, match=r"t.parquet: row 2: column 'text' is null"):
        list(read_blocks(str(path), str(path), None, "strict", 100))


def test_a_symlink_loop_lists_every_file_once(tmp_path: Path) -> None:
    (tmp_path / "in" / "sub").mkdir(parents=True)
    (tmp_path / "in" / "a.txt").write_text("one\ntwo\n")
    (tmp_path / "in" / "sub" / "b.txt").write_text("three\n")
    (tmp_path / "in" / "sub" / "loop").symlink_to("..")
    (tmp_path / "in" / "again.txt").symlink_to("a.txt")
    paths, _ = list_inputs(str(tmp_path / "in"))
    assert [Path(p).name for p in paths] == ["a.txt", "b.txt"]
    paths, _ = list_inputs(str(tmp_path / "in" / "**" / "*.txt"))
    assert sorted(os.path.realpath(p) for p in paths) == sorted(
        str((tmp_path / "in" / n).resolve()) for n in ("a.txt", "sub/b.txt")
    )


@pytest.mark.parametrize("uri", ["foo://bucket/out", "s3://"])
def test_a_bad_output_uri_is_one_line(tmp_path: Path, uri: str) -> None:
    (tmp_path / "a.txt").write_text("hello\n")
    line = one_error_line(invoke("embed-dataset", tmp_path / "a.txt", "-o", uri, "-q"))
    assert "internal error" not in line and uri in line


def ray_processes() -> set[int]:
    listing = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout
    names = ("raylet", "gcs_server", "ray::", "default_worker")
    return {int(line.split()[0]) for line in listing.splitlines()[1:]
            if any(k in line for k in names)}  # fmt: skip


def embed_dataset(source: Path, out: Path, model: Path, *extra: str) -> subprocess.Popen:
    """The installed `cnnfeat` script, stdout and stderr pipes (no terminal)."""
    script = Path(sys.executable).with_name("cnnfeat")
    return subprocess.Popen(
        [str(script), "embed-dataset", str(source), "-o", str(out),
         "--model", str(model), "--workers", "1", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
    )  # fmt: skip


@needs_ray
@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_success_prints_nothing_of_rays_own(tiny_global: TinyModel, tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("w1 w2\nw3\n")
    child = embed_dataset(tmp_path / "a.txt", tmp_path / "out", tiny_global.model_dir, "-q")
    _, err = child.communicate(timeout=300)
    assert child.returncode == 0, err.decode()
    assert err.decode() == ""  # no core_worker.cc line, no start-up notice


@needs_ray
@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_a_run_without_a_terminal_shows_only_cnnfeats_lines(
    tiny_global: TinyModel, tmp_path: Path
) -> None:
    """Without a terminal, Ray Data logs its progress instead of drawing bars ("Progress will
    be logged because stdout is a non-interactive terminal", then a block every 10 s): Ray's
    own lines, which appear only with -v. Without -q the summary line is all there is."""
    (tmp_path / "a.txt").write_text("w1 w2\nw3\n" * 500)
    child = embed_dataset(tmp_path / "a.txt", tmp_path / "out", tiny_global.model_dir)
    out, err = child.communicate(timeout=300)
    assert child.returncode == 0, err.decode()
    assert out == b""
    [line] = err.decode().splitlines()
    assert line.startswith("embedded 1000 rows in ") and line.endswith(f"-> {tmp_path / 'out'}")


@contextmanager
def busy_loops(n: int) -> Iterator[None]:
    """n processes that keep a core busy each: the machine other people's jobs make."""
    loops = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]
    try:
        yield
    finally:
        for loop in loops:
            loop.kill()
            loop.wait()


@needs_ray
@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize(
    ("delay", "load", "quiet"),
    [(4.0, 0, True), (12.0, 0, True), (4.0, 4, False), (15.0, 4, True), (15.0, 4, False)],
)  # during ray.init; while embedding; on a machine busy with other work (load ~6 on 2 cores)
def test_sigterm_exits_143_and_leaves_no_ray_process(
    tiny_global: TinyModel, tmp_path: Path, delay: float, load: int, quiet: bool
) -> None:
    """On a loaded machine SIGTERM gave exit 1 and no cnnfeat line (stderr Ray's progress log
    ending in "Dataset ... execution failed"); on a quiet one 143 and the one line."""
    source = tmp_path / "big.txt"
    source.write_text("w1 w2 w3 w4 w5 w6\n" * 400_000)
    with busy_loops(load):
        child = embed_dataset(
            source, tmp_path / "out", tiny_global.model_dir, *(["-q"] if quiet else [])
        )
        time.sleep(delay)
        if child.poll() is not None:
            pytest.skip("the job ended before the signal; the machine is faster than planned")
        child.send_signal(signal.SIGTERM)
        _, err = child.communicate(timeout=120)
    assert child.returncode == 143, err.decode()
    assert err.decode().splitlines() == [
        "cnnfeat: error: terminated; no partial output was written"
    ]
    assert not (tmp_path / "out").exists()
    # Ray's agents notice their raylet is gone within seconds; nothing of the job stays.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        group = [pid for pid in ray_processes() if _group(pid) == child.pid]
        if not group:
            break
        time.sleep(1)
    assert not group, f"Ray processes of the job still running: {group}"


def _group(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None
