"""`cnnfeat embed` on odd input, end to end: the tables of docs/input-rules.md.

Row alignment is checked against `Embedder.embed` on the lines as they should be read, so a row
that moves, goes missing or appears from nowhere fails the test.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import TinyModel, invoke, one_error_line, tiny_line

import cnnfeat

ATOL = 1e-5
POSIX = sys.platform != "win32"


def files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


@pytest.fixture(scope="module")
def embedder(tiny_global: TinyModel):
    return cnnfeat.Embedder(tiny_global.model_dir, device="cpu")


@pytest.fixture
def run(tiny_global: TinyModel, tmp_path: Path):
    """embed(content, name, *options) -> (result, output path); content is written as bytes."""

    def embed(content: bytes | str, name: str = "in.txt", *options: str, out: str = "out.npy"):
        path = tmp_path / name
        path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
        target = tmp_path / out
        result = invoke("embed", path, "-o", target, "--model", tiny_global.model_dir,
                        "--device", "cpu", "-q", *options)  # fmt: skip
        return result, target

    return embed


def assert_rows(path: Path, lines: list[str], embedder) -> None:
    got = np.load(path)
    assert got.shape == (len(lines), 100) and got.dtype == np.float32
    if lines:
        assert np.abs(got - embedder.embed(lines)).max() <= ATOL


def cli(*args: str, input: bytes | None = None, env=None, **kwargs) -> subprocess.CompletedProcess:
    """The real command in a child process (stdin/stdout pipes, resource limits)."""
    return subprocess.run(
        [sys.executable, "-m", "cnnfeat", *map(str, args)],
        input=input, capture_output=True, timeout=120, env=env, **kwargs,
    )  # fmt: skip


# --- plain text ------------------------------------------------------------------------------

A, B, C, D, E = (tiny_line(n, s) for n, s in ((3, 1), (9, 2), (1, 3), (20, 4), (5, 5)))


@pytest.mark.parametrize(
    ("content", "lines"),
    [
        (f"\ufeff{A}\n{B}\n", [A, B]),  # UTF-8 BOM
        (f"{A}\r\n{B}\r\n{C}", [A, B, C]),  # CRLF, no final newline
        (f"{A}\r{B}\r{C}\r", [A, B, C]),  # lone CR
        (f"{A}\r\n{B}\r{C}\n{D}", [A, B, C, D]),  # all three mixed
        (f"{A}\n\n{B}\n   \n\t\n{C}\n\n", [A, "", B, "   ", "\t", C, ""]),  # empty lines
        (f"{A}\u2028{B}\n{C}\x85{D}\n", [f"{A}\u2028{B}", f"{C}\x85{D}"]),  # not line ends
    ],
)
def test_line_rules_keep_row_i_on_line_i(run, embedder, content: str, lines: list[str]) -> None:
    result, out = run(content)
    assert result.exit_code == 0, result.output
    assert_rows(out, lines, embedder)


def test_non_latin_scripts_and_emoji(run, embedder) -> None:
    lines = [
        "Ой, привет! w1",
        "مرحبا w2",
        "你好，世界",
        "😀 w3 👍🏽",
        "👨‍👩‍👧 w4",
        "Zoë w5",
        "नमस्ते",
    ]
    result, out = run("\n".join(lines) + "\n")
    assert result.exit_code == 0, result.output
    assert_rows(out, lines, embedder)


def test_nul_bytes_read_as_spaces(run, embedder) -> None:
    result, out = run(b"w1\x00w2\n\x00\nw3\n")
    assert result.exit_code == 0, result.output
    assert_rows(out, ["w1 w2", "", "w3"], embedder)


def test_invalid_utf8_is_an_error_naming_line_and_offset(run, tmp_path: Path) -> None:
    (tmp_path / "out.npy").write_bytes(b"previous")
    result, out = run(b"w1\r\nw2\nw3 \x92 w4\n")
    line = one_error_line(result)
    assert f"{tmp_path / 'in.txt'}:3: not valid UTF-8 at byte offset 10 (byte 0x92)" in line
    assert "--encoding-errors replace" in line
    assert out.read_bytes() == b"previous"
    assert files(tmp_path) == ["in.txt", "out.npy"]


def test_encoding_errors_replace_carries_on(run, embedder) -> None:
    result, out = run(b"w1\nw2 \x92 w3\n\xff\n", "in.txt", "--encoding-errors", "replace")
    assert result.exit_code == 0, result.output
    assert_rows(out, ["w1", "w2 \ufffd w3", "\ufffd"], embedder)


def test_a_line_of_several_megabytes(run, embedder, tiny_global: TinyModel) -> None:
    words = [tiny_line(1, i) for i in range(600_000)]  # ~3 MB on one line, then a short one
    result, out = run(" ".join(words) + "\nw7\n")
    assert result.exit_code == 0, result.output
    assert_rows(out, [" ".join(words[: tiny_global.spec.max_len]), "w7"], embedder)


# Runs the command and reports its own peak resident memory on stderr. Linux: VmHWM, which
# starts afresh at exec (ru_maxrss would count the forking pytest process, torch and all).
_PEAK_RSS = """
import resource, sys
from cnnfeat.cli import app
try:
    app(sys.argv[1:], prog_name="cnnfeat")
except SystemExit as stop:
    code = stop.code
try:
    status = open("/proc/self/status").read()
    peak = int(status.split("VmHWM:")[1].split()[0])
except OSError:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    peak = peak // 1024 if sys.platform == "darwin" else peak
sys.stderr.write(f"peak_rss_kb={peak}\\n")
sys.exit(code)
"""


def peak_rss_mb(*args) -> float:
    done = subprocess.run([sys.executable, "-c", _PEAK_RSS, *map(str, args)],
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return int(done.stderr.rsplit("peak_rss_kb=", 1)[1]) / 1024


@pytest.mark.skipif(not POSIX, reason="resource.getrusage")
def test_a_20_mb_line_does_not_blow_up_memory(tiny_global: TinyModel, tmp_path: Path) -> None:
    """Tokenizing a 20 MB line whole took `tokenizers` ~1.8 GB and 45 s; clipped, ~100 MB."""
    big, small = tmp_path / "big.txt", tmp_path / "small.txt"
    block = (" ".join(tiny_line(1, i) for i in range(1000)) + " ").encode()
    line = (block * (20 * 2**20 // len(block) + 1))[: 20 * 2**20]
    big.write_bytes(line + b"\nw1\n")
    small.write_bytes(b"w1\nw2\n")
    model = ("--model", tiny_global.model_dir, "--device", "cpu", "-q")
    base = peak_rss_mb("embed", small, "-o", tmp_path / "s.npy", *model)
    peak = peak_rss_mb("embed", big, "-o", tmp_path / "b.npy", *model)
    print(f"peak RSS: {base:.0f} MB for 2 short lines, {peak:.0f} MB with a 20 MB line")
    assert np.load(tmp_path / "b.npy").shape == (2, 100)
    assert peak - base < 10 * 20, f"a 20 MB line took {peak - base:.0f} MB more than 2 lines"


# --- empty input: a valid (0, 100) output in every format ------------------------------------


def read_any(path: Path) -> np.ndarray:
    if path.suffix == ".npy":
        return np.load(path)
    if path.suffix == ".npz":
        with np.load(path) as archive:
            return archive["features"]
    text = path.read_text()
    if path.suffix == ".jsonl":
        return np.array([json.loads(x) for x in text.splitlines()], np.float32).reshape(-1, 100)
    header, *rows = text.splitlines()
    assert header.split(",") == [f"f{i}" for i in range(100)]
    return np.array([r.split(",") for r in rows], np.float32).reshape(-1, 100)


@pytest.mark.parametrize("suffix", [".npy", ".npz", ".jsonl", ".csv"])
@pytest.mark.parametrize(
    ("name", "content", "options"),
    [
        ("in.txt", b"", ()),
        ("in.txt", b"\xef\xbb\xbf", ()),  # nothing but a BOM
        ("in.csv", b"", ("--column", "text")),
        ("in.csv", b"id,text\r\n", ("--column", "text")),  # a header and no rows
        ("in.jsonl", b"", ()),
    ],
)
def test_empty_input_gives_0_by_100(run, suffix: str, name: str, content: bytes, options) -> None:
    result, out = run(content, name, *options, out=f"out{suffix}")
    assert result.exit_code == 0, result.output
    got = read_any(out)
    assert got.shape == (0, 100)


def test_empty_input_to_stdout(tiny_global: TinyModel) -> None:
    result = invoke("embed", "-", "-o", "-", "--model", tiny_global.model_dir, "-q", input=b"")
    assert result.exit_code == 0, result.output
    assert result.stdout == ""


# --- tables ----------------------------------------------------------------------------------


def test_csv_quoted_fields_with_newlines_keep_alignment(run, embedder) -> None:
    content = (
        f'id,Utterance,Speaker\r\n1,"{A}\r\n{B}",x\r\n2,"{C}, ""{D}""",y\r\n3,,z\r\n4,{E},w\r\n'
    )
    result, out = run(content, "in.csv")  # no --column: Utterance, as `cnnfeat train` picks
    assert result.exit_code == 0, result.output
    assert_rows(out, [f"{A}\n{B}", f'{C}, "{D}"', "", E], embedder)


def test_tsv(run, embedder) -> None:
    result, out = run(f"text\tn\n{A}\t1\n{B}\t2\n", "in.tsv")
    assert result.exit_code == 0, result.output
    assert_rows(out, [A, B], embedder)


def test_jsonl(run, embedder) -> None:
    records = [{"text": A, "n": 1}, {"text": "", "n": 2}, {"n": 3, "text": f"{B}\n{C}"}]
    result, out = run("".join(json.dumps(r) + "\n" for r in records), "in.jsonl")
    assert result.exit_code == 0, result.output
    assert_rows(out, [A, "", f"{B}\n{C}"], embedder)


@pytest.mark.parametrize(
    ("name", "content", "options", "match"),
    [
        ("in.csv", "id,text\n1,a\n", ("--column", "Utterance"),
         "in.csv:1: no column 'Utterance' (columns: id, text)"),
        ("in.csv", "id,speaker\n1,a\n", (), "in.csv:1: no text column"),
        ("in.csv", 'id,text\n1,"a\nb"\n2,c,d\n', ("--column", "text"),
         "in.csv:4: 3 fields, the header has 2"),
        ("in.csv", "id,text\n1,a\n2\n", ("--column", "text"),
         "in.csv:3: 1 fields, the header has 2"),
        ("in.csv", 'id,text\n1,"open\n2,b\n', ("--column", "text"), "in.csv:2: malformed CSV"),
        ("in.tsv", "id\ttext\n1\n", ("--column", "text"), "in.tsv:2: 1 fields"),
        ("in.jsonl", '{"text": "a"}\n{"line": "b"}\n', (), "in.jsonl:2: no field 'text'"),
        ("in.jsonl", '{"text": "a"}\n{"text": 5}\n', (), "in.jsonl:2: field 'text' is a number"),
        ("in.jsonl", '{"text": null}\n', (), "in.jsonl:1: field 'text' is null, not a string"),
        ("in.jsonl", '{"text": ["a"]}\n', (), "in.jsonl:1: field 'text' is an array"),
        ("in.jsonl", '{"text": "a"}\n{"text": "b"\n', (), "in.jsonl:2: invalid JSON"),
        ("in.jsonl", '"just a string"\n', (), "in.jsonl:1: expected a JSON object"),
        ("in.jsonl", '{"text": "\\udc00"}\n', (),
         "in.jsonl:1: field 'text' holds a lone surrogate"),
        ("in.txt", "a\n", ("--column", "text"), "--column needs a .csv, .tsv or .jsonl file"),
    ],
)  # fmt: skip
def test_table_errors_are_one_line_naming_the_line(
    run, tmp_path: Path, name: str, content: str, options, match: str
) -> None:
    result, out = run(content, name, *options)
    assert match in one_error_line(result)
    assert files(tmp_path) == [name]  # no output, no temporary


# --- stdin and stdout ------------------------------------------------------------------------


def test_stdin_to_stdout_json_lines(tiny_global: TinyModel, embedder) -> None:
    done = cli("embed", "-", "-o", "-", "--model", tiny_global.model_dir, "-q",
               input=f"\ufeff{A}\r\n\n{B}".encode())  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stderr == b""
    got = np.array([json.loads(x) for x in done.stdout.decode().splitlines()], np.float32)
    assert got.shape == (3, 100)
    assert np.abs(got - embedder.embed([A, "", B])).max() <= ATOL


def test_stdin_is_the_default_for_stdout(tiny_global: TinyModel, embedder) -> None:
    # With `-` as input and no -o, the output is stdout too (there is no file name to follow).
    result = invoke("embed", "-", "--model", tiny_global.model_dir, "-q", input=f"{A}\n".encode())
    assert result.exit_code == 0, result.output
    got = np.array([json.loads(x) for x in result.stdout.splitlines()], np.float32)
    assert np.abs(got - embedder.embed([A])).max() <= ATOL


def test_stdin_to_a_file(tiny_global: TinyModel, tmp_path: Path, embedder) -> None:
    out = tmp_path / "o.npz"
    result = invoke("embed", "-", "-o", out, "--model", tiny_global.model_dir, "-q",
                    input=f"{A}\n{B}\n".encode())  # fmt: skip
    assert result.exit_code == 0, result.output
    with np.load(out) as archive:
        assert np.abs(archive["features"] - embedder.embed([A, B])).max() <= ATOL


def test_stdin_invalid_utf8(tiny_global: TinyModel) -> None:
    done = cli("embed", "-", "-o", "-", "--model", tiny_global.model_dir, "-q", input=b"w1\n\xff\n")
    assert done.returncode == 1
    assert done.stderr.decode().strip() == (
        "cnnfeat: error: -:2: not valid UTF-8 at byte offset 3 (byte 0xff); "
        "fix the file or pass --encoding-errors replace"
    )


@pytest.mark.skipif(not POSIX, reason="pipes and SIGPIPE")
def test_stdout_closed_early_is_a_quiet_exit(tiny_global: TinyModel, tmp_path: Path) -> None:
    # `cnnfeat embed big.txt -o - | head -1`: no traceback, no "Exception ignored", exit 141.
    path = tmp_path / "in.txt"
    path.write_text("w1 w2\n" * 50_000)  # ~45 MB of JSON lines, far more than a pipe holds
    child = subprocess.Popen(
        [sys.executable, "-m", "cnnfeat", "embed", str(path), "-o", "-", "--model",
         str(tiny_global.model_dir), "-q"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    first = child.stdout.readline()
    child.stdout.close()
    _, stderr = child.communicate(timeout=120)
    assert len(json.loads(first)) == 100
    assert child.returncode == 141, stderr
    assert stderr == b""


# --- output problems -------------------------------------------------------------------------


@pytest.mark.skipif(not POSIX, reason="resource limits")
def test_disk_full_for_real(tiny_global: TinyModel, tmp_path: Path) -> None:
    """The OS refuses the writes part way (a file size limit, EFBIG): one line, nothing kept."""
    import resource

    path, out = tmp_path / "in.txt", tmp_path / "out.npy"
    path.write_text("w1 w2\n" * 5000)  # 2 MB of features
    out.write_bytes(b"previous")

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (256 * 1024, 256 * 1024))

    done = cli("embed", path, "-o", out, "--model", tiny_global.model_dir, "-q", preexec_fn=limit)
    stderr = done.stderr.decode()
    assert done.returncode == 1, stderr
    assert stderr.strip().splitlines() == [
        f"cnnfeat: error: writing {out} failed: File too large; nothing was written"
    ]
    assert out.read_bytes() == b"previous"
    assert files(tmp_path) == ["in.txt", "out.npy"]


def test_unwritable_directory(run, tmp_path: Path) -> None:
    if POSIX and os.geteuid() != 0:
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o555)
    elif Path("/sys").is_dir():
        locked = Path("/sys")  # root may write anywhere else; sysfs still says no
    else:
        pytest.skip("no directory here that this user cannot write")
    result, _ = run("w1\n", "in.txt", out=str(locked / "out.npy"))
    line = one_error_line(result)
    assert f"cannot write in {locked}: " in line and line.endswith("; choose another -o")
    assert "Permission denied" in line or "Read-only file system" in line
    if locked != Path("/sys"):
        assert files(locked) == []
        locked.chmod(0o755)


def test_missing_output_directory(run, tmp_path: Path) -> None:
    result, _ = run("w1\n", "in.txt", out="nowhere/out.npy")
    assert "cannot write in" in one_error_line(result)
    assert files(tmp_path) == ["in.txt"]


def test_output_would_overwrite_the_input(tiny_global: TinyModel, tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text('{"text": "w1"}\n')
    line = one_error_line(invoke("embed", path, "-o", path, "--model", tiny_global.model_dir))
    assert "is the input file; choose another -o" in line
    assert path.read_text() == '{"text": "w1"}\n'


@pytest.mark.parametrize(
    ("out", "match"),
    [
        ("in.jsonl", "is the input file"),
        ("folder.npy", "is a directory; give a file name"),
        ("out.h5", "unknown output format '.h5'"),
        ("out.parquet", "in.jsonl:1: no dialogue column"),  # .parquet: by dialogue
    ],
)
def test_bad_outputs_are_refused_before_the_model_loads(
    tmp_path: Path, out: str, match: str
) -> None:
    (tmp_path / "in.jsonl").write_text('{"text": "w1"}\n')
    (tmp_path / "folder.npy").mkdir()
    args = ("embed", tmp_path / "in.jsonl", "-o", tmp_path / out, "--model", tmp_path / "none")
    assert match in one_error_line(invoke(*args))  # not "model directory ... does not exist"
    assert files(tmp_path) == ["folder.npy", "in.jsonl"]
    assert (tmp_path / "in.jsonl").read_text() == '{"text": "w1"}\n'


# --- never a traceback -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "match"),
    [
        (ZeroDivisionError("division by zero"), "internal error: ZeroDivisionError: division by "
         "zero -- this is a bug in cnnfeat; please report it"),
        (RuntimeError("two\nlines"), "internal error: RuntimeError: two lines"),
        (OSError(5, "Input/output error", "/some/file"), "/some/file: Input/output error"),
        (MemoryError(), "out of memory; try a smaller --batch-size"),
    ],
)  # fmt: skip
def test_unexpected_errors_are_one_line(
    run, monkeypatch: pytest.MonkeyPatch, error: BaseException, match: str
) -> None:
    def broken(*args, **kwargs):
        raise error

    monkeypatch.setattr("cnnfeat.runtime.pipeline.embed_file", broken)
    result, _ = run("w1\n")
    assert match in one_error_line(result)


def test_debug_shows_the_traceback(run, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args, **kwargs):
        raise ZeroDivisionError("here")

    monkeypatch.setattr("cnnfeat.runtime.pipeline.embed_file", broken)
    monkeypatch.setenv("CNNFEAT_DEBUG", "1")
    result, _ = run("w1\n")
    assert isinstance(result.exception, ZeroDivisionError)


def test_sigterm_handler_is_put_back(run) -> None:
    import signal

    before = signal.getsignal(signal.SIGTERM)
    result, _ = run("w1\n")
    assert result.exit_code == 0
    assert signal.getsignal(signal.SIGTERM) is before
