"""The run folder on any fsspec URL: a local path, ``s3://bucket/run``, ``gs://...``, ``memory://...``.

Every stage reads and writes through these few functions, so ``workdir: s3://bucket/run`` works end to
end and local paths keep their POSIX guarantees:

- **Local** files are written to a temporary name beside the target and renamed into place (atomic on
  POSIX), as :mod:`pipeline.core.io` always did.
- **Object stores** have no rename. An object is written under a temporary key (``<folder>/.tmp/...``),
  checked there (a Parquet footer is read back), then copied to its key server-side and the temporary
  key deleted; a PUT (or a completed multipart upload) makes the object appear whole or not at all.
  Readers trust only what a marker vouches for (:func:`pipeline.core.io.is_complete`), and markers are
  written last, so an object left by a killed writer is never read as output.

Storage options (credentials, ``endpoint_url`` of an S3-compatible store) come from the config's
``storage_options`` or fsspec's usual environment (``AWS_*``, ``FSSPEC_S3_ENDPOINT_URL``).
"""
from __future__ import annotations

import io as _io
import os
import posixpath
import re
import uuid
from pathlib import Path
from typing import Any, Iterator

import fsspec

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")

#: Storage options for every URL of the process that names none (set once from the config by the CLI;
#: workers get them through the units they run).
_DEFAULT_OPTIONS: dict[str, Any] = {}


def set_default_options(options: dict[str, Any] | None, protocol: str | None = None) -> None:
    """Options for every URL of this process that names none. With ``protocol`` (the workdir's scheme,
    ``s3``) they also become fsspec's configured defaults for that protocol, so code that opens a run-folder
    URL with fsspec directly (pyarrow datasets, warcio readers) reaches the same endpoint."""
    _DEFAULT_OPTIONS.clear()
    _DEFAULT_OPTIONS.update(options or {})
    _DEFAULT_PROTOCOL[:] = [protocol] if protocol else []
    if protocol and options:
        import fsspec.config

        fsspec.config.conf[protocol] = {**fsspec.config.conf.get(protocol, {}), **options}


#: the protocol whose fsspec defaults :func:`set_default_options` set (shipped to workers with the options)
_DEFAULT_PROTOCOL: list[str] = []


def defaults() -> tuple[dict[str, Any], str | None]:
    """(options, protocol) as :func:`set_default_options` last set them: what the executor hands its workers."""
    return dict(_DEFAULT_OPTIONS), (_DEFAULT_PROTOCOL[0] if _DEFAULT_PROTOCOL else None)


def protocol(path: str | os.PathLike) -> str | None:
    """``s3`` for ``s3://bucket/run``; None for a local path."""
    return str(path).split("://", 1)[0] if is_url(path) else None


def is_url(path: str | os.PathLike) -> bool:
    """True for a URL with a scheme other than ``file://`` (a local path is not)."""
    s = str(path)
    return bool(_SCHEME.match(s)) and not s.startswith("file://")


def local_path(path: str | os.PathLike) -> Path:
    s = str(path)
    return Path(s[len("file://"):] if s.startswith("file://") else s)


def join(base: str | os.PathLike, *parts: str) -> str:
    """``base/part/...`` for a local path or a URL (never a ``Path``: a URL must keep its ``//``)."""
    if not is_url(base):
        return str(local_path(base).joinpath(*parts))
    return posixpath.join(str(base).rstrip("/"), *parts)


def name(path: str | os.PathLike) -> str:
    return posixpath.basename(str(path).rstrip("/"))


def parent(path: str | os.PathLike) -> str:
    if not is_url(path):
        return str(local_path(path).parent)
    scheme, rest = str(path).split("://", 1)
    return f"{scheme}://{posixpath.dirname(rest.rstrip('/'))}"


def filesystem(path: str | os.PathLike, storage_options: dict | None = None):
    """(fsspec file system, path inside it)."""
    opts = _DEFAULT_OPTIONS if storage_options is None else storage_options
    if not is_url(path):
        return fsspec.filesystem("file"), str(local_path(path).absolute())
    fs, inner = fsspec.core.url_to_fs(str(path), **opts)
    return fs, inner


# --- reading ---------------------------------------------------------------------------------------

def open_file(path: str | os.PathLike, mode: str = "rb", storage_options: dict | None = None, **kwargs):
    if not is_url(path):
        return open(local_path(path), mode, **kwargs)
    fs, inner = filesystem(path, storage_options)
    return fs.open(inner, mode, **kwargs)


def read_bytes(path: str | os.PathLike, storage_options: dict | None = None) -> bytes:
    """The whole object; FileNotFoundError when there is none."""
    if not is_url(path):
        return local_path(path).read_bytes()
    fs, inner = filesystem(path, storage_options)
    try:
        return fs.cat_file(inner)
    except FileNotFoundError:
        raise
    except OSError as exc:  # some stores report a missing key as a generic error
        if not fs.exists(inner):
            raise FileNotFoundError(str(path)) from exc
        raise


def read_text(path: str | os.PathLike, storage_options: dict | None = None) -> str:
    return read_bytes(path, storage_options).decode("utf-8")


def exists(path: str | os.PathLike, storage_options: dict | None = None) -> bool:
    if not is_url(path):
        return local_path(path).exists()
    fs, inner = filesystem(path, storage_options)
    fs.invalidate_cache(inner)  # other processes (the workers) write the run folder: never trust a listing cached here
    return fs.exists(inner)


def size(path: str | os.PathLike, storage_options: dict | None = None) -> int:
    if not is_url(path):
        return local_path(path).stat().st_size
    fs, inner = filesystem(path, storage_options)
    fs.invalidate_cache(inner)
    return int(fs.size(inner))


def list_files(folder: str | os.PathLike, suffix: str = "", storage_options: dict | None = None,
               recursive: bool = False) -> list[str]:
    """Files directly in ``folder`` (or below it) whose names end in ``suffix``, sorted; names starting
    with ``.`` or ``_`` (temporaries, markers) are not listed. Empty when the folder does not exist."""
    if not is_url(folder):
        d = local_path(folder)
        if not d.is_dir():
            return []
        found = d.rglob(f"*{suffix}") if recursive else d.glob(f"*{suffix}")
        return sorted(str(p) for p in found if p.is_file() and not _hidden(p.relative_to(d).parts))
    fs, inner = filesystem(folder, storage_options)
    fs.invalidate_cache(inner)
    try:
        entries = fs.find(inner) if recursive else fs.ls(inner, detail=False)
    except FileNotFoundError:
        return []
    base = inner.rstrip("/")
    out = []
    for e in entries:
        rel = e[len(base):].lstrip("/") if e.startswith(base) else posixpath.basename(e)
        if rel and e.endswith(suffix) and not _hidden(rel.split("/")) and fs.isfile(e):
            out.append(join(folder, rel))  # the caller's spelling of the folder, whatever fs returns
    return sorted(out)


def _hidden(parts) -> bool:
    return any(p.startswith((".", "_")) for p in parts)


# --- writing ---------------------------------------------------------------------------------------

def _temp_key(path: str) -> str:
    return join(parent(path), ".tmp", f"{name(path)}.{uuid.uuid4().hex}")


def write_bytes(path: str | os.PathLike, data: bytes, storage_options: dict | None = None) -> None:
    """Publish ``data`` at ``path`` atomically (see the module's docstring)."""
    if not is_url(path):
        from pipeline.core.io import write_bytes_atomic

        write_bytes_atomic(local_path(path), data)
        return
    _publish_remote(str(path), lambda fs, tmp: fs.pipe_file(tmp, data), storage_options)


def write_text(path: str | os.PathLike, text: str, storage_options: dict | None = None) -> None:
    write_bytes(path, text.encode("utf-8"), storage_options)


def write_parquet(path: str | os.PathLike, table, storage_options: dict | None = None, **kwargs) -> None:
    """Write ``table`` as Parquet at ``path``; its footer is read back and must hold every row before the
    file is published."""
    if not is_url(path):
        from pipeline.core.io import write_parquet_atomic

        write_parquet_atomic(local_path(path), table, **kwargs)
        return
    import pyarrow.parquet as pq

    from pipeline.core.io import OutputCheckFailed

    kwargs.setdefault("compression", "zstd")

    def write(fs, tmp):
        with fs.open(tmp, "wb") as fh:
            pq.write_table(table, fh, **kwargs)
        with fs.open(tmp, "rb") as fh:
            got = pq.ParquetFile(fh).metadata.num_rows
        if got != table.num_rows:
            raise OutputCheckFailed(f"{path}: wrote {got} of {table.num_rows} rows: not published")

    _publish_remote(str(path), write, storage_options)


def _publish_remote(path: str, write, storage_options: dict | None) -> None:
    fs, inner = filesystem(path, storage_options)
    _, tmp = filesystem(_temp_key(path), storage_options)
    try:
        write(fs, tmp)
        fs.copy(tmp, inner)  # server-side; the object appears whole at its key
    finally:
        try:
            fs.rm_file(tmp)
        except (FileNotFoundError, OSError):
            pass


def upload(local: str | os.PathLike, path: str | os.PathLike, storage_options: dict | None = None) -> None:
    """Publish the local file ``local`` at ``path`` (streamed; atomically, as :func:`write_bytes`)."""
    if not is_url(path):
        import shutil

        from pipeline.core.io import atomic_path

        with atomic_path(local_path(path)) as tmp:
            shutil.copyfile(local, tmp)
        return
    _publish_remote(str(path), lambda fs, tmp: fs.put_file(str(local), tmp), storage_options)


def publish_folder(local: str | os.PathLike, path: str | os.PathLike, storage_options: dict | None = None) -> None:
    """Upload a finished local folder to ``path``, file by file, its markers (``_SUCCESS``) last, so a reader
    that trusts markers never sees it half uploaded."""
    from pipeline.core.io import MARKER

    root = local_path(local)
    files = sorted(p for p in root.rglob("*") if p.is_file() and ".tmp-" not in p.name)
    for p in sorted(files, key=lambda p: p.name == MARKER):
        upload(p, join(path, *p.relative_to(root).parts), storage_options)


def remove(path: str | os.PathLike, storage_options: dict | None = None, recursive: bool = False) -> None:
    """Delete a file (or a folder with ``recursive``); nothing happens when it is not there."""
    if not is_url(path):
        import shutil

        p = local_path(path)
        if p.is_dir() and not p.is_symlink():
            if recursive:
                shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)
        return
    fs, inner = filesystem(path, storage_options)
    try:
        fs.rm(inner, recursive=recursive)
    except FileNotFoundError:
        pass


def makedirs(path: str | os.PathLike, storage_options: dict | None = None) -> None:
    """Create a local folder; object stores have none to create."""
    if not is_url(path):
        local_path(path).mkdir(parents=True, exist_ok=True)


def sweep_temp_keys(folder: str | os.PathLike, storage_options: dict | None = None) -> int:
    """Delete the temporary keys (``.tmp/`` under ``folder``, any depth) that writers killed before they
    published left behind on an object store; returns how many. Local folders are swept by
    :func:`pipeline.core.io.sweep_stale_temps` (it knows which writers are still alive)."""
    if not is_url(folder):
        return 0
    fs, inner = filesystem(folder, storage_options)
    try:
        found = [p for p in fs.find(inner) if "/.tmp/" in p]
    except FileNotFoundError:
        return 0
    for p in found:
        try:
            fs.rm_file(p)
        except (FileNotFoundError, OSError):
            pass
    return len(found)


def read_parquet_table(path: str | os.PathLike, columns: list[str] | None = None,
                       storage_options: dict | None = None):
    import pyarrow.parquet as pq

    if not is_url(path):
        return pq.read_table(local_path(path), columns=columns)
    with open_file(path, "rb", storage_options) as fh:
        return pq.read_table(_io.BytesIO(fh.read()), columns=columns)


def parquet_rows(path: str | os.PathLike, storage_options: dict | None = None) -> int:
    import pyarrow.parquet as pq

    if not is_url(path):
        return pq.read_metadata(local_path(path)).num_rows
    with open_file(path, "rb", storage_options) as fh:
        return pq.ParquetFile(fh).metadata.num_rows


def iter_parquet_batches(path: str | os.PathLike, columns: list[str] | None = None, batch_rows: int = 65536,
                         storage_options: dict | None = None) -> Iterator:
    """Record batches of one Parquet file, streamed (local or remote)."""
    import pyarrow.parquet as pq

    with open_file(path, "rb", storage_options) as fh:
        yield from pq.ParquetFile(fh).iter_batches(batch_size=batch_rows, columns=columns)


def link_or_copy(src: str | os.PathLike, dst: str | os.PathLike, storage_options: dict | None = None) -> None:
    """Publish ``dst`` with the bytes of ``src`` without moving them through this process: a hard link where
    local (a copy where the file system cannot link; :func:`pipeline.core.io.link_atomic`), a server-side copy
    on an object store (the object appears whole at its key)."""
    if not is_url(dst):
        from pipeline.core.io import link_atomic

        link_atomic(local_path(src), local_path(dst))
        return
    fs, src_inner = filesystem(src, storage_options)
    _, dst_inner = filesystem(dst, storage_options)
    fs.copy(src_inner, dst_inner)
