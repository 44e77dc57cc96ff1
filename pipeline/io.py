"""Atomic outputs and completion markers, shared by every stage.

A stage writes each output to ``<name>.tmp-<pid>`` and renames it into place;
the rename is atomic on POSIX file systems, so a reader (or a resumed run)
never sees half a file. A directory-level ``_SUCCESS`` marker, written last with
the stage's stats, says the whole unit is complete: a rerun skips units whose
marker exists and redoes the rest.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import pyarrow as pa
import pyarrow.parquet as pq

MARKER = "_SUCCESS"
#: A folder that is itself a dataset (the corpus) keeps its marker and manifest in this sub-folder, so
#: that every file a reader lists is a shard: duckdb's ``read_parquet('dir/*')`` and Hugging Face's
#: ``data_dir`` read ``_``-prefixed files too, but skip folders (duckdb) and ``.`` names (both).
META_DIR = ".meta"


def _tmp_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it to ``path`` on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_name(path)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            if tmp.is_dir():
                shutil.rmtree(tmp)
            else:
                tmp.unlink()


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())


def write_json_atomic(path: str | Path, obj: Any) -> None:
    write_bytes_atomic(path, (json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n").encode())


def write_parquet_atomic(path: str | Path, table: pa.Table, **kwargs: Any) -> None:
    kwargs.setdefault("compression", "zstd")
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, **kwargs)


def link_atomic(src: str | Path, dst: str | Path) -> bool:
    """Make ``dst`` the same file as ``src`` without a second copy on disk (a hard link), atomically.

    Falls back to a copy where the file system cannot link. Safe because every writer here replaces
    files (temp then rename, a new inode) and never rewrites one in place. Returns True when linked.
    """
    with atomic_path(dst) as tmp:
        try:
            os.link(src, tmp)
            return True
        except OSError:
            shutil.copyfile(src, tmp)
            return False


# ".<name>.tmp-<pid>" (atomic_path) and "<prefix>.tmp-<pid>.<ext>" (the Megatron merge and its parts)
_TMP_RE = re.compile(r"\.tmp-\d+(\.[A-Za-z0-9.]+)?$")


def sweep_stale_temps(directory: str | Path) -> tuple[int, int]:
    """Delete the temporary outputs (``.<name>.tmp-<pid>``, see :func:`atomic_path`, and
    ``<prefix>.tmp-<pid>.<ext>``) under ``directory``.

    A process killed between writing a temporary file and renaming it leaves the file behind; nothing
    reads it (readers skip dot-files and the names do not end in ``.parquet``), but it holds disk, up to a
    whole fastText model. Call this only before a stage starts, while none of its writers runs.
    Returns (entries removed, bytes freed).
    """
    directory = Path(directory)
    if not directory.is_dir():
        return 0, 0
    removed = freed = 0
    for p in sorted(directory.rglob("*.tmp-*"), key=lambda p: len(p.parts), reverse=True):
        if not _TMP_RE.search(p.name) or not (p.exists() or p.is_symlink()):
            continue
        if p.is_dir() and not p.is_symlink():
            freed += sum(f.stat().st_size for f in p.rglob("*") if f.is_file())
            shutil.rmtree(p, ignore_errors=True)
        else:
            freed += p.lstat().st_size
            p.unlink(missing_ok=True)
        removed += 1
    return removed, freed


def marker_path(directory: str | Path) -> Path:
    """``<directory>/_SUCCESS``, or ``<directory>/.meta/_SUCCESS`` for a dataset folder (see META_DIR)."""
    d = Path(directory)
    return d / META_DIR / MARKER if (d / META_DIR).is_dir() else d / MARKER


def is_complete(directory: str | Path) -> bool:
    return marker_path(directory).exists()


def mark_complete(directory: str | Path, stats: dict[str, Any] | None = None) -> None:
    """Write the completion marker (with stats) last, after every output is in place."""
    payload = {"completed_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    payload.update(stats or {})
    write_json_atomic(marker_path(directory), payload)


def read_marker(directory: str | Path) -> dict[str, Any]:
    return json.loads(marker_path(directory).read_text())


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


class JsonlLineError(ValueError):
    """A line of a JSON-lines file is not a JSON object. Callers add their own context to ``reason``."""

    def __init__(self, lineno: int, reason: str):
        super().__init__(f"line {lineno}: {reason}")
        self.lineno = lineno
        self.reason = reason


def iter_jsonl(path: str | Path) -> Iterator[tuple[int, dict]]:
    """(1-based line number, object) for every non-blank line of a .jsonl or .jsonl.gz file.

    Raises JsonlLineError for a line that is not valid JSON or not an object, and lets
    OSError / UnicodeDecodeError through for the caller to name the file.
    """
    import fsspec

    # a local path or any fsspec URL (hf://, s3://, https://), streamed; .gz is gunzipped
    with fsspec.open(str(path), "rt", compression="infer", encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise JsonlLineError(lineno, f"not valid JSON ({exc.msg} at column {exc.colno})") from None
            if not isinstance(obj, dict):
                raise JsonlLineError(lineno, f"a JSON {type(obj).__name__}, expected an object")
            yield lineno, obj
