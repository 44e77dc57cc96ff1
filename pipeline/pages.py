"""The pages of one pool file after the decisions of the stages before: the one reader of that question.

The pool's ``pool/pages/<stem>.parquet`` holds the only copy of each page's text. Later stages write
decisions keyed by ``id``, one file per pool file under the same stem:

- ``dedup/removed/<stem>.parquet`` (DEDUP_REMOVED_SCHEMA): pages dedup took out;
- ``rounds/recalled/<stem>.parquet`` (RECALLED_SCHEMA): the pages the last recall round kept, with their
  ``score``, ``tokens`` and ``round``;
- ``decontam/removed/<stem>.parquet`` (DECONTAM_REMOVED_SCHEMA): pages decontamination took out.

:func:`iter_pages` applies the decisions a caller names (its ``inputs``: the folders of the stages it
reads, as in :attr:`pipeline.core.stage.StageContext.inputs`) and streams the surviving pages of one pool
file in pool order, ``batch_rows`` at a time, reading only the columns asked for. Recall reads pool minus
dedup (``{"pool", "dedup"}``), decontam reads those recalled (``{"pool", "dedup", "rounds"}``), the corpus
step reads what decontam left (all four). A decision file holds one pool file's ids, so memory is bounded
by the largest pool file, never by the run.

A decision folder a caller names must hold a file for every pool stem (an empty file where the stage
decided nothing for it): a missing one raises :class:`MissingDecisions`, since reading on without it would
pass pages a stage removed.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping

import pyarrow as pa
import pyarrow.compute as pc

from pipeline.core import storage

#: Columns the recalled decision adds to a page (its name in ``rounds/recalled/``).
RECALLED_COLUMNS = ("score", "tokens", "round")


class MissingDecisions(FileNotFoundError):
    """A decision folder lacks the file of a pool stem."""


@dataclass(frozen=True)
class PageSource:
    """Where a stage's pages come from: the pool folder and the decision folders it applies (stage folders,
    local paths or URLs; ``None``: that decision is not applied)."""

    pool: str
    dedup: str | None = None
    rounds: str | None = None
    decontam: str | None = None
    storage_options: dict[str, Any] | None = field(default=None, compare=False)

    @classmethod
    def of(cls, inputs: "Mapping[str, str] | PageSource", storage_options: dict[str, Any] | None = None) -> "PageSource":
        """A source from a stage's ``ctx.inputs`` (stage name -> folder; ``pool`` required)."""
        if isinstance(inputs, PageSource):
            return inputs
        if "pool" not in inputs:
            raise KeyError("pipeline.pages: the inputs name no pool folder")
        return cls(pool=str(inputs["pool"]), dedup=_opt(inputs.get("dedup")), rounds=_opt(inputs.get("rounds")),
                   decontam=_opt(inputs.get("decontam")), storage_options=storage_options)

    def pool_file(self, stem: str) -> str:
        return storage.join(self.pool, "pages", f"{stem}.parquet")

    def decision_files(self, stem: str) -> dict[str, str]:
        """The decision files this source applies to ``stem``, by decision (``dedup``, ``recalled``, ``decontam``)."""
        out = {}
        if self.dedup:
            out["dedup"] = storage.join(self.dedup, "removed", f"{stem}.parquet")
        if self.rounds:
            out["recalled"] = storage.join(self.rounds, "recalled", f"{stem}.parquet")
        if self.decontam:
            out["decontam"] = storage.join(self.decontam, "removed", f"{stem}.parquet")
        return out


def _opt(v: Any) -> str | None:
    return str(v) if v else None


def stems(inputs: Mapping[str, str] | PageSource, storage_options: dict[str, Any] | None = None) -> list[str]:
    """The stems of the pool's page files (``pool/pages/<stem>.parquet``), sorted."""
    src = PageSource.of(inputs, storage_options)
    files = storage.list_files(storage.join(src.pool, "pages"), ".parquet", src.storage_options)
    return [storage.name(f)[: -len(".parquet")] for f in files]


def _ids(path: str, what: str, storage_options) -> pa.Array:
    try:
        t = storage.read_parquet_table(path, ["id"], storage_options)
    except FileNotFoundError:
        raise MissingDecisions(f"{what} decisions missing: {path} (every pool file has one; rerun that stage)") from None
    return t.column("id").combine_chunks()


def _recalled(path: str, storage_options) -> pa.Table:
    try:
        t = storage.read_parquet_table(path, ["id", *RECALLED_COLUMNS], storage_options)
    except FileNotFoundError:
        raise MissingDecisions(f"recalled decisions missing: {path} (every pool file has one; rerun rounds)") from None
    return t.combine_chunks()


def iter_pages(inputs: Mapping[str, str] | PageSource, stem: str, columns: list[str] | None = None, *,
               batch_rows: int = 10_000, storage_options: dict[str, Any] | None = None) -> Iterator[pa.Table]:
    """The pages of pool file ``stem`` that the decisions of ``inputs`` keep, in pool order.

    ``columns``: pool columns and, when ``rounds`` is among the inputs, ``score``, ``tokens``, ``round``
    of the recalled decision (``None``: every pool column, plus those). Yields tables of at most
    ``batch_rows`` rows (none is empty), columns in the order asked for.
    """
    src = PageSource.of(inputs, storage_options)
    opts = src.storage_options
    files = src.decision_files(stem)
    if columns is None:
        columns = list(storage_schema_names(src.pool_file(stem), opts))
        if "recalled" in files:
            columns += [c for c in RECALLED_COLUMNS if c not in columns]
    extra = [c for c in columns if c in RECALLED_COLUMNS]
    if extra and "recalled" not in files:
        raise ValueError(f"pipeline.pages: column(s) {extra} come from rounds/recalled, which the inputs do not name")
    pool_cols = [c for c in columns if c not in RECALLED_COLUMNS]
    read_cols = pool_cols if "id" in pool_cols else ["id", *pool_cols]

    removed: list[pa.Array] = []
    if "dedup" in files:
        removed.append(_ids(files["dedup"], "dedup", opts))
    if "decontam" in files:
        removed.append(_ids(files["decontam"], "decontam", opts))
    removed_ids = pa.concat_arrays(removed) if removed else None
    recalled = _recalled(files["recalled"], opts) if "recalled" in files else None
    if recalled is not None and recalled.num_rows == 0:
        return  # nothing of this file was recalled: the pool file is not even opened

    for batch in storage.iter_parquet_batches(src.pool_file(stem), read_cols, batch_rows, opts):
        t = pa.Table.from_batches([batch])
        ids = t.column("id")
        if removed_ids is not None and len(removed_ids):
            t = t.filter(pc.invert(pc.is_in(ids, value_set=removed_ids)))
        if recalled is not None:
            at = pc.index_in(t.column("id"), value_set=recalled.column("id"))
            keep = pc.is_valid(at)
            t = t.filter(keep)
            at = pc.filter(at, keep)
            for c in extra:
                t = t.append_column(c, pc.take(recalled.column(c), at))
        if t.num_rows:
            yield t.select(columns)


def read_pages(inputs: Mapping[str, str] | PageSource, stem: str, columns: list[str] | None = None, *,
               storage_options: dict[str, Any] | None = None) -> pa.Table:
    """:func:`iter_pages` of one pool file as one table (empty, with the asked columns, when none survive)."""
    parts = list(iter_pages(inputs, stem, columns, storage_options=storage_options))
    if parts:
        return pa.concat_tables(parts)
    src = PageSource.of(inputs, storage_options)
    schema = storage_schema(src.pool_file(stem), src.storage_options)
    recalled_types = {"score": pa.float32(), "tokens": pa.int32(), "round": pa.int16()}
    names = columns if columns is not None else list(schema.names) + (
        [c for c in RECALLED_COLUMNS] if "recalled" in src.decision_files(stem) else [])
    fields = [schema.field(c) if c in schema.names else pa.field(c, recalled_types[c]) for c in names]
    return pa.schema(fields).empty_table()


def decisions_fingerprint(inputs: Mapping[str, str] | PageSource, storage_options: dict[str, Any] | None = None) -> str:
    """A short hash of the decisions a source applies: the stage markers of its folders (counts, the sizes of
    the outputs they vouch for), without what changes on every run of a stage (times, units resumed). A stage
    whose units read these pages puts it in their fingerprint: a rerun upstream that decided the same keeps
    its units, one that decided otherwise redoes them."""
    import hashlib
    import json

    from pipeline.core.io import marker_path

    src = PageSource.of(inputs, storage_options)
    h = hashlib.sha256()
    for name, folder in (("pool", src.pool), ("dedup", src.dedup), ("rounds", src.rounds), ("decontam", src.decontam)):
        if not folder:
            continue
        try:
            marker = json.loads(storage.read_bytes(marker_path(folder), src.storage_options))
        except (FileNotFoundError, ValueError):
            marker = None
        h.update(json.dumps([name, _stable(marker)], sort_keys=True, default=str).encode())
    return h.hexdigest()[:16]


def _stable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _stable(v) for k, v in obj.items()
                if k not in ("completed_at", "units_cached", "notes") and "second" not in k and "time" not in k}
    if isinstance(obj, list):
        return [_stable(v) for v in obj]
    return obj


def storage_schema(path: str, storage_options: dict[str, Any] | None = None) -> pa.Schema:
    """The Arrow schema of a Parquet file (its footer only)."""
    import pyarrow.parquet as pq

    with storage.open_file(path, "rb", storage_options) as fh:
        return pq.ParquetFile(fh).schema_arrow


def storage_schema_names(path: str, storage_options: dict[str, Any] | None = None) -> list[str]:
    return list(storage_schema(path, storage_options).names)
