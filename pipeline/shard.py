"""Final corpus shards: ``<workdir>/corpus/part-*.parquet``, with ``.meta/manifest.json`` and ``.meta/_SUCCESS``.

The folder is a dataset: every file in it is a shard, so pyarrow
(``pq.read_table("out/corpus")``), duckdb (``read_parquet('out/corpus/*')`` and the
folder), Hugging Face ``datasets`` (``data_dir``), Spark and Ray Data read the
folder itself with no glob and no exclude option. The manifest and marker sit in
``.meta/`` because ``_``-prefixed files are not enough: duckdb's ``*`` and HF's
``data_dir`` read them as Parquet and fail; all of these skip ``.`` names.

Rows arrive as a stream of Arrow tables in CORPUS_SCHEMA (in a deterministic
order); a shard is closed when it reaches ``target_rows`` or ``target_bytes``
(uncompressed Arrow bytes, a stable proxy for what a reader will hold in
memory). Row groups hold exactly ``row_group_rows`` rows (the last of a shard
fewer): incoming tables are buffered, since one pool file's surviving pages are
often fewer than a row group. ``pyarrow.dataset.write_dataset`` can bound row groups
too (min/max_rows_per_group) but has no byte target, no temp-then-rename per
file and no per-file checksum, which resume and ``verify_corpus`` rely on; so
the shards are written here with ``pq.ParquetWriter``.

Each shard is written to a temporary name and renamed, the manifest after the
last shard, and the ``_SUCCESS`` marker last: a crash leaves either a complete
corpus or one that the next run rebuilds from scratch. ``out`` may be a URL
(``s3://bucket/run/corpus``): a shard is then written to a local temporary file,
checked, and published through :mod:`pipeline.core.storage` (temporary key, then
its own key), and the marker goes to ``.meta/_SUCCESS`` all the same.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.core import storage
from pipeline.core.io import META_DIR, check_parquet_rows, mark_complete, sha256_file
from pipeline.core.schema import CORPUS_SCHEMA, validate_table

MANIFEST = f"{META_DIR}/manifest.json"  # out of readers' way (see above)


@dataclass(frozen=True)
class ShardSpec:
    target_rows: int | None = 100_000
    target_bytes: int | None = 256 << 20
    row_group_rows: int = 10_000
    compression: str = "zstd"
    compression_level: int = 3


def config_hash(obj: Any) -> str:
    """A short stable hash of a config (any JSON-able object), recorded in the manifest."""
    blob = json.dumps(obj, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


class _ShardWriter:
    def __init__(self, out: str, spec: ShardSpec, storage_options: dict | None = None):
        self.out, self.spec, self.storage_options = out, spec, storage_options
        self.remote = storage.is_url(out)
        # a URL's shards are written locally first (to check and hash them), then published
        self._scratch = tempfile.mkdtemp(prefix="corpus-") if self.remote else None
        self.index = 0
        self.files: list[dict] = []
        self._writer: pq.ParquetWriter | None = None
        self._tmp: Path | None = None
        self._rows = 0  # rows given to the open shard (written or pending)
        self._bytes = 0
        self._pending: list[pa.Table] = []  # rows of the open shard not yet in a row group
        self._pending_rows = 0

    def _open(self) -> None:
        name = f"part-{self.index:05d}.parquet"
        folder = Path(self._scratch) if self.remote else storage.local_path(self.out)
        self._tmp = folder / f".{name}.tmp-{os.getpid()}"
        self._writer = pq.ParquetWriter(self._tmp, CORPUS_SCHEMA, compression=self.spec.compression,
                                        compression_level=self.spec.compression_level)
        self._rows = self._bytes = 0

    def _full(self) -> bool:
        s = self.spec
        return bool((s.target_rows and self._rows >= s.target_rows) or (s.target_bytes and self._bytes >= s.target_bytes))

    def _flush(self, everything: bool) -> None:
        """Write the pending rows as row groups of exactly ``row_group_rows`` (and, at the end of a shard,
        the remainder)."""
        size = self.spec.row_group_rows
        if not self._pending_rows or (self._pending_rows < size and not everything):
            return
        buffered = pa.concat_tables(self._pending)
        whole = buffered.num_rows if everything else buffered.num_rows - buffered.num_rows % size
        for start in range(0, whole, size):
            group = buffered.slice(start, min(size, whole - start))
            self._writer.write_table(group, row_group_size=size)
        rest = buffered.slice(whole)
        self._pending = [rest] if rest.num_rows else []
        self._pending_rows = rest.num_rows

    def write(self, table: pa.Table) -> None:
        offset = 0
        while offset < table.num_rows:
            if self._writer is None:
                self._open()
            room = table.num_rows - offset
            if self.spec.target_rows:
                room = min(room, self.spec.target_rows - self._rows)
            chunk = table.slice(offset, room)
            if self.spec.target_bytes and chunk.num_rows > 1:
                # Cut the chunk where the byte target would be crossed (average row size).
                per_row = max(1, chunk.nbytes // chunk.num_rows)
                fit = max(1, (self.spec.target_bytes - self._bytes + per_row - 1) // per_row)
                chunk = chunk.slice(0, min(chunk.num_rows, fit))
            self._pending.append(chunk)
            self._pending_rows += chunk.num_rows
            self._flush(everything=False)
            self._rows += chunk.num_rows
            self._bytes += chunk.nbytes
            offset += chunk.num_rows
            if self._full():
                self.close_shard()

    def close_shard(self) -> None:
        if self._writer is None:
            return
        self._flush(everything=True)
        self._writer.close()
        name = f"part-{self.index:05d}.parquet"
        final = storage.join(self.out, name)
        check_parquet_rows(self._tmp, self._rows, final)
        entry = {"file": name, "rows": self._rows, "bytes": self._tmp.stat().st_size,
                 "row_groups": pq.ParquetFile(self._tmp).metadata.num_row_groups, "sha256": sha256_file(self._tmp)}
        if self.remote:
            storage.write_bytes(final, self._tmp.read_bytes(), self.storage_options)
            self._tmp.unlink()
        else:
            os.replace(self._tmp, final)
        self.files.append(entry)
        self.index += 1
        self._writer = None

    def cleanup(self) -> None:
        if self._scratch:
            import shutil

            shutil.rmtree(self._scratch, ignore_errors=True)


def write_corpus(tables: Iterable[pa.Table], out: str | Path, spec: ShardSpec = ShardSpec(),
                 stage_counts: dict[str, Any] | None = None, config: Any = None, *, progress: bool = False,
                 total_rows: int | None = None, storage_options: dict | None = None,
                 marker_stats: Callable[[dict], dict[str, Any]] | None = None) -> dict:
    """Write the corpus shards and manifest into ``out`` (a local folder or a URL; what was there is
    replaced). Returns the manifest.

    ``progress`` draws a bar of rows written (out of ``total_rows`` when the caller knows it);
    ``marker_stats(manifest)`` gives what the marker records (default: rows, files, bytes).
    """
    from pipeline.core.progress import progress_bar

    out = str(out)
    storage.remove(out, storage_options, recursive=True)  # an incomplete earlier attempt: rebuild whole, never append
    storage.makedirs(storage.join(out, META_DIR))  # before any shard: its marker is absent until the end
    w = _ShardWriter(out, spec, storage_options)
    try:
        with progress_bar(total_rows, "corpus", "row", progress) as bar:
            for t in tables:
                t = t.select(CORPUS_SCHEMA.names).cast(CORPUS_SCHEMA) if t.schema != CORPUS_SCHEMA else t
                validate_table(t, CORPUS_SCHEMA, "corpus rows")
                w.write(t)
                bar.update(t.num_rows)
        w.close_shard()
    finally:
        w.cleanup()
    return publish_manifest(out, w.files, spec, stage_counts, config, storage_options=storage_options,
                            marker_stats=marker_stats)


def publish_manifest(out: str, files: list[dict], spec: ShardSpec, stage_counts: dict[str, Any] | None = None,
                     config: Any = None, *, storage_options: dict | None = None,
                     marker_stats: Callable[[dict], dict[str, Any]] | None = None) -> dict:
    """Write the manifest of the shards ``files`` (in order), then the marker vouching for them; return it."""
    manifest = {
        "format": "parquet",
        "contract": CORPUS_SCHEMA.metadata[b"contract"].decode(),
        "schema": [{"name": f.name, "type": str(f.type), "nullable": f.nullable} for f in CORPUS_SCHEMA],
        "files": files,
        "rows": sum(f["rows"] for f in files),
        "bytes": sum(f["bytes"] for f in files),
        "compression": spec.compression,
        "row_group_rows": spec.row_group_rows,
        "stage_counts": stage_counts or {},
        "config_hash": config_hash(config) if config is not None else None,
    }
    storage.write_text(storage.join(out, MANIFEST), json.dumps(manifest, indent=2, sort_keys=True, default=str) + "\n",
                       storage_options)
    stats = marker_stats(manifest) if marker_stats is not None else {"rows": manifest["rows"], "files": len(files),
                                                                     "bytes": manifest["bytes"]}
    mark_complete(out, stats, outputs=[f["file"] for f in files] + [MANIFEST], dataset=True)
    return manifest


def plan_shards(sizes: Iterable[tuple[Any, int, int]], spec: ShardSpec) -> list[list[tuple[Any, int, int]]]:
    """Cut a sequence of row sources into shards the way :func:`write_corpus` cuts a stream.

    ``sizes``: ``(source, rows, bytes)`` in order (``bytes``: the uncompressed Arrow size of its rows). Returns
    per shard its ``(source, start, stop)`` row slices. A shard closes at ``target_rows`` rows or once its
    bytes (rows x the source's average row size) reach ``target_bytes``. Needs only the sizes, so a driver can
    plan the shards of a corpus it never reads, and workers write them."""
    shards: list[list[tuple[Any, int, int]]] = []
    cur: list[tuple[Any, int, int]] = []
    rows_in = bytes_in = 0
    for source, rows, nbytes in sizes:
        per_row = max(1, nbytes // rows) if rows else 1
        off = 0
        while off < rows:
            room = rows - off
            if spec.target_rows:
                room = min(room, spec.target_rows - rows_in)
            if spec.target_bytes and room > 1:
                room = min(room, max(1, (spec.target_bytes - bytes_in + per_row - 1) // per_row))
            cur.append((source, off, off + room))
            rows_in += room
            bytes_in += room * per_row
            off += room
            if (spec.target_rows and rows_in >= spec.target_rows) or (spec.target_bytes and bytes_in >= spec.target_bytes):
                shards.append(cur)
                cur, rows_in, bytes_in = [], 0, 0
    if cur:
        shards.append(cur)
    return shards


def shard_name(index: int) -> str:
    return f"part-{index:05d}.parquet"


def write_shard(table: pa.Table, out: str, index: int, spec: ShardSpec, storage_options: dict | None = None) -> dict:
    """Write one shard ``out/part-<index>.parquet`` (row groups of ``row_group_rows``), checked and published
    atomically (locally: a temporary name renamed; on an object store: a temporary key copied); return its
    manifest entry."""
    validate_table(table, CORPUS_SCHEMA, "corpus rows")
    name = shard_name(index)
    final = storage.join(out, name)
    remote = storage.is_url(out)
    scratch = tempfile.mkdtemp(prefix="corpus-") if remote else None
    folder = Path(scratch) if remote else storage.local_path(out)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{name}.tmp-{os.getpid()}"
    try:
        pq.write_table(table, tmp, row_group_size=spec.row_group_rows, compression=spec.compression,
                       compression_level=spec.compression_level)
        check_parquet_rows(tmp, table.num_rows, final)
        entry = {"file": name, "rows": table.num_rows, "bytes": tmp.stat().st_size,
                 "row_groups": pq.ParquetFile(tmp).metadata.num_row_groups, "sha256": sha256_file(tmp)}
        if remote:
            storage.write_bytes(final, tmp.read_bytes(), storage_options)
        else:
            os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)
        if scratch:
            import shutil

            shutil.rmtree(scratch, ignore_errors=True)
    return entry


def verify_corpus(out: str | Path, storage_options: dict | None = None) -> dict:
    """Check every shard against the manifest (rows, sha256, schema); raise ValueError on a mismatch."""
    out = str(out)
    manifest = json.loads(storage.read_text(storage.join(out, MANIFEST), storage_options))
    for f in manifest["files"]:
        path = storage.join(out, f["file"])
        h = hashlib.sha256()
        with storage.open_file(path, "rb", storage_options) as fh:
            while block := fh.read(1 << 20):
                h.update(block)
        if h.hexdigest() != f["sha256"]:
            raise ValueError(f"{path}: sha256 differs from the manifest")
        with storage.open_file(path, "rb", storage_options) as fh:
            meta = pq.ParquetFile(fh)
            rows, names = meta.metadata.num_rows, meta.schema_arrow.names
        if rows != f["rows"]:
            raise ValueError(f"{path}: {rows} rows, manifest says {f['rows']}")
        if names != CORPUS_SCHEMA.names:
            raise ValueError(f"{path}: columns {names} differ from the corpus contract")
    return manifest
