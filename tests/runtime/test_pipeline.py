"""The streaming pipeline: chunked, tokenised ahead in a worker, batched by tokens.

Output equals embedding each line alone and keeps input order across chunk boundaries; the
worker is never more than `depth` chunks ahead; errors from the reader or the tokenizer arrive
in order and leave no thread behind.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from helpers import TinyModel, invoke, one_error_line, tiny_line, write

import cnnfeat
from cnnfeat.contract.batching import TokenRows, pad_batch, pad_rows, plan_batches
from cnnfeat.contract.errors import InputError, OutputError
from cnnfeat.contract.spec import ModelSpec
from cnnfeat.runtime.embedder import Embedder
from cnnfeat.runtime.pipeline import embed_chunks, embed_file
from cnnfeat.runtime.writing import output_for

ATOL = 1e-5


def varied_lines(n: int) -> list[str]:
    """Distinct lines of lengths 0..~70 words, in no particular length order."""
    rng = np.random.default_rng(n)
    lines = [tiny_line(int(rng.integers(0, 70)), start=i) for i in range(n)]
    lines[::17] = [""] * len(lines[::17])
    return lines


@pytest.fixture(scope="module")
def alone(tiny: TinyModel) -> tuple[Embedder, list[str], np.ndarray]:
    embedder = Embedder(tiny.model_dir, device="cpu")
    lines = varied_lines(150)
    return embedder, lines, np.stack([embedder.embed([line])[0] for line in lines])


@pytest.mark.parametrize(("chunk_size", "depth"), [(1, 1), (7, 2), (64, 3), (1000, 1)])
def test_file_output_equals_one_line_at_a_time(
    alone, tmp_path: Path, chunk_size: int, depth: int
) -> None:
    embedder, lines, want = alone
    source = tmp_path / "lines.txt"
    source.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    summary = embed_file(
        str(source),
        output_for(str(tmp_path / "out.npy")),
        embedder,
        chunk_size=chunk_size,
        depth=depth,
        progress=False,
    )
    got = np.load(tmp_path / "out.npy")
    assert summary.rows == len(lines) and got.shape == want.shape
    assert np.abs(got - want).max() <= ATOL


@pytest.mark.parametrize(("batch_size", "max_tokens"), [(1, 1), (3, 40), (256, 64), (1000, 10**6)])
def test_batching_never_changes_rows(alone, batch_size: int, max_tokens: int) -> None:
    embedder, lines, want = alone
    embedder = Embedder(
        embedder.model_dir.path, device="cpu", batch_size=batch_size, max_tokens=max_tokens
    )
    assert np.abs(embedder.embed(lines) - want).max() <= ATOL
    assert np.abs(embedder.embed(lines[::-1]) - want[::-1]).max() <= ATOL


def test_chunks_come_back_in_order_and_the_worker_stays_bounded(alone) -> None:
    embedder, lines, want = alone
    chunks = [lines[i : i + 10] for i in range(0, len(lines), 10)]
    pulled = 0

    def source():
        nonlocal pulled
        for chunk in chunks:
            pulled += 1
            yield chunk

    for depth in (1, 2, 4):
        pulled, got = 0, []
        for i, (chunk, features) in enumerate(embed_chunks(embedder, source(), depth)):
            assert chunk is chunks[i]
            assert pulled <= i + 1 + depth  # at most `depth` chunks beyond the current one
            got.append(features)
        assert np.abs(np.concatenate(got) - want).max() <= ATOL


def test_worker_really_runs_ahead(alone) -> None:
    """The tokenizer works on the next chunk while the consumer still holds the current one."""
    embedder, lines, _ = alone
    started = threading.Event()

    class Watched(Embedder):
        def token_rows(self, chunk):
            if chunk[0] == "second":
                started.set()
            return super().token_rows(chunk)

    watched = Watched(embedder.model_dir.path, device="cpu")
    stream = embed_chunks(watched, iter([["first"], ["second"], ["third"]]), depth=1)
    next(stream)
    assert started.wait(timeout=30)
    assert len(list(stream)) == 2


def test_reader_error_arrives_after_the_good_chunks(alone) -> None:
    embedder = alone[0]

    def source():
        yield ["w1 w2"]
        yield ["w3"]
        raise InputError("bad bytes", "x.txt", 3)

    before = threading.active_count()
    seen = []
    with pytest.raises(InputError, match="x.txt:3"):
        for chunk, _ in embed_chunks(embedder, source(), depth=2):
            seen.append(chunk)
    assert seen == [["w1 w2"], ["w3"]]
    assert threading.active_count() == before


def test_tokenizer_error_propagates_and_stopping_early_leaves_no_thread(alone) -> None:
    embedder = alone[0]
    before = threading.active_count()
    with pytest.raises(InputError, match="line 2 is int"):
        list(embed_chunks(embedder, iter([["fine"], ["ok", 3]]), depth=2))
    stream = embed_chunks(embedder, iter([[tiny_line(5, i)] for i in range(50)]), depth=3)
    next(stream)
    stream.close()
    assert threading.active_count() == before


def test_plan_batches_respects_the_budget() -> None:
    spec = ModelSpec(vocab_size=10, embedding_dim=4, max_len=64)
    rng = np.random.default_rng(0)
    lengths = np.concatenate([rng.integers(0, 80, size=300), [0, 0, 64, 500]])
    batches = plan_batches(lengths, spec, max_rows=32, max_tokens=300)
    covered = np.sort(np.concatenate(batches))
    np.testing.assert_array_equal(covered, np.arange(len(lengths)))  # every row exactly once
    for rows in batches:
        width = pad_batch([[1] * int(n) for n in lengths[rows]], spec).shape[1]
        assert len(rows) <= 32
        assert len(rows) == 1 or len(rows) * width <= 300
    widths = [min(max(int(lengths[b].max()), spec.min_len), spec.max_len) for b in batches]
    assert widths == sorted(widths)  # shortest first: each batch pads to its own longest row


def test_plan_batches_counts_short_rows_at_their_padded_width() -> None:
    """Rows shorter than the widest filter are padded to it (5 here), so 20 tokens of budget
    hold 4 empty rows, not 20."""
    spec = ModelSpec(vocab_size=10, embedding_dim=4, max_len=64)
    batches = plan_batches(np.array([0, 1, 0, 2] * 10), spec, max_rows=1000, max_tokens=20)
    assert [len(rows) for rows in batches] == [4] * 10


def test_stopping_early_cancels_the_chunks_tokenised_ahead(alone) -> None:
    """Chunks queued in the worker when the consumer stops are dropped, not tokenised."""
    embedder, _, _ = alone
    started, release, tokenised = threading.Event(), threading.Event(), []

    class Slow(Embedder):
        def token_rows(self, chunk):
            tokenised.append(chunk[0])
            if chunk[0] == "c1":
                started.set()
                release.wait(timeout=30)  # c2 and c3 stay queued behind it
            return super().token_rows(chunk)

    slow = Slow(embedder.model_dir.path, device="cpu")
    stream = embed_chunks(slow, iter([[f"c{i}"] for i in range(6)]), depth=3)
    next(stream)
    assert started.wait(timeout=30)
    threading.Timer(0.3, release.set).start()
    stream.close()
    assert tokenised == ["c0", "c1"]


def test_pad_rows_matches_pad_batch(tiny: TinyModel) -> None:
    rows = [
        [int(i) for i in np.random.default_rng(n).integers(2, 200, size=n)]
        for n in (0, 3, 1, 70, 5, 0, 12)
    ]
    tokens = TokenRows.from_lists(rows)
    starts = tokens.starts
    for pick in ([0], [1, 2], [3, 0, 6], list(range(len(rows)))):
        want = pad_batch([rows[i] for i in pick], tiny.spec)
        np.testing.assert_array_equal(pad_rows(tokens, starts, np.array(pick), tiny.spec), want)
    empty = TokenRows.from_lists([[], []])
    np.testing.assert_array_equal(
        pad_rows(empty, empty.starts, np.array([0, 1]), tiny.spec), pad_batch([[], []], tiny.spec)
    )


def test_embed_ids_refuses_ids_outside_the_vocabulary(tiny: TinyModel) -> None:
    embedder = Embedder(tiny.model_dir, device="cpu")
    good = embedder.embed_ids([[2, 3], []])
    assert good.shape == (2, 100)
    for bad in ([[2, tiny.spec.vocab_size]], [[-1]]):
        with pytest.raises(InputError, match="token ids"):
            embedder.embed_ids(bad)


# --- the progress bar counts rows ---------------------------------------------------------


def test_the_bar_counts_rows_as_the_summary_does(
    tiny_global: TinyModel, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # 26 rows on more lines: quoted fields hold line breaks, so lines or bytes would not match.
    rows = [f'"{tiny_line(3, i)}\n{tiny_line(2, i)}"' for i in range(25)] + ['""']
    source = write(tmp_path, "t.csv", "text\n" + "\n".join(rows) + "\n")
    embedder = Embedder(tiny_global.model_dir, device="cpu")
    summary = embed_file(
        str(source),
        output_for(str(tmp_path / "f.npy")),
        embedder,
        column="text",
        chunk_size=4,
        progress=True,
    )
    err = capsys.readouterr().err
    counts = [int(n) for n in re.findall(r"embed: (\d+)utt ", err)]
    assert counts and counts[-1] == summary.rows == 26, err
    assert counts == sorted(counts) and "utt/s]" in err
    assert f"embedded {counts[-1]} rows" in summary.line()


def test_no_bar_when_off(
    tiny_global: TinyModel, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write(tmp_path, "t.txt", "w1\nw2\n")
    embedder = Embedder(tiny_global.model_dir, device="cpu")
    embed_file(str(source), output_for(str(tmp_path / "f.npy")), embedder, progress=False)
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("name", ["model.onnx", "cnnfeat.json"])
def test_embed_never_writes_over_the_model_it_runs(
    tiny_global: TinyModel, tmp_path: Path, name: str
) -> None:
    """Found by breaking the refactor's same-file checks: `cnnfeat embed in.txt -o x.npy --model
    M` with x.npy a symlink to M/model.onnx replaced the model it was running (tokenize and
    conformance refused; embed and the API's embed_file did not), and `-o - >> M/cnnfeat.json`
    appended features to the card."""
    model = Path(shutil.copytree(tiny_global.model_dir, tmp_path / "model"))
    before = (model / name).read_bytes()
    source = write(tmp_path, "in.txt", tiny_line(3) + "\n")
    link = tmp_path / "x.npy"
    link.symlink_to(model / name)
    line = one_error_line(invoke("embed", source, "-o", link, "--model", model))
    assert line == (
        f"cnnfeat: error: {link} is part of the model directory {model}; it was left untouched; "
        "choose another -o"
    )
    with pytest.raises(OutputError, match="is part of the model directory"):
        cnnfeat.embed_file(source, link, model=model)
    command = [sys.executable, "-m", "cnnfeat", "embed", str(source), "-o", "-"]
    with open(model / name, "ab") as stdout:  # `-o - >> MODEL/NAME`
        check = subprocess.run(
            [*command, "--model", str(model)],
            stdout=stdout,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    assert check.returncode == 1, check.stderr
    assert "standard output is part of the model directory" in check.stderr
    assert (model / name).read_bytes() == before
