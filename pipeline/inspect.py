"""``python -m pipeline inspect DIR``: what is in a corpus, without reading the text column.

DIR is a corpus folder (``part-*.parquet`` + ``manifest.json``) or a run folder
holding ``corpus/``. Counts come from Arrow compute over the metadata columns;
only the few sample rows read ``text``.
"""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds


def corpus_dir(path: str | Path) -> Path:
    p = Path(path)
    if (p / "corpus" / "manifest.json").exists() or (p / "corpus").is_dir() and not list(p.glob("part-*.parquet")):
        p = p / "corpus"
    if not list(p.glob("part-*.parquet")):
        raise FileNotFoundError(f"no part-*.parquet shards in {p}")
    return p


def _bar(n: int, top: int, width: int = 40) -> str:
    return "#" * max(1 if n else 0, round(width * n / max(top, 1)))


def _table(title: str, rows: list[tuple[str, int]], total: int) -> list[str]:
    out = [f"\n{title}"]
    top = max((n for _, n in rows), default=0)
    width = max((len(str(k)) for k, _ in rows), default=4)
    for k, n in rows:
        out.append(f"  {str(k).ljust(width)}  {n:>9,}  {100 * n / max(total, 1):5.1f}%  {_bar(n, top)}")
    return out


def summarize(path: str | Path, top_domains: int = 20, samples: int = 3) -> dict:
    d = corpus_dir(path)
    dataset = ds.dataset(sorted(d.glob("part-*.parquet")), format="parquet")
    meta = dataset.to_table(columns=["lang", "domain", "round", "math_score", "token_count"])
    n = meta.num_rows
    hist, _ = _histogram(meta["math_score"]) if n else ([], [])
    summary = {
        "dir": str(d),
        "schema": [f"{f.name}: {f.type}" for f in dataset.schema],
        "files": len(list(d.glob("part-*.parquet"))),
        "rows": n,
        "tokens": int(pc.sum(meta["token_count"]).as_py() or 0) if n else 0,
        "by_lang": Counter(meta["lang"].to_pylist()).most_common(),
        "top_domains": Counter(meta["domain"].to_pylist()).most_common(top_domains),
        "by_round": sorted(Counter(meta["round"].to_pylist()).items()),
        "score_histogram": hist,
    }
    manifest = d / "manifest.json"
    if manifest.exists():
        m = json.loads(manifest.read_text())
        summary["manifest"] = {k: m.get(k) for k in ("rows", "bytes", "config_hash", "stage_counts")}
    if n and samples:
        rows = dataset.head(samples, columns=["id", "url", "lang", "math_score", "round", "text"]).to_pylist()
        summary["samples"] = rows
    return summary


def _histogram(scores: pa.ChunkedArray, bins: int = 10) -> tuple[list[tuple[str, int]], list[float]]:
    edges = [i / bins for i in range(bins + 1)]
    idx = pc.min_element_wise(pc.floor(pc.multiply(pc.cast(scores, pa.float64()), bins)), bins - 1)
    counts = Counter(int(x) for x in idx.to_pylist() if x is not None)
    return [(f"{edges[i]:.1f}-{edges[i + 1]:.1f}", counts.get(i, 0)) for i in range(bins)], edges


def render(summary: dict) -> str:
    n = summary["rows"]
    lines = [f"corpus: {summary['dir']}", f"files: {summary['files']}   rows: {n:,}   tokens: {summary['tokens']:,}"]
    if "manifest" in summary:
        m = summary["manifest"]
        lines.append(f"manifest: {m['rows']:,} rows, {m['bytes']:,} bytes, config {m['config_hash']}")
    lines.append("\nschema")
    lines += [f"  {s}" for s in summary["schema"]]
    lines += _table("by language", summary["by_lang"], n)
    lines += _table("by recall round", summary["by_round"], n)
    lines += _table("top domains", summary["top_domains"], n)
    lines += _table("math score", summary["score_histogram"], n)
    for row in summary.get("samples", []):
        text = " ".join(row["text"].split())[:300]
        lines.append(f"\n[{row['id']}] {row['url']}  lang={row['lang']} score={row['math_score']:.3f} round={row['round']}")
        lines.append(f"  {text}{'…' if len(row['text']) > 300 else ''}")
    return "\n".join(lines)
