"""Seed positives in OpenWebMath's format: jsonl (optionally .gz) or Parquet rows with ``url`` and ``text``.

OpenWebMath publishes Parquet (``url, text, date, metadata``); the mini-CC writes
the same fields as jsonl. Every problem names the file and, for jsonl, the line,
because a seed is usually a file someone assembled by hand or by script.
"""
from __future__ import annotations

import glob
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq

from classifiers.text import tokenize
from pipeline.extract import normalize_url
from pipeline.io import JsonlLineError, iter_jsonl


class SeedError(ValueError):
    """A seed file cannot be used; the message names the file (and line)."""


@dataclass(frozen=True)
class SeedDoc:
    url: str | None  # normalised URL, None when the seed row has none
    text: str
    source: str  # "<file>:<line>" (jsonl) or "<file>#<row>" (Parquet)


@dataclass
class SeedLoad:
    docs: list[SeedDoc]
    files: list[str]
    rows_read: int
    filtered: dict[str, int]  # reason -> rows


def expand_seed_paths(patterns: list[str]) -> list[str]:
    out: list[str] = []
    for pat in patterns:
        hits = sorted(glob.glob(pat)) if any(c in pat for c in "*?[") else [pat]
        if not hits:
            raise SeedError(f"seed: no file matches {pat}")
        for h in hits:
            if not Path(h).is_file():
                raise SeedError(f"seed file not found: {h}")
            out.append(h)
    if not out:
        raise SeedError("seed: no seed files given (recall.seed_files)")
    return out


def _iter_jsonl(path: str):
    try:
        for lineno, obj in iter_jsonl(path):
            yield f"{path}:{lineno}", obj
    except JsonlLineError as exc:
        raise SeedError(f"{path}:{exc.lineno}: {exc.reason} (a seed line is an object with a 'text' field)") from None


def _iter_parquet(path: str):
    try:
        pf = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises several types for a file that is not Parquet
        raise SeedError(f"{path}: not a readable Parquet file ({exc})") from None
    names = pf.schema_arrow.names
    if "text" not in names:
        raise SeedError(f"{path}: no 'text' column (columns: {', '.join(names)})")
    cols = ["text"] + (["url"] if "url" in names else [])
    row = 0
    for batch in pf.iter_batches(columns=cols, batch_size=10_000):
        for obj in batch.to_pylist():
            row += 1
            yield f"{path}#{row}", obj


def load_seed(patterns: list[str], min_tokens: int = 20, max_chars: int | None = None) -> SeedLoad:
    """Read every seed row; keep those with enough classifier tokens, one per URL.

    Raises :class:`SeedError` for a missing, empty or malformed file, a row whose
    ``text`` is not a string, or when no positive is left after filtering.
    """
    files = expand_seed_paths(patterns)
    docs: list[SeedDoc] = []
    filtered = {"empty_text": 0, "too_short": 0, "duplicate_url": 0}
    seen_urls: set[str] = set()
    rows = 0
    for path in files:
        is_parquet = path.endswith((".parquet", ".pq"))
        if not is_parquet and Path(path).stat().st_size == 0:
            raise SeedError(f"{path}: the seed file is empty")
        file_rows = 0
        for where, obj in (_iter_parquet(path) if is_parquet else _iter_jsonl(path)):
            file_rows += 1
            text = obj.get("text")
            if text is None:
                if not is_parquet:  # a jsonl line without text is a broken line; a Parquet null is an empty page
                    raise SeedError(f"{where}: no 'text' field (keys: {', '.join(sorted(obj)) or 'none'})")
                filtered["empty_text"] += 1
                continue
            if not isinstance(text, str):
                raise SeedError(f"{where}: 'text' must be a string, got {type(text).__name__}")
            url_raw = obj.get("url")
            if url_raw is not None and not isinstance(url_raw, str):
                raise SeedError(f"{where}: 'url' must be a string, got {type(url_raw).__name__}")
            if not text.strip():
                filtered["empty_text"] += 1
                continue
            if len(tokenize(text, max_chars)) < min_tokens:
                filtered["too_short"] += 1
                continue
            url = normalize_url(url_raw) if url_raw else None
            if url is not None:
                if url in seen_urls:
                    filtered["duplicate_url"] += 1
                    continue
                seen_urls.add(url)
            docs.append(SeedDoc(url=url, text=text, source=where))
        if file_rows == 0:
            raise SeedError(f"{path}: the seed file holds no rows")
        rows += file_rows
    if not docs:
        why = ", ".join(f"{k}={v}" for k, v in filtered.items() if v)
        raise SeedError(f"seed {', '.join(files)}: no positives left after filtering {rows} rows ({why}; "
                        f"recall.seed_min_tokens={min_tokens})")
    return SeedLoad(docs=docs, files=files, rows_read=rows, filtered=filtered)
