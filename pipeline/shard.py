"""Final corpus shards: ``<workdir>/corpus/part-*.parquet`` plus ``manifest.json``.

Rows arrive as a stream of Arrow tables in CORPUS_SCHEMA (in a deterministic
order); a shard is closed when it reaches ``target_rows`` or ``target_bytes``
(uncompressed Arrow bytes, a stable proxy for what a reader will hold in
memory). Each shard is written to a temporary name and renamed, the manifest
is written after every shard, and the ``_SUCCESS`` marker last: a crash leaves
either a complete corpus or one that the next run rebuilds from scratch.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.io import check_parquet_rows, mark_complete, sha256_file, write_json_atomic
from pipeline.schema import CORPUS_SCHEMA, validate_table

MANIFEST = "manifest.json"


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
    def __init__(self, out: Path, spec: ShardSpec):
        self.out, self.spec = out, spec
        self.index = 0
        self.files: list[dict] = []
        self._writer: pq.ParquetWriter | None = None
        self._tmp: Path | None = None
        self._rows = 0
        self._bytes = 0

    def _open(self) -> None:
        name = f"part-{self.index:05d}.parquet"
        self._tmp = self.out / f".{name}.tmp-{os.getpid()}"
        self._writer = pq.ParquetWriter(self._tmp, CORPUS_SCHEMA, compression=self.spec.compression,
                                        compression_level=self.spec.compression_level)
        self._rows = self._bytes = 0

    def _full(self) -> bool:
        s = self.spec
        return bool((s.target_rows and self._rows >= s.target_rows) or (s.target_bytes and self._bytes >= s.target_bytes))

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
            self._writer.write_table(chunk, row_group_size=self.spec.row_group_rows)
            self._rows += chunk.num_rows
            self._bytes += chunk.nbytes
            offset += chunk.num_rows
            if self._full():
                self.close_shard()

    def close_shard(self) -> None:
        if self._writer is None:
            return
        self._writer.close()
        final = self.out / f"part-{self.index:05d}.parquet"
        check_parquet_rows(self._tmp, self._rows, final)
        os.replace(self._tmp, final)
        self.files.append({"file": final.name, "rows": self._rows, "bytes": final.stat().st_size,
                           "sha256": sha256_file(final)})
        self.index += 1
        self._writer = None


def write_corpus(tables: Iterable[pa.Table], out: str | Path, spec: ShardSpec = ShardSpec(),
                 stage_counts: dict[str, Any] | None = None, config: Any = None, *, progress: bool = False,
                 total_rows: int | None = None) -> dict:
    """Write the corpus shards and manifest into ``out`` (replacing what was there). Returns the manifest.

    ``progress`` draws a bar of rows written (out of ``total_rows`` when the caller knows it).
    """
    from pipeline.progress import progress_bar

    out = Path(out)
    if out.exists():
        shutil.rmtree(out)  # an incomplete earlier attempt: rebuild whole, never append
    out.mkdir(parents=True)
    w = _ShardWriter(out, spec)
    with progress_bar(total_rows, "corpus", "row", progress) as bar:
        for t in tables:
            t = t.select(CORPUS_SCHEMA.names).cast(CORPUS_SCHEMA) if t.schema != CORPUS_SCHEMA else t
            validate_table(t, CORPUS_SCHEMA, "corpus rows")
            w.write(t)
            bar.update(t.num_rows)
    w.close_shard()
    manifest = {
        "format": "parquet",
        "contract": "corpus/v1",
        "schema": [{"name": f.name, "type": str(f.type), "nullable": f.nullable} for f in CORPUS_SCHEMA],
        "files": w.files,
        "rows": sum(f["rows"] for f in w.files),
        "bytes": sum(f["bytes"] for f in w.files),
        "compression": spec.compression,
        "row_group_rows": spec.row_group_rows,
        "stage_counts": stage_counts or {},
        "config_hash": config_hash(config) if config is not None else None,
    }
    write_json_atomic(out / MANIFEST, manifest)
    mark_complete(out, {"rows": manifest["rows"], "files": len(w.files), "bytes": manifest["bytes"]})
    return manifest


def verify_corpus(out: str | Path) -> dict:
    """Check every shard against the manifest (rows, sha256, schema); raise ValueError on a mismatch."""
    out = Path(out)
    manifest = json.loads((out / MANIFEST).read_text())
    for f in manifest["files"]:
        path = out / f["file"]
        if sha256_file(path) != f["sha256"]:
            raise ValueError(f"{path}: sha256 differs from the manifest")
        meta = pq.ParquetFile(path)
        if meta.metadata.num_rows != f["rows"]:
            raise ValueError(f"{path}: {meta.metadata.num_rows} rows, manifest says {f['rows']}")
        if meta.schema_arrow.names != CORPUS_SCHEMA.names:
            raise ValueError(f"{path}: columns {meta.schema_arrow.names} differ from the corpus contract")
    return manifest
