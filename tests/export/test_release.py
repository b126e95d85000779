"""release.py builds its configs from TrainConfig alone, and writes commands that rebuild them."""

from __future__ import annotations

import dataclasses
import json
import shlex
from pathlib import Path

import pytest

pytest.importorskip("torch", reason="the [train] extra (torch) is not installed")

from cnnfeat.contract.layout import CARD_FILE  # noqa: E402
from cnnfeat.export.release import release_config  # noqa: E402
from cnnfeat.options import config_values  # noqa: E402
from cnnfeat.runtime.model_dir import default_model_dir  # noqa: E402
from cnnfeat.training.config import RECIPE_FIELDS, TrainConfig  # noqa: E402

DATA = Path("../shared/data/meld")


def test_release_configs_are_train_config_defaults_but_data_and_seed() -> None:
    config = release_config(DATA, Path("runs/release/seed-3"), 3)
    own = {"train", "dev", "test", "out", "seed", "command"}
    defaults = TrainConfig(train="t", out="o")
    differ = {
        f.name
        for f in dataclasses.fields(TrainConfig)
        if getattr(config, f.name) != getattr(defaults, f.name)
    }
    assert differ <= own
    assert (config.seed, config.dev) == (3, str(DATA / "dev_sent_emo.csv"))
    assert len(RECIPE_FIELDS) >= 15 and "ema_decay" in RECIPE_FIELDS


def test_release_command_parses_back_to_the_same_config() -> None:
    """Every flag release writes is one `cnnfeat train` takes, with the config's value."""
    config = release_config(DATA, Path("runs/release/seed-2"), 2)
    args = shlex.split(config.command)
    assert parsed_train_command(config.command) == dataclasses.replace(config, command="")
    for name in RECIPE_FIELDS:  # written out, not left to defaults that may change
        flag = name.replace("_", "-")
        assert f"--{flag}" in args or f"--no-{flag}" in args, name


def parsed_train_command(command: str) -> TrainConfig:
    """The TrainConfig that `cnnfeat train` builds from `command` (a recorded command line)."""
    from typer.main import get_command

    from cnnfeat.cli import app

    args = shlex.split(command)
    assert args[:2] == ["cnnfeat", "train"]
    train = get_command(app).commands["train"]  # type: ignore[attr-defined]
    ctx = train.make_context("train", args[2:])
    return TrainConfig(**config_values({k: v for k, v in ctx.params.items() if k != "quiet"}))


def test_shipped_model_command_is_what_release_writes() -> None:
    """The shipped card's command (release.py of the time) rebuilds today's release config:
    a recipe option added since (at a default that leaves the run as it was) is missing from
    the shipped line, and the line still means the same run."""
    card = json.loads((default_model_dir() / CARD_FILE).read_text(encoding="utf-8"))
    seed = card["seeds"]["shipped_seed"]
    config = release_config(DATA, Path(f"runs/release/seed-{seed}"), seed)
    shipped = parsed_train_command(card["training"]["command"])
    assert shipped == dataclasses.replace(config, command="")


def test_release_ships_the_median_on_dev_and_records_every_seeds_probe(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The shipped seed is the median on dev: not test (choices are made on dev), not the best
    (that would overstate what a retrain gives). Every seed's head and context-probe figures
    reach the card; training, export and the probe are stood in for (minutes each)."""
    from types import SimpleNamespace

    import cnnfeat.training.context as context
    from cnnfeat.export import release as release_module

    dev = {1: 0.50, 2: 0.54, 3: 0.52}  # median on dev: seed 3
    test = {1: 0.58, 2: 0.56, 3: 0.55}  # median on test would be seed 1
    exported: list[str] = []

    def fake_train(config, progress):
        metrics = {
            "dev": {"weighted_f1": dev[config.seed]},
            "test": {"weighted_f1": test[config.seed], "macro_f1": 0.3},
            "best_epoch": 5,
            "train_seconds": 1.0,
        }
        Path(config.out).mkdir(parents=True)
        return metrics

    def fake_export(run_dir, out_dir):
        exported.append(str(run_dir))
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        (Path(out_dir) / CARD_FILE).write_text(json.dumps({"training": {}, "run": str(run_dir)}))

    def fake_probe(train, test_path, model_dir, dev_path, seeds, device):
        seed = int(Path(model_dir).name.split("-")[1])
        scores = {"utterance": 0.5, "context": 0.5 + seed / 100}
        return SimpleNamespace(mean=lambda name: scores[name])

    monkeypatch.setattr(release_module, "train", fake_train)
    monkeypatch.setattr(release_module, "export_model", fake_export)
    monkeypatch.setattr(context, "evaluate_dialogue_files", fake_probe)
    out = tmp_path / "model"
    summary = release_module.release(DATA, out, tmp_path / "runs", [1, 2, 3])
    assert summary["shipped_seed"] == 3
    assert len(exported) == 3  # each seed once; the shipped one is copied, not exported again
    card = json.loads((out / CARD_FILE).read_text())
    assert card["run"] == str(tmp_path / "runs" / "seed-3")
    assert card["seeds"]["shipped_seed"] == 3
    assert card["seeds"]["context_gain_mean"] == pytest.approx(0.02)
    assert card["seeds"]["context_probe_test_weighted_f1_mean"] == pytest.approx(0.52)
    assert [r["context_probe_test_weighted_f1"] for r in card["seeds"]["runs"]] == [
        pytest.approx(0.51),
        pytest.approx(0.52),
        pytest.approx(0.53),
    ]
    assert "--seed 3" in card["training"]["command"]


@pytest.mark.parametrize(
    ("args", "why"),
    [
        (["--seeds", "1,x"], "--seeds: expected whole numbers"),
        (["--seeds", "1,1"], "a seed is repeated"),
        (["--seeds", "-1"], "from 0 to"),
        (["--out", "{file}"], "is a file, not a directory"),
        (["--runs", "{file}"], "--runs {file} is a file"),
        (["--data", "{dir}"], "no train_sent_emo.csv, dev_sent_emo.csv, test_sent_emo.csv"),
        # found only once seed 1 had trained (minutes on MELD)
        (["--seeds", "1,2", "--runs", "{runs}"], "seed-2 is not empty and is not a cnnfeat run"),
        (["--seeds", "1,2", "--runs", "{runs2}"], "seed-2-model is not empty and is not a"),
    ],
)
def test_release_refuses_a_mistake_before_training(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, args, why
) -> None:
    """A wrong --seeds, --out, --runs or --data is one line and exit 2 before any seed trains
    (an --out that is a file was found only after every seed had trained, as a traceback)."""
    from cnnfeat.export import release as release_module

    data = tmp_path / "meld"
    data.mkdir()
    for name in release_module.MELD_FILES:
        (data / name).write_text("Utterance,Emotion\n")
    (tmp_path / "afile").write_text("x")
    monkeypatch.setattr(release_module, "train", lambda *a, **k: pytest.fail("trained"))
    for runs, name in (("runs", "seed-2"), ("runs2", "seed-2-model")):
        (tmp_path / runs / name).mkdir(parents=True)
        (tmp_path / runs / name / "notes.txt").write_text("mine")
    fill = {"{file}": str(tmp_path / "afile"), "{dir}": str(tmp_path)}
    fill |= {"{runs}": str(tmp_path / "runs"), "{runs2}": str(tmp_path / "runs2")}
    args = [fill.get(a, a) for a in args]
    why = why.replace("{file}", fill["{file}"])
    base = ["--data", str(data), "--out", str(tmp_path / "out"), "--runs", str(tmp_path / "r")]
    with pytest.raises(SystemExit) as exit_info:
        release_module.main(base + args)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert why in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()
