"""Seed positives in OpenWebMath's format: jsonl (optionally .gz) or Parquet rows with ``url`` and ``text``.

OpenWebMath publishes Parquet (``url, text, date, metadata``) on the Hugging Face hub; the
mini-CC writes the same fields as jsonl. A seed file is a local path or glob, or any fsspec
URL or glob: ``hf://datasets/open-web-math/open-web-math/data/*.parquet`` reads OpenWebMath
from the hub through huggingface_hub's ``HfFileSystem`` (``s3://``, ``https://`` work alike).
Parquet is read column by column and row group by row group, so a capped seed
(``max_docs``, the paper's 500K of OpenWebMath's 6.3M pages) downloads only what it keeps.
Every problem names the file and, for jsonl, the line, because a seed is usually a file
someone assembled by hand or by script.
"""
from __future__ import annotations

import glob
import math
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import fsspec
import pyarrow.parquet as pq

from classifiers.text import tokenize
from pipeline.extraction.extract import normalize_url
from pipeline.core.io import JsonlLineError, iter_jsonl


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
    max_docs: int | None = None
    docs_per_file: dict[str, int] = field(default_factory=dict)


def _is_url(path: str) -> bool:
    return "://" in path


def _expand_url(pattern: str) -> list[str]:
    """An fsspec URL or URL glob -> full URLs (``hf://...``), sorted; SeedError when nothing is there."""
    try:
        fs, path = fsspec.core.url_to_fs(pattern)
        if any(c in path for c in "*?["):
            hits = sorted(fs.glob(path))
            if not hits:
                raise SeedError(f"seed: no file matches {pattern}")
        else:
            if not fs.isfile(path):
                raise SeedError(f"seed file not found: {pattern}")
            hits = [path]
    except SeedError:
        raise
    except Exception as exc:  # a missing protocol package, no network, no access: say which pattern
        raise SeedError(f"seed: cannot list {pattern} ({type(exc).__name__}: {exc})") from None
    return [fs.unstrip_protocol(h) for h in hits]


def expand_seed_paths(patterns: list[str]) -> list[str]:
    out: list[str] = []
    for pat in patterns:
        if _is_url(pat):
            out.extend(_expand_url(pat))
            continue
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
    """Rows of the ``text`` (and ``url``) columns; a URL is opened with fsspec and read in ranges, so only the
    column chunks of the row groups actually iterated are downloaded."""
    with (fsspec.open(path, "rb") if _is_url(path) else nullcontext(path)) as source:
        try:
            # pre_buffer off: row groups are fetched as iterated, so a file left early is not downloaded whole
            pf = pq.ParquetFile(source, pre_buffer=False)
        except Exception as exc:  # pyarrow raises several types for a file that is not Parquet
            raise SeedError(f"{path}: not a readable Parquet file ({exc})") from None
        names = pf.schema_arrow.names
        if "text" not in names:
            raise SeedError(f"{path}: no 'text' column (columns: {', '.join(names)})")
        cols = ["text"] + (["url"] if "url" in names else [])
        row = 0
        for group in range(pf.num_row_groups):  # one row group at a time (a batch never reaches into the next)
            for batch in pf.iter_batches(columns=cols, batch_size=1_000, row_groups=[group]):
                for obj in batch.to_pylist():
                    row += 1
                    yield f"{path}#{row}", obj


def load_seed(patterns: list[str], min_tokens: int = 20, max_chars: int | None = None,
              max_docs: int | None = None) -> SeedLoad:
    """Read seed rows; keep those with enough classifier tokens, one per URL.

    ``max_docs`` caps the positives kept, spread evenly over the files: file ``i`` of ``F`` may add
    ``ceil(left / (F - i))``, and a file that runs short leaves its share to the files after it. Reading
    stops as soon as a file's share is kept. Texts are kept to their first ``max_chars`` characters,
    all the classifier ever reads (500K OpenWebMath pages would otherwise hold several GB).

    Raises :class:`SeedError` for a missing, empty or malformed file, a row whose
    ``text`` is not a string, or when no positive is left after filtering.
    """
    if max_docs is not None and max_docs < 1:
        raise ValueError(f"max_docs must be at least 1, got {max_docs}")
    files = expand_seed_paths(patterns)
    docs: list[SeedDoc] = []
    filtered = {"empty_text": 0, "too_short": 0, "duplicate_url": 0}
    seen_urls: set[str] = set()
    per_file: dict[str, int] = {}
    rows = 0
    for i, path in enumerate(files):
        share = None if max_docs is None else math.ceil((max_docs - len(docs)) / (len(files) - i))
        if share == 0:
            break
        is_parquet = path.endswith((".parquet", ".pq"))
        if not is_parquet and not _is_url(path) and Path(path).stat().st_size == 0:
            raise SeedError(f"{path}: the seed file is empty")
        file_rows = 0
        kept = 0
        rows_iter = _iter_parquet(path) if is_parquet else _iter_jsonl(path)
        try:
            for where, obj in rows_iter:
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
                docs.append(SeedDoc(url=url, text=text[:max_chars] if max_chars else text, source=where))
                kept += 1
                if share is not None and kept >= share:
                    break
        except OSError as exc:  # a remote file that went away or a dropped connection: name the file
            raise SeedError(f"{path}: cannot read ({type(exc).__name__}: {exc})") from None
        finally:
            rows_iter.close()  # closes the file (and the remote connection) of a file left early
        if file_rows == 0:
            raise SeedError(f"{path}: the seed file holds no rows")
        rows += file_rows
        per_file[path] = kept
    if not docs:
        why = ", ".join(f"{k}={v}" for k, v in filtered.items() if v)
        raise SeedError(f"seed {', '.join(files)}: no positives left after filtering {rows} rows ({why}; "
                        f"recall.seed_min_tokens={min_tokens})")
    return SeedLoad(docs=docs, files=files, rows_read=rows, filtered=filtered, max_docs=max_docs,
                    docs_per_file=per_file)
