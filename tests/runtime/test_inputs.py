"""User input coerced for the engine (runtime/inputs.py): what `Embedder.embed` and `embed_ids`
take and what they refuse, as a typed one-line error."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import TinyModel
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cnnfeat
from cnnfeat import ArgumentError, InputError
from cnnfeat.runtime.embedder import Embedder

# --- one line, typed errors, files kept safe --------------------------------------------------


class Table2D:
    """A 2-D table that is not a numpy array (as a pandas DataFrame): iterating it yields
    its column names, so taking it as an iterable would embed the header, not the rows."""

    ndim = 2
    shape = (3, 1)

    def __iter__(self):
        return iter(["text"])


def test_embed_refuses_any_2d_table(tiny_global: TinyModel) -> None:
    """Found by trying to break issue 9's promise (one line, typed errors, files kept safe)."""
    embedder = cnnfeat.Embedder(tiny_global.model_dir, device="cpu")
    with pytest.raises(ArgumentError, match=r"1-D sequence of strings, got a Table2D of shape"):
        embedder.embed(Table2D())


def test_embed_refuses_a_dataframe(tiny_global: TinyModel) -> None:
    """Found by trying to break issue 9's promise (one line, typed errors, files kept safe)."""
    pd = pytest.importorskip("pandas")
    embedder = cnnfeat.Embedder(tiny_global.model_dir, device="cpu")
    with pytest.raises(ArgumentError, match=r"shape \(2, 1\)"):
        embedder.embed(pd.DataFrame({"text": ["w1", "w2"]}))
    assert embedder.embed(pd.Series(["w1", "w2"])).shape == (2, tiny_global.spec.feature_dim)


# --- found by trying to break the API surface, tokenize and writing ---------------------------


@pytest.fixture(scope="module")
def embedder(tiny_global: TinyModel) -> Embedder:
    return Embedder(tiny_global.model_dir, device="cpu")


@pytest.mark.parametrize(
    ("rows", "error", "words"),
    [
        ([[1.5, 2.0]], ArgumentError, "row 1 holds float"),  # was silently truncated to [1, 2]
        (np.array([[1.7, 2.2]]), ArgumentError, "float64"),
        ([[2**70]], InputError, "0.."),  # was OverflowError from numpy
        (np.array([[2**63 + 5]], dtype=np.uint64), InputError, "0.."),
        ([[float("nan")]], ArgumentError, "row 1"),  # was ValueError
        ([[1, None]], ArgumentError, "row 1"),  # was TypeError
        ([[True, False]], ArgumentError, "row 1 holds bool"),
        ([1, 2, 3], ArgumentError, "row 1 is int"),  # was TypeError: no len()
        (["12 3"], ArgumentError, "row 1 is str"),  # was ValueError from int()
        ("123", ArgumentError, "single str"),  # was 3 rows of ids 1, 2, 3
        (None, ArgumentError, "NoneType"),  # was TypeError
        ({0: [1]}, ArgumentError, "dict"),  # was TypeError
        ([{1, 2}], ArgumentError, "row 1 is set"),  # no order: silently some order
        (np.array([1, 2, 3]), ArgumentError, "shape"),  # 1-D: one id per row? refuse
    ],
)
def test_embed_ids_refuses_odd_rows_with_a_typed_one_line_error(
    embedder: Embedder, rows: object, error: type, words: str
) -> None:
    """Found by trying to break issue 13's changes (API surface, tokenize, writing)."""
    with pytest.raises(error, match=words) as caught:
        embedder.embed_ids(rows)  # type: ignore[arg-type]
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    "rows",
    [
        [[3, 4], [], [5]],
        ([3, 4] if i == 0 else [] if i == 1 else [5] for i in range(3)),  # a generator
        ((3, 4), (), (5,)),
        [np.array([3, 4], dtype=np.int32), np.array([], dtype=np.int64), np.array([5])],
        [[np.int64(3), np.uint8(4)], [], [5]],
        np.array([[3, 4], [], [5]], dtype=object),  # ragged rows in an object array
        [range(3, 5), range(0), range(5, 6)],
    ],
)
def test_embed_ids_takes_any_iterable_of_integer_rows(embedder: Embedder, rows: object) -> None:
    """Found by trying to break issue 13's changes (API surface, tokenize, writing)."""
    want = embedder.embed_ids([[3, 4], [], [5]])
    assert want.shape == (3, embedder.dim)
    assert np.array_equal(embedder.embed_ids(rows), want)  # type: ignore[arg-type]


def test_embed_ids_takes_a_2d_integer_array_and_empty_input(embedder: Embedder) -> None:
    """Found by trying to break issue 13's changes (API surface, tokenize, writing)."""
    ids = np.array([[3, 4], [5, 6]], dtype=np.int32)
    assert np.array_equal(embedder.embed_ids(ids), embedder.embed_ids([[3, 4], [5, 6]]))
    assert embedder.embed_ids([]).shape == (0, embedder.dim)
    assert embedder.embed_ids(np.zeros((2, 0), dtype=np.int64)).shape == (2, embedder.dim)


def test_embed_ids_takes_torch_tensors(embedder: Embedder) -> None:
    """Found by trying to break issue 13's changes (API surface, tokenize, writing)."""
    torch = pytest.importorskip("torch")
    want = embedder.embed_ids([[3, 4], [5, 6]])
    assert np.array_equal(embedder.embed_ids(torch.tensor([[3, 4], [5, 6]])), want)
    assert np.array_equal(embedder.embed_ids([torch.tensor([3, 4]), torch.tensor([5, 6])]), want)
    with pytest.raises(ArgumentError, match="row 1"):
        embedder.embed_ids(torch.tensor([[3.0, 4.0]]))


@pytest.mark.parametrize("method", ["embed", "tokenize"])
def test_a_bare_string_error_names_the_method_called(embedder: Embedder, method: str) -> None:
    """Found by trying to break issue 13's changes (API surface, tokenize, writing)."""
    with pytest.raises(ArgumentError, match=rf"^{method} takes a list of strings.*{method}\(\["):
        getattr(embedder, method)("abc")


# --- Python API --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given_", "match"),
    [
        ("hello", "got a single str; wrap it in a list"),
        (b"hello", "got a single bytes"),
        ({"a": 1}, "got a dict, which has no row order"),
        ({"a", "b"}, "got a set, which has no row order"),
        (np.array([["a", "b"], ["c", "d"]]), "got an array of shape (2, 2)"),
        ([("a", "b")], "line 1 is tuple"),
        (["ok", None], "line 2 is NoneType, not str (None)"),
        ((x for x in ["a", None]), "line 2 is NoneType"),
        ([b"bytes"], "line 1 is bytes"),
        (5, "got int"),
    ],
)
def test_embed_takes_strings_only(embedder, given_, match: str) -> None:
    """From the round on the API's input and the program's files and first moment."""
    with pytest.raises(cnnfeat.InputError, match=match.replace("(", r"\(").replace(")", r"\)")):
        embedder.embed(given_)


def test_embed_takes_any_ordered_iterable_of_str(embedder) -> None:
    """From the round on the API's input and the program's files and first moment."""
    lines = ["w1 w2", "", "w3"]
    want = embedder.embed(lines)
    for other in (tuple(lines), iter(lines), np.array(lines), (x for x in lines)):
        assert np.array_equal(embedder.embed(other), want)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.one_of(st.text(max_size=20), st.none(), st.integers(), st.binary(max_size=4)), max_size=6
    )
)
def test_any_list_gives_rows_or_an_input_error(embedder, items: list) -> None:
    """From the round on the API's input and the program's files and first moment."""
    if all(isinstance(item, str) for item in items):
        assert embedder.embed(items).shape == (len(items), 100)
    else:
        bad = next(i for i, item in enumerate(items) if not isinstance(item, str))
        with pytest.raises(cnnfeat.InputError, match=f"line {bad + 1} is "):
            embedder.embed(items)
