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

from cnnfeat.contract.describe import count, first_line
from cnnfeat.contract.errors import ArgumentError, CnnfeatError, DeviceError
from cnnfeat.distributed.sources import (
    FEATURES,
    ROWS_PER_BATCH,
    TEXT,
    CarriedError,
    check_output,
    count_rows,
    list_inputs,
    make_datasource,
    remove_output,
)
from cnnfeat.runtime import signals
from cnnfeat.runtime.reading import ENCODING_ERRORS

# Reading or writing a row costs about a seventh of embedding it (README, "How it scales"): a
# reading or writing task holds a quarter of a CPU, and one of each runs per 7 workers.
_IO_CPUS = 0.25
_WORKERS_PER_IO_TASK = 7


class EmbedBatch:
    """`Dataset.map_batches` callable: embed `column`, add `output` (100 float32 per row).

    model: a model directory (on every node), None for the shipped model, or the files of one
    as {name: bytes} (what `embed_dataset` sends, so workers need no shared storage). Takes
    pyarrow tables (batch_format="pyarrow", preferred: features become a fixed-size list) or
    dicts of numpy arrays (the default format: features become an (N, 100) tensor column).

    A cnnfeat error while loading the model (a missing directory, CUDA missing on a node) is
    raised by the first call, not by __init__: Ray sends an error raised in a call back to the
    driver as itself (pickled, fields and all), but one raised in an actor's __init__ only as
    the text of its traceback.
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

        self.column, self.output, self.drop_text = column, output, drop_text
        self.failed: CnnfeatError | None = None
        try:
            self.embedder = self._load(model, device, threads, batch_size)
        except CnnfeatError as exc:
            self.failed = exc

    @staticmethod
    def _load(
        model: str | Path | dict[str, bytes] | None,
        device: str,
        threads: int | None,
        batch_size: int,
    ) -> Any:
        from cnnfeat.runtime.embedder import Embedder

        if isinstance(model, dict):
            with tempfile.TemporaryDirectory(prefix="cnnfeat-model-") as folder:
                for name, data in model.items():
                    (Path(folder) / name).write_bytes(data)
                # Everything is in memory once loaded; the copy can go.
                return Embedder(folder, device, threads, batch_size)
        return Embedder(model, device, threads, batch_size)

    def __call__(self, batch: Any) -> Any:
        if self.failed is not None:
            raise self.failed
        if isinstance(batch, dict):
            out = {k: v for k, v in batch.items() if not (self.drop_text and k == self.column)}
            out[self.output] = self.embedder.embed(batch[self.column].tolist())
            return out
        features = self.embedder.embed(batch.column(self.column).to_pylist())
        if self.drop_text:
            batch = batch.drop_columns([self.column])
        return batch.append_column(self.output, fixed_size_list(features))


class EmbedBatchJob(EmbedBatch):
    """EmbedBatch in the embed-dataset job: its cnnfeat errors travel as CarriedError. A CPU
    worker holds at most one CPU, so it runs one thread: onnxruntime's (threads=1) and the
    tokenizer's (its Rust thread pool would otherwise take every core of the node). That is
    set here, before the tokenizer starts its pool, rather than as a Ray runtime_env: an actor
    with a runtime_env of its own cannot take one of the worker processes Ray has started
    already, and starting one took 30 s and more on a busy 2-core machine."""

    def __init__(self, *args: Any, **kwargs: Any):
        if kwargs.get("threads") == 1:
            os.environ["RAYON_NUM_THREADS"] = "1"
        super().__init__(*args, **kwargs)

    def __call__(self, batch: Any) -> Any:
        try:
            return super().__call__(batch)
        except CnnfeatError as exc:
            raise CarriedError(exc) from None


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
        return (
            f"embedded {count(self.rows, 'row')} in {self.seconds:.2f} s ({self.rate:,.0f} rows/s) "
            f"on {self.workers} {self.device} worker{'s' * (self.workers != 1)} "
            f"-> {self.output}"
        )


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
    workers: embedding actors (default: one per GPU; else 7 in 8 CPUs, rounded up, each with
    what the reading and writing tasks leave, up to one CPU: `_budget`). A local cluster gets
    as many CPUs as cores, or as `workers` if more.
    progress: progress bars, on a terminal only. verbose: keep Ray's own log lines (its
    progress log when stdout is no terminal among them); without it a run shows only the
    progress bars and what cnnfeat says.

    Raises: ArgumentError (`encoding_errors` or `workers` out of range, before Ray loads),
    InputError (names file and line), ModelError, DeviceError, OutputError, CnnfeatError
    (no Ray, a cluster that cannot be reached, too many workers), each as raised on the worker;
    KeyboardInterrupt / Terminated for a SIGINT / SIGTERM the CLI recorded
    (cnnfeat.runtime.signals). On any of them the output is removed again.
    """
    # The Python API's arguments (the CLI's options are checked by Typer), before Ray loads.
    if encoding_errors not in ENCODING_ERRORS:
        raise ArgumentError(
            f"encoding_errors must be one of {', '.join(ENCODING_ERRORS)}, got {encoding_errors!r}"
        )
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int)):
        raise ArgumentError(f"workers must be an integer, got {workers!r}")
    if workers is not None and workers < 1:
        raise ArgumentError(f"workers must be at least 1, got {workers}")
    ray = _import_ray()
    from cnnfeat.contract.layout import CARD_FILE, MODEL_FILE, TOKENIZER_FILE
    from cnnfeat.runtime.model_dir import load_model_dir

    paths, in_fs = list_inputs(input)
    out_fs, out_root, out_existed = check_output(output)
    loaded = load_model_dir(model_dir)  # a bad model fails here, before any cluster starts
    files = {
        name: (loaded.path / name).read_bytes() for name in (MODEL_FILE, TOKENIZER_FILE, CARD_FILE)
    }

    try:
        with _native_stderr_silenced(not verbose), _ray_data_settings(ray.data, progress, verbose):
            started_here = not ray.is_initialized()
            if started_here:
                _start_ray(ray, address, workers, verbose)
            try:
                started = time.perf_counter()
                gpus = int(ray.cluster_resources().get("GPU", 0))
                on_gpu = _use_gpu(device, gpus)
                budget = _budget(workers, gpus if on_gpu else None, ray.cluster_resources())
                workers = budget.workers
                io = {"num_cpus": _IO_CPUS, "concurrency": budget.io_tasks}
                source = make_datasource(paths, in_fs, column, encoding_errors, rows_per_batch)
                ds = ray.data.read_datasource(source, **io).map_batches(
                    EmbedBatchJob,
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
                    **({"num_gpus": 1} if on_gpu else {"num_cpus": budget.worker_cpus}),
                )
                # Faults: Ray Data's actor pools default to max_restarts=-1 and
                # max_task_retries=-1, so a killed actor is restarted and its unfinished block
                # redone; a block's output is kept only once its task has finished, so no row is
                # lost or written twice (tests/distributed/test_embed_dataset.py kills one).
                _run(
                    lambda: ds.write_parquet(
                        output,
                        filesystem=out_fs,
                        ray_remote_args={"num_cpus": _IO_CPUS},
                        concurrency=budget.io_tasks,
                    )
                )
                summary = DatasetSummary(
                    count_rows(out_fs, out_root),
                    time.perf_counter() - started,
                    workers,
                    "cuda" if on_gpu else "cpu",
                    output,
                )
            finally:
                if started_here:
                    ray.shutdown()
        signals.raise_if_received()  # a signal during ray.shutdown() ends the job too
    except BaseException:
        # Removed once the local cluster is shut down: write tasks still running when a signal
        # or an error stopped the job re-created shards after an earlier removal (seen in CI:
        # SIGTERM mid-write, exit 143, and `out/` left with shards in it). On a cluster this
        # process joined (`address`), tasks already running may still finish after this.
        remove_output(out_fs, out_root, out_existed)  # no half-written corpus left behind
        raise
    return summary


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
    options: dict[str, Any] = {
        "logging_level": level,
        "include_dashboard": False,
        "log_to_driver": verbose,
    }  # the workers' own output
    if address is None:
        # A local cluster: as many CPUs as cores, or as workers asked for; `_budget` shares them
        # between the embedding workers and the reading and writing tasks.
        options["num_cpus"] = max(os.cpu_count() or 1, workers or 1)
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


@dataclass(frozen=True)
class _Budget:
    workers: int
    worker_cpus: float  # each CPU worker's share of a CPU (GPU workers: unused)
    io_tasks: int  # reading tasks at once, and writing tasks at once


def _budget(workers: int | None, gpus: int | None, resources: dict) -> _Budget:
    """Share the cluster between embedding workers and the reading and writing tasks, so that
    all three run at once, on 2 cores too: a fixed pool that took every CPU would leave the
    reading task none (the job would wait forever), and one that waited behind a reading task
    holding a whole CPU ran late and alone. GPU clusters: one worker per GPU. CPU clusters: by
    default 7 workers in 8 CPUs (rounded up: 2 on 2), each with what the reading and writing
    tasks (a quarter of a CPU each, one of each per 7 workers) leave, up to one CPU; a worker
    needs at least half a CPU."""
    if gpus is not None:
        if workers is not None and workers > gpus:
            raise CnnfeatError(
                f"--workers {workers}: the Ray cluster has {gpus} GPUs, one per worker"
            )
        workers = workers or gpus
        return _Budget(workers, 0.0, math.ceil(workers / _WORKERS_PER_IO_TASK))
    cpus = float(resources.get("CPU", 0))
    fitting = 0
    for n in range(1, int(cpus * 2) + 1):
        if _share(n, cpus) >= 0.5:
            fitting = n
    if workers is None:
        workers = max(1, min(math.ceil(cpus * 7 / 8), fitting))
    elif workers > fitting:
        raise CnnfeatError(
            f"--workers {workers}: the Ray cluster has {cpus:g} CPUs; beside the reading and "
            f"writing tasks at most {fitting} workers fit (half a CPU each at least)"
        )
    io_tasks = math.ceil(workers / _WORKERS_PER_IO_TASK)
    share = math.floor(_share(workers, cpus) * 100) / 100  # Ray adds up to 4 decimals
    return _Budget(workers, min(1.0, share), io_tasks)


def _share(workers: int, cpus: float) -> float:
    """Each of `workers`' share of `cpus`, once the reading and writing tasks have theirs."""
    io_tasks = math.ceil(workers / _WORKERS_PER_IO_TASK)
    return (cpus - 2 * io_tasks * _IO_CPUS) / workers


def _use_gpu(device: str, gpus: int) -> bool:
    if device == "cuda" and not gpus:
        raise DeviceError(
            "--device cuda: the Ray cluster has no GPUs", advice="use --device cpu or auto"
        )
    if device not in ("auto", "cpu", "cuda"):
        raise DeviceError(f"unknown device {device!r}", advice="use one of auto, cpu, cuda")
    return device != "cpu" and gpus > 0


def _run(job) -> None:
    """Run a Ray job; a cnnfeat error raised on a worker comes back as itself (one line), not
    wrapped in Ray's task error with a remote traceback. A SIGINT or SIGTERM that the CLI
    recorded meanwhile (cnnfeat.runtime.signals) ends it as KeyboardInterrupt or Terminated,
    whatever Ray made of the exception its handler raised (wrapped, or dropped in Ray's C++
    wait loop so that the job carried on)."""
    try:
        job()
    except BaseException as exc:
        signals.raise_if_received()
        cause = _cnnfeat_cause(exc)
        if cause is not None:
            raise cause from None
        raise
    signals.raise_if_received()


class _ConsoleFilter(logging.Filter):
    def __init__(self, verbose: bool):
        super().__init__()
        self.verbose = verbose

    def filter(self, record: logging.LogRecord) -> bool:
        # Ray Data checks for free CPUs again once the write is done, while the finished actor
        # pool still holds its CPUs, and warns that the job "will hang": not so, it is over.
        spurious = "does not have any available CPUs" in str(record.msg)
        return self.verbose and record.levelno < logging.ERROR and not spurious


def _terminal() -> bool:
    """Whether Ray Data would draw progress bars (stdout a terminal) and they would be seen."""
    try:
        return sys.stdout.isatty() and sys.stderr.isatty()
    except (AttributeError, ValueError, OSError):
        return False


@contextmanager
def _ray_data_settings(ray_data, progress: bool, verbose: bool) -> Iterator[None]:
    """Ray Data's settings for a job, put back afterwards (a Dataset copies them when it is
    made, so datasets are made inside). Its console is kept to what cnnfeat promises:
    progress bars on a terminal unless quiet; Ray's own log lines (its progress log when
    stdout is no terminal, "Dataset ... execution failed", tuning hints) only when verbose;
    a failed job's traceback never (Ray's log file has it; cnnfeat reports the error in one
    line). A worker's error comes back as itself, not inside Ray's UserCodeException."""
    context = ray_data.DataContext.get_current()
    settings = {
        "enable_progress_bars": progress and (verbose or _terminal()),
        "raise_original_map_exception": True,
    }
    saved = {name: getattr(context, name) for name in settings}
    for name, value in settings.items():
        setattr(context, name, value)
    data_logger = logging.getLogger("ray.data")
    console = [h for h in data_logger.handlers if "File" not in type(h).__name__]
    console_filter = _ConsoleFilter(verbose)
    for handler in console:
        handler.addFilter(console_filter)
    try:
        with warnings.catch_warnings():
            if not verbose:  # Ray's tuning hints (few blocks for many workers, say)
                warnings.simplefilter("ignore")
            yield
    finally:
        for name, value in saved.items():
            setattr(context, name, value)
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
        if isinstance(err, CarriedError):
            return err.error
        if isinstance(cause, CnnfeatError):
            err = cause
        # Ray's RayTaskError(InputError) is an InputError too, with a traceback in str().
        if isinstance(err, CnnfeatError) and type(err).__module__.startswith("cnnfeat."):
            return err
        todo += [err.__cause__, err.__context__, cause]
    return None
