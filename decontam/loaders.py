"""Benchmark loaders: each yields :class:`BenchmarkText` rows (benchmark, item id, field, text).

Formats (``format`` in a ``decontam.benchmarks`` entry of the config):

``gsm8k``    jsonl, one item per line: ``question``, ``answer``. The answer is indexed
             twice: as shipped (``answer_raw``, with ``<<48/2=24>>`` calculator
             annotations) and without them (``answer``), since web copies quote both.
``math``     the MATH release: per-problem JSON files in subject folders
             (``test/algebra/1.json``: ``problem``, ``solution``), given as the folder,
             as a ``.tar.gz``/``.tgz``/``.tar`` of it, or a jsonl with the same keys.
``cmath``    jsonl: ``question`` (test split) or ``input`` (dev split), ``golden``.
``agieval``  jsonl: ``passage``, ``question``, ``options`` (indexed as one text, labels
             kept), ``answer``, ``other.solution``. ``label`` (a letter) is not text.
``jsonl`` / ``parquet``  any file with named text ``fields`` (dotted paths reach into
             nested objects, lists are joined with spaces) and an optional ``id_field``.
``hf``       a Hugging Face ``datasets`` id (``hf_id``, ``hf_config``, ``split``) with
             named ``fields``; needs internet and is not exercised by the tests.
``auto``     a folder or tar archive is MATH; a jsonl is recognised by its first
             record's keys; ``.parquet`` needs ``fields``.

Item ids are stable and human-readable: ``<file name>:<line number>`` for jsonl
(1-based, as an editor shows it), ``<split>/<subject>/<n>.json`` for MATH.
A file that cannot be read raises :class:`BenchmarkFileError` naming the file
(and line or archive member).
"""
from __future__ import annotations

import json
import re
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

from pipeline.io import JsonlLineError, iter_jsonl

FORMATS = ("auto", "gsm8k", "math", "cmath", "agieval", "jsonl", "parquet", "hf")


@dataclass(frozen=True)
class BenchmarkText:
    """One text of one benchmark item: a question, an answer, a solution..."""

    benchmark: str
    item_id: str
    field: str
    text: str


class BenchmarkFileError(ValueError):
    """A benchmark file is missing, unreadable or not in the stated format; the message names it."""


_GSM8K_CALC = re.compile(r"<<[^<>]*>>")


def _read_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(1-based line number, record) for every non-blank line of ``path``."""
    try:
        yield from iter_jsonl(path)
    except JsonlLineError as exc:
        raise BenchmarkFileError(f"benchmark file {path}: line {exc.lineno} is {exc.reason}") from None
    except UnicodeDecodeError as exc:
        raise BenchmarkFileError(f"benchmark file {path}: not UTF-8 text ({exc.reason})") from None
    except OSError as exc:
        raise BenchmarkFileError(f"benchmark file {path}: cannot open ({exc.strerror or exc})") from None


def _get(rec: dict[str, Any], dotted: str) -> Any:
    node: Any = rec
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _as_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        value = " ".join(str(v) for v in value if v is not None)
    text = str(value)
    return text if text.strip() else None


def _require(path: Path, where: str, rec: dict[str, Any], *keys: str) -> None:
    missing = [k for k in keys if _get(rec, k) is None]
    if missing:
        raise BenchmarkFileError(
            f"benchmark file {path}: {where} has no {' / '.join(missing)} field (keys: {sorted(rec)})"
        )


def _emit(name: str, item_id: str, fields: Iterable[tuple[str, Any]]) -> Iterator[BenchmarkText]:
    for field, value in fields:
        text = _as_text(value)
        if text is not None:
            yield BenchmarkText(name, item_id, field, text)


# --- the real formats -----------------------------------------------------------

def load_gsm8k(path: Path, name: str = "gsm8k") -> Iterator[BenchmarkText]:
    for lineno, rec in _read_jsonl(path):
        _require(path, f"line {lineno}", rec, "question", "answer")
        raw = str(rec["answer"])
        clean = _GSM8K_CALC.sub("", raw)
        fields = [("question", rec["question"]), ("answer", clean)]
        if clean != raw:
            fields.append(("answer_raw", raw))
        yield from _emit(name, f"{path.name}:{lineno}", fields)


def _math_record(path: Path, where: str, rec: Any, name: str, item_id: str) -> Iterator[BenchmarkText]:
    if not isinstance(rec, dict):
        raise BenchmarkFileError(f"benchmark file {path}: {where} is not a JSON object")
    _require(path, where, rec, "problem", "solution")
    yield from _emit(name, item_id, [("problem", rec["problem"]), ("solution", rec["solution"])])


def _math_member_id(member: str) -> str:
    # MATH/test/algebra/1.json -> test/algebra/1.json (the archive's top folder says nothing)
    parts = Path(member).parts
    return "/".join(parts[-3:]) if len(parts) >= 3 else member


def load_math(path: Path, name: str = "math") -> Iterator[BenchmarkText]:
    if path.is_dir():
        files = sorted(p for p in path.rglob("*.json") if p.is_file())
        if not files:
            raise BenchmarkFileError(f"benchmark folder {path}: no *.json problem files under it")
        for f in files:
            try:
                rec = json.loads(f.read_text(encoding="utf-8"))
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise BenchmarkFileError(f"benchmark file {f}: not valid JSON ({exc})") from None
            yield from _math_record(f, "the file", rec, name, _math_member_id(str(f.relative_to(path))))
        return
    if path.name.endswith((".tar.gz", ".tgz", ".tar")):
        yield from _load_math_tar(path, name)
        return
    for lineno, rec in _read_jsonl(path):
        yield from _math_record(path, f"line {lineno}", rec, name, f"{path.name}:{lineno}")


def _load_math_tar(path: Path, name: str) -> Iterator[BenchmarkText]:
    try:
        tar = tarfile.open(path, "r:*")
    except (OSError, tarfile.TarError, EOFError) as exc:
        raise BenchmarkFileError(f"benchmark archive {path}: cannot open as tar ({exc})") from None
    found = 0
    with tar:
        try:
            members = sorted((m for m in tar if m.isfile() and m.name.endswith(".json")), key=lambda m: m.name)
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise BenchmarkFileError(f"benchmark archive {path}: damaged ({exc})") from None
        for m in members:
            try:
                data = tar.extractfile(m).read()  # type: ignore[union-attr]
                rec = json.loads(data.decode("utf-8"))
            except (tarfile.TarError, EOFError, OSError) as exc:
                raise BenchmarkFileError(f"benchmark archive {path}: member {m.name} unreadable ({exc})") from None
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise BenchmarkFileError(f"benchmark archive {path}: member {m.name} is not valid JSON ({exc})") from None
            found += 1
            yield from _math_record(path, f"member {m.name}", rec, name, _math_member_id(m.name))
    if not found:
        raise BenchmarkFileError(f"benchmark archive {path}: holds no *.json problem files")


def load_cmath(path: Path, name: str = "cmath") -> Iterator[BenchmarkText]:
    for lineno, rec in _read_jsonl(path):
        qkey = "question" if "question" in rec else "input"
        _require(path, f"line {lineno}", rec, qkey, "golden")
        yield from _emit(name, f"{path.name}:{lineno}", [("question", rec[qkey]), ("answer", rec["golden"])])


def load_agieval(path: Path, name: str = "agieval") -> Iterator[BenchmarkText]:
    for lineno, rec in _read_jsonl(path):
        _require(path, f"line {lineno}", rec, "question")
        yield from _emit(
            name,
            f"{path.name}:{lineno}",
            [
                ("passage", rec.get("passage")),
                ("question", rec["question"]),
                ("options", rec.get("options")),
                ("answer", rec.get("answer")),
                ("solution", _get(rec, "other.solution")),
            ],
        )


# --- generic formats --------------------------------------------------------------

def _generic_rows(name: str, rows: Iterable[tuple[str, dict[str, Any]]], fields: list[str], id_field: str | None,
                  where_prefix: str) -> Iterator[BenchmarkText]:
    for default_id, rec in rows:
        item_id = default_id
        if id_field:
            value = _get(rec, id_field)
            if value is None:
                raise BenchmarkFileError(f"{where_prefix}: record {default_id} has no id field {id_field!r}")
            item_id = str(value)
        if all(_get(rec, f) is None for f in fields):
            raise BenchmarkFileError(
                f"{where_prefix}: record {default_id} has none of the fields {fields} (keys: {sorted(rec)})"
            )
        yield from _emit(name, item_id, [(f, _get(rec, f)) for f in fields])


def load_jsonl(path: Path, name: str, fields: list[str], id_field: str | None = None) -> Iterator[BenchmarkText]:
    rows = ((f"{path.name}:{lineno}", rec) for lineno, rec in _read_jsonl(path))
    yield from _generic_rows(name, rows, fields, id_field, f"benchmark file {path}")


def load_parquet(path: Path, name: str, fields: list[str], id_field: str | None = None) -> Iterator[BenchmarkText]:
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises several types for a bad file
        raise BenchmarkFileError(f"benchmark file {path}: not a readable Parquet file ({exc})") from None
    top = {f.split(".")[0] for f in fields} | ({id_field.split(".")[0]} if id_field else set())
    missing = sorted(top - set(pf.schema_arrow.names))
    if missing:
        raise BenchmarkFileError(f"benchmark file {path}: no column(s) {missing} (columns: {pf.schema_arrow.names})")

    def rows() -> Iterator[tuple[str, dict[str, Any]]]:
        i = 0
        for batch in pf.iter_batches(columns=sorted(top)):
            for rec in batch.to_pylist():
                yield f"{path.name}:{i}", rec
                i += 1

    yield from _generic_rows(name, rows(), fields, id_field, f"benchmark file {path}")


def load_hf(hf_id: str, name: str, fields: list[str], split: str = "test", hf_config: str | None = None,
            id_field: str | None = None) -> Iterator[BenchmarkText]:
    """A Hugging Face ``datasets`` id: for users with internet (or a warm HF cache)."""
    from datasets import load_dataset

    ds = load_dataset(hf_id, hf_config, split=split)
    rows = ((f"{hf_id}:{split}:{i}", rec) for i, rec in enumerate(ds))
    yield from _generic_rows(name, rows, fields, id_field, f"benchmark dataset {hf_id} ({split})")


# --- dispatch ---------------------------------------------------------------------

def detect_format(path: Path) -> str:
    if path.is_dir() or path.name.endswith((".tar.gz", ".tgz", ".tar")):
        return "math"
    if path.suffix == ".parquet":
        return "parquet"
    for lineno, rec in _read_jsonl(path):
        keys = set(rec)
        if "golden" in keys:
            return "cmath"
        if "options" in keys or "passage" in keys:
            return "agieval"
        if {"problem", "solution"} <= keys:
            return "math"
        if {"question", "answer"} <= keys:
            return "gsm8k"
        raise BenchmarkFileError(
            f"benchmark file {path}: cannot tell its format from line {lineno}'s keys {sorted(keys)}; "
            "set format (gsm8k, math, cmath, agieval, or jsonl with fields)"
        )
    raise BenchmarkFileError(f"benchmark file {path}: empty")


def load_benchmark(name: str, path: str | Path | None = None, format: str = "auto", fields: list[str] | None = None,
                   id_field: str | None = None, hf_id: str | None = None, hf_config: str | None = None,
                   split: str = "test") -> list[BenchmarkText]:
    """Every text of one benchmark source; raises :class:`BenchmarkFileError` naming a bad file."""
    if format not in FORMATS:
        raise ValueError(f"unknown benchmark format {format!r} (one of {', '.join(FORMATS)})")
    if format == "hf":
        if not hf_id or not fields:
            raise ValueError(f"benchmark {name}: format hf needs hf_id and fields")
        return list(load_hf(hf_id, name, fields, split=split, hf_config=hf_config, id_field=id_field))
    if path is None:
        raise ValueError(f"benchmark {name}: no path")
    p = Path(path)
    if not p.exists():
        raise BenchmarkFileError(f"benchmark file {p} (benchmark {name}): not found")
    fmt = detect_format(p) if format == "auto" else format
    if fmt in ("jsonl", "parquet"):
        if not fields:
            raise ValueError(f"benchmark {name}: format {fmt} needs fields (the text fields to index)")
        loader = load_jsonl if fmt == "jsonl" else load_parquet
        texts = list(loader(p, name, fields, id_field))
    else:
        texts = list({"gsm8k": load_gsm8k, "math": load_math, "cmath": load_cmath, "agieval": load_agieval}[fmt](p, name))
    if not texts:
        raise BenchmarkFileError(f"benchmark file {p} (benchmark {name}): holds no items")
    return texts


def count_items(texts: Iterable[BenchmarkText]) -> int:
    return len({(t.benchmark, t.item_id) for t in texts})
