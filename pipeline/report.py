"""The run report: ``<workdir>/report/index.html`` with PNG plots.

Everything is read back from what the stages left on disk (their ``_SUCCESS``
markers, ``run_stats.json``, ``run_config.json``, the recall rounds, the dedup and
decontam logs, the pool's pages, the corpus shards and ``megatron/``), so the report
can be rebuilt at any time with ``python -m pipeline report --config FILE``. A stage
that has not run leaves a note instead of a plot. Every plot has labelled axes and
a caption that reads it in one line, from the numbers drawn.

Sample documents show their TeX as source in ``<code>``: KaTeX or MathJax would have
to be fetched by the browser (no internet on cluster nodes or CI) and no Python
package renders arbitrary LaTeX (matplotlib's mathtext covers a subset and fails on
environments like ``align``), so the math is shown exactly as a model will read it.

``report --compare OTHER`` writes ``compare.html``: the two runs' headline figures
and config differences side by side, and overlays of their distributions.
"""
from __future__ import annotations

import html
import json
import logging
import random
import re
import statistics
from collections import Counter
from pathlib import Path
from typing import Callable

import matplotlib

matplotlib.use("Agg")  # headless: no display on a cluster node
import matplotlib.pyplot as plt  # noqa: E402
import pyarrow as pa  # noqa: E402

from pipeline.core import storage  # noqa: E402
from pipeline.core.io import atomic_path, is_complete, mark_complete  # noqa: E402
from pipeline.core.stats import StageStats  # noqa: E402

log = logging.getLogger(__name__)
logging.getLogger("matplotlib").setLevel(logging.WARNING)  # its category-axis INFO lines say nothing useful

STAGE_ORDER = ["minicc", "pool", "dedup", "rounds", "decontam", "corpus", "megatron"]


def _stats(workdir: str, stage: str) -> StageStats | None:
    """A finished stage's StageStats (None when it has not finished)."""
    from pipeline.run import stage_stats

    return stage_stats(str(workdir), stage)


def _path(workdir: str | Path, *parts: str) -> str:
    """A path under the run folder (a local path or a URL)."""
    return storage.join(str(workdir), *parts)


def _read_json(path: str):
    try:
        return json.loads(storage.read_bytes(path))
    except FileNotFoundError:
        return None


def _parquet_files(folder: str, prefix: str = "") -> list[str]:
    return [f for f in storage.list_files(folder, ".parquet") if storage.name(f).startswith(prefix)]


def _corpus_files(workdir: str | Path) -> list[str]:
    return _parquet_files(_path(workdir, "corpus"), "part-")


def _table(files: list[str], columns: list[str]) -> pa.Table:
    """``columns`` of every file, one table (files read one at a time, local or remote)."""
    return pa.concat_tables([storage.read_parquet_table(f, columns=columns) for f in files])


def _count_rows(files: list[str]) -> list[int]:
    return [storage.parquet_rows(f) for f in files]


def _take(files: list[str], idx: list[int], columns: list[str]) -> pa.Table:
    """Rows ``idx`` (sorted, over the files end to end) of ``columns``; one file in memory at a time."""
    parts, start, i = [], 0, 0
    for f, n in zip(files, _count_rows(files)):
        local = []
        while i < len(idx) and idx[i] < start + n:
            local.append(idx[i] - start)
            i += 1
        if local:
            parts.append(storage.read_parquet_table(f, columns=columns).take(local))
        start += n
    return pa.concat_tables(parts) if parts else pa.table({c: [] for c in columns})


def _save(fig, path: Path) -> None:
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


def _ranked_bars(items: list[tuple[str, int]], title: str, color: str, out: Path, log_x: bool = False, *,
                 xlabel: str, ylabel: str) -> None:
    """Horizontal bars, largest first from the top."""
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(items) + 1.2))
    ax.barh([k for k, _ in items][::-1], [v for _, v in items][::-1], color=color)
    if log_x:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel + (" (log scale)" if log_x else ""))
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    _save(fig, out)


# --- the numbers -----------------------------------------------------------------

def accounting(workdir: str | Path) -> list[dict]:
    """Pages in = pages kept + pages dropped with a reason, stage by stage (rows for the report's table), from
    each page stage's StageStats."""
    from pipeline.run import PAGE_STAGES

    rows: list[dict] = []
    for name in PAGE_STAGES:
        st = _stats(workdir, name)
        if st is None or st.rows_in is None or st.rows_out is None:
            continue
        rows.append({"stage": name, "in": st.rows_in, "kept": st.rows_out, "dropped": dict(st.dropped),
                     "note": st.notes, "balanced": st.balanced})
    return rows


def run_totals(rows: list[dict]) -> dict:
    """The whole run in one line: records read = corpus rows + every drop, each with its reason."""
    if not rows:
        return {}
    drops: Counter = Counter()
    for r in rows:
        drops.update({f"{r['stage']}:{k}": v for k, v in r["dropped"].items() if v})
    chained = all(a["kept"] == b["in"] for a, b in zip(rows, rows[1:]))
    out = rows[-1]["kept"]
    return {"in": rows[0]["in"], "out": out, "dropped": dict(drops), "chained": chained,
            "balanced": chained and rows[0]["in"] == out + sum(drops.values())}


# --- the plots -----------------------------------------------------------------------

def plot_stage_times(workdir: Path, out: Path) -> str | None:
    run_stats = _read_json(_path(workdir, "run_stats.json"))
    if not run_stats:
        return None
    stages = [s for s in run_stats["stages"] if s["status"] == "ran"]
    if not stages:
        return None
    fig, ax = plt.subplots(figsize=(7, 3.2))
    ax.barh([s["stage"] for s in stages][::-1], [s["seconds"] for s in stages][::-1], color="#4c72b0")
    ax.set_xlabel("seconds (this run)")
    ax.set_ylabel("stage")
    ax.set_title("Time per stage")
    _save(fig, out)
    slow = max(stages, key=lambda s: s["seconds"])
    total = sum(s["seconds"] for s in stages)
    return (f"{slow['stage']} took longest: {slow['seconds']:.0f} s of {total:.0f} s; cached stages are not drawn "
            "(they take no time).")


def plot_funnel(rows: list[dict], out: Path) -> str | None:
    if not rows:
        return None
    fig, ax = plt.subplots(figsize=(7, 3.2))
    labels = [f"{r['stage']} in" for r in rows[:1]] + [f"{r['stage']} kept" for r in rows]
    values = [rows[0]["in"]] + [r["kept"] for r in rows]
    ax.bar(labels, values, color=["#999999"] + ["#55a868"] * len(rows))
    ax.set_yscale("log")
    for i, v in enumerate(values):
        ax.text(i, v, f"{v:,}", ha="center", va="bottom", fontsize=8)
    ax.set_ylabel("records / pages (log scale)")
    ax.set_xlabel("stage")
    ax.set_title("Pages through the pipeline")
    plt.setp(ax.get_xticklabels(), rotation=20, ha="right")
    _save(fig, out)
    return (f"{values[0]:,} records read, {values[-1]:,} pages in the corpus "
            f"({100 * values[-1] / max(values[0], 1):.1f}%).")


def plot_drop_reasons(rows: list[dict], out: Path) -> str | None:
    reasons = Counter()
    for r in rows:
        reasons.update({f"{r['stage']}: {k}": v for k, v in r["dropped"].items() if v})
    if not reasons:
        return None
    _ranked_bars(reasons.most_common(), "Why records were dropped", "#c44e52", out, log_x=True, xlabel="records",
                 ylabel="stage: reason")
    (top, n), total = reasons.most_common(1)[0], sum(reasons.values())
    return (f"Most drops are {top} ({n:,} of {total:,}); every dropped record has its reason in its stage's "
            "drop log.")


def plot_recall_rounds(workdir: Path, out: Path) -> str | None:
    summary = _read_json(_path(workdir, "rounds", "summary.json"))
    if not summary:
        return None
    rounds = summary["rounds"]
    n = [r["round"] for r in rounds]
    fig, ax1 = plt.subplots(figsize=(7, 3.4))
    ax1.bar(n, [r["pages_recalled"] for r in rounds], color="#8172b2", alpha=0.6, label="pages recalled")
    ax1.set_xlabel("round")
    ax1.set_ylabel("pages recalled")
    ax1.set_xticks(n)
    ax2 = ax1.twinx()
    truth = [r.get("truth") or {} for r in rounds]
    if any(truth):
        ax2.plot(n, [t.get("precision") for t in truth], "o-", color="#dd8452", label="precision (truth)")
        ax2.plot(n, [t.get("recall") for t in truth], "s-", color="#55a868", label="recall (truth)")
    ax2.plot(n, [r.get("overlap_prev") for r in rounds], "^--", color="#4c72b0", label="overlap with previous")
    ax2.set_ylim(0, 1.05)
    ax2.set_ylabel("share (0-1)")
    fig.legend(loc="lower right", fontsize=8)
    ax1.set_title("Iterative recall per round")
    _save(fig, out)
    last = rounds[-1]
    t = last.get("truth") or {}
    against = (f"; against the mini-CC's truth: precision {t['precision']:.2f}, recall {t['recall']:.2f}"
               if t.get("precision") is not None else "")
    return (f"Round {last['round']} recalled {last['pages_recalled']:,} pages, overlap with the round before "
            f"{last.get('overlap_prev') or 0:.2f}{against}.")


def _threshold(workdir: Path, last: int) -> float | None:
    """The recall threshold that ran (the config that ran, else the round's held-out metrics)."""
    cfg = run_config(workdir)
    if cfg and "recall" in cfg:
        return cfg["recall"].get("threshold")
    metrics = _read_json(_path(workdir, "rounds", f"r{last}", "metrics.json"))
    return metrics.get("threshold") if metrics else None


def plot_score_histogram(workdir: Path, out: Path) -> str | None:
    summary = _read_json(_path(workdir, "rounds", "summary.json"))
    if not summary:
        return None
    last = summary["last_round"]
    files = _parquet_files(_path(workdir, "rounds", f"r{last}", "scores"))
    if not files:
        return None
    t = _table(files, ["id", "score"])
    scores = t.column("score").to_pylist()
    fig, ax = plt.subplots(figsize=(7, 3.2))
    bins = [i / 40 for i in range(41)]
    truth = _truth_labels(workdir)
    if truth:
        ids = t.column("id").to_pylist()
        math = [s for i, s in zip(ids, scores) if truth.get(i)]
        other = [s for i, s in zip(ids, scores) if not truth.get(i)]
        ax.hist(other, bins=bins, color="#999999", label="not math (truth)")
        ax.hist(math, bins=bins, color="#dd8452", alpha=0.8, label="math (truth)")
    else:
        ax.hist(scores, bins=bins, color="#4c72b0", label="pool pages")
    threshold = _threshold(workdir, last)
    above = sum(s >= threshold for s in scores) if threshold is not None else None
    if threshold is not None:
        ax.axvline(threshold, color="#b42318", linestyle="--", label=f"threshold {threshold:g}")
    ax.legend(fontsize=8)
    ax.set_yscale("log")
    ax.set_xlabel(f"P(math), round {last}")
    ax.set_ylabel("pages (log scale)")
    ax.set_title("Classifier scores over the pool")
    _save(fig, out)
    reading = f"{len(scores):,} pool pages scored in round {last}"
    if threshold is not None:
        reading += f"; {above:,} ({100 * above / max(len(scores), 1):.1f}%) at or above the threshold {threshold:g}"
    return reading + "."


def _truth_labels(workdir: Path) -> dict[str, bool]:
    """Pool id -> is_math, joining the pool's WARC record ids to the mini-CC truth (when there is one)."""
    truth = _path(workdir, "minicc", "truth.parquet")
    pages = _parquet_files(_path(workdir, "pool", "pages"))
    if not pages or not storage.exists(truth):
        return {}
    t = storage.read_parquet_table(truth, columns=["warc_record_id", "is_math"])
    label = dict(zip(t.column("warc_record_id").to_pylist(), t.column("is_math").to_pylist()))
    p = _table(pages, ["id", "warc_record_id"])
    return {i: bool(label.get(r)) for i, r in zip(p.column("id").to_pylist(), p.column("warc_record_id").to_pylist())}


def plot_top_domains(workdir: Path, out: Path) -> str | None:
    files = _corpus_files(workdir)
    if not files:
        return None
    dom = Counter(_table(files, ["domain"]).column("domain").to_pylist())
    _ranked_bars(dom.most_common(20), "Top domains in the corpus", "#64b5cd", out, xlabel="pages", ylabel="domain")
    (top, n), total = dom.most_common(1)[0], sum(dom.values())
    return (f"{len(dom):,} domains; the largest, {top}, has {n:,} of {total:,} pages "
            f"({100 * n / max(total, 1):.1f}%).")


def plot_dedup_clusters(workdir: Path, out: Path) -> str | None:
    st = _stats(workdir, "dedup")
    if not st:
        return None
    ex, dropped = st.extra, st.dropped
    exact, near = dropped.get("duplicate_exact", 0), dropped.get("duplicate_near", 0)
    empty = dropped.get("empty_text", 0)
    threshold = ex.get("threshold", ((run_config(workdir) or {}).get("dedup") or {}).get("threshold", "?"))
    docs = st.rows_in or 0
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.2), gridspec_kw={"width_ratios": [1, 1.3]})
    parts = [("kept", st.rows_out or 0, "#55a868"), ("exact dup", exact, "#c44e52"), ("near dup", near, "#dd8452"),
             ("empty", empty, "#999999")]
    ax1.bar([p[0] for p in parts], [p[1] for p in parts], color=[p[2] for p in parts])
    ax1.set_yscale("log")
    ax1.set_ylim(0.8, max(p[1] for p in parts) * 3)  # room for the labels; a zero bar stays at the axis
    for i, (_, v, _) in enumerate(parts):
        ax1.text(i, max(v, 0.8), f"{v:,}", ha="center", va="bottom", fontsize=8)
    ax1.set_xlabel("outcome")
    ax1.set_ylabel("documents (log scale)")
    ax1.set_title(f"{docs:,} documents in")
    sizes = sorted((int(k), v) for k, v in (ex.get("cluster_sizes") or {}).items())
    if sizes:
        ax2.bar([str(k) for k, _ in sizes], [v for _, v in sizes], color="#937860")
    ax2.set_xlabel("documents in the duplicate cluster")
    ax2.set_ylabel("clusters")
    ax2.set_title(f"{ex.get('clusters', 0):,} duplicate clusters")
    _save(fig, out)
    return (f"{exact + near:,} of {docs:,} documents removed ({exact:,} exact, {near:,} near at Jaccard "
            f"{threshold}); the largest cluster has {ex.get('largest_cluster', 0)} documents, one of "
            "each cluster is kept.")


def plot_decontam_hits(workdir: Path, out: Path) -> str | None:
    st = _stats(workdir, "decontam")
    if not st:
        return None
    by = dict(st.extra.get("removed_by_benchmark") or {})  # every benchmark checked, those with no hit too
    if not by:
        return "No benchmark was configured."
    items = sorted(by.items(), key=lambda kv: (-kv[1], kv[0]))
    fig, ax = plt.subplots(figsize=(7, 0.4 * len(items) + 1.2))
    ax.barh([k for k, _ in items][::-1], [v for _, v in items][::-1], color="#da8bc3")
    for i, (_, v) in enumerate(items[::-1]):
        ax.text(v, i, f" {v:,}", va="center", fontsize=8)
    ax.set_xlabel("pages removed")
    ax.set_ylabel("benchmark")
    ax.set_xlim(0, max(max(by.values()), 1) * 1.15)
    ax.set_title("Pages removed by decontamination, per benchmark")
    _save(fig, out)
    zero = [k for k, v in items if not v]
    return (f"{sum(by.values()):,} pages removed across {len(by)} benchmarks"
            + (f"; no hit in {', '.join(zero)}" if zero else "")
            + ". Each removal is in decontam's audit log with the matched n-gram and its offset.")


# --- what a corpus builder checks first: tokens, lengths, survival, classifier, blend ---------------

def run_config(workdir: Path) -> dict | None:
    """The config the last ``run`` used (``<workdir>/run_config.json``), if it wrote one."""
    return _read_json(_path(workdir, "run_config.json"))


class _TempDir:
    """A local folder that lives as long as the object holding it (a tokenizer fetched from the run folder)."""

    def __init__(self):
        import tempfile

        self._dir = tempfile.TemporaryDirectory(prefix="report-")
        self.path = Path(self._dir.name)


def _fetch_tokenizer(workdir: str, into: _TempDir) -> Path | None:
    """The run's tokenizer (``megatron/tokenizer/`` on an object store), copied into a local folder."""
    files = storage.list_files(_path(workdir, "megatron", "tokenizer"))
    if not files:
        return None
    for f in files:
        (into.path / storage.name(f)).write_bytes(storage.read_bytes(f))
    return into.path


class CorpusFacts:
    """Per-document languages, sources and token counts of the corpus, counted once for several plots.

    Tokens are the run's tokenizer's (``megatron/``'s, as Megatron counts them); without one, words.
    Above EXACT_TOKEN_ROWS documents, a seeded random sample stands for the whole (and says so).
    """

    def __init__(self, workdir: Path):
        from pipeline.inspect import EXACT_TOKEN_ROWS, TokenCounter, find_tokenizer

        files = _corpus_files(workdir)
        self.rows = 0
        self.sampled = False
        self.docs: list[dict] = []
        self.counter = TokenCounter(None)
        if not files:
            return
        self.rows = sum(_count_rows(files))
        cols = ["lang", "domain", "text"]
        if self.rows > EXACT_TOKEN_ROWS:
            idx = sorted(random.Random(0).sample(range(self.rows), EXACT_TOKEN_ROWS))
            table = _take(files, idx, cols)
            self.sampled = True
        else:
            table = _table(files, cols)
        cfg = run_config(workdir) or {}
        configured = (cfg.get("tokenize") or {}).get("tokenizer")
        if storage.is_url(workdir):
            self._tokenizer_copy = _TempDir()  # lives as long as the counter that reads it
            tokenizer = _fetch_tokenizer(workdir, self._tokenizer_copy)
        else:
            tokenizer = find_tokenizer(Path(workdir) / "corpus", configured, Path(workdir))
        self.counter = TokenCounter(tokenizer)
        texts = table.column("text").to_pylist()
        tokens = []
        for i in range(0, len(texts), 2048):
            tokens += self.counter.count(texts[i:i + 2048])
        self.docs = [{"lang": la, "domain": d, "tokens": t} for la, d, t in
                     zip(table.column("lang").to_pylist(), table.column("domain").to_pylist(), tokens)]
        self.scale = self.rows / max(len(self.docs), 1)

    @property
    def unit(self) -> str:
        return "tokens" if self.counter._tok is not None else "words"

    def tokens_by(self, key: str) -> Counter:
        c: Counter = Counter()
        for d in self.docs:
            c[d[key]] += d["tokens"]
        return Counter({k: round(v * self.scale) for k, v in c.items()})

    def note(self) -> str:
        how = f"counted with {self.counter.dir}" if self.counter._tok is not None else \
            "words: no tokenizer in megatron/ yet"
        return how + (f"; from a random {len(self.docs):,} of {self.rows:,} documents" if self.sampled else "")


def plot_tokens_by_language(facts: CorpusFacts, out: Path) -> str | None:
    if not facts.docs:
        return None
    by = facts.tokens_by("lang")
    _ranked_bars(by.most_common(15), f"Corpus {facts.unit} per language", "#4c72b0", out, xlabel=facts.unit,
                 ylabel="language")
    (top, n), total = by.most_common(1)[0], sum(by.values())
    return f"{total:,} {facts.unit} in all; {top} holds {100 * n / max(total, 1):.1f}% ({facts.note()})."


def plot_tokens_by_source(facts: CorpusFacts, out: Path) -> str | None:
    """Tokens per source domain of the corpus (the web sites the pages come from)."""
    if not facts.docs:
        return None
    by = facts.tokens_by("domain")
    _ranked_bars(by.most_common(20), f"Corpus {facts.unit} per source (top 20 domains)", "#64b5cd", out,
                 xlabel=facts.unit, ylabel="domain")
    total = sum(by.values())
    top10 = sum(v for _, v in by.most_common(10))
    return (f"The 10 largest of {len(by):,} domains hold {100 * top10 / max(total, 1):.1f}% of the {facts.unit} "
            f"({facts.note()}).")


def plot_doc_lengths(facts: CorpusFacts, out: Path) -> str | None:
    if not facts.docs:
        return None
    import numpy as np

    lengths = sorted(max(d["tokens"], 1) for d in facts.docs)
    fig, ax = plt.subplots(figsize=(7, 3.2))
    bins = np.logspace(0, np.log10(max(lengths[-1], 10)) + 0.05, 40)
    ax.hist(lengths, bins=bins, color="#8172b2")
    ax.set_xscale("log")
    median = statistics.median(lengths)
    p90 = lengths[int(0.9 * (len(lengths) - 1))]
    ax.axvline(median, color="#222222", linestyle="--", label=f"median {median:,.0f}")
    ax.axvline(p90, color="#b42318", linestyle=":", label=f"90th percentile {p90:,}")
    ax.legend(fontsize=8)
    ax.set_xlabel(f"{facts.unit} per document (log scale)")
    ax.set_ylabel("documents")
    ax.set_title("Document length")
    _save(fig, out)
    return (f"Median document {median:,.0f} {facts.unit}, 90% under {p90:,}, longest {lengths[-1]:,}; "
            f"{sum(n < 50 for n in lengths):,} documents under 50 ({facts.note()}).")


def plot_math_survival(workdir: Path, out: Path) -> str | None:
    """Per pool page: TeX fragments in the extracted text per math element in the HTML."""
    files = _parquet_files(_path(workdir, "pool", "pages"))
    if not files:
        return None
    t = _table(files, ["math_elements_html", "math_fragments_text"])
    el = t.column("math_elements_html").to_pylist()
    fr = t.column("math_fragments_text").to_pylist()
    with_math = [(e, f) for e, f in zip(el, fr) if e > 0]
    if not with_math:
        return "No pool page had math elements (MathML, MathJax or KaTeX markup) in its HTML."
    ratios = [min(f / e, 3.0) for e, f in with_math]
    fig, ax = plt.subplots(figsize=(7, 3.2))
    ax.hist(ratios, bins=[i / 10 for i in range(31)], color="#55a868")
    ax.axvline(1.0, color="#222222", linestyle="--", label="as many fragments as elements")
    ax.legend(fontsize=8)
    ax.set_xlabel("TeX fragments in text / math elements in HTML, per page (capped at 3)")
    ax.set_ylabel("pool pages")
    ax.set_title(f"Math survival on the {len(with_math):,} pages with math markup")
    _save(fig, out)
    kept_all = sum(f >= e for e, f in with_math)
    lost = sum(f == 0 for _, f in with_math)
    below = sum(f < 0.9 * e for e, f in with_math)
    reading = (f"{100 * kept_all / len(with_math):.1f}% of pages with math markup keep at least one TeX fragment per "
               f"element; {below:,} fell below 90%, {lost:,} ({100 * lost / len(with_math):.1f}%) lost all their "
               f"math; median ratio {statistics.median(ratios):.2f}.")
    pool = _stats(workdir, "pool")
    share = (pool.extra.get("totals") or {}).get("boilerplate_share") if pool else None
    if share is not None:
        reading += f" The main-text engine removed {100 * share:.0f}% of the pages' visible text as boilerplate."
    return reading


def heldout_metrics(workdir: Path) -> list[dict]:
    summary = _read_json(_path(workdir, "rounds", "summary.json"))
    if not summary:
        return []
    return [{"round": r["round"], **(r.get("classifier") or {})} for r in summary["rounds"]]


def plot_heldout(workdir: Path, out: Path) -> str | None:
    rows = heldout_metrics(workdir)
    if not rows:
        return None
    xs = [r["round"] for r in rows]
    fig, ax = plt.subplots(figsize=(7, 3.2))
    for key, style in (("precision", "o-"), ("recall", "s-"), ("f1", "^-"), ("auc", "d--")):
        pts = [(x, r.get(key)) for x, r in zip(xs, rows) if r.get(key) is not None]
        if pts:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], style, label=key)
    ax.set_xticks(xs)
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("round")
    ax.set_ylabel("held-out metric (0-1)")
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title("The classifier on its held-out split, per round")
    _save(fig, out)
    last = rows[-1]
    return (f"Round {last['round']}: precision {last.get('precision')}, recall {last.get('recall')}, AUC "
            f"{last.get('auc')} at threshold {last.get('threshold')} on {last.get('positives', 0):,} positives and "
            f"{last.get('negatives', 0):,} negatives held out.")


def megatron_sources(workdir: Path) -> dict:
    st = _stats(workdir, "megatron")
    return dict(st.extra.get("sources") or {}) if st else {}


def plot_megatron_blend(workdir: Path, out: Path) -> str | None:
    src = megatron_sources(workdir)
    if not src:
        return None
    names = list(src)
    tokens = [src[n]["tokens"] for n in names]
    weights = [src[n]["weight"] for n in names]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 0.4 * len(names) + 1.6), sharey=True)
    labels = [n + (" (stand-in)" if src[n].get("standin") else "") for n in names]
    ax1.barh(labels[::-1], tokens[::-1], color="#4c72b0")
    ax1.set_xscale("log")
    ax1.set_xlabel("tokens in the .bin (log scale)")
    ax1.set_ylabel("source")
    ax1.set_title("Megatron tokens per source")
    total_w = sum(weights) or 1
    ax2.barh(labels[::-1], [100 * w / total_w for w in weights][::-1], color="#dd8452")
    ax2.set_xlabel("share of the blend (%)")
    ax2.set_title("--data-path blend weights")
    _save(fig, out)
    math = src.get("math_corpus")
    return (f"{sum(tokens):,} tokens in {len(names)} sources" + (
        f"; the math corpus gives {math['tokens']:,} tokens for {100 * math['weight'] / total_w:.0f}% of the blend"
        if math else "") + ".")


def _render_tex(text: str) -> str:
    """HTML-escape ``text`` and wrap each TeX fragment in ``<code class='tex'>`` (see the module docstring)."""
    out, last = [], 0
    for m in TEX_RE.finditer(text):
        out.append(html.escape(text[last:m.start()]))
        out.append(f"<code class='tex'>{html.escape(m.group(0))}</code>")
        last = m.end()
    out.append(html.escape(text[last:]))
    return "".join(out)


# Inline $...$ as pandoc reads it (no space inside either dollar, no digit after the closing one), so prices
# ("$56 and saves $11") stay text.
TEX_RE = re.compile(r"\$\$.+?\$\$|\\\[.+?\\\]|\\\(.+?\\\)|\$(?!\s)[^$\n]{1,400}?(?<!\s)\$(?!\d)"
                    r"|\\begin\{(\w+\*?)\}.+?\\end\{\1\}", re.S)


def sample_documents(workdir: Path, n: int = 5, seed: int = 0) -> list[dict]:
    files = _corpus_files(workdir)
    if not files:
        return []
    rows = sum(_count_rows(files))
    idx = sorted(random.Random(seed).sample(range(rows), min(n, rows)))
    return _take(files, idx, ["id", "url", "lang", "math_score", "round", "token_count", "text"]).to_pylist()


def _samples_html(docs: list[dict], chars: int = 1500) -> str:
    if not docs:
        return "<p class='note'>No corpus yet.</p>"
    parts = []
    for d in docs:
        text = d["text"][:chars] + ("…" if len(d["text"]) > chars else "")
        parts.append(f"<div class='doc'><p><b>{html.escape(d['id'])}</b> <a href='{html.escape(d['url'])}'>"
                     f"{html.escape(d['url'])}</a> · lang {html.escape(d['lang'])} · score {d['math_score']:.3f} · "
                     f"round {d['round']} · {d['token_count']:,} words · <code>python -m pipeline show {d['id']}</code>"
                     f"</p><pre>{_render_tex(text)}</pre></div>")
    return "".join(parts)


def _table_html(head: list[str], rows: list[list]) -> str:
    def cell(v):
        if isinstance(v, float):
            return f"<td class='n'>{v:,.4g}</td>"
        if isinstance(v, int) and not isinstance(v, bool):
            return f"<td class='n'>{v:,}</td>"
        return f"<td>{html.escape('' if v is None else str(v))}</td>"

    return ("<table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr>"
            + "".join("<tr>" + "".join(cell(v) for v in r) + "</tr>" for r in rows) + "</table>")


def _heldout_table(workdir: Path) -> str:
    rows = heldout_metrics(workdir)
    if not rows:
        return "<p class='note'>The recall stage has not run yet.</p>"
    keys = ["threshold", "positives", "negatives", "tp", "fp", "fn", "precision", "recall", "f1", "auc"]
    return _table_html(["round", *keys], [[r["round"], *[r.get(k) for k in keys]] for r in rows])


def _megatron_html(workdir: Path) -> str:
    src = megatron_sources(workdir)
    if not src:
        return "<p class='note'>The megatron stage has not run yet.</p>"
    total_w = sum(s["weight"] for s in src.values()) or 1
    table = _table_html(["source", "tokens", "documents", "dropped", "weight", "share of blend", "stand-in"],
                        [[n, s["tokens"], s["docs"], s["dropped"], s["weight"], f"{100 * s['weight'] / total_w:.1f}%",
                          "yes" if s.get("standin") else "no"] for n, s in src.items()])
    try:
        blend = storage.read_text(_path(workdir, "megatron", "data_path.txt"))
    except FileNotFoundError:
        return table
    return table + f"<p>Megatron <code>--data-path</code>:</p><pre>{html.escape(blend)}</pre>"


def _config_html(workdir: Path) -> str:
    cfg = run_config(workdir)
    if cfg is None:
        return "<p class='note'>No run_config.json: the stages were not run through <code>run</code>.</p>"
    import yaml

    return ("<details><summary>the config that ran (run_config.json)</summary><pre>"
            + html.escape(yaml.safe_dump(cfg, sort_keys=False, allow_unicode=True)) + "</pre></details>")


#: On load, the page records how many of its images decoded (``<html data-images="loaded/total">``), and
#: says so when one did not; the browser test reads it back.
IMAGE_CHECK = """<script>
window.addEventListener('load', function () {
  var imgs = Array.prototype.slice.call(document.images);
  var ok = imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length;
  document.documentElement.setAttribute('data-images', ok + '/' + imgs.length);
  if (ok < imgs.length) {
    var p = document.createElement('p'); p.className = 'no';
    p.textContent = (imgs.length - ok) + ' image(s) failed to load';
    document.body.insertBefore(p, document.body.firstChild);
  }
});
</script>"""

STYLE = """<style>
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
table { border-collapse: collapse; margin: 1em 0; } td, th { border: 1px solid #ccc; padding: 4px 8px; }
td.n { text-align: right; } .ok { color: #1a7f37; } .no { color: #b42318; font-weight: bold; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(500px, 1fr)); gap: 1em; }
figure { margin: 0; border: 1px solid #eee; padding: .5em; } img { max-width: 100%; }
.note { color: #777; } .doc { border-top: 1px solid #ddd; margin-top: 1em; }
.doc pre { white-space: pre-wrap; max-height: 22em; overflow: auto; background: #fafafa; padding: .5em; }
code.tex { background: #eef3ff; color: #1c3d8c; }
</style>"""


PLOTS: list[tuple[str, str, Callable]] = [
    ("stage_times.png", "Time per stage", lambda w, rows, f, o: plot_stage_times(w, o)),
    ("funnel.png", "Pages through the pipeline", lambda w, rows, f, o: plot_funnel(rows, o)),
    ("drop_reasons.png", "Drop reasons", lambda w, rows, f, o: plot_drop_reasons(rows, o)),
    ("tokens_by_language.png", "Tokens per language", lambda w, rows, f, o: plot_tokens_by_language(f, o)),
    ("tokens_by_source.png", "Tokens per source", lambda w, rows, f, o: plot_tokens_by_source(f, o)),
    ("doc_lengths.png", "Document length", lambda w, rows, f, o: plot_doc_lengths(f, o)),
    ("score_histogram.png", "Score histogram and threshold", lambda w, rows, f, o: plot_score_histogram(w, o)),
    ("recall_rounds.png", "Recall per round", lambda w, rows, f, o: plot_recall_rounds(w, o)),
    ("heldout.png", "Held-out classifier metrics", lambda w, rows, f, o: plot_heldout(w, o)),
    ("math_survival.png", "Math survival per page", lambda w, rows, f, o: plot_math_survival(w, o)),
    ("top_domains.png", "Top domains", lambda w, rows, f, o: plot_top_domains(w, o)),
    ("dedup_clusters.png", "Dedup", lambda w, rows, f, o: plot_dedup_clusters(w, o)),
    ("decontam_hits.png", "Decontamination hits", lambda w, rows, f, o: plot_decontam_hits(w, o)),
    ("megatron_blend.png", "Megatron tokens and blend", lambda w, rows, f, o: plot_megatron_blend(w, o)),
]


# --- the page ----------------------------------------------------------------------

def _stage_table(workdir: Path) -> str:
    run_stats = _read_json(_path(workdir, "run_stats.json")) or {"stages": []}
    timings = {s["stage"]: s for s in run_stats["stages"]}
    rows = []
    for stage in STAGE_ORDER:
        done = is_complete(_path(workdir, stage))
        t = timings.get(stage, {})
        rows.append(f"<tr><td>{stage}/</td><td class='{'ok' if done else 'no'}'>{'complete' if done else 'not run'}</td>"
                    f"<td>{t.get('status', '')}</td><td class='n'>{t.get('seconds', '')}</td></tr>")
    return ("<table><tr><th>stage</th><th>state</th><th>last run</th><th>seconds</th></tr>" + "".join(rows)
            + "</table>")


def _accounting_table(rows: list[dict], totals: dict) -> str:
    if not rows:
        return "<p>No stage has finished yet.</p>"
    body = []
    for r in rows:
        dropped = ", ".join(f"{k} {v:,}" for k, v in r["dropped"].items() if v) or "—"
        body.append(f"<tr><td>{r['stage']}</td><td class='n'>{r['in']:,}</td><td class='n'>{r['kept']:,}</td>"
                    f"<td>{html.escape(dropped)}</td><td class='{'ok' if r['balanced'] else 'no'}'>"
                    f"{'yes' if r['balanced'] else 'NO'}</td><td>{html.escape(r['note'])}</td></tr>")
    verdict = ""
    if totals:
        verdict = (f"<p class='{'ok' if totals['balanced'] else 'no'}'>Whole run: {totals['in']:,} records in = "
                   f"{totals['out']:,} pages kept + {sum(totals['dropped'].values()):,} dropped with a reason "
                   f"({'balanced' if totals['balanced'] else 'NOT balanced'}).</p>")
    return ("<table><tr><th>stage</th><th>in</th><th>kept</th><th>dropped (reason count)</th><th>in = kept + dropped"
            "</th><th>note</th></tr>" + "".join(body) + "</table>" + verdict)


def _validation(workdir: Path, out: Path) -> str:
    """`make validate`'s table and loss curves, when <workdir>/validate/ is complete (training/validate.py)."""
    from training.validate import report_section

    if storage.is_url(workdir):
        return ""  # `validate` trains on a local workdir only
    try:
        return report_section(Path(workdir) / "validate", out)
    except Exception as exc:  # a broken artefact must not hide the rest of the report
        log.warning("report: validate section failed: %s", exc)
        return ""


def _figures(workdir: Path, rows: list[dict], out: Path, facts: CorpusFacts,
             plots: list[tuple[str, str, Callable]] = PLOTS) -> tuple[list[str], list[str]]:
    sections, made = [], []
    for name, title, fn in plots:
        try:
            caption = fn(workdir, rows, facts, out / name)
        except Exception as exc:  # a broken artefact must not hide the rest of the report
            log.warning("report: %s failed: %s", name, exc)
            caption = f"could not be drawn: {exc}"
        if caption and (out / name).exists():
            made.append(name)
            sections.append(f"<figure><h2>{title}</h2><img src='{name}' alt='{title}'>"
                            f"<figcaption>{html.escape(caption)}</figcaption></figure>")
        else:
            sections.append(f"<figure><h2>{title}</h2><p class='note'>{html.escape(caption or 'stage not run yet')}"
                            "</p></figure>")
    return sections, made


def build_report(workdir: str | Path, out: str | Path | None = None, *, seed: int = 0) -> dict:
    """Write ``<out>/index.html`` and its plots (default ``<workdir>/report``). A run folder on an object store
    is read through pipeline.core.storage; an ``out`` URL is rendered locally, then published (marker last)."""
    workdir = str(workdir)
    out = str(out) if out else _path(workdir, "report")
    if storage.is_url(out):
        import tempfile

        with tempfile.TemporaryDirectory(prefix="report-") as tmp:
            stats = _build_report(workdir, Path(tmp), seed)
            storage.remove(out, recursive=True)  # plots of an earlier report whose stage is gone
            storage.publish_folder(Path(tmp), out)
        return stats
    return _build_report(workdir, Path(out), seed)


def _build_report(workdir: str, out: Path, seed: int) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    for name, _, _ in PLOTS:  # a plot whose stage is gone must not linger
        (out / name).unlink(missing_ok=True)
    rows = accounting(workdir)
    totals = run_totals(rows)
    facts = CorpusFacts(workdir)
    sections, made = _figures(workdir, rows, out, facts)
    corpus = _stats(workdir, "corpus")
    headline = (f"{corpus.rows_out:,} pages in {corpus.extra.get('shards')} shards" if corpus else "no corpus yet")
    if facts.docs:
        headline += f", {sum(d['tokens'] for d in facts.docs) * facts.scale:,.0f} {facts.unit}"
    shown = workdir if storage.is_url(workdir) else str(Path(workdir).resolve())
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>mathcorpus run report</title>
{STYLE}
{IMAGE_CHECK}
</head><body>
<h1>mathcorpus run report</h1>
<p>Run folder <code>{html.escape(shown)}</code>: {headline}.</p>
<h2>Stages</h2>{_stage_table(workdir)}
<h2>Accounting</h2>{_accounting_table(rows, totals)}
<div class="grid">{''.join(sections)}</div>
<h2>Held-out classifier metrics per round</h2>{_heldout_table(workdir)}
<h2>Megatron hand-off</h2>{_megatron_html(workdir)}
<h2>Sample documents</h2>
<p class="note">Drawn at random (seed {seed}) from the corpus; TeX is shown as source, as a model reads it.</p>
{_samples_html(sample_documents(workdir, seed=seed))}
<h2>Config</h2>{_config_html(workdir)}
{_validation(workdir, out)}
</body></html>
"""
    with atomic_path(out / "index.html") as tmp:
        tmp.write_text(page, encoding="utf-8")
    stats = {"plots": made, "accounting": rows, "totals": totals}
    mark_complete(out, {"plots": made, "balanced": totals.get("balanced")})
    return stats


# --- two runs side by side -----------------------------------------------------------

def _flatten(obj, prefix: str = "") -> dict:
    if isinstance(obj, dict):
        out: dict = {}
        for k, v in obj.items():
            out.update(_flatten(v, f"{prefix}{k}."))
        return out
    return {prefix[:-1]: obj}


def run_figures(workdir: Path, facts: CorpusFacts | None = None) -> dict:
    """A run's headline figures (what changes when a threshold does), by name, in reading order."""
    facts = facts or CorpusFacts(workdir)
    f: dict = {}
    st = {name: _stats(workdir, name) for name in ("pool", "dedup", "rounds", "decontam", "corpus")}
    if st["pool"]:
        f["records read"] = st["pool"].rows_in
        f["pool pages"] = st["pool"].rows_out
    if st["dedup"]:
        f["pages after dedup"] = st["dedup"].rows_out
    if st["rounds"]:
        f["recall rounds"] = len(st["rounds"].extra.get("per_round") or [])
        f["pages recalled"] = st["rounds"].rows_out
    held = heldout_metrics(workdir)
    if held:
        for k in ("precision", "recall", "auc"):
            f[f"held-out {k} (last round)"] = held[-1].get(k)
    if st["decontam"]:
        f["pages removed by decontam"] = sum(st["decontam"].dropped.values())
    if st["corpus"]:
        f["corpus pages"] = st["corpus"].rows_out
    if facts.docs:
        f[f"corpus {facts.unit}"] = round(sum(d["tokens"] for d in facts.docs) * facts.scale)
        f[f"median document ({facts.unit})"] = statistics.median(d["tokens"] for d in facts.docs)
    truth = _truth_labels(workdir)
    files = _corpus_files(workdir)
    if truth and files:
        ids = _table(files, ["id"]).column("id").to_pylist()
        f["math share of the corpus (truth)"] = round(sum(truth.get(i, False) for i in ids) / max(len(ids), 1), 4)
        f["math pages of the pool in the corpus (truth)"] = round(
            sum(truth.get(i, False) for i in ids) / max(sum(truth.values()), 1), 4)
    src = megatron_sources(workdir)
    if src:
        f["Megatron tokens"] = sum(s["tokens"] for s in src.values())
    return f


def _last_scores(workdir: Path) -> tuple[list[float], float | None]:
    summary = _read_json(_path(workdir, "rounds", "summary.json"))
    if not summary:
        return [], None
    last = summary["last_round"]
    files = _parquet_files(_path(workdir, "rounds", f"r{last}", "scores"))
    if not files:
        return [], None
    scores = _table(files, ["score"]).column("score").to_pylist()
    return scores, _threshold(workdir, last)


def _compare_plots(a: Path, b: Path, fa: CorpusFacts, fb: CorpusFacts, out: Path, names: tuple[str, str]) -> list:
    import numpy as np

    made = []
    colors = ("#4c72b0", "#dd8452")
    # scores and thresholds
    (sa, ta), (sb, tb) = _last_scores(a), _last_scores(b)
    if sa and sb:
        fig, ax = plt.subplots(figsize=(7, 3.2))
        bins = [i / 40 for i in range(41)]
        for scores, t, name, c in ((sa, ta, names[0], colors[0]), (sb, tb, names[1], colors[1])):
            ax.hist(scores, bins=bins, histtype="step", linewidth=1.6, color=c, label=name)
            if t is not None:
                ax.axvline(t, color=c, linestyle="--", label=f"{name} threshold {t:g}")
        ax.set_yscale("log")
        ax.set_xlabel("P(math), last round")
        ax.set_ylabel("pool pages (log scale)")
        ax.legend(fontsize=8)
        ax.set_title("Classifier scores and thresholds")
        _save(fig, out / "compare_scores.png")
        above = [sum(s >= t for s in sc) if t is not None else len(sc) for sc, t in ((sa, ta), (sb, tb))]
        made.append(("compare_scores.png", "Scores and thresholds",
                     f"{names[0]}: {above[0]:,} pages at or above its threshold; {names[1]}: {above[1]:,}."))
    # document lengths
    if fa.docs and fb.docs:
        la = [max(d["tokens"], 1) for d in fa.docs]
        lb = [max(d["tokens"], 1) for d in fb.docs]
        fig, ax = plt.subplots(figsize=(7, 3.2))
        bins = np.logspace(0, np.log10(max(max(la), max(lb), 10)) + 0.05, 40)
        for lengths, name, c in ((la, names[0], colors[0]), (lb, names[1], colors[1])):
            ax.hist(lengths, bins=bins, histtype="step", linewidth=1.6, color=c, label=name)
        ax.set_xscale("log")
        ax.set_xlabel(f"{fa.unit} per document (log scale)")
        ax.set_ylabel("documents")
        ax.legend(fontsize=8)
        ax.set_title("Document length")
        _save(fig, out / "compare_lengths.png")
        made.append(("compare_lengths.png", "Document length",
                     f"Median {statistics.median(la):,.0f} {fa.unit} ({names[0]}) vs {statistics.median(lb):,.0f} "
                     f"{fb.unit} ({names[1]})."))
        # tokens per language
        ta_, tb_ = fa.tokens_by("lang"), fb.tokens_by("lang")
        langs = [k for k, _ in (ta_ + tb_).most_common(10)]
        fig, ax = plt.subplots(figsize=(7, 3.2))
        x = np.arange(len(langs))
        ax.bar(x - 0.2, [ta_.get(k, 0) for k in langs], width=0.4, color=colors[0], label=names[0])
        ax.bar(x + 0.2, [tb_.get(k, 0) for k in langs], width=0.4, color=colors[1], label=names[1])
        ax.set_xticks(x, langs)
        ax.set_xlabel("language")
        ax.set_ylabel(fa.unit)
        ax.legend(fontsize=8)
        ax.set_title(f"Corpus {fa.unit} per language")
        _save(fig, out / "compare_languages.png")
        made.append(("compare_languages.png", "Tokens per language",
                     f"{sum(ta_.values()):,} {fa.unit} ({names[0]}) vs {sum(tb_.values()):,} ({names[1]})."))
    # the funnel
    ra, rb = accounting(a), accounting(b)
    if ra and rb:
        stages = [r["stage"] for r in ra if r["stage"] in {q["stage"] for q in rb}]
        ka = {r["stage"]: r["kept"] for r in ra}
        kb = {r["stage"]: r["kept"] for r in rb}
        fig, ax = plt.subplots(figsize=(7, 3.2))
        x = np.arange(len(stages))
        ax.bar(x - 0.2, [ka[s] for s in stages], width=0.4, color=colors[0], label=names[0])
        ax.bar(x + 0.2, [kb[s] for s in stages], width=0.4, color=colors[1], label=names[1])
        ax.set_xticks(x, stages)
        ax.set_yscale("log")
        ax.set_xlabel("stage")
        ax.set_ylabel("pages kept (log scale)")
        ax.legend(fontsize=8)
        ax.set_title("Pages kept by each stage")
        _save(fig, out / "compare_funnel.png")
        made.append(("compare_funnel.png", "Pages kept by each stage",
                     f"Corpus: {ka.get('corpus', 0):,} pages ({names[0]}) vs {kb.get('corpus', 0):,} ({names[1]})."))
    return made


def build_comparison(workdir: str | Path, other: str | Path, out: str | Path | None = None, *, seed: int = 0) -> Path:
    """``report --compare``: ``<out>/compare.html``, this run (A) beside another (B). Returns the page's path."""
    a, b = Path(workdir), Path(other)
    out = Path(out) if out else a / "report"
    out.mkdir(parents=True, exist_ok=True)
    names = (f"A: {a.resolve().name}", f"B: {b.resolve().name}")
    if names[0] == names[1].replace("B:", "A:"):
        names = (f"A: {a.resolve()}", f"B: {b.resolve()}")
    fa, fb = CorpusFacts(a), CorpusFacts(b)
    xa, xb = run_figures(a, fa), run_figures(b, fb)
    rows = []
    for key in [*xa, *[k for k in xb if k not in xa]]:
        va, vb = xa.get(key), xb.get(key)
        delta = vb - va if isinstance(va, (int, float)) and isinstance(vb, (int, float)) else None
        if isinstance(delta, float):
            delta = round(delta, 4)
        rows.append([key, va, vb, delta])
    ca, cb = _flatten(run_config(a) or {}), _flatten(run_config(b) or {})
    differ = [[k, ca.get(k), cb.get(k)] for k in sorted(set(ca) | set(cb))
              if ca.get(k) != cb.get(k) and k != "workdir"]  # two runs always differ in their folder
    config = (_table_html(["config key", names[0], names[1]], differ) if differ else
              "<p>The two configs are the same." + ("" if ca and cb else " (a run_config.json is missing)") + "</p>")
    figures = [f"<figure><h2>{t}</h2><img src='{n}' alt='{t}'><figcaption>{html.escape(c)}</figcaption></figure>"
               for n, t, c in _compare_plots(a, b, fa, fb, out, names)]
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>mathcorpus: two runs side by side</title>
{STYLE}
{IMAGE_CHECK}
</head><body>
<h1>Two runs side by side</h1>
<p>{html.escape(names[0])}: <code>{html.escape(str(a.resolve()))}</code><br>
{html.escape(names[1])}: <code>{html.escape(str(b.resolve()))}</code></p>
<h2>What differs in the config</h2>{config}
<h2>Figures</h2>{_table_html(["figure", names[0], names[1], "B - A"], rows)}
<div class="grid">{''.join(figures) or "<p class='note'>Neither run has finished a stage to plot.</p>"}</div>
<h2>Held-out classifier metrics per round</h2>
<h3>{html.escape(names[0])}</h3>{_heldout_table(a)}<h3>{html.escape(names[1])}</h3>{_heldout_table(b)}
</body></html>
"""
    path = out / "compare.html"
    with atomic_path(path) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return path
