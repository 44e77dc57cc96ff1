"""``python -m pipeline show ID``: one page traced to its bytes.

Finds the row with that ``id`` in the run's corpus (else its recalled pages, else
its pool), reads the page's WARC record again with one ranged read at
``warc_offset``/``warc_length`` of ``warc_path`` (any fsspec URI: a local path,
``s3://``, ``https://``) and prints the record's WARC and HTTP headers, then the
extracted text. ``--html`` adds the HTTP payload as the crawler stored it.
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import fsspec
import pyarrow.compute as pc
import pyarrow.dataset as ds

from pipeline.inspect import locate_rows

#: Where ``show`` looks, in order: the corpus first (the page as shipped), then earlier stages.
SEARCH_ORDER = ("corpus", "decontam", "rounds", "dedup", "pool")


@dataclass
class ShownRecord:
    row: dict
    source: Path  # the Parquet file the row came from
    warc_headers: str
    http_headers: str
    payload: bytes


def find_row(where: str | Path, page_id: str) -> tuple[dict, Path]:
    """The row with ``id == page_id`` under a run folder (searched in SEARCH_ORDER) or in one stage folder."""
    where = Path(where)
    folders = [where / s for s in SEARCH_ORDER if (where / s).is_dir()] if not _is_stage(where) else [where]
    if not folders:
        raise FileNotFoundError(f"{where}: not a run folder or stage folder (no {', '.join(SEARCH_ORDER)} inside)")
    for folder in folders:
        try:
            rows = locate_rows(folder)
        except FileNotFoundError:
            continue
        if rows.table is not None:  # a decision stage's pages
            t = rows.table.filter(pc.field("id") == page_id)
            if t.num_rows:
                return t.slice(0, 1).to_pylist()[0], folder
            continue
        for f in rows.files:
            t = ds.dataset(f, format="parquet").to_table(filter=pc.field("id") == page_id)
            if t.num_rows:
                return t.slice(0, 1).to_pylist()[0], f
    raise KeyError(f"no row with id {page_id} in {', '.join(str(f) for f in folders)}")


def _is_stage(p: Path) -> bool:
    return p.is_file() or p.name in SEARCH_ORDER or (p / ".meta" / "manifest.json").exists()


def read_record(warc_path: str, offset: int, length: int, storage_options: dict | None = None):
    """The WARC record at ``offset`` (``length`` compressed bytes) of ``warc_path``, by one ranged read."""
    from warcio.archiveiterator import ArchiveIterator

    with fsspec.open(warc_path, "rb", **(storage_options or {})) as fh:
        fh.seek(offset)
        blob = fh.read(length)
    for rec in ArchiveIterator(io.BytesIO(blob), check_digests=False):
        return rec
    raise ValueError(f"{warc_path}: no WARC record at offset {offset}")


def show(where: str | Path, page_id: str, storage_options: dict | None = None) -> ShownRecord:
    row, source = find_row(where, page_id)
    missing = [c for c in ("warc_path", "warc_offset", "warc_length") if row.get(c) is None]
    if missing:
        raise KeyError(f"{source}: the row of {page_id} has no {', '.join(missing)}")
    rec = read_record(row["warc_path"], row["warc_offset"], row["warc_length"], storage_options)
    warc_headers = rec.rec_headers.to_str().strip()
    http_headers = rec.http_headers.to_str().strip() if rec.http_headers is not None else ""
    return ShownRecord(row, source, warc_headers, http_headers, rec.content_stream().read())


def render(shown: ShownRecord, with_html: bool = False) -> str:
    r = shown.row
    facts = "  ".join(f"{k}={r[k]}" for k in ("lang", "math_score", "round", "token_count") if k in r)
    lines = [f"id {r['id']}  {r.get('url')}", f"row from {shown.source}" + (f"  {facts}" if facts else ""),
             f"record: {r['warc_path']} bytes {r['warc_offset']}..{r['warc_offset'] + r['warc_length'] - 1}",
             "", "--- WARC headers ---", shown.warc_headers]
    if shown.http_headers:
        lines += ["", "--- HTTP headers ---", shown.http_headers]
    if with_html:
        lines += ["", "--- HTTP payload ---", shown.payload.decode("utf-8", "replace")]
    lines += ["", "--- text ---", r.get("text") or ""]
    return "\n".join(lines)
