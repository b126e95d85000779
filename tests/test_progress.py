"""`cnnfeat embed`'s progress bar counts utterances (rows), as its summary line does."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import TinyModel, tiny_line, write

from cnnfeat.runtime.embedder import Embedder
from cnnfeat.runtime.pipeline import embed_file
from cnnfeat.runtime.writing import output_for


def test_the_bar_counts_rows_as_the_summary_does(
    tiny_global: TinyModel, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # 26 rows on more lines: quoted fields hold line breaks, so lines or bytes would not match.
    rows = [f'"{tiny_line(3, i)}\n{tiny_line(2, i)}"' for i in range(25)] + ['""']
    source = write(tmp_path, "t.csv", "text\n" + "\n".join(rows) + "\n")
    embedder = Embedder(tiny_global.model_dir, device="cpu")
    summary = embed_file(str(source), output_for(str(tmp_path / "f.npy")), embedder, column="text",
                         chunk_size=4, progress=True)  # fmt: skip
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
