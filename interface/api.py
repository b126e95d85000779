"""The Python API's file functions, `cnnfeat.embed_file` and `cnnfeat.embed_dialogues`.

Both take the model explicitly (`model=`: a model directory or an `Embedder`): features from a
model other than the one meant cannot happen silently. They read files by the same rules as
`cnnfeat embed` (runtime/reading.py, runtime/corpora.py) and give the same numbers.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

from cnnfeat.contract.errors import ArgumentError

if TYPE_CHECKING:
    from cnnfeat.runtime.dialogues import DialogueFeatures
    from cnnfeat.runtime.embedder import Embedder
    from cnnfeat.runtime.pipeline import EmbedSummary


def embed_file(
    input_path: str | os.PathLike[str],
    output_path: str | os.PathLike[str],
    *,
    model: Embedder | str | os.PathLike[str],
    column: str | None = None,
    encoding_errors: str = "strict",
    tsv_quoting: str = "literal",
    progress: bool = False,
) -> EmbedSummary:
    """Embed every utterance of a file into a features file, row i for utterance i: what
    `cnnfeat embed INPUT -o OUTPUT --model MODEL` does, in bounded memory.

    Args:
        input_path: a transcript, one utterance per line (.txt), or a .csv/.tsv/.jsonl table
            (its `column`, default the first of Utterance, text, utterance, transcript).
        output_path: the features file; its extension picks the format: .npy (float32 array
            (N, dim)), .npz (key `features`), .jsonl (one JSON list of dim numbers per line) or
            .csv (header f0..f{dim-1}); "-" writes JSON lines to standard output. Written to a
            temporary file and renamed when complete.
        model: required, keyword only: a model directory written by `cnnfeat export` (str or
            path), or an `Embedder` (its device, threads and batch options are used). For the
            shipped model pass `cnnfeat.Embedder()`.
        column: the text column of a table, as `cnnfeat embed --column`.
        encoding_errors: "strict" or "replace", as `cnnfeat embed --encoding-errors`.
        tsv_quoting: "literal" or "csv", as `cnnfeat embed --tsv-quoting`.
        progress: show a progress bar on standard error.

    Returns: EmbedSummary (`rows`, `seconds`, `provider`, `output`; `line()` is the CLI's
        summary line).

    Raises:
        ArgumentError: `model` missing or of the wrong type.
        OutputError: an unknown output format (before any work), an unwritable output, or the
            output is the input file.
        InputError: the input cannot be read (names the file and line).
        ModelError, DeviceError: the model directory cannot be loaded or run.

    On any error or interrupt the output path is left as it was.
    """
    from cnnfeat.runtime.embedder import as_embedder
    from cnnfeat.runtime.pipeline import embed_file as embed
    from cnnfeat.runtime.writing import check_not_input, output_for

    source, target = _path(input_path, "input_path"), _path(output_path, "output_path")
    output = output_for(target)  # before the model loads
    check_not_input(source, target, advice="choose another output_path")
    embedder = as_embedder(model)
    return embed(
        source,
        output,
        embedder,
        column=column,
        encoding_errors=encoding_errors,
        tsv_quoting=tsv_quoting,
        progress=progress,
    )


def embed_dialogues(
    input_path: str | os.PathLike[str],
    *,
    model: Embedder | str | os.PathLike[str],
    corpus: str = "auto",
    column: str | None = None,
    dialogue_column: str | Sequence[str] | None = None,
    order_column: str | None = None,
    speaker_column: str | None = None,
    label_column: str | None = None,
    labels_path: str | os.PathLike[str] | None = None,
    encoding_errors: str = "strict",
) -> list[DialogueFeatures]:
    """Every dialogue of a conversation file with its features, in the order its first
    utterance appears: what `cnnfeat embed INPUT --dialogues -o OUT.npz` writes, as objects.

    Args:
        input_path: a MELD/EmoryNLP table (.csv/.tsv/.jsonl), an EmoryNLP .json, a DailyDialog
            `dialogues_*.txt` or an IEMOCAP `Ses01F_*.txt` transcript (a file, not stdin).
        model: required, keyword only: a model directory or an `Embedder`, as for `embed_file`.
        corpus: "auto" (by file name and extension, as `cnnfeat embed --corpus auto`), "table",
            "emorynlp-json", "dailydialog" or "iemocap".
        column: the text column of a table. dialogue_column: the dialogue id column, or several
            (a sequence, or one comma-separated str); default MELD's Dialogue_ID, EmoryNLP's
            Season, Episode, Scene_ID. order_column: numeric order within a dialogue (default
            Utterance_ID if present, else file order). speaker_column, label_column: defaults
            Speaker/speaker/speakers and Emotion/label/emotion. labels_path: DailyDialog's or
            IEMOCAP's label file (default: where the release keeps it). encoding_errors:
            "strict" or "replace".

    Returns: a list of DialogueFeatures, one per dialogue: `id` (str), `speakers` and `labels`
        (lists of str or None, one per utterance), `texts` (list of str) and `features`
        (float32 numpy array of shape (n_utterances, dim), dim = 100 for the papers' network),
        utterances in dialogue order (the order column, ties in file order).

    Raises:
        ArgumentError: `model` missing or of the wrong type.
        InputError: the file cannot be read, a column is missing, two utterances of a dialogue
            share an order value (names the file and line).
        ModelError, DeviceError: the model directory cannot be loaded or run.
    """
    from cnnfeat.runtime.corpora import Columns, corpus_format
    from cnnfeat.runtime.dialogues import dialogue_features
    from cnnfeat.runtime.embedder import as_embedder

    source = _path(input_path, "input_path")
    if not isinstance(model, str | os.PathLike) and not _is_embedder(model):
        as_embedder(model)  # its ArgumentError, before the input is read
    layout = corpus_format(source, None if corpus == "auto" else corpus)
    columns = Columns.named(dialogue_column, order_column, speaker_column, label_column)
    labels = None if labels_path is None else _path(labels_path, "labels_path")
    return dialogue_features(
        source, lambda: as_embedder(model), layout, column, columns, labels, encoding_errors
    )


def _is_embedder(model: object) -> bool:
    from cnnfeat.runtime.embedder import Embedder

    return isinstance(model, Embedder)


def _path(value: object, name: str) -> str:
    if isinstance(value, str | os.PathLike):
        return str(os.fspath(value))
    raise ArgumentError(f"{name} must be a path (str or pathlib.Path), got {type(value).__name__}")
