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
        try:
            if tmp.is_dir() and not tmp.is_symlink():
                shutil.rmtree(tmp)
            elif tmp.exists() or tmp.is_symlink():
                tmp.unlink()
        except OSError:
            pass  # cleaning up after a failed write (a read-only disk): the write's own error is the one to see


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())


def write_json_atomic(path: str | Path, obj: Any) -> None:
    write_bytes_atomic(path, (json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n").encode())


class OutputCheckFailed(OSError):
    """A freshly written output does not hold what was written (a full disk, a failing device): not published."""


def check_parquet_rows(tmp: str | Path, rows: int, name: str | Path) -> None:
    """Raise OutputCheckFailed unless the Parquet file ``tmp`` (about to become ``name``) has a readable footer
    holding ``rows`` rows."""
    try:
        got = pq.read_metadata(tmp).num_rows
    except (OSError, pa.ArrowException) as exc:
        raise OutputCheckFailed(f"{name}: the written Parquet file is unreadable ({type(exc).__name__}): "
                                "not published") from None
    if got != rows:
        raise OutputCheckFailed(f"{name}: wrote {got} of {rows} rows: not published")


def parquet_ok(path: str | Path) -> bool:
    """True when ``path`` is a Parquet file whose footer reads (what a resumed step may skip redoing)."""
    try:
        pq.read_metadata(path)
        return True
    except (OSError, pa.ArrowException):
        return False


def write_parquet_atomic(path: str | Path, table: pa.Table, **kwargs: Any) -> None:
    """Write ``table``, check the file's footer holds its row count, then rename it into place."""
    kwargs.setdefault("compression", "zstd")
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, **kwargs)
        check_parquet_rows(tmp, table.num_rows, path)


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
_TMP_RE = re.compile(r"\.tmp-(\d+)(\.[A-Za-z0-9.]+)?$")


def _writer_alive(pid: int) -> bool:
    """True when process ``pid`` runs on this machine (its temporary file may still be written)."""
    if pid == os.getpid():
        return False  # this process calls the sweep between its own writes
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, another user's
    return True


def sweep_stale_temps(directory: str | Path) -> tuple[int, int]:
    """Delete the temporary outputs (``.<name>.tmp-<pid>``, see :func:`atomic_path`, and
    ``<prefix>.tmp-<pid>.<ext>``) under ``directory`` whose writer process is gone.

    A process killed between writing a temporary file and renaming it leaves the file behind; nothing
    reads it (readers skip dot-files and the names do not end in ``.parquet``), but it holds disk, up to a
    whole fastText model. A temporary file of a live process on this machine is kept: it may be another
    run's file being written. Returns (entries removed, bytes freed).
    """
    directory = Path(directory)
    if not directory.is_dir():
        return 0, 0
    removed = freed = 0
    for p in sorted(directory.rglob("*.tmp-*"), key=lambda p: len(p.parts), reverse=True):
        m = _TMP_RE.search(p.name)
        if not m or not (p.exists() or p.is_symlink()) or _writer_alive(int(m.group(1))):
            continue
        if p.is_dir() and not p.is_symlink():
            freed += sum(f.stat().st_size for f in p.rglob("*") if f.is_file())
            shutil.rmtree(p, ignore_errors=True)
        else:
            freed += p.lstat().st_size
            p.unlink(missing_ok=True)
        removed += 1
    return removed, freed


class WorkdirLocked(RuntimeError):
    """Another live run holds the workdir's lock."""


LOCK_FILE = ".run.lock"


@contextmanager
def workdir_lock(workdir: str | Path, what: str = "run", stale_after: float | None = None) -> Iterator[dict]:
    """Hold ``<workdir>/.run.lock`` for one run: an exclusive ``flock`` (released by the kernel when the holder
    dies, so a dead run's lock is simply taken over) on a file naming the holder (pid, host, start time).
    A second run on the same workdir gets :class:`WorkdirLocked` naming the holder. A workdir on an object
    store holds a lock object with a heartbeat instead (:mod:`pipeline.core.lock`, ``stale_after`` seconds)."""
    import fcntl
    import socket

    from pipeline.core import storage

    if storage.is_url(workdir):
        from pipeline.core.lock import DEFAULT_STALE_AFTER, object_store_lock

        with object_store_lock(str(workdir), LOCK_FILE, what, stale_after or DEFAULT_STALE_AFTER) as me:
            yield me
        return
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            try:
                holder = json.loads(os.pread(fd, 4096, 0) or b"{}")
            except ValueError:
                holder = {}
            raise WorkdirLocked(
                f"{workdir} is in use by another {holder.get('what', 'run')}: pid {holder.get('pid', '?')} on "
                f"{holder.get('host', '?')}, started {holder.get('started', '?')} (lock file {path}); wait for it "
                "to finish or stop it, then rerun") from None
        previous = os.pread(fd, 4096, 0)
        me = {"pid": os.getpid(), "host": socket.gethostname(), "what": what,
              "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(me).encode(), 0)
        os.fsync(fd)
        try:
            me["taken_over"] = json.loads(previous) if previous.strip() else None
        except ValueError:
            me["taken_over"] = None
        try:
            yield me
        finally:
            os.ftruncate(fd, 0)  # released: nobody holds it (the file stays, so no other run races on its inode)
    finally:
        os.close(fd)


#: The marker's key listing the outputs it vouches for: {relative path: {"bytes": n[, "rows": n]}}.
VOUCHED = "_vouches_for"


def describe_outputs(directory: str | Path, names: list[str], storage_options: dict | None = None) -> dict[str, dict]:
    """Size (and Parquet row count, from the footer) of each named output under ``directory`` (a local
    folder or an fsspec URL); raises OutputCheckFailed for a Parquet file whose footer cannot be read."""
    from pipeline.core import storage

    out = {}
    for name in names:
        path = storage.join(directory, name)
        entry = {"bytes": storage.size(path, storage_options)}
        if name.endswith(".parquet"):
            try:
                entry["rows"] = storage.parquet_rows(path, storage_options)
            except (OSError, pa.ArrowException) as exc:
                raise OutputCheckFailed(f"{path}: unreadable Parquet footer ({type(exc).__name__})") from None
        out[name] = entry
    return out


def marker_path(directory: str | Path, storage_options: dict | None = None) -> str | Path:
    """``<directory>/_SUCCESS``, or ``<directory>/.meta/_SUCCESS`` for a dataset folder (see META_DIR);
    a URL for a folder on an object store (there, the ``.meta`` marker is looked for first)."""
    from pipeline.core import storage

    if storage.is_url(directory):
        meta = storage.join(directory, META_DIR, MARKER)
        return meta if storage.exists(meta, storage_options) else storage.join(directory, MARKER)
    d = Path(directory)
    return d / META_DIR / MARKER if (d / META_DIR).is_dir() else d / MARKER


def is_complete(directory: str | Path, storage_options: dict | None = None) -> bool:
    """The marker exists and every output it vouches for is there with the size it recorded."""
    from pipeline.core import storage

    try:
        vouched = json.loads(storage.read_bytes(marker_path(directory, storage_options), storage_options)).get(VOUCHED)
    except FileNotFoundError:
        return False
    except (OSError, ValueError, AttributeError):
        return False  # a marker that is not JSON vouches for nothing
    for name, entry in (vouched or {}).items():
        try:
            if storage.size(storage.join(directory, name), storage_options) != entry["bytes"]:
                return False
        except OSError:
            return False
    return True


def mark_complete(directory: str | Path, stats: dict[str, Any] | None = None,
                  outputs: list[str] | None = None, dataset: bool = False,
                  storage_options: dict | None = None) -> None:
    """Write the completion marker (with stats) last, after every output is in place; ``outputs`` (paths
    relative to ``directory``) are recorded with their sizes, and :func:`is_complete` checks them.
    ``dataset``: the marker goes to ``.meta/`` (see META_DIR), as it does where that folder exists."""
    from pipeline.core import storage

    payload = {"completed_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    payload.update(stats or {})
    if outputs:
        payload[VOUCHED] = describe_outputs(directory, outputs, storage_options)
    target = storage.join(directory, META_DIR, MARKER) if dataset else marker_path(directory, storage_options)
    storage.write_bytes(target, (json.dumps(payload, indent=2, sort_keys=True, default=str) + "\n").encode(),
                        storage_options)


def clear_marker(directory: str | Path, storage_options: dict | None = None) -> None:
    """Remove a stage's marker (before it rewrites its outputs, so a stale marker never outlives them)."""
    from pipeline.core import storage

    for p in (storage.join(directory, META_DIR, MARKER), storage.join(directory, MARKER)):
        storage.remove(p, storage_options)


def vouch(path: str | Path, extra: dict[str, Any] | None = None) -> dict:
    """Write ``<path>.verified.json`` recording the size and sha256 of a checked artefact (a file, or every
    file of a folder), after it has been published; :func:`is_vouched` trusts it only while they match."""
    path = Path(path)
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    record = {"files": {str(f.relative_to(path)) if path.is_dir() else path.name:
                        {"bytes": f.stat().st_size, "sha256": sha256_file(f)} for f in files}}
    record.update(extra or {})
    write_json_atomic(_vouch_path(path), record)
    return record


def _vouch_path(path: Path) -> Path:
    return path.with_name(path.name + ".verified.json")


def is_vouched(path: str | Path) -> bool:
    """True when ``path`` is exactly what :func:`vouch` recorded (every file's size and sha256)."""
    path = Path(path)
    try:
        record = json.loads(_vouch_path(path).read_text())
        for name, entry in record["files"].items():
            f = path / name if path.is_dir() else path
            if f.stat().st_size != entry["bytes"] or sha256_file(f) != entry["sha256"]:
                return False
        return bool(record["files"])
    except (OSError, ValueError, KeyError, TypeError):
        return False


def discard(*paths: str | Path) -> None:
    """Remove outputs that can no longer be trusted (files or folders, and their ``.verified.json``)."""
    for p in map(Path, paths):
        for q in (p, _vouch_path(p)):
            if q.is_dir() and not q.is_symlink():
                shutil.rmtree(q)
            elif q.exists() or q.is_symlink():
                q.unlink()


def read_marker(directory: str | Path, storage_options: dict | None = None) -> dict[str, Any]:
    """The marker's stats (without the list of outputs it vouches for)."""
    from pipeline.core import storage

    marker = json.loads(storage.read_bytes(marker_path(directory, storage_options), storage_options))
    marker.pop(VOUCHED, None)
    return marker


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
