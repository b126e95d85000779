"""`cnnfeat embed-dataset` on a local Ray cluster: the same features as `cnnfeat embed`, row for
row; every row exactly once when a worker is killed mid-run; one clear line for a bad file.

The Ray tests need the [ray] extra. Elsewhere they skip; in CI (CI=true), where the extra is
installed, a missing Ray is a failure rather than a silent skip.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from helpers import TinyModel, invoke, one_error_line, tiny_line
from typer.testing import CliRunner

from cnnfeat.cli import app
from cnnfeat.contract.errors import CnnfeatError, InputError, OutputError
from cnnfeat.distributed.embed_dataset import (
    EmbedBatch,
    embed_dataset,
    features_matrix,
    fixed_size_list,
)
from cnnfeat.distributed.sources import list_inputs, read_blocks
from cnnfeat.runtime.embedder import Embedder
from cnnfeat.runtime.pipeline import embed_file
from cnnfeat.runtime.writing import output_for

pa = pytest.importorskip("pyarrow", reason="needs pyarrow (the [ray] extra)")
pq = pytest.importorskip("pyarrow.parquet", reason="needs pyarrow (the [ray] extra)")

ATOL = 1e-5
# Ray's own deprecation notices (its DataContext), nothing cnnfeat calls.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:ray.*")
try:
    import ray

    # Imported here, not first inside a CliRunner call below: Ray Data's logging handler keeps
    # the sys.stderr of its import, and a runner's stream is closed when the call returns
    # (later runs then logged "I/O operation on closed file").
    import ray.data  # noqa: F401
except ImportError:
    if os.environ.get("CI") == "true":
        raise
    ray = None
needs_ray = pytest.mark.skipif(
    ray is None, reason="Ray is not installed: pip install 'cnnfeat[ray]' (CI installs it)"
)


@pytest.fixture(scope="module")
def cluster():
    """A local cluster: 3 logical CPUs, so 2 embedding workers plus one for reading and
    writing (the machine itself may have fewer cores; Ray only counts)."""
    started = not ray.is_initialized()
    if started:
        ray.init(
            num_cpus=3, include_dashboard=False, logging_level=logging.ERROR, log_to_driver=False
        )
    yield ray
    if started:
        ray.shutdown()


def words(i: int) -> str:
    # Known words, unknown words, punctuation and case; never a newline (see concatenated()).
    return [
        tiny_line(1 + i % 23, i),
        f"W{i % 200}, w{(i * 7) % 200}!",
        "",
        "zzz unknown",
        "ça va? w3 w4 w5",
    ][i % 5]


def write_corpus(root: Path, sizes: dict[str, int], start: int = 0) -> dict[str, list[str]]:
    """Files of every format, with their texts in file order. Returns {path: texts}."""
    texts: dict[str, list[str]] = {}
    n = start
    for name, count in sizes.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        lines = [words(i) for i in range(n, n + count)]
        n += count
        if name.endswith(".txt"):
            path.write_bytes("".join(t + "\r\n" for t in lines).encode())  # CRLF endings
        elif name.endswith(".csv"):
            rows = ["id,text,speaker"] + [
                f'{i},"{t.replace(chr(34), chr(34) * 2)}",s{i % 3}' for i, t in enumerate(lines)
            ]
            path.write_text("\n".join(rows) + "\n", encoding="utf-8")
        elif name.endswith(".jsonl"):
            records = [
                {"utt": f"u{i}", "text": t, "turn": i, "meta": {"k": i % 2}}
                for i, t in enumerate(lines)
            ]
            path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
        elif name.endswith(".parquet"):
            ids = pa.array(np.arange(len(lines), dtype=np.int32))
            pq.write_table(pa.table({"rid": ids, "Utterance": lines}), path, row_group_size=97)
        texts[str(path)] = lines
    return texts


def read_output(out: Path):
    """All shards, sorted by (source_file, source_row): (table without features, features)."""
    shards = sorted(out.glob("*.parquet"))
    assert shards, f"no Parquet shards in {out}"
    table = pa.concat_tables([pq.read_table(s) for s in shards], promote_options="default")
    table = table.sort_by([("source_file", "ascending"), ("source_row", "ascending")])
    return table.drop_columns(["features"]), features_matrix(table.column("features"))


def cnnfeat_embed(texts: dict[str, list[str]], model_dir: Path, tmp: Path) -> np.ndarray:
    """`cnnfeat embed` (embed_file) on the texts of every file, concatenated in path order."""
    lines = [t for path in sorted(texts) for t in texts[path]]
    concatenated = tmp / "concatenated.txt"
    concatenated.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp / "concatenated.npy"
    embed_file(
        str(concatenated), output_for(str(out)), Embedder(model_dir, device="cpu"), progress=False
    )
    return np.load(out)


def assert_every_row_once(ids, texts: dict[str, list[str]]) -> None:
    files, rows = ids.column("source_file").to_pylist(), ids.column("source_row").to_pylist()
    got = list(zip(files, rows, strict=True))
    want = [(path, row) for path in sorted(texts) for row in range(len(texts[path]))]
    assert len(got) == len(set(got)), "a row was written twice"
    assert got == want


@needs_ray
def test_same_features_as_cnnfeat_embed(cluster, tiny_global: TinyModel, tmp_path: Path) -> None:
    texts = write_corpus(
        tmp_path / "corpus",
        {
            "a.txt": 450,
            "sub/b.csv": 300,
            "c.jsonl": 350,
            "d.parquet": 250,
            "e.txt": 1,
        },
    )
    (tmp_path / "corpus" / "README.md").write_text("not an input: unknown suffix\n")
    (tmp_path / "corpus" / "_SUCCESS").write_text("")
    out = tmp_path / "out"
    summary = embed_dataset(
        str(tmp_path / "corpus"),
        str(out),
        model_dir=tiny_global.model_dir,
        workers=2,
        progress=False,
        rows_per_batch=64,
    )
    total = sum(map(len, texts.values()))
    assert summary.rows == total and summary.workers == 2 and summary.device == "cpu"
    assert f"{total} rows" in summary.line() and "rows/s" in summary.line()

    ids, features = read_output(out)
    assert_every_row_once(ids, texts)
    expected = cnnfeat_embed(texts, tiny_global.model_dir, tmp_path)
    assert features.shape == expected.shape == (total, 100)
    assert np.abs(features - expected).max() <= ATOL

    schema = pq.read_schema(sorted(out.glob("*.parquet"))[0])
    assert schema.field("features").type == pa.list_(pa.float32(), 100)  # fixed-size list
    rows = ids.to_pylist()
    by_file = {}
    for row in rows:
        by_file.setdefault(Path(row["source_file"]).name, []).append(row)
    csv_rows, jsonl_rows = by_file["b.csv"], by_file["c.jsonl"]
    assert [r["id"] for r in csv_rows] == [str(i) for i in range(300)]
    assert [r["source_line"] for r in csv_rows] == list(range(2, 302))  # line 1: the header
    assert csv_rows[4]["speaker"] == "s1"
    assert jsonl_rows[7]["utt"] == "u7" and jsonl_rows[7]["turn"] == "7"
    assert json.loads(jsonl_rows[7]["meta"]) == {"k": 1}
    assert [r["rid"] for r in by_file["d.parquet"]] == list(range(250))
    assert by_file["d.parquet"][0]["source_line"] is None
    assert [r["source_line"] for r in by_file["a.txt"][:3]] == [1, 2, 3]
    assert not {"text", "Utterance", "__cnnfeat_text__"} & set(ids.column_names)


def embed_workers() -> dict[int, bytes]:
    """{pid: process title} of the Ray actors running EmbedBatch (Ray names its processes)."""
    found = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                title = Path(f"/proc/{entry}/cmdline").read_bytes()
            except OSError:
                continue
            if title.startswith(b"ray::") and b"EmbedBatch" in title:
                found[int(entry)] = title
    return found


@needs_ray
@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="finds workers in /proc")
def test_killed_worker_loses_and_doubles_nothing(
    cluster, tiny_global: TinyModel, tmp_path: Path
) -> None:
    texts = write_corpus(tmp_path / "corpus", {f"part{i}.txt": 12_000 for i in range(4)})
    # The kill must land while a worker is busy and shards are already written. On a loaded
    # machine a run can end before both hold (1 run in 3 beside two busy loops on 2 cores):
    # that run proves nothing either way, so it is run again, up to three times in all.
    for attempt in range(3):
        out = tmp_path / f"out{attempt}"
        killed = run_and_kill_one_worker(tmp_path / "corpus", out, tiny_global.model_dir)
        if killed:
            break
    assert killed, "every run ended before a worker could be killed"
    assert killed["pid"] not in embed_workers()
    assert len(list(out.glob("*.parquet"))) > killed["shards"]  # work went on after the kill
    ids, features = read_output(out)
    assert len(ids) == sum(map(len, texts.values())) == killed["rows"]
    assert_every_row_once(ids, texts)
    expected = cnnfeat_embed(texts, tiny_global.model_dir, tmp_path)
    assert np.abs(features - expected).max() <= ATOL


def run_and_kill_one_worker(corpus: Path, out: Path, model_dir: Path) -> dict[str, int]:
    """Run the job on `corpus`, SIGKILLing one busy worker once shards are written. Returns
    {pid, shards (written at the kill), rows (the summary's)}, or {} if the run ended first."""
    killed: dict[str, int] = {}
    done = threading.Event()

    def kill_one_busy_worker() -> None:
        while not done.is_set():
            busy = [pid for pid, title in embed_workers().items() if b".submit" in title]
            if busy and any(out.glob("*.parquet")):
                os.kill(busy[0], signal.SIGKILL)
                killed.update(pid=busy[0], shards=len(list(out.glob("*.parquet"))))
                return
            time.sleep(0.01)

    killer = threading.Thread(target=kill_one_busy_worker, daemon=True)
    killer.start()
    try:
        summary = embed_dataset(
            str(corpus),
            str(out),
            model_dir=model_dir,
            workers=2,
            progress=False,
            rows_per_batch=1000,
        )
    finally:
        done.set()
        killer.join()
    return {**killed, "rows": summary.rows} if killed else {}


@needs_ray
def test_unreadable_file_fails_the_job_naming_it(
    cluster, tiny_global: TinyModel, tmp_path: Path
) -> None:
    write_corpus(tmp_path / "corpus", {"a.txt": 200, "c.jsonl": 100})
    bad = tmp_path / "corpus" / "b.txt"
    bad.write_bytes(b"fine\nnot \xff utf-8\n")
    out = tmp_path / "out"
    with pytest.raises(InputError) as error:
        embed_dataset(
            str(tmp_path / "corpus"),
            str(out),
            model_dir=tiny_global.model_dir,
            workers=1,
            progress=False,
        )
    assert str(error.value).startswith(f"{bad}:2: not valid UTF-8")
    assert "\n" not in str(error.value)
    assert (error.value.path, error.value.line) == (str(bad), 2)  # the fields crossed Ray too
    assert not out.exists()  # nothing half-written is left behind

    # Through the command, with Ray's progress on: one error line, no traceback.
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "x.parquet").write_bytes(b"PAR1 this is not parquet")
    args = ["embed-dataset", str(broken), "-o", str(out), "--model", str(tiny_global.model_dir)]
    result = CliRunner().invoke(app, [*args, "--workers", "1"])
    assert result.exit_code == 1, result.output
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"cnnfeat: error: {broken / 'x.parquet'}: not a Parquet file")
    assert "Traceback" not in result.output


@needs_ray
def test_a_worker_that_cannot_start_fails_in_one_line(cluster, tmp_path: Path) -> None:
    """A worker that cannot load the model (a GPU node without CUDA, say) is not restarted
    forever: the job stops with the worker's own cnnfeat error, which crosses Ray as data
    (pickled, its message untouched by the retry advice Ray appends to what passes)."""
    from cnnfeat.contract.errors import ModelError
    from cnnfeat.distributed.embed_dataset import EmbedBatchJob, _ray_data_settings, _run

    missing = tmp_path / "no-model"
    with _ray_data_settings(cluster.data, progress=False, verbose=False):
        ds = cluster.data.from_items([{"text": "w1 w2"}] * 10).map_batches(
            EmbedBatchJob,
            fn_constructor_kwargs={"model": str(missing)},
            batch_format="pyarrow",
            compute=cluster.data.ActorPoolStrategy(size=1),
            num_cpus=1,
        )
        with pytest.raises(ModelError) as error:
            _run(lambda: ds.write_parquet(str(tmp_path / "out")))
    assert str(error.value) == (
        f"model directory {missing} does not exist; give --model a "
        "directory written by `cnnfeat export`"
    )


@needs_ray
def test_output_must_be_new_or_empty(tiny_global: TinyModel, tmp_path: Path) -> None:
    (tmp_path / "in.txt").write_text("w1\n")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "old.parquet").write_bytes(b"")
    with pytest.raises(OutputError, match="is not empty"):
        embed_dataset(str(tmp_path / "in.txt"), str(tmp_path / "out"))
    with pytest.raises(InputError, match="no such file"):
        embed_dataset(str(tmp_path / "missing"), str(tmp_path / "new"))


def test_embed_batch_adds_a_fixed_size_list(tiny_global: TinyModel) -> None:
    """The adapter without a cluster: pyarrow batches and numpy batches, same features."""
    lines = ["w1 w2 w3", "", tiny_line(30, 2), "ÇA w9"]
    expected = Embedder(tiny_global.model_dir, device="cpu").embed(lines)
    embed = EmbedBatch(tiny_global.model_dir, column="utterance", device="cpu")
    table = embed(pa.table({"key": [1, 2, 3, 4], "utterance": lines}))
    assert table.column_names == ["key", "utterance", "features"]
    assert table.schema.field("features").type == pa.list_(pa.float32(), 100)
    assert np.array_equal(features_matrix(table.column("features")), expected)
    batch = embed({"key": np.arange(4), "utterance": np.array(lines, dtype=object)})
    assert batch["features"].shape == (4, 100) and np.array_equal(batch["features"], expected)
    files = {p.name: p.read_bytes() for p in tiny_global.model_dir.iterdir() if p.is_file()}
    dropped = EmbedBatch(files, column="utterance", device="cpu", drop_text=True)
    assert dropped(pa.table({"utterance": lines})).column_names == ["features"]
    sliced = fixed_size_list(expected).slice(1, 2)
    assert np.array_equal(features_matrix(sliced), expected[1:3])


def test_read_blocks_without_a_cluster(tmp_path: Path) -> None:
    """The datasource's reading alone: rows and lines run on across blocks, a compressed file
    is read by its inner suffix, and a column cnnfeat writes itself is refused."""
    import gzip

    from cnnfeat.distributed.sources import read_blocks

    path = tmp_path / "t.csv.gz"
    path.write_bytes(gzip.compress(b'id,text\n1,"a\nb"\n2,c\n3,d\n'))
    with pa.input_stream(str(path)) as stream:
        table = pa.concat_tables(read_blocks(stream, str(path), None, "strict", 2))
    assert table.column_names == [
        "source_file",
        "source_row",
        "source_line",
        "id",
        "__cnnfeat_text__",
    ]
    assert table.column("source_row").to_pylist() == [0, 1, 2]
    assert table.column("source_line").to_pylist() == [2, 4, 5]
    assert table.column("id").to_pylist() == ["1", "2", "3"]
    assert table.column("__cnnfeat_text__").to_pylist() == ["a\nb", "c", "d"]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "a", "source_row": 3}\n')
    with pa.input_stream(str(bad)) as stream, pytest.raises(InputError, match="source_row"):
        list(read_blocks(stream, str(bad), None, "strict", 2))


def test_importing_the_module_does_not_import_ray() -> None:
    code = "import sys, cnnfeat.distributed.embed_dataset; assert 'ray' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


BIG = "UklGR" + "A" * (3 << 20)  # a speech manifest's base64 audio field, 3 MiB


def manifests(folder: Path) -> dict[str, list[str]]:
    """A UTF-16 LE .csv (Excel's "Unicode text" with a BOM) and a UTF-8 .jsonl, each with a record
    over 1 MiB; returns {path: texts} as write_corpus does."""
    folder.mkdir()
    table = f"audio,text\n{BIG},ça va 你好\n,w2 w3\n"
    (folder / "a.csv").write_bytes(b"\xff\xfe" + table.encode("utf-16-le"))
    rows = [{"audio": BIG, "text": "w1 w4"}, {"audio": "", "text": "😀 w5"}]
    (folder / "b.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return {
        str(folder / "a.csv"): ["ça va 你好", "w2 w3"],
        str(folder / "b.jsonl"): ["w1 w4", "😀 w5"],
    }


def test_read_blocks_utf16_and_large_records(tmp_path: Path) -> None:
    from cnnfeat.distributed.sources import read_blocks

    for path, texts in manifests(tmp_path / "corpus").items():
        with pa.input_stream(path) as stream:
            table = pa.concat_tables(read_blocks(stream, path, None, "strict", 1))
        assert table.column("__cnnfeat_text__").to_pylist() == texts
        assert table.column("audio").to_pylist() == [BIG, ""]


@needs_ray
def test_utf16_and_large_records_through_ray(
    cluster, tiny_global: TinyModel, tmp_path: Path
) -> None:
    """A JSONL record over 1 MiB was "invalid JSON" and a UTF-16 file "not valid UTF-8"."""
    texts = manifests(tmp_path / "corpus")
    out = tmp_path / "out"
    summary = embed_dataset(
        str(tmp_path / "corpus"),
        str(out),
        model_dir=tiny_global.model_dir,
        workers=1,
        progress=False,
    )
    assert summary.rows == 4
    ids, features = read_output(out)
    assert_every_row_once(ids, texts)
    expected = cnnfeat_embed(texts, tiny_global.model_dir, tmp_path)
    assert np.abs(features - expected).max() <= ATOL
    assert ids.column("audio").to_pylist() == [BIG, "", BIG, ""]


@needs_ray
@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize("ray_makes_of_it", ["its own error", "sys.exit(1)", "nothing"])
def test_sigterm_is_143_whatever_ray_makes_of_the_interrupt(
    cluster, tiny_global: TinyModel, tmp_path: Path, monkeypatch, ray_makes_of_it: str
) -> None:
    """SIGTERM on a loaded machine gave exit 1 and no cnnfeat line: the interrupt our handler
    raised can land inside Ray, which may wrap it in an error of its own, exit 1 from a handler
    of its own, or drop it (Ray's C++ wait loop) and carry on. The signal, not the exception
    that reaches the CLI, decides: 143, the one line, no output left."""
    write_corpus(tmp_path / "corpus", {"a.txt": 300})
    original = ray.data.Dataset.write_parquet

    def write_parquet(self, *args, **kwargs):
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(10)  # the handler raises in here
        except BaseException:
            if ray_makes_of_it == "its own error":
                raise RuntimeError("Dataset execution failed") from None
            if ray_makes_of_it == "sys.exit(1)":
                sys.exit(1)
        return original(self, *args, **kwargs)  # dropped: the job goes on to the end

    monkeypatch.setattr(ray.data.Dataset, "write_parquet", write_parquet)
    out = tmp_path / "out"
    model = ["--model", str(tiny_global.model_dir), "--workers", "1", "-q"]
    result = CliRunner().invoke(
        app, ["embed-dataset", str(tmp_path / "corpus"), "-o", str(out), *model]
    )
    assert result.exit_code == 143, result.output
    assert result.stderr.splitlines() == [
        "cnnfeat: error: terminated; no partial output was written"
    ]
    assert not out.exists()


@pytest.mark.parametrize("cpus", [1, 2, 3, 8, 16, 100])
def test_reading_embedding_and_writing_fit_at_once(cpus: int) -> None:
    """40,000 rows took 124 s on 2 cores: both embedding workers (one CPU each, one per core)
    waited while the reading task held a CPU, then one ran alone. By default every worker
    starts beside a reading and a writing task, with 7 workers in 8 CPUs (2 on 2 cores)."""
    from cnnfeat.distributed.embed_dataset import _IO_CPUS, _budget

    budget = _budget(None, None, {"CPU": cpus})
    assert budget.workers == -(-cpus * 7 // 8)
    held = budget.workers * budget.worker_cpus + 2 * budget.io_tasks * _IO_CPUS
    assert held <= cpus
    assert 0.5 <= budget.worker_cpus <= 1
    with pytest.raises(CnnfeatError, match=rf"--workers {2 * cpus + 1}: the Ray cluster has"):
        _budget(2 * cpus + 1, None, {"CPU": cpus})


# --- odd input and signals ----------------------------------------------------------------


def test_duplicate_column_names_are_an_error(tmp_path: Path) -> None:
    """From the odd-input and signals round of embed-dataset (issue 12)."""
    csv = tmp_path / "dup.csv"
    csv.write_text("id,text,id\n1,hello,2\n")
    twice = r"dup.csv:1: column names \['id'\] occur more than once"
    with open(csv, "rb") as handle, pytest.raises(InputError, match=twice):
        list(read_blocks(handle, str(csv), None, "strict", 100))
    parquet = tmp_path / "dup.parquet"
    table = pa.Table.from_arrays(
        [pa.array(["a"]), pa.array(["b"]), pa.array([1])], names=["text", "x", "x"]
    )
    pq.write_table(table, parquet)
    with pytest.raises(InputError, match=r"column names \['x'\] occur more than once"):
        list(read_blocks(str(parquet), str(parquet), None, "strict", 100))


def test_a_null_text_in_parquet_is_an_error_naming_the_row(tmp_path: Path) -> None:
    """Not an utterance: it would reach the embedder as None (a worker's internal error).
    From the odd-input and signals round of embed-dataset (issue 12)."""
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"text": ["a", "b", None, "d"], "id": [1, 2, 3, 4]}), path)
    with pytest.raises(InputError, match=r"t.parquet: row 2: column 'text' is null"):
        list(read_blocks(str(path), str(path), None, "strict", 100))


def test_a_symlink_loop_lists_every_file_once(tmp_path: Path) -> None:
    """From the odd-input and signals round of embed-dataset (issue 12)."""
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
    """From the odd-input and signals round of embed-dataset (issue 12)."""
    (tmp_path / "a.txt").write_text("hello\n")
    line = one_error_line(invoke("embed-dataset", tmp_path / "a.txt", "-o", uri, "-q"))
    assert "internal error" not in line and uri in line


def ray_processes() -> set[int]:
    listing = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout
    names = ("raylet", "gcs_server", "ray::", "default_worker")
    return {
        int(line.split()[0]) for line in listing.splitlines()[1:] if any(k in line for k in names)
    }


def embed_dataset_child(source: Path, out: Path, model: Path, *extra: str) -> subprocess.Popen:
    """The installed `cnnfeat` script, stdout and stderr pipes (no terminal)."""
    script = Path(sys.executable).with_name("cnnfeat")
    return subprocess.Popen(
        [
            str(script),
            "embed-dataset",
            str(source),
            "-o",
            str(out),
            "--model",
            str(model),
            "--workers",
            "1",
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


@needs_ray
@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_success_prints_nothing_of_rays_own(tiny_global: TinyModel, tmp_path: Path) -> None:
    """From the odd-input and signals round of embed-dataset (issue 12)."""
    (tmp_path / "a.txt").write_text("w1 w2\nw3\n")
    child = embed_dataset_child(tmp_path / "a.txt", tmp_path / "out", tiny_global.model_dir, "-q")
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
    child = embed_dataset_child(tmp_path / "a.txt", tmp_path / "out", tiny_global.model_dir)
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
    ending in "Dataset ... execution failed"); on a quiet one 143 and the one line.
    From the odd-input and signals round of embed-dataset (issue 12)."""
    source = tmp_path / "big.txt"
    source.write_text("w1 w2 w3 w4 w5 w6\n" * 400_000)
    with busy_loops(load):
        child = embed_dataset_child(
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


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            {"encoding_errors": "ignore"},
            "encoding_errors must be one of strict, replace, got 'ignore'",
        ),
        ({"workers": 0}, "workers must be at least 1, got 0"),
        ({"workers": 1.5}, "workers must be an integer, got 1.5"),
    ],
)
def test_api_arguments_are_named_as_the_api_names_them(
    tmp_path: Path, arguments: dict, message: str
) -> None:
    """The Python API said "--encoding-errors must be one of" and "--workers must be at least
    1": options it does not have (found by the second breaker). Checked before Ray loads."""
    from cnnfeat.contract.errors import ArgumentError

    with pytest.raises(ArgumentError) as info:
        embed_dataset(str(tmp_path / "in.txt"), str(tmp_path / "out"), **arguments)
    assert str(info.value) == message
    assert not (tmp_path / "out").exists()
