"""Embedding on Ray Data, for corpora that outgrow one machine (`pip install 'cnnfeat[ray]'`).

Two plain pieces:

- `EmbedBatch`, a callable class for `Dataset.map_batches`. Ray runs it as a pool of actors;
  each loads the ONNX model once (through `Embedder`, so tokenising, batching and padding are
  exactly those of `cnnfeat embed`) and adds a `features` column to every batch:
  `fixed_size_list<float>[100]`, which Parquet round-trips as such (pyarrow keeps the Arrow
  schema in the file), so every reader sees a list of 100 float32 per row.

      ds = ray.data.read_parquet("s3://bucket/chats/")
      ds = ds.map_batches(EmbedBatch, fn_constructor_kwargs={"column": "text"},
                          batch_format="pyarrow", concurrency=8, num_cpus=1)

- `embed_dataset`, the `cnnfeat embed-dataset` job: read text/CSV/TSV/JSONL/Parquet files with
  the same rules as `cnnfeat embed` (every line a row, the same line endings and UTF-8 checks),
  embed them on a Ray cluster, and write Parquet shards. Each output row keeps the identifying
  columns of its input row (every column but the text, verbatim as strings for CSV/TSV/JSONL,
  native for Parquet) plus `source_file`, `source_row` (0-based: the row `cnnfeat embed FILE`
  gives it) and `source_line` (1-based line where the record starts; null for Parquet).
  Finding, reading and writing the files is distributed/sources.py; this module runs the job.

Ray is imported inside functions only: the single-machine path never needs it.
"""

from __future__ import annotations

import io
import logging
import math
import os
import re
import signal
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import numpy as np

from cnnfeat.contract import errors
from cnnfeat.contract.describe import first_line
from cnnfeat.contract.errors import CnnfeatError, DeviceError, InputError
from cnnfeat.distributed.sources import (
    FEATURES,
    ROWS_PER_BATCH,
    TEXT,
    check_output,
    count_rows,
    list_inputs,
    make_datasource,
    remove_output,
)
from cnnfeat.runtime.reading import ENCODING_ERRORS

# A CPU worker holds one CPU, so it runs one thread: onnxruntime's (threads=1) and the
# tokenizer's (its Rust thread pool would otherwise take every core of the node).
_ONE_CPU = {"num_cpus": 1, "runtime_env": {"env_vars": {"RAYON_NUM_THREADS": "1"}}}
_ERROR_LINE = re.compile(rf"^{re.escape(errors.__name__)}\.(\w+Error): (.*)$", re.MULTILINE)


class EmbedBatch:
    """`Dataset.map_batches` callable: embed `column`, add `output` (100 float32 per row).

    model: a model directory (on every node), None for the shipped model, or the files of one
    as {name: bytes} (what `embed_dataset` sends, so workers need no shared storage). Takes
    pyarrow tables (batch_format="pyarrow", preferred: features become a fixed-size list) or
    dicts of numpy arrays (the default format: features become an (N, 100) tensor column).
    """

    def __init__(
        self,
        model: str | Path | dict[str, bytes] | None = None,
        column: str = "text",
        device: str = "auto",
        threads: int | None = None,
        batch_size: int = 256,
        output: str = FEATURES,
        drop_text: bool = False,
    ):
        from cnnfeat.runtime.embedder import Embedder

        self.column, self.output, self.drop_text = column, output, drop_text
        if isinstance(model, dict):
            with tempfile.TemporaryDirectory(prefix="cnnfeat-model-") as folder:
                for name, data in model.items():
                    (Path(folder) / name).write_bytes(data)
                # Everything is in memory once loaded; the copy can go.
                self.embedder = Embedder(folder, device, threads, batch_size)
        else:
            self.embedder = Embedder(model, device, threads, batch_size)

    def __call__(self, batch: Any) -> Any:
        if isinstance(batch, dict):
            out = {k: v for k, v in batch.items() if not (self.drop_text and k == self.column)}
            out[self.output] = self.embedder.embed(batch[self.column].tolist())
            return out
        features = self.embedder.embed(batch.column(self.column).to_pylist())
        if self.drop_text:
            batch = batch.drop_columns([self.column])
        return batch.append_column(self.output, fixed_size_list(features))


def fixed_size_list(features: np.ndarray):
    """(N, D) float32 -> pyarrow fixed_size_list<float>[D], without copying the values."""
    import pyarrow as pa

    flat = pa.array(np.ascontiguousarray(features, dtype=np.float32).reshape(-1))
    return pa.FixedSizeListArray.from_arrays(flat, features.shape[1])


def features_matrix(column) -> np.ndarray:
    """A `features` column (fixed-size list, list or Ray tensor) -> (N, D) float32 array."""
    import pyarrow as pa

    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if isinstance(column, pa.ExtensionArray):
        column = column.storage
    if len(column) == 0:
        return np.empty((0, 0), dtype=np.float32)
    values = column.flatten().to_numpy(zero_copy_only=False)
    return values.reshape(len(column), -1).astype(np.float32, copy=False)


# --- the job --------------------------------------------------------------------------------


@dataclass(frozen=True)
class DatasetSummary:
    rows: int
    seconds: float
    workers: int
    device: str
    output: str

    @property
    def rate(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else float("inf")

    def line(self) -> str:
        return (f"embedded {self.rows} rows in {self.seconds:.2f} s ({self.rate:,.0f} rows/s) "
                f"on {self.workers} {self.device} worker{'s' * (self.workers != 1)} "
                f"-> {self.output}")  # fmt: skip


def embed_dataset(
    input: str,
    output: str,
    column: str | None = None,
    address: str | None = None,
    workers: int | None = None,
    model_dir: str | Path | None = None,
    device: str = "auto",
    encoding_errors: str = "strict",
    progress: bool = True,
    rows_per_batch: int = ROWS_PER_BATCH,
    verbose: bool = False,
) -> DatasetSummary:
    """Embed every row of the files under `input` (a file, directory or glob; local or a
    pyarrow URI such as s3://) into Parquet shards under `output`, on Ray.

    address: a running cluster ("auto", "ray://host:10001", "host:6379"); None joins the
    cluster this process is already connected to, else starts a local one.
    workers: embedding actors (default: one per GPU; else 7 CPUs in 8, the rest reads and
    writes). A local cluster gets `workers` + 1 CPUs (default: one worker per core).
    verbose: keep Ray's own log lines; without it a successful run shows only the progress
    and the summary.
    """
    ray = _import_ray()
    from cnnfeat.contract.layout import CARD_FILE, MODEL_FILE, TOKENIZER_FILE
    from cnnfeat.runtime.model_dir import load_model_dir

    if encoding_errors not in ENCODING_ERRORS:
        raise InputError(f"--encoding-errors must be one of {', '.join(ENCODING_ERRORS)}")
    if workers is not None and workers < 1:
        raise CnnfeatError("--workers must be at least 1")
    paths, in_fs = list_inputs(input)
    out_fs, out_root, out_existed = check_output(output)
    loaded = load_model_dir(model_dir)  # a bad model fails here, before any cluster starts
    files = {name: (loaded.path / name).read_bytes()
             for name in (MODEL_FILE, TOKENIZER_FILE, CARD_FILE)}  # fmt: skip

    with _native_stderr_silenced(not verbose):
        started_here = not ray.is_initialized()
        if started_here:
            _start_ray(ray, address, workers, verbose)
        try:
            started = time.perf_counter()
            gpus = int(ray.cluster_resources().get("GPU", 0))
            on_gpu = _use_gpu(device, gpus)
            workers = _check_workers(workers, gpus if on_gpu else None, ray.cluster_resources())
            source = make_datasource(paths, in_fs, column, encoding_errors, rows_per_batch)
            ds = ray.data.read_datasource(source).map_batches(
                EmbedBatch,
                fn_constructor_kwargs={
                    "model": files,
                    "column": TEXT,
                    "drop_text": True,
                    "device": "cuda" if on_gpu else "cpu",
                    "threads": None if on_gpu else 1,
                },
                batch_size=rows_per_batch,
                batch_format="pyarrow",
                compute=ray.data.ActorPoolStrategy(size=workers),
                **({"num_gpus": 1} if on_gpu else _ONE_CPU),
            )
            # Faults: Ray Data's actor pools default to max_restarts=-1 and max_task_retries=-1,
            # so a killed actor is restarted and its unfinished block redone; a block's output is
            # kept only once its task has finished, so no row is lost or written twice
            # (tests/distributed/test_embed_dataset.py kills one mid-run).
            try:
                with _ray_data_logging(ray.data, progress):
                    _run(lambda: ds.write_parquet(output, filesystem=out_fs))
            except BaseException:
                remove_output(out_fs, out_root, out_existed)  # no half-written corpus left behind
                raise
            rows = count_rows(out_fs, out_root)
            return DatasetSummary(rows, time.perf_counter() - started, workers,
                                  "cuda" if on_gpu else "cpu", output)  # fmt: skip
        finally:
            if started_here:
                ray.shutdown()


@contextmanager
def _native_stderr_silenced(silence: bool) -> Iterator[None]:
    """Send file descriptor 2 to /dev/null while Ray runs, and Python's stderr (cnnfeat's own
    lines, progress, Ray's Python logging) to a copy of it. Ray's C++ core writes straight to
    descriptor 2, with no setting to stop it: an "error" line on every successful Ray Data
    actor job (ray-project/ray#57733), a stack dump when the job is stopped by a signal."""
    stream = sys.stderr
    try:
        if not silence or stream.fileno() != 2:
            raise ValueError("nothing to do")
        stream.flush()
        saved = os.dup(2)
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        yield  # not a real stderr (a test runner's capture), or -v
        return
    copy = open(saved, "w", encoding=stream.encoding, errors=stream.errors, buffering=1)  # noqa: SIM115
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 2)
    os.close(null)
    _point_handlers((stream, sys.__stderr__), copy)
    sys.stderr = copy
    try:
        yield
    finally:
        copy.flush()
        os.dup2(saved, 2)
        sys.stderr = stream
        _point_handlers((copy,), stream)  # those made meanwhile (Ray's) too
        copy.close()


def _point_handlers(old: tuple, new: Any) -> None:
    """Logging handlers that write to one of `old` streams write to `new` from now on."""
    loggers = [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
    for logger in loggers:
        for handler in getattr(logger, "handlers", ()):
            stream = getattr(handler, "stream", None)  # FileHandlers hold files, never these
            if isinstance(handler, logging.StreamHandler) and stream in old:
                handler.setStream(new)


def _import_ray():
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise CnnfeatError(
            "embed-dataset needs Ray: pip install 'cnnfeat[ray]' "
            "(from a clone: pip install -e '.[ray]')"
        ) from None
    return ray


def _start_ray(ray, address: str | None, workers: int | None, verbose: bool = False) -> None:
    # A local cluster's start-up notices are nothing its user can act on; a remote one's are.
    level = logging.INFO if verbose else logging.WARNING if address else logging.ERROR
    options: dict[str, Any] = {"logging_level": level, "include_dashboard": False}
    if address is None:
        # A local cluster: the embedding actors (one per core by default), plus one CPU for
        # the reading and writing tasks, which are light beside embedding.
        options["num_cpus"] = (workers or os.cpu_count() or 1) + 1
    # ray.init installs SIGTERM handlers of its own (exit 15, leaving the local cluster's
    # processes to die on their own); the command's handler, which unwinds through
    # ray.shutdown(), is kept. A signal while a local cluster starts (a few seconds) waits
    # until it is up: cut short, its agents outlive the job.
    sigterm = signal.getsignal(signal.SIGTERM)
    utils = getattr(getattr(ray, "_private", None), "utils", None)
    setter = getattr(utils, "set_sigterm_handler", None)
    if utils is not None and setter is not None and callable(sigterm):
        utils.set_sigterm_handler = lambda handler: None
    try:
        with _signals_held() if address is None else nullcontext():
            ray.init(address=address, **options)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise CnnfeatError(
            f"cannot reach the Ray cluster at {address}: {first_line(exc)}"
        ) from None
    except BaseException:  # SIGTERM or Ctrl-C half way: stop what was started
        ray.shutdown()
        raise
    finally:
        if utils is not None and setter is not None:
            utils.set_sigterm_handler = setter
        if callable(sigterm) and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, sigterm)


@contextmanager
def _signals_held() -> Iterator[None]:
    """SIGINT and SIGTERM wait until the block is done, then take effect. Only for starting a
    local Ray cluster (seconds): cut short, its processes outlive the job (tests/distributed/
    test_embed_dataset.py, test_sigterm_exits_143_and_leaves_no_ray_process[4.0])."""
    if threading.current_thread() is not threading.main_thread():
        yield  # handlers can only be set, and signals only arrive, in the main thread
        return
    caught: list[int] = []
    previous: dict[int, Callable[[int, FrameType | None], Any] | int | None] = {}
    try:
        for signum in (signal.SIGINT, signal.SIGTERM):
            if signal.getsignal(signum) is not None:  # None: set outside Python; keep it
                previous[signum] = signal.signal(signum, lambda got, frame: caught.append(got))
        yield
    finally:
        for held, handler in previous.items():
            signal.signal(held, handler)
    if caught:
        handler = previous[caught[0]]
        if callable(handler):
            handler(caught[0], None)  # default_int_handler raises KeyboardInterrupt, and so on
        elif handler != signal.SIG_IGN:
            os.kill(os.getpid(), caught[0])


def _check_workers(workers: int | None, gpus: int | None, resources: dict) -> int:
    """GPU clusters: one worker per GPU. CPU clusters: a worker holds one CPU, and a fixed pool
    that took every CPU would leave none for the reading and writing tasks (the job would wait
    forever), so by default one CPU in 8 is left to them (reading and writing a row costs about
    a seventh of embedding it: docs/scale.md, "How it scales")."""
    if gpus is not None:
        if workers is not None and workers > gpus:
            raise CnnfeatError(f"--workers {workers}: the Ray cluster has {gpus} GPUs, one per "
                               "worker")  # fmt: skip
        return workers or gpus
    cpus = int(resources.get("CPU", 0))
    if workers is None:
        return max(1, cpus - math.ceil(cpus / 8))
    if workers > cpus - 1:
        raise CnnfeatError(f"--workers {workers}: the Ray cluster has {cpus} CPUs and at least "
                           f"one must stay free for reading and writing, so at most "
                           f"{max(0, cpus - 1)} workers fit")  # fmt: skip
    return workers


def _use_gpu(device: str, gpus: int) -> bool:
    if device == "cuda" and not gpus:
        raise DeviceError("--device cuda: the Ray cluster has no GPUs; use --device cpu or auto")
    if device not in ("auto", "cpu", "cuda"):
        raise DeviceError(f"unknown device {device!r}; use one of auto, cpu, cuda")
    return device != "cpu" and gpus > 0


def _run(job) -> None:
    """Run a Ray job; a cnnfeat error raised on a worker comes back as itself (one line), not
    wrapped in Ray's task error with a remote traceback."""
    try:
        job()
    except Exception as exc:
        cause = _cnnfeat_cause(exc)
        if cause is not None:
            raise cause from None
        raise


class _ConsoleFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        # Ray Data checks for free CPUs again once the write is done, while the finished actor
        # pool still holds its CPUs, and warns that the job "will hang": not so, it is over.
        spurious = "does not have any available CPUs" in str(record.msg)
        return record.levelno < logging.ERROR and not spurious


@contextmanager
def _ray_data_logging(ray_data, progress: bool) -> Iterator[None]:
    """Keep Ray Data's console to progress: a failed job's traceback goes to Ray's log file
    only, and cnnfeat reports the error in one line. Quiet drops the progress notices too."""
    context = ray_data.DataContext.get_current()
    bars = context.enable_progress_bars
    context.enable_progress_bars = progress
    data_logger = logging.getLogger("ray.data")
    console = [h for h in data_logger.handlers if "File" not in type(h).__name__]
    level = data_logger.level
    console_filter = _ConsoleFilter()
    for handler in console:
        handler.addFilter(console_filter)
    if not progress:
        data_logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            if not progress:  # Ray's tuning hints (few blocks for many workers, say)
                warnings.simplefilter("ignore")
            yield
    finally:
        context.enable_progress_bars = bars
        data_logger.setLevel(level)
        for handler in console:
            handler.removeFilter(console_filter)


def _cnnfeat_cause(exc: BaseException) -> CnnfeatError | None:
    """The worker's own cnnfeat error inside whatever Ray wrapped it in, or None."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        err = todo.pop()
        if err is None or id(err) in seen:
            continue
        seen.add(id(err))
        cause = getattr(err, "cause", None)  # RayTaskError keeps the original exception here
        if isinstance(cause, CnnfeatError):
            err = cause
        # Ray's RayTaskError(InputError) is an InputError too, with a traceback in str().
        if isinstance(err, CnnfeatError) and type(err).__module__.startswith("cnnfeat."):
            if err.args and isinstance(err.args[0], str):
                # Ray Data appends its retry advice to the message; it does not apply here.
                err.args = (err.args[0].split("\nFailed to ")[0], *err.args[1:])
            return err
        if getattr(err, "_actor_init_failed", False):
            # A worker's __init__ failed (CUDA missing on a node, say): Ray keeps only the
            # text of the remote traceback, whose last cnnfeat line is the error itself.
            found = _ERROR_LINE.findall(str(err))
            if found:
                name, message = found[-1]
                return getattr(errors, name, CnnfeatError)(message)
        todo += [err.__cause__, err.__context__, cause]
    return None
