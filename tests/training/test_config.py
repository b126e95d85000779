"""training/config.py: TrainConfig resolves max_len from the spec's per-pool default, and
`train_command` is the one builder of the recorded `cnnfeat train` line (the CLI and
export/release.py both used to build their own)."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest
from helpers import invoke

from cnnfeat.contract.errors import ArgumentError
from cnnfeat.training.config import (
    RECIPE_FIELDS,
    TrainConfig,
    check_seeds,
    seed_list,
    train_command,
)


def parse_back(command: str) -> TrainConfig:
    """`command` parsed by `cnnfeat train`'s own options, as a TrainConfig."""
    from typer.main import get_command

    from cnnfeat.cli import app
    from cnnfeat.options import config_values

    args = shlex.split(command)
    assert args[:2] == ["cnnfeat", "train"]
    train = get_command(app).commands["train"]  # type: ignore[attr-defined]
    params = train.make_context("train", args[2:]).params
    return TrainConfig(**config_values({k: v for k, v in params.items() if k != "quiet"}))


@pytest.mark.parametrize(("pool", "max_len"), [("global", 512), ("window", 50)])
def test_max_len_is_resolved_never_null(pool: str, max_len: int) -> None:
    """The card recorded `training.config.max_len: null` next to `spec.max_len: 512`."""
    config = TrainConfig(train="t", out="o", pool=pool)
    assert config.max_len == max_len == config.resolved_max_len
    assert TrainConfig(train="t", out="o", pool=pool, max_len=77).max_len == 77


def test_train_command_writes_out_the_recipe_and_parses_back() -> None:
    config = TrainConfig(train="a b.csv", out="-run", pool="window", label_column="Sentiment")
    command = train_command(config)
    args = shlex.split(command)
    assert args[args.index("--max-len") + 1] == "50"
    assert args[args.index("--seed") + 1] == "1"
    for name in RECIPE_FIELDS:
        flag = name.replace("_", "-")
        assert f"--{flag}" in args or f"--no-{flag}" in args, name
    assert args[args.index("--label-column") + 1] == "Sentiment"  # given: written
    assert "--encoding-errors" not in args and "--dev" not in args  # defaults: left out
    assert parse_back(command) == config


def test_train_command_order_is_data_then_seed_then_recipe() -> None:
    args = shlex.split(train_command(TrainConfig(train="t", out="o", dev="d", test="x")))
    flags = [a for a in args if a.startswith("--")]
    assert flags[:5] == ["--train", "--dev", "--test", "--out", "--seed"]


# --- `cnnfeat info`'s seeds line on damaged cards; numbers no float holds -----------------


@pytest.mark.slow
def test_a_runs_command_names_its_seed_and_parses_back_with_odd_names(tmp_path: Path) -> None:
    """A run at the default seed recorded no --seed, so after a change of that default its
    reproduce line would train another run (release.py writes the seed; --threads, which the
    seed's reproducibility also depends on, was written out). Paths and column names with
    spaces, quotes, unicode, '=' and leading dashes parse back to the same config.
    Found by trying to break the seeds line, the recorded train command and the root help."""
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
    result = invoke(
        "train",
        "--train",
        root / "-t=1.csv",
        "--out",
        run,
        "--vectors",
        root / "-v=1 ü.txt",
        "--text-column",
        "-text=col 'ü'",
        "--label-column",
        "--label",
        "--epochs",
        "1",
        "--batch-size",
        "16",
        "--lr",
        "1e-05",
        "--dropout",
        "0.30000000000000004",
        "--max-len",
        "12",
        "-q",
    )
    assert result.exit_code == 0, result.output
    config = json.loads((run / "metrics.json").read_text(encoding="utf-8"))["config"]
    args = shlex.split(config["command"])
    assert args[args.index("--seed") + 1] == "1"
    train = get_command(app).commands["train"]  # type: ignore[attr-defined]
    parsed = config_values(
        {k: v for k, v in train.make_context("train", args[2:]).params.items() if k != "quiet"}
    )
    assert TrainConfig(**parsed, command=config["command"]) == TrainConfig(**config)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "whole numbers separated by commas"),
        ("a,b", "whole numbers separated by commas"),
        ("1,,2", "whole numbers separated by commas"),
        ("+3", "whole numbers separated by commas"),
        ("1_000", "whole numbers separated by commas"),
        ("\u0661,\u0662", "whole numbers separated by commas"),
        ("-1", "from 0 to 4294967295"),
        (str(2**64), "from 0 to 4294967295"),
        ("1" * 5000, "from 0 to 4294967295"),  # int() refuses over 4300 digits
        ("1,2,1", "repeated"),
    ],
)
def test_seed_list_refuses_what_no_run_can_take(text: str, why: str) -> None:
    """One parser of --seeds for `evaluate --context` and the release: every seed is checked
    before any run starts (2**64 reached torch.manual_seed as an internal error)."""
    with pytest.raises(ArgumentError, match=why) as caught:
        seed_list(text)
    assert str(caught.value).startswith("--seeds: ")
    assert seed_list("3, 1,2") == [3, 1, 2]


@pytest.mark.parametrize(
    ("seeds", "why"),
    [
        ([], "no seeds"),
        ([True], "whole numbers"),
        ([1.0], "whole numbers"),
        (["1"], "whole numbers"),
        ([-1], "from 0 to"),
        ([2**32], "from 0 to"),
        ([2, 2], "repeated"),
    ],
)
def test_check_seeds_is_the_api_side_of_the_same_rule(seeds: list, why: str) -> None:
    """The Python API's seeds (context_probe) and --seeds pass the same check."""
    with pytest.raises(ArgumentError, match=why):
        check_seeds(seeds)
    assert check_seeds((0, 2**32 - 1)) == [0, 2**32 - 1]


def test_check_seeds_takes_any_iterable_of_whole_numbers() -> None:
    """A generator, an empty iterator or a numpy array were Python's own TypeError/ValueError."""
    import numpy as np

    assert check_seeds(s for s in (1, 2)) == [1, 2]
    assert check_seeds(np.array([3, 4])) == [3, 4]
    assert all(type(s) is int for s in check_seeds([np.int64(5)]))
    for seeds, why in ((iter([]), "no seeds"), (None, "whole numbers"), (5, "whole numbers")):
        with pytest.raises(ArgumentError, match=why):
            check_seeds(seeds)  # type: ignore[arg-type]


def test_evaluate_context_seeds_are_checked_before_any_work(tmp_path: Path) -> None:
    """`--seeds ''` ran the default seeds without a word; a seed out of range was an internal
    error. Both are one line naming --seeds, before any file is read."""
    for text in ("", str(2**64)):
        args = ["--train", tmp_path / "missing.csv", "--test", tmp_path / "missing.csv"]
        result = invoke("evaluate", "--context", *args, "--seeds", text)
        assert result.exit_code == 1, result.output
        assert result.stderr.strip().startswith("cnnfeat: error: --seeds: "), result.stderr


def test_class_weight_power_is_bounded(tmp_path: Path) -> None:
    """A power past 4 overflowed a rare class's weight (1e6: numpy overflow warnings, then a
    non-finite loss); it is refused as a usage error naming the option, before any work."""
    args = ["train", "--train", tmp_path / "t.csv", "--out", tmp_path / "run"]
    result = invoke(*args, "--class-weight-power", "5")
    assert result.exit_code == 2 and "--class-weight-power" in result.output, result.output
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    ("values", "said"),
    [
        ({"feature_noise": -0.1}, "feature_noise must be from 0.0 to 10.0, got -0.1"),
        ({"feature_noise": float("nan")}, "feature_noise must be a finite number"),
        ({"feature_noise": None}, "feature_noise is required, got None"),
        ({"epochs": 0}, "epochs must be from 1 to"),
        ({"epochs": 1.5}, "epochs must be a whole number, got 1.5"),
        ({"lr": float("nan")}, "lr must be a finite number"),
        ({"seed": -1}, "seed must be from 0 to"),
        ({"batch_size": True}, "batch_size must be a whole number, got True"),
        ({"pool": "max"}, "pool must be one of global, window, got 'max'"),
        ({"train": None}, "train is required, got None"),
        ({"train": b"t.csv"}, "train must be a string, got b't.csv'"),
        ({"class_weights": 1}, "class_weights must be True or False, got 1"),
    ],
)
def test_train_config_from_the_api_checks_what_the_cli_checks(values: dict, said: str) -> None:
    """TrainConfig's limits were the CLI's alone: train(TrainConfig(feature_noise=-0.1)) ran
    with the noise silently off, epochs=0 ended in load_state_dict(None), a numpy float32 could
    not be written to metrics.json, train=None was Python's own TypeError."""
    with pytest.raises(ArgumentError, match=re.escape(said)):
        TrainConfig(**{"train": "t.csv", "out": "run", **values})


def test_train_config_makes_numpy_scalars_and_paths_plain() -> None:
    import numpy as np

    config = TrainConfig(
        train=Path("t.csv"), out="run", epochs=np.int64(3), feature_noise=np.float32(0.25)
    )
    assert (config.train, config.epochs, config.feature_noise) == ("t.csv", 3, 0.25)
    assert type(config.epochs) is int and type(config.feature_noise) is float
