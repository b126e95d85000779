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
