"""The other-language hosts (hosts/node, hosts/web, hosts/c) reproduce the Python runtime.

Each host runs the conformance cases (ids exactly equal, features within the file's atol) and the
MELD test utterances. A host whose toolchain is missing is skipped with the reason, except on CI
(CI=true), where that is a failure: `.ci/setup-hosts.sh` installs everything. Max differences and
timings go to hosts/test-artifacts/parity.json (and stdout, with -s); the browser test leaves a
screenshot of the page at hosts/test-artifacts/page.png.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from cnnfeat.contract.layout import CARD_FILE, MODEL_FILE, TOKENIZER_FILE
from cnnfeat.runtime.conformance import write_conformance
from cnnfeat.runtime.embedder import Embedder
from cnnfeat.runtime.model_dir import default_model_dir

ROOT = Path(__file__).resolve().parents[2]
HOSTS = ROOT / "hosts"
ARTIFACTS = HOSTS / "test-artifacts"
MELD_TEST = ROOT.parent / "shared" / "data" / "meld" / "test_sent_emo.csv"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
C_HEADER = HOSTS / "c" / "build" / "onnxruntime" / "usr" / "include" / "onnxruntime"
ON_CI = os.environ.get("CI") == "true"
TIMEOUT = 600


def need(ok: bool, reason: str) -> None:
    """Skip when a host's toolchain is missing; on CI, fail instead."""
    if not ok:
        if ON_CI:
            pytest.fail(f"{reason} (CI=true: run .ci/setup-hosts.sh)")
        pytest.skip(f"{reason}; run .ci/setup-hosts.sh")


def need_node(host: str, *packages: str) -> str:
    node = shutil.which("node")
    need(node is not None, "node is not installed")
    for package in packages:
        need(
            (HOSTS / host / "node_modules" / package).is_dir(),
            f"hosts/{host}: {package} is not installed (npm ci)",
        )
    return node


def run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT, **kwargs)
    assert done.returncode == 0, f"{cmd} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done


def _model_copy(source: Path, dest: Path) -> Path:
    """A writable copy of a model directory with a fresh conformance.json."""
    dest.mkdir(parents=True)
    for name in (MODEL_FILE, TOKENIZER_FILE, CARD_FILE):
        shutil.copy(source / name, dest / name)
    write_conformance(dest)
    return dest


def _source(request: pytest.FixtureRequest, pool: str) -> Path:
    """$CNNFEAT_HOSTS_MODEL, or the shipped model, or else a tiny random-weight one (conftest)."""
    if pool == "global" and os.environ.get("CNNFEAT_HOSTS_MODEL"):
        return Path(os.environ["CNNFEAT_HOSTS_MODEL"])
    if pool == "global" and (default_model_dir() / MODEL_FILE).is_file():
        return default_model_dir()
    return request.getfixturevalue(f"tiny_{pool}").model_dir


@pytest.fixture(scope="module", params=["default", "window"])
def model_dir(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped model, and a window-pooling one (fixed-width batches), for conformance."""
    source = _source(request, "global" if request.param == "default" else "window")
    return _model_copy(source, tmp_path_factory.mktemp(f"hosts_{request.param}") / "model")


@pytest.fixture(scope="module")
def default_model(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped model, for the MELD test set."""
    return _model_copy(_source(request, "global"), tmp_path_factory.mktemp("hosts_meld") / "model")


def conformance(model: Path) -> dict:
    return json.loads((model / "conformance.json").read_text(encoding="utf-8"))


def pool(model: Path) -> str:
    return conformance(model)["model"]["spec"]["pool"]


def record(host: str, dataset: str, **figures) -> None:
    """Print a parity line and keep it in hosts/test-artifacts/parity.json."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / "parity.json"
    data = json.loads(path.read_text()) if path.is_file() else {}
    data.setdefault(host, {})[dataset] = figures
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    print(f"\n{host} / {dataset}: " + ", ".join(f"{k}={v}" for k, v in figures.items()))


def compare(host: str, dataset: str, got_ids, got, want_ids, want, atol: float, **extra) -> None:
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    assert got.shape == want.shape, f"{host}: {got.shape} features, expected {want.shape}"
    if got_ids is not None:
        pairs = zip(got_ids, want_ids, strict=True)
        bad = [i for i, (a, b) in enumerate(pairs) if list(a) != list(b)]
        assert not bad, f"{host}: ids differ for {len(bad)} rows, first row {bad[0]}"
    diff = float(np.abs(got - want).max()) if got.size else 0.0
    ids = "identical" if got_ids is not None else "given (from Python)"
    record(host, dataset, rows=len(want), ids=ids, max_abs_diff=float(f"{diff:.3g}"), **extra)
    assert diff <= atol, f"{host}: max |difference| {diff:.3g} > {atol}"


# --- Node.js ----------------------------------------------------------------------------------


def test_node_conformance(model_dir: Path) -> None:
    """hosts/node's own tests (node --test): ids, features, batching, the embed.mjs CLI."""
    node = need_node("node", "onnxruntime-node", "tokenizers")
    env = {**os.environ, "CNNFEAT_MODEL_DIR": str(model_dir)}
    done = run([node, "--test", "test/"], cwd=HOSTS / "node", env=env)
    diff = re.search(r"max abs diff (\S+) over (\d+) cases", done.stdout)
    assert diff, done.stdout
    record(
        "node",
        f"conformance_{pool(model_dir)}",
        rows=int(diff.group(2)),
        ids="identical",
        max_abs_diff=float(f"{float(diff.group(1)):.3g}"),
    )


def test_node_meld(default_model: Path, meld_texts: list[str], python_meld, tmp_path: Path):
    node = need_node("node", "onnxruntime-node", "tokenizers")
    texts_path, out_path = tmp_path / "texts.json", tmp_path / "out.json"
    texts_path.write_text(json.dumps(meld_texts))
    start = time.perf_counter()
    run(
        [node, "tools/embed-json.mjs", str(default_model), str(texts_path), str(out_path)],
        cwd=HOSTS / "node",
    )
    wall = time.perf_counter() - start
    out = json.loads(out_path.read_text())
    ids, want = python_meld
    compare(
        "node",
        "meld_test",
        out["ids"],
        out["features"],
        ids,
        want,
        1e-5,
        embed_seconds=round(out["seconds"], 3),
        process_seconds=round(wall, 2),
    )


# --- The browser ------------------------------------------------------------------------------


def test_web_tokenizer_conformance(model_dir: Path) -> None:
    """hosts/web/tokenizer.js under node: the same words and ids as the Rust tokenizer."""
    node = need_node("web")
    env = {**os.environ, "CNNFEAT_MODEL_DIR": str(model_dir)}
    run([node, "--test", "test/"], cwd=HOSTS / "web", env=env)


@pytest.fixture(scope="module")
def http_root(tmp_path_factory: pytest.TempPathFactory):
    """`python -m http.server` over a folder with web/ -> hosts/web and model links next to it."""
    root = tmp_path_factory.mktemp("http")
    (root / "web").symlink_to(HOSTS / "web")
    server = subprocess.Popen(
        [sys.executable, "-u", "-m", "http.server", "0", "--bind", "127.0.0.1", "-d", root],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        port = re.search(r"port (\d+)", server.stdout.readline()).group(1)
        yield root, f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=10)


def page(http_root, model: Path, name: str, conformance: bool, slash: bool = True) -> str:
    root, base = http_root
    link = root / name
    if not link.exists():
        link.symlink_to(model)
    return (
        f"{base}/web/index.html?model=../{name}"
        + ("/" if slash else "")
        + ("&conformance=1" if conformance else "")
    )


def need_browser() -> str:
    node = need_node("web", "onnxruntime-web", "playwright-core")
    need(Path(CHROMIUM).is_file(), f"{CHROMIUM} is missing (apt-get install chromium)")
    return node


def test_web_page_conformance(model_dir: Path, http_root) -> None:
    """The page in headless Chromium computes the conformance vectors; screenshot kept."""
    node = need_browser()
    ARTIFACTS.mkdir(exist_ok=True)
    # ?model= with and without the trailing slash (one each): both name the directory.
    url = page(
        http_root,
        model_dir,
        f"model-{pool(model_dir)}",
        conformance=True,
        slash=pool(model_dir) == "global",
    )
    shot = ARTIFACTS / ("page.png" if pool(model_dir) == "global" else "page-window.png")
    done = run([node, "tools/browser.mjs", url, "--screenshot", str(shot)], cwd=HOSTS / "web")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    doc, check = conformance(model_dir), result["conformance"]
    assert result["problems"] == []
    assert check["idsEqual"] == len(doc["cases"])
    record(
        "web",
        f"conformance_{pool(model_dir)}",
        rows=check["cases"],
        ids="identical",
        max_abs_diff=float(f"{check['maxAbsDiff']:.3g}"),
    )
    assert check["maxAbsDiff"] <= doc["atol"]
    assert shot.stat().st_size > 10_000


def test_web_meld(default_model: Path, http_root, meld_texts, python_meld, tmp_path: Path):
    node = need_browser()
    texts_path, out_path = tmp_path / "texts.json", tmp_path / "out.json"
    texts_path.write_text(json.dumps(meld_texts))
    url = page(http_root, default_model, "model-meld", conformance=False)
    start = time.perf_counter()
    run(
        [node, "tools/browser.mjs", url, "--texts", str(texts_path), "--out", str(out_path)],
        cwd=HOSTS / "web",
    )
    wall = time.perf_counter() - start
    out = json.loads(out_path.read_text())
    ids, want = python_meld
    compare(
        "web",
        "meld_test",
        out["ids"],
        out["features"],
        ids,
        want,
        1e-5,
        embed_seconds=round(out["seconds"], 3),
        process_seconds=round(wall, 2),
    )


# --- C ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def embed_ids() -> Path:
    need(shutil.which("cc") is not None and shutil.which("make") is not None, "no C toolchain")
    need(
        (C_HEADER / "onnxruntime_c_api.h").is_file(),
        "onnxruntime C header missing (hosts/c/fetch-header.sh)",
    )
    run(["make", "-s", "-C", str(HOSTS / "c"), f"PYTHON={sys.executable}"])
    return HOSTS / "c" / "build" / "embed_ids"


def run_c(binary: Path, model: Path, rows, tmp_path: Path) -> tuple[np.ndarray, float]:
    ids_path = tmp_path / "ids.txt"
    ids_path.write_text("".join(" ".join(map(str, row)) + "\n" for row in rows))
    start = time.perf_counter()
    out = run([str(binary), str(model / MODEL_FILE), str(ids_path)]).stdout
    seconds = time.perf_counter() - start
    return np.array([[float(v) for v in line.split()] for line in out.splitlines()]), seconds


def test_c_conformance(model_dir: Path, embed_ids: Path, tmp_path: Path) -> None:
    doc = conformance(model_dir)
    cases = doc["cases"]
    got, _ = run_c(embed_ids, model_dir, [c["ids"] for c in cases], tmp_path)
    compare(
        "c",
        f"conformance_{pool(model_dir)}",
        None,
        got,
        None,
        [c["features"] for c in cases],
        doc["atol"],
    )


def test_c_meld(default_model: Path, embed_ids: Path, python_meld, tmp_path: Path) -> None:
    ids, want = python_meld
    got, seconds = run_c(embed_ids, default_model, ids, tmp_path)
    compare("c", "meld_test", None, got, None, want, 1e-5, process_seconds=round(seconds, 3))


def test_c_features_from_cnnfeat_tokenize(model_dir: Path, embed_ids: Path, tmp_path: Path) -> None:
    """docs/hosts.md's C path: `cnnfeat tokenize` writes ids.txt, and embed_ids gives from it the
    features `cnnfeat embed` writes for the same file (the conformance texts, as JSON lines)."""
    texts = [case["text"] for case in conformance(model_dir)["cases"]] + [""]
    source = tmp_path / "texts.jsonl"
    source.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts), encoding="utf-8")
    cnnfeat = [sys.executable, "-m", "cnnfeat"]
    common = [str(source), "--column", "text", "--model", str(model_dir)]
    run([*cnnfeat, "tokenize", *common, "-o", str(tmp_path / "ids.txt")])
    run([*cnnfeat, "embed", *common, "-o", str(tmp_path / "features.npy"), "--device", "cpu"])
    out = run([str(embed_ids), str(model_dir / MODEL_FILE), str(tmp_path / "ids.txt")]).stdout
    got = np.array([[float(v) for v in line.split()] for line in out.splitlines()])
    compare(
        "c",
        f"tokenize_{pool(model_dir)}",
        None,
        got,
        None,
        np.load(tmp_path / "features.npy"),
        conformance(model_dir)["atol"],
    )


# --- The MELD test utterances, embedded by Python once ----------------------------------------


@pytest.fixture(scope="module")
def meld_texts() -> list[str]:
    if not MELD_TEST.is_file():
        pytest.skip(f"MELD test set not found at {MELD_TEST}")
    with open(MELD_TEST, encoding="utf-8", newline="") as handle:
        return [row["Utterance"] for row in csv.DictReader(handle)]


@pytest.fixture(scope="module")
def python_meld(default_model: Path, meld_texts: list[str]):
    embedder = Embedder(default_model, device="cpu")
    start = time.perf_counter()
    ids = embedder.tokenize(meld_texts)
    features = embedder.embed_ids(ids)
    record(
        "python", "meld_test", rows=len(ids), embed_seconds=round(time.perf_counter() - start, 3)
    )
    return ids, features
