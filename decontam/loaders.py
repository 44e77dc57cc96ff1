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
             named ``fields``, read as the generic formats are.
``hf_id`` with ``gsm8k`` / ``math`` / ``cmath`` / ``agieval``: the hub's rows read as that
             format's records (GSM8K's answer indexed with and without its calculator marks,
             as from the file). ``agieval`` also reads the hub's prompt form (hails/agieval-*:
             ``query`` with ``choices`` or ``answer``), unwrapping AGIEval's zero-shot prompt
             back to passage and question. ``hf_config`` may be a list: each config (MATH's
             seven subjects) is read and the whole is one benchmark. Hub access needs internet
             or a warm Hugging Face cache; the tests replace ``datasets.load_dataset``.
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

from pipeline.core.io import JsonlLineError, iter_jsonl

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


def _require(path: Path | str, where: str, rec: dict[str, Any], *keys: str) -> None:
    """``path`` is a file, or a ready description such as ``benchmark dataset openai/gsm8k (main, test)``."""
    missing = [k for k in keys if _get(rec, k) is None]
    if missing:
        source = path if isinstance(path, str) else f"benchmark file {path}"
        raise BenchmarkFileError(f"{source}: {where} has no {' / '.join(missing)} field (keys: {sorted(rec)})")


def _emit(name: str, item_id: str, fields: Iterable[tuple[str, Any]]) -> Iterator[BenchmarkText]:
    for field, value in fields:
        text = _as_text(value)
        if text is not None:
            yield BenchmarkText(name, item_id, field, text)


# --- the real formats -----------------------------------------------------------

def _gsm8k_fields(rec: dict[str, Any]) -> list[tuple[str, Any]]:
    raw = str(rec["answer"])
    clean = _GSM8K_CALC.sub("", raw)
    fields = [("question", rec["question"]), ("answer", clean)]
    if clean != raw:
        fields.append(("answer_raw", raw))
    return fields


def load_gsm8k(path: Path, name: str = "gsm8k") -> Iterator[BenchmarkText]:
    for lineno, rec in _read_jsonl(path):
        _require(path, f"line {lineno}", rec, "question", "answer")
        yield from _emit(name, f"{path.name}:{lineno}", _gsm8k_fields(rec))


def _math_record(path: Path | str, where: str, rec: Any, name: str, item_id: str) -> Iterator[BenchmarkText]:
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


def _cmath_fields(rec: dict[str, Any]) -> list[tuple[str, Any]]:
    return [("question", rec["question"] if "question" in rec else rec["input"]), ("answer", rec["golden"])]


def load_cmath(path: Path, name: str = "cmath") -> Iterator[BenchmarkText]:
    for lineno, rec in _read_jsonl(path):
        qkey = "question" if "question" in rec else "input"
        _require(path, f"line {lineno}", rec, qkey, "golden")
        yield from _emit(name, f"{path.name}:{lineno}", _cmath_fields(rec))


# AGIEval's zero-shot prompt (microsoft/AGIEval src/dataset_loader.py, convert_zero_shot), which the hub's
# hails/agieval-* and dmayhem93/agieval-* datasets ship as ``query``:
#   <passage>Q: <question> Answer Choices: <options>\nA: Among A through <X>, the answer is   (English choice)
#   <passage>问题：<question> 选项：<options>\n答案：从A到<X>, 我们应选择                        (Chinese choice)
#   <passage>Q: <question>\nA: The answer is  /  <passage>问题：<question>\n答案：               (cloze)
# Unwrapped, the question is indexed as in the original files: a short question still matches exactly, and
# no n-gram runs into the prompt's words (which no web page shares).
_AGIEVAL_TAIL = re.compile(r"\n(?:A: Among A through [A-G], the answer is|答案[:：]从A到[A-G], ?我们应选择|"
                           r"A: The answer is|答案[:：])\s*$")
_AGIEVAL_OPTIONS = re.compile(r" (?:Answer Choices: |选项[:：])")
_AGIEVAL_HEAD = re.compile(r"Q: |问题[:：]")


def unwrap_agieval_query(query: str) -> tuple[str, str]:
    """(passage, question) of an AGIEval zero-shot prompt; a text not in that form is all question."""
    body = _AGIEVAL_TAIL.sub("", query)
    options = list(_AGIEVAL_OPTIONS.finditer(body))
    if options:
        body = body[:options[-1].start()]
    head = _AGIEVAL_HEAD.search(body)
    return (body[:head.start()], body[head.end():]) if head else ("", body)


def _agieval_fields(rec: dict[str, Any]) -> list[tuple[str, Any]]:
    if rec.get("question") is None and rec.get("query") is not None:  # the hub's prompt form
        passage, question = unwrap_agieval_query(str(rec["query"]))
        return [("passage", passage), ("question", question), ("options", rec.get("choices")),
                ("answer", rec.get("answer"))]
    return [("passage", rec.get("passage")), ("question", rec["question"]), ("options", rec.get("options")),
            ("answer", rec.get("answer")), ("solution", _get(rec, "other.solution"))]


def load_agieval(path: Path, name: str = "agieval") -> Iterator[BenchmarkText]:
    for lineno, rec in _read_jsonl(path):
        _require(path, f"line {lineno}", rec, "question")
        yield from _emit(name, f"{path.name}:{lineno}", _agieval_fields(rec))


#: The text fields each named format needs, and how a record becomes (field, text) pairs; shared by the
#: file loaders above and the hub loader below.
_RECORD_FORMATS: dict[str, tuple[tuple[str, ...], Any]] = {
    "gsm8k": (("question", "answer"), _gsm8k_fields),
    "math": (("problem", "solution"), lambda rec: [("problem", rec["problem"]), ("solution", rec["solution"])]),
    "cmath": (("question", "golden"), _cmath_fields),
    "agieval": ((), _agieval_fields),  # question, or the hub's query: checked in load_hf
}


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


def _hf_rows(hf_id: str, hf_config: str | None, split: str) -> Iterable[dict[str, Any]]:
    """The rows of one split of one config of a hub dataset (``datasets`` caches the download)."""
    from datasets import load_dataset

    return load_dataset(hf_id, hf_config, split=split)


def load_hf(hf_id: str, name: str, fields: list[str] | None = None, split: str = "test",
            hf_config: str | list[str] | None = None, id_field: str | None = None,
            format: str = "hf") -> Iterator[BenchmarkText]:
    """A Hugging Face ``datasets`` id, for users with internet (or a warm HF cache).

    ``format`` hf reads the named ``fields``; gsm8k, math, cmath and agieval read the rows as those
    formats' records. A list of configs is read config by config; item ids are
    ``<hf_id>[/<config>]:<split>:<row>`` unless ``id_field`` names one.
    """
    configs = hf_config if isinstance(hf_config, list) else [hf_config]
    for config in configs:
        label = f"{hf_id}/{config}" if config else hf_id
        source = f"benchmark dataset {hf_id} ({', '.join(x for x in (config, split) if x)})"
        try:
            ds = _hf_rows(hf_id, config, split)
        except Exception as exc:  # datasets raises many types (no network, unknown config or split, ...)
            raise BenchmarkFileError(f"{source} (benchmark {name}): cannot load ({type(exc).__name__}: "
                                     f"{str(exc).splitlines()[0] if str(exc) else ''})") from None
        rows = ((f"{label}:{split}:{i}", rec) for i, rec in enumerate(ds))
        if format == "hf":
            if not fields:
                raise ValueError(f"benchmark {name}: format hf needs fields")
            yield from _generic_rows(name, rows, fields, id_field, source)
            continue
        required, to_fields = _RECORD_FORMATS[format]
        for default_id, rec in rows:
            _require(source, f"row {default_id}", rec, *required, *([id_field] if id_field else []))
            if format == "agieval" and rec.get("question") is None and rec.get("query") is None:
                raise BenchmarkFileError(f"{source}: row {default_id} has no question / query field "
                                         f"(keys: {sorted(rec)})")
            yield from _emit(name, str(_get(rec, id_field)) if id_field else default_id, to_fields(rec))


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
                   id_field: str | None = None, hf_id: str | None = None, hf_config: str | list[str] | None = None,
                   split: str = "test") -> list[BenchmarkText]:
    """Every text of one benchmark source; raises :class:`BenchmarkFileError` naming a bad file."""
    if format not in FORMATS:
        raise ValueError(f"unknown benchmark format {format!r} (one of {', '.join(FORMATS)})")
    if format == "hf" or hf_id:
        if not hf_id or (format == "hf" and not fields):
            raise ValueError(f"benchmark {name}: format hf needs hf_id and fields")
        if format not in ("hf", *_RECORD_FORMATS):
            raise ValueError(f"benchmark {name}: hf_id goes with format hf, gsm8k, math, cmath or agieval")
        texts = list(load_hf(hf_id, name, fields, split=split, hf_config=hf_config, id_field=id_field,
                             format=format))
        if not texts:
            raise BenchmarkFileError(f"benchmark dataset {hf_id} (benchmark {name}): holds no items")
        return texts
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
