"""The pages recall reads: a pool file's pages minus dedup's decisions, one pool file at a time.

The pool's ``pool/pages/<stem>.parquet`` holds the only copy of the text; dedup writes the ids it removed
from that file to ``dedup/removed/<stem>.parquet`` (DEDUP_REMOVED_SCHEMA). A :class:`PoolPart` names the
two (and, once a round scored it, the part's score file); :func:`iter_pages` streams the part's pages
that dedup kept. Memory per call: the removed ids of one pool file and one record batch.

(``pipeline/pages.py`` is to hold the project's one reader of "pages of a pool file after decisions";
until it does, recall uses this one: see /work/notes/CONTRACTS.md.)
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Iterator

import pyarrow as pa
import pyarrow.compute as pc

from pipeline.core import storage


@dataclass(frozen=True)
class PoolPart:
    """One pool file and what the recall steps read beside it (all paths or fsspec URLs).

    ``pages``: Parquet with at least ``id``, ``url_column``, ``domain``, ``lang`` (the pool's page file,
    or any pool-shaped file); ``removed``: Parquet whose ``id`` column lists pages to leave out (dedup's
    decisions), None for none; ``scores``: Parquet with ``id``, ``score``, ``tokens`` for the part's
    pages (a round's ``scores/<stem>.parquet``, or the pages file itself when it holds those columns).
    """

    stem: str
    pages: str
    removed: str | None = None
    scores: str | None = None
    url_column: str = "url_normalized"

    def with_scores(self, scores: str) -> "PoolPart":
        return replace(self, scores=scores)


def stem_of(path: str) -> str:
    name = storage.name(path)
    return name[: -len(".parquet")] if name.endswith(".parquet") else name


def removed_ids(part: PoolPart, storage_options: dict | None = None) -> pa.Array:
    if part.removed is None:
        return pa.array([], pa.string())
    return storage.read_parquet_table(part.removed, ["id"], storage_options).column("id").combine_chunks()


def iter_pages(part: PoolPart, columns: list[str], batch_rows: int = 65536,
               storage_options: dict | None = None) -> Iterator[pa.RecordBatch]:
    """Record batches of ``columns`` of the part's pages that dedup kept, in file order."""
    removed = removed_ids(part, storage_options)
    cols = list(columns) if "id" in columns else ["id", *columns]
    for batch in storage.iter_parquet_batches(part.pages, cols, batch_rows, storage_options):
        if len(removed):
            batch = batch.filter(pc.invert(pc.is_in(batch.column("id"), value_set=removed)))
        if "id" not in columns:
            batch = batch.select(columns)
        yield batch


def read_pages(part: PoolPart, columns: list[str], storage_options: dict | None = None) -> pa.Table:
    """The part's kept pages (``columns``) as one table (one pool file's worth: a unit's bound)."""
    batches = list(iter_pages(part, columns, storage_options=storage_options))
    if not batches:
        cols = list(columns) if "id" in columns else ["id", *columns]
        schema = storage.read_parquet_table(part.pages, cols, storage_options).schema
        return schema.empty_table().select(columns)
    return pa.Table.from_batches(batches)
