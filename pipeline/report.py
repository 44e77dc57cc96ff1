"""The run report: ``<workdir>/report/index.html`` with PNG plots.

Everything is read back from what the stages left on disk (their ``_SUCCESS``
markers, ``run_stats.json``, the recall rounds, the dedup and decontam logs and
the corpus shards), so the report can be rebuilt at any time with
``python -m pipeline report --config FILE``. A stage that has not run leaves a
note instead of a plot.
"""
from __future__ import annotations

import html
import json
import logging
from collections import Counter
from pathlib import Path
from typing import Callable

import matplotlib

matplotlib.use("Agg")  # headless: no display on a cluster node
import matplotlib.pyplot as plt  # noqa: E402
import pyarrow.dataset as ds  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from pipeline.io import atomic_path, is_complete, mark_complete, read_marker  # noqa: E402

log = logging.getLogger(__name__)

STAGE_ORDER = ["minicc", "pool", "dedup", "rounds", "decontam", "corpus", "megatron"]


def _marker(workdir: Path, stage: str) -> dict | None:
    return read_marker(workdir / stage) if is_complete(workdir / stage) else None


def _save(fig, path: Path) -> None:
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


def _ranked_bars(items: list[tuple[str, int]], title: str, color: str, out: Path, log_x: bool = False) -> None:
    """Horizontal bars, largest first from the top."""
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(items) + 1.2))
    ax.barh([k for k, _ in items][::-1], [v for _, v in items][::-1], color=color)
    if log_x:
        ax.set_xscale("log")
    ax.set_title(title)
    _save(fig, out)


# --- the numbers -----------------------------------------------------------------

def accounting(workdir: Path) -> list[dict]:
    """Pages in = pages kept + pages dropped with a reason, stage by stage (rows for the report's table)."""
    rows: list[dict] = []
    pool = _marker(workdir, "pool")
    if pool:
        t = pool["totals"]
        rows.append({"stage": "pool", "in": t["records_seen"], "kept": t["kept"],
                     "dropped": dict(t["dropped_by_reason"]), "note": "WARC records read (all types)"})
    dedup = _marker(workdir, "dedup")
    if dedup:
        dropped = {"exact_duplicate": dedup.get("removed_exact", 0), "near_duplicate": dedup.get("removed_near", 0),
                   "empty_text": dedup.get("dropped_empty", 0)}
        rows.append({"stage": "dedup", "in": dedup["docs"], "kept": dedup["kept"], "dropped": dropped, "note": ""})
    rounds = _marker(workdir, "rounds")
    if rounds and dedup:
        recalled = rounds.get("recalled", {}).get("pages", 0)
        rows.append({"stage": "rounds", "in": rounds.get("pool_pages", dedup["kept"]), "kept": recalled,
                     "dropped": {"not_recalled": rounds.get("pool_pages", dedup["kept"]) - recalled},
                     "note": f"{len(rounds.get('per_round', []))} rounds, {rounds.get('stop_reason')}"})
    dec = _marker(workdir, "decontam")
    if dec:
        rows.append({"stage": "decontam", "in": dec["pages"], "kept": dec["kept"],
                     "dropped": {"benchmark_overlap": dec["removed"]}, "note": ""})
    corpus = _marker(workdir, "corpus")
    if corpus:
        rows.append({"stage": "corpus", "in": dec["kept"] if dec else corpus["rows"], "kept": corpus["rows"],
                     "dropped": {}, "note": f"{corpus['files']} shards"})
    for r in rows:
        r["balanced"] = r["in"] == r["kept"] + sum(r["dropped"].values())
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
    p = workdir / "run_stats.json"
    if not p.exists():
        return None
    stages = [s for s in json.loads(p.read_text())["stages"] if s["status"] == "ran"]
    if not stages:
        return None
    fig, ax = plt.subplots(figsize=(7, 3.2))
    ax.barh([s["stage"] for s in stages][::-1], [s["seconds"] for s in stages][::-1], color="#4c72b0")
    ax.set_xlabel("seconds (this run)")
    ax.set_title("Time per stage")
    _save(fig, out)
    return "Wall time of each stage that ran in the last `run` (cached stages take no time)."


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
    ax.set_title("Pages through the pipeline (log scale)")
    plt.setp(ax.get_xticklabels(), rotation=20, ha="right")
    _save(fig, out)
    return "Records read, then pages kept by each stage."


def plot_drop_reasons(rows: list[dict], out: Path) -> str | None:
    reasons = Counter()
    for r in rows:
        reasons.update({f"{r['stage']}: {k}": v for k, v in r["dropped"].items() if v})
    if not reasons:
        return None
    _ranked_bars(reasons.most_common(), "Why records were dropped", "#c44e52", out, log_x=True)
    return "Every dropped record has a reason; per-record reasons are in each stage's drop log."


def plot_recall_rounds(workdir: Path, out: Path) -> str | None:
    summary = workdir / "rounds" / "summary.json"
    if not summary.exists():
        return None
    rounds = json.loads(summary.read_text())["rounds"]
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
    fig.legend(loc="lower right", fontsize=8)
    ax1.set_title("Iterative recall per round")
    _save(fig, out)
    return "Pages recalled per round; precision and recall against the mini-CC's truth where it exists."


def plot_score_histogram(workdir: Path, out: Path) -> str | None:
    summary = workdir / "rounds" / "summary.json"
    if not summary.exists():
        return None
    last = json.loads(summary.read_text())["last_round"]
    scores_dir = workdir / "rounds" / f"r{last}" / "scores"
    files = sorted(scores_dir.glob("*.parquet"))
    if not files:
        return None
    t = ds.dataset(files, format="parquet").to_table(columns=["id", "score"])
    fig, ax = plt.subplots(figsize=(7, 3.2))
    bins = [i / 40 for i in range(41)]
    truth = _truth_labels(workdir)
    if truth:
        ids = t.column("id").to_pylist()
        scores = t.column("score").to_pylist()
        math = [s for i, s in zip(ids, scores) if truth.get(i)]
        other = [s for i, s in zip(ids, scores) if not truth.get(i)]
        ax.hist(other, bins=bins, color="#999999", label="not math (truth)")
        ax.hist(math, bins=bins, color="#dd8452", alpha=0.8, label="math (truth)")
        ax.legend(fontsize=8)
    else:
        ax.hist(t.column("score").to_pylist(), bins=bins, color="#4c72b0")
    ax.set_yscale("log")
    ax.set_xlabel(f"P(math), round {last}")
    ax.set_title("Classifier scores over the pool")
    _save(fig, out)
    return f"Scores of every pool page in the last round ({last})."


def _truth_labels(workdir: Path) -> dict[str, bool]:
    """Pool id -> is_math, joining the pool's WARC record ids to the mini-CC truth (when there is one)."""
    truth = workdir / "minicc" / "truth.parquet"
    pages = workdir / "pool" / "pages"
    if not truth.exists() or not pages.is_dir():
        return {}
    t = pq.read_table(truth, columns=["warc_record_id", "is_math"])
    label = dict(zip(t.column("warc_record_id").to_pylist(), t.column("is_math").to_pylist()))
    p = ds.dataset(sorted(pages.glob("*.parquet")), format="parquet").to_table(columns=["id", "warc_record_id"])
    return {i: bool(label.get(r)) for i, r in zip(p.column("id").to_pylist(), p.column("warc_record_id").to_pylist())}


def plot_top_domains(workdir: Path, out: Path) -> str | None:
    files = sorted((workdir / "corpus").glob("part-*.parquet"))
    if not files:
        return None
    dom = Counter(ds.dataset(files, format="parquet").to_table(columns=["domain"]).column("domain").to_pylist())
    _ranked_bars(dom.most_common(20), "Top domains in the corpus", "#64b5cd", out)
    return "The 20 domains with the most pages in the final corpus."


def plot_dedup_clusters(workdir: Path, out: Path) -> str | None:
    m = _marker(workdir, "dedup")
    if not m or not m.get("cluster_sizes"):
        return None
    sizes = sorted((int(k), v) for k, v in m["cluster_sizes"].items())
    fig, ax = plt.subplots(figsize=(7, 3))
    ax.bar([str(k) for k, _ in sizes], [v for _, v in sizes], color="#937860")
    ax.set_xlabel("documents in the cluster")
    ax.set_ylabel("clusters")
    ax.set_title(f"Duplicate clusters ({m.get('removed_exact', 0)} exact, {m.get('removed_near', 0)} near removed)")
    _save(fig, out)
    return "Size of each duplicate cluster; one document per cluster is kept."


def plot_decontam_hits(workdir: Path, out: Path) -> str | None:
    m = _marker(workdir, "decontam")
    if not m:
        return None
    by = m.get("removed_by_benchmark") or {}
    if not by:
        return "No page matched a benchmark."
    _ranked_bars(Counter(by).most_common(), "Pages removed by decontamination, per benchmark", "#da8bc3", out)
    return "Each removal is in decontam's audit log with the matched n-gram and its offset."


PLOTS: list[tuple[str, str, Callable]] = [
    ("stage_times.png", "Time per stage", lambda w, rows, o: plot_stage_times(w, o)),
    ("funnel.png", "Pages through the pipeline", lambda w, rows, o: plot_funnel(rows, o)),
    ("drop_reasons.png", "Drop reasons", lambda w, rows, o: plot_drop_reasons(rows, o)),
    ("recall_rounds.png", "Recall per round", lambda w, rows, o: plot_recall_rounds(w, o)),
    ("score_histogram.png", "Score histogram", lambda w, rows, o: plot_score_histogram(w, o)),
    ("top_domains.png", "Top domains", lambda w, rows, o: plot_top_domains(w, o)),
    ("dedup_clusters.png", "Dedup cluster sizes", lambda w, rows, o: plot_dedup_clusters(w, o)),
    ("decontam_hits.png", "Decontamination hits", lambda w, rows, o: plot_decontam_hits(w, o)),
]


# --- the page ----------------------------------------------------------------------

def _stage_table(workdir: Path) -> str:
    timings = {}
    p = workdir / "run_stats.json"
    if p.exists():
        timings = {s["stage"]: s for s in json.loads(p.read_text())["stages"]}
    rows = []
    for stage in STAGE_ORDER:
        done = is_complete(workdir / stage)
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

    try:
        return report_section(workdir / "validate", out)
    except Exception as exc:  # a broken artefact must not hide the rest of the report
        log.warning("report: validate section failed: %s", exc)
        return ""


def build_report(workdir: str | Path, out: str | Path | None = None) -> dict:
    workdir = Path(workdir)
    out = Path(out) if out else workdir / "report"
    out.mkdir(parents=True, exist_ok=True)
    rows = accounting(workdir)
    totals = run_totals(rows)
    sections, made = [], []
    for name, title, fn in PLOTS:
        try:
            caption = fn(workdir, rows, out / name)
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
    corpus = _marker(workdir, "corpus")
    headline = (f"{corpus['rows']:,} pages in {corpus['files']} shards" if corpus else "no corpus yet")
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>mathcorpus run report</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }}
table {{ border-collapse: collapse; margin: 1em 0; }} td, th {{ border: 1px solid #ccc; padding: 4px 8px; }}
td.n {{ text-align: right; }} .ok {{ color: #1a7f37; }} .no {{ color: #b42318; font-weight: bold; }}
.grid {{ display: grid; grid-template-columns: repeat(auto-fill, minmax(500px, 1fr)); gap: 1em; }}
figure {{ margin: 0; border: 1px solid #eee; padding: .5em; }} img {{ max-width: 100%; }}
.note {{ color: #777; }}
</style></head><body>
<h1>mathcorpus run report</h1>
<p>Run folder <code>{html.escape(str(workdir.resolve()))}</code>: {headline}.</p>
<h2>Stages</h2>{_stage_table(workdir)}
<h2>Accounting</h2>{_accounting_table(rows, totals)}
<div class="grid">{''.join(sections)}</div>
{_validation(workdir, out)}
</body></html>
"""
    with atomic_path(out / "index.html") as tmp:
        tmp.write_text(page, encoding="utf-8")
    stats = {"plots": made, "accounting": rows, "totals": totals}
    mark_complete(out, {"plots": made, "balanced": totals.get("balanced")})
    return stats
