"""`cnnfeat export`: cut the trained network at its 100-d layer and write an ONNX model dir.

The graph is written op by op from the weights (export/fast_graph.py): "table" (the embedding
folded into per-offset lookup tables when the session starts) unless its tables would take more
than TABLE_LIMIT bytes, then "matmul" (the three convolutions as one product); "conv", PyTorch's
own export of `UtteranceCNN.features`, remains for comparison. Whichever it is, it must match
PyTorch on the validation grid or nothing is written.

Validation follows HuggingFace Optimum's exporter (onnx.checker, output names, shapes, then values
on a grid of batch sizes and lengths, on a fresh onnxruntime session), except that a parity
failure fails the export. Everything is written into a staging directory that replaces `--out`
whole only when complete (runtime/staging.py); `--out` must be new, empty or a model directory.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import torch
from torch import nn

from cnnfeat.contract.batching import pad_batch
from cnnfeat.contract.describe import MISSING, not_a_file
from cnnfeat.contract.errors import InputError, ModelError, OutputError
from cnnfeat.contract.layout import (
    CARD_FILE,
    CONFORMANCE_FILE,
    FORMAT_VERSION,
    INPUT_NAME,
    METRICS_FILE,
    MODEL_FILE,
    OPSET,
    OUTPUT_NAME,
    REPORT_FILE,
    TOKENIZER_FILE,
)
from cnnfeat.contract.spec import ModelSpec
from cnnfeat.export.fast_graph import CnnWeights, build_model, table_bytes
from cnnfeat.runtime.conformance import conformance_bytes
from cnnfeat.runtime.model_dir import VerifiedModel, load_model, load_tokenizer, sha256_file
from cnnfeat.runtime.staging import check_replaceable, staged_directory
from cnnfeat.training.model import UtteranceCNN
from cnnfeat.training.train import load_checkpoint

BATCH_SIZES = (1, 3, 64)
LENGTHS = (1, 2, 5, 17, 90)
GRAPHS = ("auto", "table", "matmul", "conv")
MODEL_FILES = (MODEL_FILE, TOKENIZER_FILE, CARD_FILE, CONFORMANCE_FILE, REPORT_FILE)
# The tables cost K x (V+1) x maps x 4 bytes of session memory (93 MB for the shipped model);
# past this the "matmul" graph, which needs only the embedding, is chosen.
TABLE_LIMIT = 512 * 2**20


class ParityError(ModelError):
    """The exported graph does not reproduce PyTorch within tolerance."""


@dataclass(frozen=True)
class ExportReport:
    out_dir: Path
    max_abs_diff: float
    cases: int
    seconds: float


class _FeatureGraph(nn.Module):
    """The "conv" graph: PyTorch's export of the model's own `features` method."""

    def __init__(self, model: UtteranceCNN):
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.model.features(input_ids)


def choose_graph(spec: ModelSpec) -> str:
    """The fastest graph whose memory is reasonable (docs/performance.md, `--graphs`)."""
    return "table" if table_bytes(spec) <= TABLE_LIMIT else "matmul"


def export_model(
    run_dir: str | Path, out_dir: str | Path, atol: float = 1e-5, graph: str = "auto"
) -> ExportReport:
    """Cut a trained run at its 100-d layer (`UtteranceCNN.features`) and write a model directory.

    `out_dir` gets model.onnx (input `input_ids` int64 (batch, seq), output `features` float32
    (batch, feature_dim)), tokenizer.json, the card cnnfeat.json (spec, sha256, metrics, parity),
    conformance.json and the run's report.html; it is staged and swapped in whole only when
    validation passes. Validation, like HuggingFace Optimum's exporter: input/output names and
    shapes, then values against PyTorch on a grid of batch sizes and lengths on a fresh
    onnxruntime session; a max abs difference above `atol` (float32 features) fails the export.

    graph: "auto", "table" or "matmul" (export/fast_graph.py: same features, different cost).

    Raises:
        InputError: `run_dir` is not a complete training run (names the missing/damaged file).
        OutputError: `out_dir` is something export did not write (never replaced) or unwritable.
        ModelError: an unknown graph, or parity above atol (nothing is written).
    """
    if graph not in GRAPHS:
        raise ModelError(f"unknown graph {graph!r}", advice=f"use one of {', '.join(GRAPHS)}")
    started = time.perf_counter()
    run_dir, out_dir = Path(run_dir), Path(out_dir)
    check_out_dir(run_dir, out_dir)  # before any work: never replace what the user made
    model, checkpoint = load_checkpoint(run_dir)
    spec = model.spec
    graph = choose_graph(spec) if graph == "auto" else graph
    metrics = read_metrics(run_dir / METRICS_FILE)
    tokenizer = run_dir / TOKENIZER_FILE
    wrong = not_a_file(tokenizer)
    if wrong is not None:
        raise InputError(
            f"{TOKENIZER_FILE} {wrong}",
            str(run_dir),
            advice="train again or copy the whole run directory",
        )
    try:  # damaged, or another run's: say so naming the run's file
        load_tokenizer(tokenizer, spec)
    except ModelError as exc:  # the same fault, the run's remedy
        raise InputError(exc.what, advice="train again or copy the run directory again") from None

    with staged_directory(out_dir, known=MODEL_FILES) as staging:
        model_path = staging / MODEL_FILE
        _export_onnx(model, spec, model_path, graph)
        shutil.copyfile(tokenizer, staging / TOKENIZER_FILE)
        if (run_dir / REPORT_FILE).is_file():  # the training report travels with the model
            shutil.copyfile(run_dir / REPORT_FILE, staging / REPORT_FILE)
        record: dict[str, object] = {
            "opset": OPSET,
            "graph": graph,
            "torch": torch.__version__,
            "onnx": onnx.__version__,
            "parity_max_abs_diff": None,  # below, once validated
            "parity_cases": None,
        }
        card = {
            "format_version": FORMAT_VERSION,
            "spec": spec.to_dict(),
            "input": INPUT_NAME,
            "output": OUTPUT_NAME,
            "vectors": checkpoint.get("vectors") or metrics.get("vectors"),
            "training": {
                "data": metrics.get("data"),
                "command": (metrics.get("config") or {}).get("command"),
                "config": metrics.get("config"),
                "best_epoch": metrics.get("best_epoch"),
                "train_seconds": metrics.get("train_seconds"),
                "environment": metrics.get("environment"),
                "oov_rate": metrics.get("oov_rate"),
                "interrupted_at_epoch": metrics.get("interrupted_at_epoch"),
                "dev_overlaps_train": metrics.get("dev_overlaps_train"),
                "test_overlaps_train": metrics.get("test_overlaps_train"),
            },
            "metrics": {"dev": metrics.get("dev"), "test": metrics.get("test")},
            "export": record,
            "sha256": {
                MODEL_FILE: sha256_file(model_path),
                TOKENIZER_FILE: sha256_file(staging / TOKENIZER_FILE),
            },
        }
        _write_card(staging, card)
        # Loaded as every user loads it (the runtime's checks, whole), then compared with PyTorch.
        diff, cases = validate(load_model(staging, device="cpu"), _torch_reference(model), atol)
        record.update(parity_max_abs_diff=diff, parity_cases=cases)
        _write_card(staging, card)
        # Every host checks against it. Written plainly, as the card: the directory is staged,
        # so a failed write names --out (staging's own error), never the staging directory.
        (staging / CONFORMANCE_FILE).write_bytes(conformance_bytes(staging))
    return ExportReport(out_dir, diff, cases, time.perf_counter() - started)


def _write_card(model_dir: Path, card: dict) -> None:
    (model_dir / CARD_FILE).write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")


def _export_onnx(model: UtteranceCNN, spec: ModelSpec, path: Path, graph: str = "table") -> None:
    if graph == "conv":
        proto = _torch_export(model, spec)
    else:
        proto = build_model(CnnWeights.from_state_dict(model.state_dict(), spec), spec, graph)
    for key, value in (
        ("cnnfeat.spec", spec.to_json()),
        ("cnnfeat.format_version", str(FORMAT_VERSION)),
        ("cnnfeat.graph", graph),
    ):
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    proto.producer_name = "cnnfeat"
    onnx.save_model(proto, str(path))


def _torch_export(model: UtteranceCNN, spec: ModelSpec) -> onnx.ModelProto:
    graph = _FeatureGraph(model).eval()
    seq = spec.fixed_len or 17
    example = torch.randint(2, spec.vocab_size, (3, seq), dtype=torch.int64)
    batch = torch.export.Dim("batch", min=1)
    dims = {0: batch}
    if spec.fixed_len is None:
        dims[1] = torch.export.Dim("seq", min=spec.min_len, max=spec.max_len)
    with torch.no_grad():
        program = torch.onnx.export(
            graph,
            (example,),
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            opset_version=OPSET,
            dynamo=True,
            external_data=False,
            dynamic_shapes={"input_ids": dims},
            verbose=False,
        )
    if program is None:  # only the legacy exporter (dynamo=False) returns nothing
        raise ModelError("torch.onnx.export returned no ONNX program", advice="use --graph table")
    return program.model_proto


def _torch_reference(model: UtteranceCNN) -> Callable[[np.ndarray], np.ndarray]:
    def run(ids: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return model.features(torch.from_numpy(ids)).numpy()

    return run


def validate(
    model: VerifiedModel,
    reference: Callable[[np.ndarray], np.ndarray],
    atol: float = 1e-5,
    seed: int = 0,
) -> tuple[float, int]:
    """Check a model directory loaded by `load_model` (which has checked the graph's names,
    shapes and metadata against the card, and a 2-row batch) with onnx.checker, then its
    features against `reference` on a grid of batch sizes and lengths; returns (max abs
    difference, cases). Raises ParityError above `atol`."""
    spec = model.spec
    onnx.checker.check_model(str(model.model_dir.model_path), full_check=True)
    rng = np.random.default_rng(seed)
    worst, cases = 0.0, 0
    fixed = spec.fixed_len
    lengths = (fixed,) if fixed is not None else tuple(min(n, spec.max_len) for n in LENGTHS)
    for batch in BATCH_SIZES:
        for longest in lengths:
            # Rows of mixed lengths (the longest first), so padding is exercised too.
            sizes = [longest, *rng.integers(0, longest + 1, size=batch - 1).tolist()]
            rows = [rng.integers(2, spec.vocab_size, size=n).tolist() for n in sizes]
            ids = pad_batch(rows, spec)
            got = model.run(ids)
            if got.shape != (batch, spec.feature_dim) or got.dtype != np.float32:
                raise ParityError(
                    f"output shape {got.shape} {got.dtype}, expected "
                    f"({batch}, {spec.feature_dim}) float32"
                )
            diff = float(np.abs(got - reference(ids)).max())
            worst, cases = max(worst, diff), cases + 1
            if not diff <= atol:
                raise ParityError(
                    f"ONNX and PyTorch features differ by {diff:.3g} (> {atol:g}) at batch "
                    f"{batch}, length {ids.shape[1]}; the export was not written"
                )
    return worst, cases


def check_out_dir(run_dir: Path, out_dir: Path) -> None:
    """`--out` must be absent, an empty directory or a model directory (it has a card) that
    holds only what export writes, and must not contain the run itself."""
    run, out = Path(os.path.abspath(run_dir)), Path(os.path.abspath(out_dir))
    if out == run or out in run.parents:
        raise OutputError(
            f"--out {out_dir} would replace the run directory {run_dir}",
            advice="it was left untouched: choose another --out",
        )
    check_replaceable(Path(out_dir), "cnnfeat model", CARD_FILE, MODEL_FILES)  # as given


# What `metrics.json` must hold for the card (each optional): key -> accepted JSON types.
_METRICS_FIELDS: dict[str, type | tuple[type, ...]] = {
    "dev": dict,
    "test": dict,
    "data": dict,
    "config": dict,
    "vectors": dict,
    "oov_rate": dict,
    "best_epoch": int,
    "train_seconds": (int, float),
    "environment": dict,
    "interrupted_at_epoch": int,
    "dev_overlaps_train": dict,
    "test_overlaps_train": dict,
}


def read_metrics(path: Path) -> dict:
    """`metrics.json` of a run (empty when absent); InputError naming it when it is damaged."""
    wrong = not_a_file(path)
    if wrong == MISSING:
        return {}
    if wrong is not None:  # a FIFO would make the read wait for ever
        raise InputError(f"{path.name} {wrong}", str(path.parent), advice="move it away")
    try:
        metrics = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", str(path)) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(
            f"not valid JSON ({exc})",
            str(path),
            advice="train again or copy the run directory again",
        ) from None
    if not isinstance(metrics, dict):
        raise InputError(
            "not a cnnfeat metrics file (a JSON object)", str(path), advice="train again"
        )
    for key, kind in _METRICS_FIELDS.items():
        value = metrics.get(key)
        if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
            raise InputError(
                f"field {key!r} has the wrong type ({type(value).__name__})",
                str(path),
                advice="the file is damaged: train again",
            )
    config = metrics.get("config") or {}
    if not isinstance(config.get("command", ""), str | None):
        raise InputError("field 'config.command' is not a string", str(path), advice="train again")
    # What the card will carry, checked here so that the run's file is named, not the card.
    nested: list[tuple[str, object, type | tuple[type, ...]]] = [
        (f"{split}.{score}", (metrics.get(split) or {}).get(score), (int, float))
        for split in ("dev", "test")
        for score in ("weighted_f1", "macro_f1", "accuracy")
    ]
    nested.append(("vectors.source", (metrics.get("vectors") or {}).get("source"), str))
    for field, value, kind in nested:
        if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
            raise InputError(
                f"field {field!r} has the wrong type ({type(value).__name__})",
                str(path),
                advice="the file is damaged: train again",
            )
    return metrics
