"""contract/errors.py: an error keeps what went wrong, where and what to do apart, and str()
renders the one line users see. Code that adds context makes a new error from the fields; no
code splits, parses or rewrites message text (advice used to be glued on with "; " and split
off again, and the staging directory's name replaced in `exc.args`)."""

from __future__ import annotations

import pickle
import re
from pathlib import Path

import pytest

from cnnfeat.contract.errors import (
    ArgumentError,
    CnnfeatError,
    Hint,
    InputError,
    ModelError,
    OutputError,
)

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ["contract", "runtime", "distributed", "training", "export", "interface", "models"]

# Text surgery on messages: splitting or cutting at the "; " that joins advice, assigning
# `.args`, gluing advice on with `+`/f-strings, editing an exception's str().
FORBIDDEN = re.compile(
    r"""\.(?:r?split|r?partition)\(\s*f?["'];"""
    r"""|\.args\s*=[^=]"""
    r"""|_REDO\s*\+|\+\s*_REDO|\{_REDO\}"""
    r"""|str\((?:exc|err|error|e)\)\.(?:replace|split|rsplit|partition|removesuffix)\("""
)


def _surgery(folder: str) -> list[str]:
    found = []
    for path in sorted((ROOT / folder).rglob("*.py")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if FORBIDDEN.search(line):
                found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    return found


@pytest.mark.parametrize("folder", PACKAGE)
def test_no_code_edits_message_text(folder: str) -> None:
    assert _surgery(folder) == []


@pytest.mark.parametrize(
    "line",
    [
        'what = str(exc).split("; copy the model directory")[0]',
        "raise OutputError(f\"{str(exc).split('; ')[0]}; {path} was left as it was\")",
        "exc.args = (str(exc).replace(str(staging), shown),)",
        'raise ModelError(f"{path}: bad{_REDO}")',
        'raise ModelError(f"{path}: bad" + _REDO)',
    ],
)
def test_the_scan_finds_the_old_surgery(line: str) -> None:
    """Each form the package used before the errors had fields is caught."""
    assert FORBIDDEN.search(line)


def test_fields_render_as_one_line() -> None:
    error = InputError("no text column", "in.csv", 3, advice="name it")
    assert (error.what, error.path, error.line, error.advice) == (
        "no text column",
        "in.csv",
        3,
        "name it",
    )
    assert str(error) == "in.csv:3: no text column; name it"
    assert str(InputError("bad", "in.csv")) == "in.csv: bad"
    assert str(InputError("bad", None, 3)) == "bad"  # a line without a file names nothing
    assert str(ModelError("damaged", advice="copy it again")) == "damaged; copy it again"
    assert str(OutputError("", "out", advice="choose another -o")) == "out: choose another -o"
    assert str(CnnfeatError("plain")) == "plain" and CnnfeatError("plain").path is None


def test_a_hint_names_the_option_of_the_command() -> None:
    hint = Hint("fix the file or pass {option} replace", "encoding_errors", "fix the file")
    error = InputError("not valid UTF-8", "a.txt", 2, advice=hint)
    assert str(error) == "a.txt:2: not valid UTF-8; fix the file or pass --encoding-errors replace"
    assert (
        error.text("--errors") == "a.txt:2: not valid UTF-8; fix the file or pass --errors replace"
    )
    assert error.text(None) == "a.txt:2: not valid UTF-8; fix the file"
    bare = InputError("no text column", "a.csv", 1, advice=Hint("name it with {option}", "column"))
    assert bare.text(None) == "a.csv:1: no text column"  # no advice, no dangling "; "


def test_replace_makes_a_new_error_and_keeps_the_rest() -> None:
    error = ArgumentError("bad", "a.txt", 4, advice="fix it")
    moved = error.replace(path="b.txt")
    assert type(moved) is ArgumentError and isinstance(moved, ValueError)
    assert (moved.what, moved.path, moved.line, moved.advice) == ("bad", "b.txt", 4, "fix it")
    assert str(moved) == "b.txt:4: bad; fix it"
    assert str(error) == "a.txt:4: bad; fix it"  # the original is untouched
    assert str(error.replace(advice=None)) == "a.txt:4: bad"


def test_fields_survive_pickling() -> None:
    """Errors cross process boundaries (Ray workers, hosts) with their parts."""
    hint = Hint("name it with {option}", "column")
    for error in (
        InputError("no text column", "a.csv", 1, advice=hint),
        OutputError("writing x failed", advice="nothing was written"),
        ModelError("damaged"),
    ):
        back = pickle.loads(pickle.dumps(error))
        assert type(back) is type(error) and str(back) == str(error)
        assert (back.what, back.path, back.line, back.advice) == (
            error.what,
            error.path,
            error.line,
            error.advice,
        )


def test_write_file_keeps_what_and_gives_its_own_advice(tmp_path: Path) -> None:
    """write_file adds "PATH was left as it was" as the advice of a new error; the staged
    file's own advice ("choose another -o") is replaced, its what kept whole."""
    from cnnfeat.runtime.writing import write_file

    target = tmp_path / "missing" / "out.json"
    with pytest.raises(OutputError) as caught:
        write_file(target, b"{}")
    error = caught.value
    assert error.what.startswith(f"cannot write in {target.parent}: ")
    assert error.advice == f"{target} was left as it was"
    assert str(error) == f"{error.what}; {target} was left as it was"


def test_staging_names_the_target_in_a_structured_path(tmp_path: Path) -> None:
    """An error about a file inside the staging directory comes out about the file the user
    knows, by its `path`: the same type, what and advice."""
    from cnnfeat.runtime.staging import staged_directory

    with pytest.raises(ModelError) as caught:
        with staged_directory(tmp_path / "model") as staging:
            raise ModelError("field 'x' is damaged", staging / "cnnfeat.json", 2, advice="redo")
    error = caught.value
    assert error.path == str(tmp_path / "model" / "cnnfeat.json") and error.line == 2
    assert (error.what, error.advice) == ("field 'x' is damaged", "redo")
    with pytest.raises(OutputError) as whole:
        with staged_directory(tmp_path / "model") as staging:
            raise OutputError("incomplete", staging)
    assert whole.value.path == str(tmp_path / "model")
    assert list(tmp_path.iterdir()) == []


def test_errors_carry_their_advice_and_path_as_fields(tmp_path: Path) -> None:
    """Errors whose advice (and leading file name) were once glued into the text with "; "
    keep them in `advice` and `path`, and users still see the very same line."""
    from cnnfeat.runtime.corpora import corpus_format
    from cnnfeat.runtime.inputs import as_lines
    from cnnfeat.runtime.reading import read_records
    from cnnfeat.runtime.writing import output_for

    table = tmp_path / "t.csv"
    table.write_text("text,text\na,b\n", encoding="utf-8")
    cases = [
        (
            lambda: output_for("out.xyz"),
            (
                "unknown output format '.xyz'",
                "out.xyz",
                None,
                "use one of .npy, .npz, .jsonl, .csv",
            ),
            "out.xyz: unknown output format '.xyz'; use one of .npy, .npz, .jsonl, .csv",
        ),
        (
            lambda: list(read_records(str(table))),
            ("column names ['text'] occur more than once", str(table), 1, "rename them"),
            f"{table}:1: column names ['text'] occur more than once; rename them",
        ),
        (
            lambda: corpus_format("a.csv", "meld"),
            (
                "unknown corpus 'meld'",
                None,
                None,
                "use one of table, emorynlp-json, dailydialog, iemocap",
            ),
            "unknown corpus 'meld'; use one of table, emorynlp-json, dailydialog, iemocap",
        ),
        (
            lambda: as_lines("one line"),
            (
                "embed takes a list of strings, got a single str",
                None,
                None,
                "wrap it in a list: embed([text])",
            ),
            "embed takes a list of strings, got a single str; wrap it in a list: embed([text])",
        ),
    ]
    for call, fields, line in cases:
        with pytest.raises(CnnfeatError) as caught:
            call()
        error = caught.value
        assert (error.what, error.path, error.line, error.advice) == fields
        assert str(error) == line
