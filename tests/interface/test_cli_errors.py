"""The CLI's error boundary (interface/cli_errors.py): every hint names an option of the command
that printed it (`train`'s missing-column hint said "name it with --column"; train has
--text-column, evaluate has no --encoding-errors)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from helpers import TinyModel, invoke, one_error_line
from typer.main import get_command

from cnnfeat.cli import app

# What makes each reading command fail on INPUT, and the options it is then given.
RUNS = {
    "embed": lambda f, out, model: [f, "-o", out / "x.npy", "--model", model],
    "tokenize": lambda f, out, model: [f, "-o", out / "x.txt", "--model", model],
    "train": lambda f, out, model: ["--train", f, "--dev", f, "--out", out / "run", "-q"],
    "evaluate": lambda f, out, model: [model, "--train", f, "--test", f, "--device", "cpu"],
    "embed-dataset": lambda f, out, model: [f, "-o", out / "ds", "--model", model, "-q"],
}
# (file name, content, extra options (if the command has them), the hint where it has them).
CASES = [
    ("cols.csv", b"a,b\n1,2\n", (), "; name it with "),
    ("bad.csv", b"text,label\n\xff,joy\n", (), " or pass "),
    ("bad.txt", b"ok\n\xff\n", (), " or pass "),
    ("plain.txt", b"a\n", ("--column", "text"), " needs a .csv, .tsv or .jsonl file"),
]


def options(command: str) -> set[str]:
    params = get_command(app).commands[command].params  # type: ignore[attr-defined]
    return {opt for param in params for opt in (*param.opts, *param.secondary_opts)}


def test_every_reading_command_is_walked() -> None:
    readers = {
        name
        for name in get_command(app).commands  # type: ignore[attr-defined]
        if options(name) & {"--column", "--text-column", "--encoding-errors"}
    }
    assert readers <= set(RUNS)


@pytest.mark.parametrize("command", sorted(RUNS))
def test_every_hint_names_an_option_the_command_has(
    command: str, tiny_global: TinyModel, tmp_path: Path
) -> None:
    if command == "embed-dataset":
        pytest.importorskip("ray.data", reason="embed-dataset needs the [ray] extra")
    if command in ("train", "evaluate"):
        pytest.importorskip("torch", reason="needs the [train] extra")
    have = options(command)
    hinted = 0
    for name, content, extra, hint in CASES:
        if extra and (extra[0] not in have or command == "embed-dataset"):
            continue  # embed-dataset reads a plain text file whole, whatever --column says
        source = tmp_path / name
        source.write_bytes(content)
        out = tmp_path / f"out-{name}"
        out.mkdir()
        args = [*RUNS[command](source, out, tiny_global.model_dir), *extra]
        line = one_error_line(invoke(command, *args)).replace(str(tmp_path), "TMP")
        named = set(re.findall(r"--[a-z][a-z-]*", line))
        assert named <= have, f"{command}: {line}"
        if hint in line:
            hinted += 1
            assert named, line  # the hint names the command's own option
    # The hints are there where the command has the option (not dropped everywhere).
    assert hinted == {"evaluate": 1, "train": 2, "embed-dataset": 3}.get(command, 4), command


# --- found by trying to break the API surface, tokenize and writing ---------------------------


class _Outside(BaseException):
    """Stands for entry.exit_at_once (which would os._exit(130)) in the test process."""


def test_sigint_at_every_line_of_the_cli_boundary_exits_130_and_restores_handlers() -> None:
    """A SIGINT inside `_restore_signals` (the `finally` after every command) escaped the
    wrapper as a bare KeyboardInterrupt (click: 'Aborted!', exit 1; SIGTERM: a traceback);
    one inside `_catch_signals` left the handlers installed for the rest of the process.
    Found by trying to break issue 13's changes (API surface, tokenize, writing)."""
    import signal as signals

    import typer
    from helpers import sigint_at_line

    from cnnfeat import cli_errors

    def outside(signum, frame):
        raise _Outside()

    @cli_errors.cli_errors
    def command() -> int:
        return 1

    before = (signals.getsignal(signals.SIGINT), signals.getsignal(signals.SIGTERM))
    outcomes = []
    try:
        for k in range(1, 200):
            signals.signal(signals.SIGINT, outside)
            try:
                with sigint_at_line(k, {cli_errors.__file__}):
                    command()
                outcome = "ok"
            except typer.Exit as exc:
                outcome = f"exit {exc.exit_code}"
            except _Outside:
                outcome = "exit at once"
            except KeyboardInterrupt:
                outcome = f"line {k}: KeyboardInterrupt escaped"
            handler = signals.getsignal(signals.SIGINT)
            if handler is not outside:
                outcome = f"line {k}: SIGINT handler left as {handler}"
            outcomes.append(outcome)
            if outcome == "ok" and outcomes.count("ok") > 5:
                break
    finally:
        signals.signal(signals.SIGINT, before[0])
        signals.signal(signals.SIGTERM, before[1])
    assert "exit 130" in outcomes
    assert set(outcomes) <= {"ok", "exit 130", "exit at once"}, outcomes


# --- a signal at the instant an output is committed --------------------------------------------


@pytest.mark.parametrize("kind", ["file", "directory"])
@pytest.mark.parametrize(
    "when", ["recorded after", "delivered after", "delivered before", "recorded before"]
)
def test_a_signal_at_the_final_rename_is_told_as_it_happened(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, kind, when
) -> None:
    """A SIGTERM that came after the output was renamed into place made the command exit 143
    with "terminated; no partial output was written", the new output already in place: the
    boundary re-raised any recorded signal after the command had returned. Now a command that
    returned with its output in place succeeds (a signal recorded after the rename, as when a
    library drops the interrupt its handler raised), one cut short after the rename says the
    output was written, and one cut short just before the rename still says nothing was. A
    signal recorded before the rename (dropped by a library, the command went on) still ends
    the command as interrupted, and the line says the output was written."""
    import os
    import signal

    import typer

    from cnnfeat import cli_errors
    from cnnfeat.runtime import signals
    from cnnfeat.runtime.staging import staged_directory
    from cnnfeat.runtime.writing import write_file

    target = tmp_path / "out"
    if kind == "file":
        target.write_bytes(b"old")
    # The rename that commits: staged_file's os.replace over the old file; staged_directory's
    # os.rename into place (no old directory: the exchange needs renameat2).
    name = "replace" if kind == "file" else "rename"
    rename = getattr(os, name)

    def signal_at_rename(*args):
        if when == "delivered before":
            signals.handle(signal.SIGTERM, None)  # the CLI's handler: records, raises
        rename(*args)
        if when == "recorded after":
            signals.record(signal.SIGTERM)
        elif when == "delivered after":
            signals.handle(signal.SIGTERM, None)

    monkeypatch.setattr(os, name, signal_at_rename)

    @cli_errors.cli_errors
    def command() -> None:
        if when == "recorded before":  # a signal a library dropped while the work went on
            signals.record(signal.SIGTERM)
        if kind == "file":
            write_file(target, b"new")
            return
        with staged_directory(target) as folder:
            (folder / "x").write_bytes(b"new")

    written = target if kind == "file" else target / "x"
    if when == "recorded after":
        command()
        assert capsys.readouterr().err == ""
        assert written.read_bytes() == b"new"
        return
    with pytest.raises(typer.Exit) as stopped:
        command()
    assert stopped.value.exit_code == 143
    line = capsys.readouterr().err
    if when in ("delivered after", "recorded before"):
        assert line == f"cnnfeat: error: terminated; {target} was already written in full\n"
        assert written.read_bytes() == b"new"
    else:
        assert line == "cnnfeat: error: terminated; no partial output was written\n"
        if kind == "file":
            assert target.read_bytes() == b"old"
        else:
            assert not target.exists()
    assert [p.name for p in tmp_path.iterdir()] == (["out"] if target.exists() else [])


def test_a_signal_while_writing_to_standard_output_says_rows_may_have_gone(
    capsys: pytest.CaptureFixture,
) -> None:
    """`embed -o -` or `tokenize` cut short said "no partial output was written" with
    thousands of rows already on standard output, which cannot be taken back."""
    import signal

    import numpy as np
    import typer

    from cnnfeat import cli_errors
    from cnnfeat.runtime import signals
    from cnnfeat.runtime.writing import FeatureWriter, Output

    @cli_errors.cli_errors
    def streaming() -> None:
        with FeatureWriter(Output("-", ".jsonl"), 3) as writer:
            writer.write(np.zeros((2, 3), np.float32))
            signals.handle(signal.SIGINT, None)

    @cli_errors.cli_errors
    def writing_nothing() -> None:
        signals.handle(signal.SIGINT, None)

    for command, said in (
        (streaming, "standard output may already hold part of the output"),
        (writing_nothing, "no partial output was written"),  # the next command starts afresh
    ):
        with pytest.raises(typer.Exit) as stopped:
            command()
        assert stopped.value.exit_code == 130
        assert capsys.readouterr().err == f"cnnfeat: error: interrupted; {said}\n"


def test_another_threads_output_is_not_this_commands(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """A host wrote a file through the Python API in a worker thread while a command in the
    main thread was interrupted before writing anything: the line said "interrupted;
    api_out.npy was already written in full", a file the command never wrote."""
    import signal
    import threading

    import typer

    from cnnfeat import cli_errors
    from cnnfeat.runtime import signals
    from cnnfeat.runtime.writing import write_file

    @cli_errors.cli_errors
    def command() -> None:
        worker = threading.Thread(target=write_file, args=(tmp_path / "api_out.bin", b"x"))
        worker.start()
        worker.join()
        signals.handle(signal.SIGINT, None)

    with pytest.raises(typer.Exit):
        command()
    assert capsys.readouterr().err == "cnnfeat: error: interrupted; no partial output was written\n"
    assert (tmp_path / "api_out.bin").read_bytes() == b"x"


def test_written_in_full_names_the_output_as_the_user_did(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """`train --out run` cut short after its swap said "/abs/path/run was already written in
    full": staged_directory works on the absolute path."""
    import os
    import signal

    import typer

    from cnnfeat import cli_errors
    from cnnfeat.runtime import signals
    from cnnfeat.runtime.staging import staged_directory

    monkeypatch.chdir(tmp_path)
    rename = os.rename

    def signal_after(*args):
        rename(*args)
        signals.handle(signal.SIGTERM, None)

    monkeypatch.setattr(os, "rename", signal_after)

    @cli_errors.cli_errors
    def command() -> None:
        with staged_directory("run") as folder:
            (folder / "x").write_bytes(b"new")

    with pytest.raises(typer.Exit):
        command()
    assert (
        capsys.readouterr().err == "cnnfeat: error: terminated; run was already written in full\n"
    )
