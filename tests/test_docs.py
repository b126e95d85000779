"""The documentation's runnable code blocks run, as printed, and do what the text around them says.

Every block meant to run (README.md, CONTRIBUTING.md, docs/*.md) has `<!-- docs-test: NAME -->`
on the line above it, and each NAME has a test here: a block without a test, or a test whose
block is gone, fails `test_every_marked_block_has_a_test`. Host walk-throughs skip when their
toolchain is missing (fail on CI, `CI=true`, where `.ci/setup-hosts.sh` installs it). This file
grew out of the README's one tested snippet, the DialogueRNN layout.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import pickle
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import HEADER, ROWS, TinyModel, invoke, write_table

ROOT = Path(__file__).resolve().parents[1]
DOC_FILES = [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"<!-- docs-test: ([\w-]+) -->\n```(\w+)\n(.*?)\n```", re.DOTALL)
ON_CI = os.environ.get("CI") == "true"
TESTED = {
    "main-job",
    "test-command",
    "meld-embed",
    "dialogue-layout",
    "python-api",
    "api-embed",
    "api-errors",
    "api-files",
    "api-pickle",
    "node-cli",
    "c-embed-ids",
}
BIN = Path(sys.executable).parent  # the `cnnfeat` program of this environment


def blocks() -> dict[str, tuple[str, str]]:
    """NAME -> (language, code) of every marked block; a NAME used twice is an error."""
    found: dict[str, tuple[str, str]] = {}
    for path in DOC_FILES:
        text = path.read_text(encoding="utf-8")
        markers = re.findall(r"^<!-- docs-test:", text, re.MULTILINE)
        assert len(markers) == len(BLOCK.findall(text)), (
            f"{path.name}: a docs-test marker is not directly above a fenced code block"
        )
        for name, lang, code in BLOCK.findall(text):
            assert name not in found, f"{path.name}: docs-test name {name!r} used twice"
            found[name] = (lang, code)
    return found


def block(name: str, lang: str) -> str:
    found_lang, code = blocks()[name]
    assert found_lang == lang
    return code


def run_python(code: str, name: str) -> tuple[dict, str]:
    """Exec a block (the docs' own code) and return its globals and what it printed."""
    names: dict = {}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, f"docs-test:{name}", "exec"), names)  # noqa: S102
    return names, out.getvalue()


def run_bash(code: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", code],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done


def need(ok: bool, reason: str) -> None:
    """Skip when a host's toolchain is missing; on CI, fail instead."""
    if not ok:
        if ON_CI:
            pytest.fail(f"{reason} (CI=true: run .ci/setup-hosts.sh)")
        pytest.skip(f"{reason}; run .ci/setup-hosts.sh")


def test_every_marked_block_has_a_test() -> None:
    assert set(blocks()) == TESTED


def test_readme_is_a_front_page() -> None:
    """At most 300 lines, and its table of contents points at its own headings."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 300
    slugs = {
        re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        for heading in re.findall(r"^#+ (.+)$", text, re.MULTILINE)
    }
    links = set(re.findall(r"\]\(#([^)]+)\)", text))
    assert links and links <= slugs, links - slugs


def test_dialogue_layout_snippet_builds_the_dictionaries(
    tiny_global: TinyModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The quick start's snippet on Parquet files `cnnfeat embed` wrote: dev joins trainVid,
    label indices are shared by every split, vectors equal the `.npz` sequences."""
    tables = {"train": ROWS, "dev": ROWS[3:], "test": ROWS[:2]}
    for split, rows in tables.items():
        table = write_table(tmp_path / f"{split}.csv", rows)
        for out in (f"{split}.parquet", f"{split}.npz"):
            result = invoke(
                "embed",
                table,
                "--dialogues",
                "-o",
                tmp_path / out,
                "--model",
                tiny_global.model_dir,
                "--device",
                "cpu",
                "-q",
            )
            assert result.exit_code == 0, result.output
    monkeypatch.chdir(tmp_path)
    names, _ = run_python(block("dialogue-layout", "python"), "dialogue-layout")
    with open("cnnfeat_features.pkl", "rb") as f:
        ids, speakers, labels, text, sentences, train_ids, test_ids, label_names = pickle.load(f)
    assert train_ids == ["train/3", "train/7", "dev/7", "dev/3"]
    assert names["devVid"] == ["dev/7", "dev/3"] and test_ids == ["test/3", "test/7"]
    assert ids["train/3"] == ["0", "9", "10"] and ids["test/7"] == ["2"]
    assert speakers["train/3"] == ["Joey", "Ross", "Ross"]
    assert label_names == ["anger", "joy", "neutral", "surprise"]
    assert [label_names[i] for i in labels["train/3"]] == ["surprise", "anger", "joy"]
    assert [label_names[i] for i in labels["dev/7"]] == ["neutral"]
    assert sentences["train/3"][2] == ROWS[0][1]
    for split in tables:
        with np.load(tmp_path / f"{split}.npz") as npz:
            for key in npz.files:
                assert np.array_equal(np.stack(text[f"{split}/{key}"]), npz[key])
    assert text["test/3"][0].shape == (100,) and HEADER[1] == "Utterance"


def test_meld_quick_start_end_to_end(meld: Path, tmp_path: Path) -> None:
    """The quick start on MELD as published, with the shipped model: the shell block, then the
    layout snippet on its output (1,038 train, 114 dev and 280 test dialogues)."""
    install, *loop = block("meld-embed", "bash").splitlines()
    assert install == "pip install cnnfeat pyarrow"  # the environment running this has both
    (tmp_path / "MELD").symlink_to(meld)
    run_bash("\n".join(loop), tmp_path)
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        names, _ = run_python(block("dialogue-layout", "python"), "dialogue-layout")
    finally:
        os.chdir(cwd)
    assert len(names["devVid"]) == 114 and len(names["testVid"]) == 280
    assert len(names["trainVid"]) == 1038 + 114
    assert len(names["label_names"]) == 7
    assert sum(len(v) for v in names["videoText"].values()) == 9989 + 1109 + 2610


def test_readme_headline_figures_are_the_cards() -> None:
    """The shipped model's figures in the README (and the model card page's prose) are those of
    its card, which `cnnfeat info` prints: a re-released model cannot leave them behind."""
    from cnnfeat.runtime.model_dir import default_model_dir

    card = json.loads((default_model_dir() / "cnnfeat.json").read_text(encoding="utf-8"))
    test, seeds, data = card["metrics"]["test"], card["seeds"], card["training"]["data"]
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## The shipped model", 1)[1].split("\n## ", 1)[0]
    figures = [
        f"**{100 * test['weighted_f1']:.2f}** (macro-F1 {100 * test['macro_f1']:.2f}, "
        f"accuracy {100 * test['accuracy']:.2f})",
        f"{100 * seeds['test_weighted_f1_mean']:.2f} ± {100 * seeds['test_weighted_f1_std']:.2f}",
        f"train {data['train']['rows']:,} / dev {data['dev']['rows']:,} / test "
        f"{data['test']['rows']:,} utterances",
    ]
    for figure in figures:
        assert figure in section.replace("\n", " ")
    page = (ROOT / "docs" / "model-card.md").read_text(encoding="utf-8").replace("\n", " ")
    assert f"macro-F1 does ({100 * test['macro_f1']:.2f})" in page
    assert f"the median on dev weighted-F1 shipped (seed {seeds['shipped_seed']})" in page


@pytest.mark.slow
def test_linear_probe_figures_are_what_evaluate_prints(meld: Path) -> None:
    """The linear-probe figure of the README and the model card is today's `cnnfeat evaluate`."""
    pytest.importorskip("sklearn", reason="cnnfeat evaluate needs the [train] extra")
    result = invoke(
        "evaluate", "--train", meld / "train_sent_emo.csv", "--test", meld / "test_sent_emo.csv"
    )
    assert result.exit_code == 0, result.output
    line = next(x for x in result.output.splitlines() if x.startswith("test: "))
    weighted = float(line.split()[2])
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f"| linear probe on the features | {100 * weighted:.2f} |" in readme
    page = (ROOT / "docs" / "model-card.md").read_text(encoding="utf-8")
    assert " ".join(line.split()[:9]) in " ".join(page.split())


@pytest.mark.slow
def test_context_probe_output_is_what_evaluate_prints(
    meld: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The model card shows `cnnfeat evaluate --context`'s output as its command prints it
    today, and the README's gain is that output's (about 1.5 minutes of CPU)."""
    pytest.importorskip("torch", reason="cnnfeat evaluate --context needs the [train] extra")
    (tmp_path / "MELD").symlink_to(meld)
    monkeypatch.chdir(tmp_path)
    splits = ("--train", "train", "--dev", "dev", "--test", "test")
    args = [a if a.startswith("--") else f"MELD/{a}_sent_emo.csv" for a in splits]
    result = invoke("evaluate", "--context", *args)
    assert result.exit_code == 0, result.output
    printed = result.stdout.strip().splitlines()
    page = (ROOT / "docs" / "model-card.md").read_text(encoding="utf-8")
    assert "\n".join(printed) in page and " ".join(["cnnfeat evaluate --context", *args]) in (
        " ".join(page.replace("\\\n", " ").split())
    )
    gain = printed[-1].split()
    assert gain[:2] == ["gain", "weighted-F1"]
    figure = f"{100 * float(gain[2]):.2f} ± {100 * float(gain[4]):.2f}".replace("-", "−")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f"| {figure} (" in readme and f"{figure} weighted-F1 points" in page


def test_readme_python_api_block(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run where the main job's transcript and a MELD-layout dev file are."""
    (tmp_path / "transcript.txt").write_text("Oh my God!\nI can't believe you did that.\n")
    (tmp_path / "MELD").mkdir()
    write_table(tmp_path / "MELD" / "dev_sent_emo.csv")
    monkeypatch.chdir(tmp_path)
    names, out = run_python(block("python-api", "python"), "python-api")
    shape, provider, one = out.splitlines()
    assert shape == "(2, 100) float32"
    assert provider.endswith("ExecutionProvider")
    assert one == "(1, 100)"
    assert names["summary"].rows == 2 and np.load("transcript.npy").shape == (2, 100)
    assert [d.id for d in names["dialogues"]] == ["3", "7"]
    assert names["d"].features.shape == (len(names["d"].texts), 100)


@pytest.mark.parametrize("name", ["api-embed", "api-errors"])
def test_api_page_blocks(name: str) -> None:
    _, out = run_python(block(name, "python"), name)
    if name == "api-errors":
        lines = out.splitlines()
        assert len(lines) == 3
        assert lines[0].startswith("embed takes a list of strings, got a single str")
        assert "batch_size" in lines[1] and "no/such/model" in lines[2]


def test_api_page_file_and_dialogue_functions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The API page's embed_file/embed_dialogues example prints what its comments say, and the
    file it writes holds the Embedder's own rows."""
    monkeypatch.chdir(tmp_path)
    names, out = run_python(block("api-files", "python"), "api-files")
    code = block("api-files", "python")
    promised = [line[2:] for line in code.splitlines() if line.startswith("# ")]
    summary, *dialogues = out.splitlines()
    assert summary == "2 talk.npy"
    assert dialogues == promised
    lines = ["Oh my God!", "I can't believe you did that."]
    assert np.array_equal(names["features"], names["embedder"].embed(lines))


def test_api_page_pickle_block() -> None:
    run_python(block("api-pickle", "python"), "api-pickle")


def test_readme_main_job(tmp_path: Path) -> None:
    """The README's first set-up command after its install steps; CI runs the very same line
    with the built wheel, offline (.ci/wheel-check)."""
    command = block("main-job", "bash")
    steps = command.split(" && ")
    assert steps[:3] == ["python3 -m venv .venv", ". .venv/bin/activate", "pip install ."]
    job = " && ".join(steps[3:])
    assert job in (ROOT / ".ci" / "wheel-check").read_text(encoding="utf-8").splitlines()
    run_bash(job, tmp_path)
    features = np.load(tmp_path / "transcript.npy")
    assert features.shape == (2, 100) and features.dtype == np.float32


def test_readme_test_command_is_what_ci_runs() -> None:
    """CI (.ci/run) installs and runs the suite with the README's command (its venv aside)."""
    steps = block("test-command", "bash").split(" && ")
    assert steps[:2] == ["python3 -m venv .venv", ". .venv/bin/activate"]
    install, test = steps[2:]
    ci = (
        (ROOT / ".ci" / "run")
        .read_text(encoding="utf-8")
        .replace("pip install -q ", "pip install ")
    )
    assert re.search(rf"^{re.escape(install)}", ci, re.MULTILINE)
    assert re.search(rf"^{re.escape(test)}\b", ci, re.MULTILINE)
    assert "setup-hosts" not in install + test  # system packages: a separate, named step


def _host_root(tmp_path: Path) -> Path:
    """A stand-in for the root of a clone, so the walk-throughs' files land in tmp_path: the
    repository's models/ and hosts/c, the Node host's scripts (copied: a script run through a
    linked folder does not know it is the main module) beside its node_modules, and the
    transcript the README's main job writes."""
    (tmp_path / "models").symlink_to(ROOT / "models")
    node = tmp_path / "hosts" / "node"
    node.mkdir(parents=True)
    (tmp_path / "hosts" / "c").symlink_to(ROOT / "hosts" / "c")
    for script in (ROOT / "hosts" / "node").glob("*.mjs"):
        shutil.copy(script, node)
    (node / "node_modules").symlink_to(ROOT / "hosts" / "node" / "node_modules")
    (tmp_path / "transcript.txt").write_text("Oh my God!\nI can't believe you did that.\n")
    return tmp_path


def test_node_walk_through(tmp_path: Path) -> None:
    need(shutil.which("node") is not None, "node is not installed")
    for package in ("onnxruntime-node", "tokenizers"):
        need(
            (ROOT / "hosts" / "node" / "node_modules" / package).is_dir(),
            f"hosts/node: {package} is not installed (npm ci)",
        )
    root = _host_root(tmp_path)
    done = run_bash(block("node-cli", "bash"), root)
    rows = [line for line in done.stdout.splitlines() if line.strip()]
    assert len(rows) == 2
    features = [line for line in (root / "features.jsonl").read_text().splitlines() if line]
    assert len(features) == 2


def test_c_walk_through(tmp_path: Path) -> None:
    binary = ROOT / "hosts" / "c" / "build" / "embed_ids"
    need(binary.is_file(), "hosts/c/build/embed_ids is not built (./fetch-header.sh && make)")
    root = _host_root(tmp_path)
    run_bash(block("c-embed-ids", "bash"), root)
    got = np.loadtxt(root / "features.txt", dtype=np.float32, ndmin=2)
    import cnnfeat

    want = cnnfeat.Embedder(device="cpu").embed((root / "transcript.txt").read_text().splitlines())
    assert got.shape == (2, 100)
    np.testing.assert_allclose(got, want, atol=1e-5)
