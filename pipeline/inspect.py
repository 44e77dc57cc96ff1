"""``python -m pipeline inspect --input DIR``: what is in a stage's rows, from a random, seeded sample.

DIR is any stage folder of a run (``pool``, ``dedup``, ``rounds``, ``decontam``,
``corpus``), a run folder (its corpus), or a folder of Parquet files. Counts come
from Arrow compute over the metadata columns; only the sample rows and the token
count read ``text``. Tokens are counted with the run's tokenizer (the one
``tokenize`` used, ``<workdir>/megatron/mixture.json``, or ``tokenize.tokenizer``)
so they match what Megatron counts; without one they are words, and say so.
"""
from __future__ import annotations

import json
import random
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

#: Where a stage folder keeps rows with text (the corpus keeps them at its top). The stages between hold
#: decisions by id (dedup/removed, rounds/recalled, decontam/removed): their rows are the pool's pages that
#: the decisions up to theirs keep (pipeline.pages), read as STAGES wires them.
STAGE_ROWS = {"corpus": ".", "pool": "pages"}
DECISION_STAGES = ("dedup", "rounds", "decontam")
#: Above this many rows the token count is estimated from a random sample of ESTIMATE_ROWS rows.
EXACT_TOKEN_ROWS = 200_000
ESTIMATE_ROWS = 5_000


@dataclass(frozen=True)
class StageRows:
    stage: str  # corpus, pool, dedup, rounds, decontam, or parquet (a plain folder or files)
    folder: Path  # the stage folder (or the folder holding the files)
    files: list[Path]
    #: a decision stage's pages (pool pages after the decisions up to that stage), with its score and round
    table: pa.Table | None = None

    def dataset(self) -> ds.Dataset:
        return ds.dataset(self.table) if self.table is not None else ds.dataset(self.files, format="parquet")


def decided_pages(folder: Path) -> pa.Table | None:
    """The pages a decision stage's folder (``<run>/dedup``, ``rounds``, ``decontam``) passes on: the run's pool
    pages minus / within the decisions of the stages it reads and its own, ``score`` shown as ``math_score``."""
    from pipeline import pages
    from pipeline.run import STAGES

    if folder.name not in DECISION_STAGES or not _parquet_files(folder.parent / "pool" / "pages"):
        return None
    stage = next(s for s in STAGES if s.name == folder.name)
    named = [r for r in (*stage.reads, stage.name) if r in ("pool", *DECISION_STAGES)]
    inputs = {r: str(folder.parent / r) for r in named}
    parts = [pages.read_pages(inputs, stem) for stem in pages.stems(inputs)]
    parts = [t for t in parts if t.num_rows] or parts[:1]
    if not parts:
        return None
    table = pa.concat_tables(parts)
    return table.rename_columns(["math_score" if c == "score" else c for c in table.column_names])


def _parquet_files(folder: Path) -> list[Path]:
    # "_" and "." names are metadata and temporaries, as for every dataset reader
    return sorted(p for p in folder.glob("*.parquet") if not p.name.startswith(("_", ".")))


def locate_rows(path: str | Path) -> StageRows:
    """The Parquet files holding a stage's rows, for a stage folder, a run folder or Parquet files."""
    p = Path(path)
    if p.is_file():
        return StageRows("parquet", p.parent, [p])
    if not p.is_dir():
        raise FileNotFoundError(f"{p}: no such folder")
    if p.name in STAGE_ROWS and _parquet_files(p / STAGE_ROWS[p.name]):
        return StageRows(p.name, p, _parquet_files(p / STAGE_ROWS[p.name]))
    decided = decided_pages(p)
    if decided is not None:
        return StageRows(p.name, p, [], decided)
    if _parquet_files(p / "corpus"):  # a run folder: its corpus
        return StageRows("corpus", p / "corpus", _parquet_files(p / "corpus"))
    for sub in ("pages",):  # a pool folder under another name
        if _parquet_files(p / sub):
            return StageRows(p.name, p, _parquet_files(p / sub))
    if _parquet_files(p):
        return StageRows("corpus" if (p / ".meta" / "manifest.json").exists() else "parquet", p, _parquet_files(p))
    raise FileNotFoundError(f"no Parquet rows in {p}: give a stage folder (pool, dedup, rounds, decontam, corpus), "
                            "a run folder or Parquet files")


# --- tokens -------------------------------------------------------------------

def find_tokenizer(folder: Path, configured: str | None = None, workdir: Path | None = None) -> Path | None:
    """The run's tokenizer folder: what ``tokenize`` recorded, else the configured one, else none."""
    roots = [workdir] if workdir else []
    roots += [q for q in [folder, *folder.resolve().parents][:3] if (q / "megatron").is_dir()]
    for root in roots:
        mix = root / "megatron" / "mixture.json"
        if mix.exists():
            recorded = Path(json.loads(mix.read_text()).get("tokenizer", ""))
            if recorded.is_dir():
                return recorded
        if (root / "megatron" / "tokenizer").is_dir():
            return root / "megatron" / "tokenizer"
    if configured and Path(configured).is_dir():
        return Path(configured)
    return None


class TokenCounter:
    """Counts tokens of texts with a tokenizer folder (Hugging Face format), or words without one."""

    def __init__(self, tokenizer_dir: Path | None):
        self.dir = tokenizer_dir
        self._tok = None
        if tokenizer_dir is not None:
            if (tokenizer_dir / "tokenizer.json").exists():
                from tokenizers import Tokenizer

                self._tok = Tokenizer.from_file(str(tokenizer_dir / "tokenizer.json"))
                self._fast = True
            else:
                from training.tokenizer import load_tokenizer

                self._tok = load_tokenizer(tokenizer_dir)
                self._fast = False

    @property
    def unit(self) -> str:
        return f"tokens ({self.dir})" if self._tok is not None else "words (no tokenizer yet: run `tokenize`)"

    def count(self, texts: list[str]) -> list[int]:
        if self._tok is None:
            return [len(t.split()) for t in texts]
        if self._fast:
            return [len(e.ids) for e in self._tok.encode_batch(texts, add_special_tokens=False)]
        return [len(ids) for ids in self._tok(texts, add_special_tokens=False)["input_ids"]]


# --- the summary ------------------------------------------------------------------

def _histogram(scores: pa.ChunkedArray, bins: int = 10) -> list[dict]:
    idx = pc.min_element_wise(pc.floor(pc.multiply(pc.cast(scores, pa.float64()), bins)), bins - 1)
    counts = Counter(int(x) for x in idx.to_pylist() if x is not None)
    return [{"from": round(i / bins, 2), "to": round((i + 1) / bins, 2), "pages": counts.get(i, 0)}
            for i in range(bins)]


def _count_tokens(dataset: ds.Dataset, n: int, counter: TokenCounter, rng: random.Random) -> tuple[int, bool]:
    """(tokens of every text, exact?) exact up to EXACT_TOKEN_ROWS rows, else scaled from a random sample."""
    if n <= EXACT_TOKEN_ROWS:
        total = sum(sum(counter.count(b.column(0).to_pylist())) for b in dataset.to_batches(columns=["text"],
                                                                                           batch_size=2048))
        return total, True
    idx = sorted(rng.sample(range(n), ESTIMATE_ROWS))
    texts = dataset.take(idx, columns=["text"]).column(0).to_pylist()
    return round(sum(counter.count(texts)) * n / len(texts)), False


def summarize(path: str | Path, top_domains: int = 20, samples: int = 3, seed: int = 0,
              tokenizer: Path | None = None) -> dict:
    """The summary of a stage's rows as plain JSON-able objects; ``samples`` rows drawn at random with ``seed``."""
    rows = locate_rows(path)
    dataset = rows.dataset()
    names = dataset.schema.names
    meta = dataset.to_table(columns=[c for c in ("lang", "domain", "round", "math_score") if c in names])
    n = dataset.count_rows()
    rng = random.Random(seed)
    counter = TokenCounter(tokenizer)
    summary: dict = {
        "dir": str(rows.folder), "stage": rows.stage, "files": len(rows.files), "rows": n,
        "schema": {f.name: str(f.type) for f in dataset.schema},
        "token_unit": counter.unit,
    }
    if "text" in names and n:
        summary["tokens"], summary["tokens_exact"] = _count_tokens(dataset, n, counter, random.Random(seed))
    if "lang" in names:
        summary["by_lang"] = dict(Counter(meta["lang"].to_pylist()).most_common())
    if "domain" in names:
        summary["top_domains"] = dict(Counter(meta["domain"].to_pylist()).most_common(top_domains))
    if "round" in names:
        summary["by_round"] = {str(k): v for k, v in sorted(Counter(meta["round"].to_pylist()).items())}
    if "math_score" in names and n:
        summary["score_histogram"] = _histogram(meta["math_score"])
    manifest = rows.folder / ".meta" / "manifest.json"
    if manifest.exists():
        m = json.loads(manifest.read_text())
        summary["manifest"] = {k: m.get(k) for k in ("contract", "rows", "bytes", "row_group_rows", "config_hash",
                                                      "stage_counts")}
    if n and samples:
        idx = rng.sample(range(n), min(samples, n))  # random rows, in the order drawn
        cols = [c for c in ("id", "url", "lang", "math_score", "round", "warc_path", "warc_offset", "warc_length",
                            "text") if c in names]
        picked = dataset.take(sorted(idx), columns=cols).to_pylist()
        by_index = dict(zip(sorted(idx), picked))
        summary["samples"] = [{"row": i, **by_index[i]} for i in idx]
        if "text" in names:
            for s, t in zip(summary["samples"], counter.count([s["text"] for s in summary["samples"]])):
                s["tokens"] = t
    return summary


def _bar(n: int, top: int, width: int = 40) -> str:
    return "#" * max(1 if n else 0, round(width * n / max(top, 1)))


def _table(title: str, rows: dict, total: int) -> list[str]:
    out = [f"\n{title}"]
    top = max(rows.values(), default=0)
    width = max((len(str(k)) for k in rows), default=4)
    for k, n in rows.items():
        out.append(f"  {str(k).ljust(width)}  {n:>9,}  {100 * n / max(total, 1):5.1f}%  {_bar(n, top)}")
    return out


def render(summary: dict) -> str:
    n = summary["rows"]
    tokens = summary.get("tokens")
    lines = [f"{summary['stage']}: {summary['dir']}",
             f"files: {summary['files']}   rows: {n:,}" + (
                 f"   {summary['token_unit'].split(' (')[0]}: {tokens:,}"
                 f"{'' if summary.get('tokens_exact') else ' (estimated from a sample)'}" if tokens is not None else ""),
             f"counted as {summary['token_unit']}"]
    if "manifest" in summary:
        m = summary["manifest"]
        lines.append(f"manifest: {m['contract']}, {m['rows']:,} rows, {m['bytes']:,} bytes, row groups of "
                     f"{m['row_group_rows']:,}, config {m['config_hash']}")
    lines.append("\nschema")
    lines += [f"  {k}: {v}" for k, v in summary["schema"].items()]
    for key, title in (("by_lang", "by language"), ("by_round", "by recall round"), ("top_domains", "top domains")):
        if key in summary:
            lines += _table(title, summary[key], n)
    if "score_histogram" in summary:
        lines += _table("math score", {f"{b['from']:.1f}-{b['to']:.1f}": b["pages"]
                                       for b in summary["score_histogram"]}, n)
    for row in summary.get("samples", []):
        text = " ".join((row.get("text") or "").split())[:300]
        facts = " ".join(f"{k}={row[k]:.3f}" if isinstance(row[k], float) else f"{k}={row[k]}"
                         for k in ("lang", "math_score", "round", "tokens") if k in row)
        lines.append(f"\n[{row.get('id')}] {row.get('url')}  {facts}")
        if "warc_path" in row:
            lines.append(f"  {row['warc_path']} @ {row.get('warc_offset')} +{row.get('warc_length')}")
        lines.append(f"  {text}{'…' if len(row.get('text') or '') > 300 else ''}")
    return "\n".join(lines)
