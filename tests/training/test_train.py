"""`cnnfeat train` (training/train.py): a dev or test set that is not held out, and the first
Ctrl-C that stops after the current epoch and keeps the best epoch so far.

Both came from a round of trying the commands as careful users would: a `--test` that was the
`--train` file was reported and recorded as a held-out score, and Ctrl-C lost every epoch
trained. (The Ctrl-C of a real child process: tests/test_interrupt.py.)
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
import torch
from conftest import invoke, one_error_line

pytest.importorskip("torch", reason="training needs the [train] extra (torch)")

WORDS = ["good", "bad", "fine", "awful", "ok", "meh", "great", "poor"]


def vectors(tmp_path: Path) -> Path:
    path = tmp_path / "vectors.txt"
    lines = [
        f"{w} {' '.join(str((i * 7 + d) % 11 / 10) for d in range(4))}\n"
        for i, w in enumerate(WORDS)
    ]
    path.write_text("".join(lines), encoding="utf-8")
    return path


def table(path: Path, rows: list[tuple[str, str]]) -> Path:
    path.write_text("text,label\n" + "".join(f"{t},{lab}\n" for t, lab in rows), encoding="utf-8")
    return path


def rows(n: int, start: int = 0) -> list[tuple[str, str]]:
    """n distinct labelled rows: positive words -> pos, negative -> neg."""
    out = []
    for i in range(start, start + n):
        pos = i % 2 == 0
        words = ("good", "fine", "great", "ok") if pos else ("bad", "awful", "poor", "meh")
        out.append((f"{words[i % 4]} {words[(i // 4) % 4]} {i}", "pos" if pos else "neg"))
    return out


def train(tmp_path: Path, *args: object, epochs: int = 2):
    options = ["--out", tmp_path / "run", "--vectors", vectors(tmp_path), "--epochs", epochs]
    options += ["--max-len", 10, "--vocab-top-n", 0, "-q"]
    return invoke("train", *args, *options)


def metrics(tmp_path: Path) -> dict:
    return json.loads((tmp_path / "run" / "metrics.json").read_text())


# --- dev and test that are not held out ------------------------------------------------------


def test_test_that_is_the_training_file_is_not_held_out(tmp_path: Path) -> None:
    data = table(tmp_path / "train.csv", rows(40))
    result = train(tmp_path, "--train", data, "--test", data)
    assert result.exit_code == 0, result.output
    m = metrics(tmp_path)
    expected = {"share": 1.0, "rows": 40, "of": 40, "same_file": True, "train": str(data)}
    assert m["test_overlaps_train"] == expected
    assert m["dev_overlaps_train"] is None  # dev was split from --train: disjoint rows
    lines = result.stderr.splitlines()
    assert any(line.startswith("test (not held out): weighted-F1 ") for line in lines), lines
    note = (
        "test is not held out: it is the training file; 100% of its rows (40 of 40) are also "
        "training rows (same text and label), so its scores do not measure the model on "
        "unseen data"
    )
    assert note in lines
    report = (tmp_path / "run" / "report.html").read_text()
    assert "<th>test (not held out)</th>" in report
    assert "data-key='test_overlaps_train'>test is not held out" in report


def test_test_that_holds_the_training_rows_is_not_held_out(tmp_path: Path) -> None:
    """A copy of the training rows in another file (shuffled, plus a few of its own): caught by
    the rows, not the path. Dev given with --dev is checked the same way."""
    train_rows = rows(40)
    data = table(tmp_path / "train.csv", train_rows)
    test = table(tmp_path / "test.csv", train_rows[::-1][:30] + rows(10, start=100))
    dev = table(tmp_path / "dev.csv", train_rows[:6] + rows(4, start=200))
    result = train(tmp_path, "--train", data, "--dev", dev, "--test", test)
    assert result.exit_code == 0, result.output
    m = metrics(tmp_path)
    common = {"same_file": False, "train": str(data)}
    assert m["test_overlaps_train"] == {"share": 0.75, "rows": 30, "of": 40, **common}
    assert m["dev_overlaps_train"] == {"share": 0.6, "rows": 6, "of": 10, **common}
    assert "dev (not held out): weighted-F1" in result.stderr
    assert "test is not held out: 75% of its rows (30 of 40) are also training rows" in (
        result.stderr
    )


def test_a_held_out_test_is_reported_as_before(tmp_path: Path) -> None:
    """Natural overlap (short stock utterances: MELD's test shares 11.6% of its rows with its
    train) is not flagged: the limit is more than half."""
    train_rows = rows(40)
    data = table(tmp_path / "train.csv", train_rows)
    test = table(tmp_path / "test.csv", train_rows[:10] + rows(10, start=100))  # 50%
    result = train(tmp_path, "--train", data, "--test", test)
    assert result.exit_code == 0, result.output
    assert metrics(tmp_path)["test_overlaps_train"] is None
    assert "not held out" not in result.stderr
    assert any(line.startswith("test: weighted-F1 ") for line in result.stderr.splitlines())


@pytest.mark.slow
def test_info_does_not_present_it_as_held_out(tmp_path: Path) -> None:
    pytest.importorskip("onnx", reason="exporting needs the [train] extra (onnx)")
    data = table(tmp_path / "train.csv", rows(40))
    assert train(tmp_path, "--train", data, "--test", data).exit_code == 0
    exported = invoke("export", tmp_path / "run", "--out", tmp_path / "model")
    assert exported.exit_code == 0, exported.output
    card = json.loads((tmp_path / "model" / "cnnfeat.json").read_text())
    assert card["training"]["test_overlaps_train"]["same_file"] is True
    shown = invoke("info", tmp_path / "model")
    assert shown.exit_code == 0, shown.output
    lines = shown.stdout.splitlines()
    assert any(line.startswith("test (not held out): weighted-F1 ") for line in lines), lines
    assert not any(line.startswith("test: weighted-F1") for line in lines)
    assert any(line.startswith("test is not held out: it is the training file;") for line in lines)


# --- the first Ctrl-C stops after the current epoch -------------------------------------------


def interrupt_during_epoch(monkeypatch: pytest.MonkeyPatch, epoch: int, times: int = 1) -> None:
    """Send SIGINT (`times` times) to this process while epoch `epoch` is evaluated on dev,
    i.e. before that epoch has finished."""
    from cnnfeat.training import train as train_module

    calls = {"n": 0}
    report = train_module.classification_report

    def evaluated(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == epoch:
            for _ in range(times):
                os.kill(os.getpid(), signal.SIGINT)
        return report(*args, **kwargs)

    monkeypatch.setattr(train_module, "classification_report", evaluated)


def test_first_ctrl_c_keeps_the_best_epoch_so_far(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = table(tmp_path / "train.csv", rows(40))
    interrupt_during_epoch(monkeypatch, epoch=3)
    result = train(tmp_path, "--train", data, "--patience", 100, epochs=50)
    assert result.exit_code == 0, result.output
    m = metrics(tmp_path)
    assert m["interrupted_at_epoch"] == 3
    assert [h["epoch"] for h in m["history"]] == [1, 2, 3]  # epoch 3 finished, no 4th
    assert m["best_epoch"] in (1, 2, 3)
    asked = (
        "cnnfeat: interrupted: stopping after epoch 3 and saving the best epoch so far "
        "(Ctrl-C again to abort without saving)"
    )
    done = (
        f"training was interrupted (Ctrl-C) after epoch 3; the best epoch so far (epoch "
        f"{m['best_epoch']}) was kept"
    )
    assert asked in result.stderr and done in result.stderr
    saved = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)
    assert saved["interrupted_at_epoch"] == 3
    report = (tmp_path / "run" / "report.html").read_text()
    assert "data-key='interrupted_at_epoch' data-value='3'>training was interrupted" in report
    # a run that was not interrupted says so too
    assert metrics_of_a_full_run(tmp_path, data)["interrupted_at_epoch"] is None


def metrics_of_a_full_run(tmp_path: Path, data: Path) -> dict:
    out = tmp_path / "full"
    out.mkdir()
    assert train(out, "--train", data).exit_code == 0
    return metrics(out)


def test_ctrl_c_before_any_epoch_finished_aborts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing to save yet: exit 130 and nothing written, as before; an old run stays."""
    data = table(tmp_path / "train.csv", rows(40))
    old = tmp_path / "run"
    old.mkdir()
    (old / "checkpoint.pt").write_bytes(b"yesterday's run")
    interrupt_during_epoch(monkeypatch, epoch=1)
    result = train(tmp_path, "--train", data, epochs=50)
    assert result.exit_code == 130
    assert result.stderr.splitlines()[-1] == (
        "cnnfeat: error: interrupted; no partial output was written"
    )
    assert [p.name for p in old.iterdir()] == ["checkpoint.pt"]
    assert (old / "checkpoint.pt").read_bytes() == b"yesterday's run"


def test_second_ctrl_c_aborts_with_nothing_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = table(tmp_path / "train.csv", rows(40))
    interrupt_during_epoch(monkeypatch, epoch=2, times=2)
    result = train(tmp_path, "--train", data, epochs=50)
    assert result.exit_code == 130
    assert "stopping after epoch 2" in result.stderr
    assert result.stderr.splitlines()[-1] == (
        "cnnfeat: error: interrupted; no partial output was written"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["train.csv", "vectors.txt"]


def test_a_refused_file_is_still_one_line(tmp_path: Path) -> None:
    """The overlap check reads nothing new: a missing --test is the reader's one line."""
    data = table(tmp_path / "train.csv", rows(10))
    line = one_error_line(train(tmp_path, "--train", data, "--test", tmp_path / "no.csv"))
    assert "no.csv: no such file" in line
