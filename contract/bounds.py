"""Upper bounds of the counts that the commands and the Python API take, declared once.

Far above any useful value, and low enough that sizes computed from them stay sane: a typo such
as `--threads 99999999999` is a usage error (exit 2) or an ArgumentError, not a failure deep
inside a library. Training (training/config.py) and the runtime (runtime/embedder.py) share them.
"""

MAX_THREADS = 1024  # CPU threads (onnxruntime's intra-op threads; torch's in training)
MAX_BATCH_SIZE = 1 << 20  # rows in one batch (inference, and an optimiser step in training)
MAX_TOKENS = 1 << 26  # rows x padded width of one inference batch
MAX_COUNT = 1_000_000_000  # epochs, patience, vocabulary sizes
MAX_SEED = 2**32 - 1  # numpy.random.seed's range; training and the probes' seeds
