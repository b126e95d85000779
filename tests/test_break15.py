"""Break-test 15: `cnnfeat info`'s seeds line on damaged cards, the recorded train command
parsing back to the run's config, and the root help."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import pytest
from conftest import invoke, one_error_line

from cnnfeat.contract.layout import CARD_FILE
from cnnfeat.runtime.model_dir import default_model_dir


@pytest.fixture(scope="module")
def shipped_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return Path(shutil.copytree(default_model_dir(), tmp_path_factory.mktemp("b15") / "m"))


def _seeds_output(model: Path, seeds: object) -> list[str]:
    """The `seeds` lines `cnnfeat info` prints for the shipped card with this record (json
    writes float('nan') and inf as NaN and Infinity, which json.loads accepts back)."""
    card = json.loads((default_model_dir() / CARD_FILE).read_text(encoding="utf-8"))
    card["seeds"] = seeds
    (model / CARD_FILE).write_text(json.dumps(card), encoding="utf-8")
    result = invoke("info", model)
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output and "internal error" not in result.output
    return [line for line in result.stdout.splitlines() if line.startswith("seeds")]


def _release() -> dict:
    card = json.loads((default_model_dir() / CARD_FILE).read_text(encoding="utf-8"))
    return card["seeds"]


def _run(index: int, **fields: object) -> dict:
    seeds = _release()
    seeds["runs"][index].update(fields)
    return seeds


DAMAGED = {
    "f1 true": _run(0, test_weighted_f1=True),
    "f1 NaN": _run(0, test_weighted_f1=float("nan")),
    "f1 huge int": _run(0, test_weighted_f1=10**400),
    "f1 above 1": _run(0, test_weighted_f1=56.6),
    "f1 negative": _run(0, test_weighted_f1=-3),
    "seed missing": _run(0, seed=None),
    "seed nested": _run(0, seed={"a": [1, {"b": 2}]}),
    "seed with newline": _run(0, seed="1\nforged: line"),
    "seed true": _run(0, seed=True),
    "seeds repeated": _run(1, seed=1),
    "a run not an object": {**_release(), "runs": [*_release()["runs"], 5]},
    "shipped seed not run": {**_release(), "shipped_seed": 99},
    "shipped seed nested": {**_release(), "shipped_seed": [4, {"x": 2}]},
    "shipped seed true": {**_release(), "shipped_seed": True},
    "shipped seed missing": {k: v for k, v in _release().items() if k != "shipped_seed"},
}


@pytest.mark.parametrize("name", DAMAGED)
def test_info_leaves_out_a_damaged_seeds_record(shipped_copy: Path, name: str) -> None:
    """A release record with any run, seed or score out of shape gives no seeds line: a half
    shown or wrong one (a bool as 1.0000, a dropped run, a shipped seed never trained) would
    mislead, and a huge integer score was an internal error."""
    seeds = copy.deepcopy(DAMAGED[name])
    assert _seeds_output(shipped_copy, seeds) == []


def test_info_seeds_mean_and_std_are_the_runs_own(shipped_copy: Path) -> None:
    """mean ± std is computed from the per-seed scores printed beside it, so a damaged stored
    mean (a string, true, infinity, 0.9) can neither hide nor contradict them."""
    want = _release()
    (line,) = _seeds_output(shipped_copy, want)
    summary = f"{want['test_weighted_f1_mean']:.4f} ± {want['test_weighted_f1_std']:.4f}, "
    assert summary in line
    for mean, std in (("0.5", None), (True, False), (0.9, -1.0), (float("inf"), 0.1)):
        seeds = {**want, "test_weighted_f1_mean": mean, "test_weighted_f1_std": std}
        (damaged,) = _seeds_output(shipped_copy, seeds)
        assert damaged == line


def test_info_seeds_line_of_many_runs_stays_short(shipped_copy: Path) -> None:
    """5000 runs give one line of a few hundred characters, not every score."""
    runs = [{"seed": s, "test_weighted_f1": 0.5} for s in range(5000)]
    (line,) = _seeds_output(shipped_copy, {"runs": runs, "shipped_seed": 7})
    assert len(line) < 400, line
    assert "(seeds 0, 1, 2, 3, 4, 5, 6, 7, 8, 9 and 4990 more)" in line and line.endswith(
        "this model is seed 7's run"
    )


@pytest.mark.slow
def test_a_runs_command_names_its_seed_and_parses_back_with_odd_names(tmp_path: Path) -> None:
    """A run at the default seed recorded no --seed, so after a change of that default its
    reproduce line would train another run (release.py writes the seed; --threads, which the
    seed's reproducibility also depends on, was written out). Paths and column names with
    spaces, quotes, unicode, '=' and leading dashes parse back to the same config."""
    pytest.importorskip("torch", reason="the [train] extra (torch) is not installed")
    import csv
    import shlex

    from helpers import write_dataset, write_vectors
    from typer.main import get_command

    from cnnfeat.cli import app
    from cnnfeat.options import config_values
    from cnnfeat.training.config import TrainConfig

    root = tmp_path / "a b 'q' \"dq\" ü=x" / "-lead"
    root.mkdir(parents=True)
    write_dataset(root / "plain.csv", 40, seed=1)
    with (root / "plain.csv").open(encoding="utf-8") as f:
        rows = list(csv.reader(f))
    rows[0] = ["Sr No.", "-text=col 'ü'", "--label"]
    with (root / "-t=1.csv").open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(rows)
    write_vectors(root / "-v=1 ü.txt")
    run = root / "-run"
    result = invoke("train", "--train", root / "-t=1.csv", "--out", run, "--vectors",
                    root / "-v=1 ü.txt", "--text-column", "-text=col 'ü'", "--label-column",
                    "--label", "--epochs", "1", "--batch-size", "16", "--lr", "1e-05",
                    "--dropout", "0.30000000000000004", "--max-len", "12", "-q")  # fmt: skip
    assert result.exit_code == 0, result.output
    config = json.loads((run / "metrics.json").read_text(encoding="utf-8"))["config"]
    args = shlex.split(config["command"])
    assert args[args.index("--seed") + 1] == "1"
    train = get_command(app).commands["train"]  # type: ignore[attr-defined]
    parsed = config_values({k: v for k, v in train.make_context("train", args[2:]).params.items()
                            if k != "quiet"})  # fmt: skip
    assert TrainConfig(**parsed, command=config["command"]) == TrainConfig(**config)


@pytest.mark.parametrize(
    "group, name, value",
    [
        ("training", "train_seconds", 10**400),
        ("export", "parity_max_abs_diff", 10**400),
        ("export", "parity_max_abs_diff", float("nan")),
        ("metrics", "dev", {"weighted_f1": 10**400, "macro_f1": 0.3, "accuracy": 0.5}),
        ("metrics", "test", {"weighted_f1": float("inf"), "macro_f1": 0.3, "accuracy": 0.5}),
    ],
    ids=["seconds-huge-int", "parity-huge-int", "parity-nan", "score-huge-int", "score-inf"],
)
def test_info_refuses_a_number_no_float_holds(
    shipped_copy: Path, group: str, name: str, value: object
) -> None:
    """A card number past float range (an integer of 400 digits) was an internal error in
    `cnnfeat info` (OverflowError formatting it), and NaN or Infinity (which json.loads takes)
    was printed as a score or a parity bound: both are a damaged card, one error line."""
    card = json.loads((default_model_dir() / CARD_FILE).read_text(encoding="utf-8"))
    card[group][name] = value
    (shipped_copy / CARD_FILE).write_text(json.dumps(card), encoding="utf-8")
    line = one_error_line(invoke("info", shipped_copy))
    assert f"field '{group}." in line and "not a finite number" in line, line
