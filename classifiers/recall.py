"""The iterative recall loop (DeepSeekMath §2.1): train, score, select, discover domains, grow the seed.

Layout of the stage folder (``<workdir>/rounds/``)::

    rN/seed_added.parquet  pool pages that joined the positives at the start of round N (N > 1)
    rN/annotation_used.tsv the annotation the growth was computed from (a copy, N > 1)
    rN/training_set.parquet  key, label, split, origin of every training example (no text)
    rN/train.txt, holdout.txt  the fastText files (normalised text)
    rN/model.bin           the round's fastText model
    rN/metrics.json        held-out precision, recall, AUC
    rN/scores/*.parquet    P(math) and token count of every pool page (SCORE_SCHEMA) + scores/_SUCCESS
    rN/selected.parquet    recalled pages, best first, with the first round that recalled each
    rN/domains.parquet     every pool domain: pages, recalled, share, is_math
    rN/annotation.tsv      proposed path prefixes of math domains (edit it: see docs/recall.md)
    rN/stats.json, rN/_SUCCESS   the round's stats; the marker is written last
    summary.json, recall_curve.png, _SUCCESS   the whole loop

Every step writes its outputs atomically and is skipped when they exist, so a
run killed in the middle of a round resumes at the step that was running, and a
finished round (``rN/_SUCCESS``) is never redone.
"""
from __future__ import annotations

import glob
import json
import logging
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from classifiers import annotation as ann
from classifiers import model as ftm
from classifiers.score import read_scores, score_pool
from classifiers.seed import SeedLoad, load_seed
from classifiers.text import normalize
from pipeline.core.io import (discard, is_complete, mark_complete, parquet_ok, read_marker, write_json_atomic,
                         write_parquet_atomic)
from pipeline.core.progress import progress_bar
from pipeline.core.schema import DOMAIN_SCHEMA, SEED_ADDED_SCHEMA, SELECTION_SCHEMA, validate_table

log = logging.getLogger(__name__)

META_COLUMNS = ["id", "url_normalized", "domain", "lang", "warc_record_id"]


class RecallError(ValueError):
    """The recall loop cannot run on this input; the message says which file and why."""


# --- inputs --------------------------------------------------------------------

def resolve_pool_files(cfg, workdir: Path) -> list[str]:
    """Pool Parquet files: ``recall.input`` if set; else dedup's kept pages when dedup finished, else the pool."""
    rc = cfg.recall
    if rc.input:
        p = Path(rc.input)
        if p.is_dir():
            for sub in ("kept", "pages"):
                if (p / sub).is_dir():
                    p = p / sub
                    break
            files = sorted(str(f) for f in p.glob("*.parquet"))
        else:
            files = sorted(glob.glob(rc.input))
        where = rc.input
    else:
        dedup, pool = workdir / "dedup", workdir / "pool"
        if is_complete(dedup) and (dedup / "kept").is_dir():
            where = str(dedup / "kept")
        elif is_complete(pool):
            where = str(pool / "pages")
        else:
            raise RecallError(f"recall needs the pool stage's output: {pool}/_SUCCESS is missing "
                              f"(or set recall.input)")
        files = sorted(glob.glob(str(Path(where) / "*.parquet")))
    if not files:
        raise RecallError(f"recall: no pool Parquet files in {where}")
    return files


def seed_paths(cfg, workdir: Path) -> list[str]:
    return list(cfg.recall.seed_files) or [str(workdir / "minicc" / "seed" / "openwebmath.jsonl")]


def truth_path(cfg, workdir: Path) -> Path | None:
    if cfg.recall.truth:
        return Path(cfg.recall.truth)
    if not cfg.pool.reads_minicc:  # a real crawl has no truth (a stale mini-CC in the workdir is not it)
        return None
    p = workdir / "minicc" / "truth.parquet"
    return p if p.exists() else None


@dataclass
class Pool:
    files: list[str]
    meta: pa.Table  # META_COLUMNS, one row per page
    index: dict[str, int] = field(default_factory=dict)  # id -> row

    @classmethod
    def load(cls, files: list[str]) -> "Pool":
        table = ds.dataset(files, format="parquet").to_table(columns=META_COLUMNS)
        ids = table.column("id").to_pylist()
        if len(set(ids)) != len(ids):
            raise RecallError(f"pool ids are not unique across {len(files)} files (first: {files[0]})")
        return cls(files=files, meta=table, index={i: k for k, i in enumerate(ids)})

    def texts(self, ids: list[str]) -> dict[str, str]:
        if not ids:
            return {}
        t = ds.dataset(self.files, format="parquet").to_table(
            columns=["id", "text"], filter=pc.field("id").isin(pa.array(ids, pa.string())))
        return dict(zip(t.column("id").to_pylist(), t.column("text").to_pylist()))


# --- one round -------------------------------------------------------------------

def _round_dir(root: Path, n: int) -> Path:
    return root / f"r{n}"


def _read_added(root: Path, upto: int) -> pa.Table:
    parts = [pq.read_table(_round_dir(root, k) / "seed_added.parquet") for k in range(2, upto + 1)
             if (_round_dir(root, k) / "seed_added.parquet").exists()]
    return pa.concat_tables(parts) if parts else SEED_ADDED_SCHEMA.empty_table()


def _annotation_for(cfg, root: Path, n: int) -> Path:
    """The file round ``n``'s growth reads: the user's file wins over round n-1's proposal."""
    if cfg.recall.annotation_file:
        return Path(cfg.recall.annotation_file)
    return _round_dir(root, n - 1) / "annotation.tsv"


def grow_seed(cfg, root: Path, n: int, pool: Pool) -> pa.Table:
    """Pool pages under accepted prefixes that round n-1 did not recall and that are not positives yet."""
    rdir = _round_dir(root, n)
    out = rdir / "seed_added.parquet"
    if out.exists():
        return pq.read_table(out)
    src = _annotation_for(cfg, root, n)
    rows = ann.read_annotation(src)
    accepted = ann.accepted_prefixes(rows)
    prev_sel = set(pq.read_table(_round_dir(root, n - 1) / "selected.parquet", columns=["id"]).column("id").to_pylist())
    already = set(_read_added(root, n - 1).column("id").to_pylist())
    urls = pool.meta.column("url_normalized").to_pylist()
    doms = pool.meta.column("domain").to_pylist()
    ids = pool.meta.column("id").to_pylist()
    under = ann.pages_under(urls, doms, accepted)
    add = {"id": [], "url": [], "domain": [], "prefix": [], "added_round": []}
    for i, u, d, pre in zip(ids, urls, doms, under):
        if pre is None or i in prev_sel or i in already:
            continue
        add["id"].append(i)
        add["url"].append(u)
        add["domain"].append(d)
        add["prefix"].append(pre)
        add["added_round"].append(n)
    table = pa.table(add, schema=SEED_ADDED_SCHEMA)
    rdir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, rdir / "annotation_used.tsv")
    write_json_atomic(rdir / "annotation_state.json", _decisions(cfg, root, n, rows))
    write_parquet_atomic(out, table)
    return table


def _decisions(cfg, root: Path, n: int, used: list[ann.PrefixRow]) -> dict:
    """A person's annotation decisions so far (carried into every later proposal)."""
    prev_state = root / f"r{n - 1}" / "annotation_state.json"
    state = json.loads(prev_state.read_text()) if prev_state.exists() else {"decisions": [], "deleted": []}
    decisions = {(d["domain"], d["prefix"]): d for d in state["decisions"]}
    deleted = {tuple(k) for k in state["deleted"]}
    pristine = _round_dir(root, n - 1) / "annotation.proposed.tsv"
    proposed = None if cfg.recall.annotation_file else ann.read_annotation(pristine)
    changed, gone = ann.human_edits(used, proposed)
    for r in changed:
        decisions[(r.domain, r.prefix)] = {"domain": r.domain, "prefix": r.prefix, "accepted": r.accepted}
        deleted.discard((r.domain, r.prefix))
    for k in gone:
        decisions.pop(k, None)
        deleted.add(k)
    return {"decisions": sorted(decisions.values(), key=lambda d: (d["domain"], d["prefix"])),
            "deleted": sorted(list(k) for k in deleted)}


def build_training_set(cfg, rdir: Path, n: int, seed: SeedLoad, added: pa.Table, pool: Pool) -> dict:
    """Positives (seed + grown pages) and as many random pool negatives (times ``negatives_ratio``),
    never from a positive URL; a deterministic held-out split. Writes train.txt, holdout.txt."""
    rc = cfg.recall
    rs = rc.random_seed * 1000 + n
    pos_keys: list[str] = []
    pos_texts: list[str] = []
    origin: list[str] = []
    for d in seed.docs:
        pos_keys.append(d.url or d.source)
        pos_texts.append(d.text)
        origin.append("seed")
    added_ids = added.column("id").to_pylist()
    texts = pool.texts(added_ids)
    for i in added_ids:
        pos_keys.append(i)
        pos_texts.append(texts[i])
        origin.append("seed_added")
    positive_urls = {d.url for d in seed.docs if d.url} | set(added.column("url").to_pylist())
    ids = np.array(pool.meta.column("id").to_pylist(), dtype=object)
    urls = pool.meta.column("url_normalized").to_pylist()
    eligible = np.array([u not in positive_urls for u in urls], dtype=bool)
    eligible &= ~np.isin(ids, np.array(added_ids, dtype=object))
    candidates = ids[eligible]
    want = int(round(len(pos_keys) * rc.negatives_ratio))
    if len(candidates) == 0:
        raise RecallError("recall: the pool has no page outside the positives to draw negatives from")
    if want > len(candidates):
        log.warning("recall r%d: %d negatives wanted, the pool has only %d eligible pages", n, want, len(candidates))
    rng = np.random.default_rng(rs)
    neg_ids = sorted(rng.choice(candidates, size=min(want, len(candidates)), replace=False).tolist())
    neg_texts = pool.texts(neg_ids)
    keys = pos_keys + neg_ids
    labels = [1] * len(pos_keys) + [0] * len(neg_ids)
    origin += ["pool_negative"] * len(neg_ids)
    raw = pos_texts + [neg_texts[i] for i in neg_ids]
    split = ["holdout" if ftm.holdout_of(k, rc.holdout_fraction, rc.random_seed) else "train" for k in keys]
    examples = [ftm.Example(k, normalize(t, rc.max_chars), y) for k, t, y in zip(keys, raw, labels)]
    n_train = ftm.write_fasttext_file(rdir / "train.txt", [e for e, s in zip(examples, split) if s == "train"],
                                      shuffle_seed=rs)
    n_hold = ftm.write_fasttext_file(rdir / "holdout.txt", [e for e, s in zip(examples, split) if s == "holdout"])
    write_parquet_atomic(rdir / "training_set.parquet", pa.table({
        "key": pa.array(keys, pa.string()), "label": pa.array(labels, pa.int8()),
        "split": pa.array(split, pa.string()), "origin": pa.array(origin, pa.string())}))
    lang_pool = sorted(set(pool.meta.column("lang").to_pylist()))
    return {"positives": len(pos_keys), "positives_seed": len(seed.docs), "positives_added": len(added_ids),
            "negatives": len(neg_ids), "train_examples": n_train, "holdout_examples": n_hold,
            "pool_languages": lang_pool}


def evaluate_holdout(model, holdout_file: Path, threshold: float) -> dict:
    labels, texts = [], []
    for line in holdout_file.read_text(encoding="utf-8").splitlines():
        lab, _, text = line.partition(" ")
        labels.append(lab == ftm.MATH)
        texts.append(text)
    scores = ftm.math_probability(model, texts)
    return ftm.binary_metrics(np.array(labels, dtype=bool), scores, threshold)


def select(cfg, scores: pa.Table, pool: Pool, first_seen: dict[str, int], n: int) -> pa.Table:
    """Rank by score (ties by id), keep pages >= threshold and within the token budget."""
    rc = cfg.recall
    sid = scores.column("id").to_pylist()
    score = scores.column("score").to_numpy()
    tokens = scores.column("tokens").to_numpy()
    order = np.lexsort((np.array(sid, dtype=object).astype(str), -score))
    keep = np.ones(len(order), dtype=bool)
    if rc.threshold is not None:
        keep &= score[order] >= rc.threshold
    if rc.token_budget is not None:
        cum = np.cumsum(np.where(keep, tokens[order], 0))
        keep &= cum <= rc.token_budget
    chosen = order[keep]
    rows = [pool.index[sid[i]] for i in chosen]
    meta = pool.meta.take(pa.array(rows, pa.int64())) if rows else pool.meta.slice(0, 0)
    ids = [sid[i] for i in chosen]
    table = pa.table({
        "id": pa.array(ids, pa.string()),
        "url": meta.column("url_normalized").cast(pa.string()),
        "domain": meta.column("domain").cast(pa.string()),
        "lang": meta.column("lang").cast(pa.string()),
        "score": pa.array(score[chosen], pa.float32()),
        "tokens": pa.array(tokens[chosen], pa.int32()),
        "rank": pa.array(np.arange(1, len(chosen) + 1), pa.int64()),
        "first_round": pa.array([first_seen.get(i, n) for i in ids], pa.int16()),
    }, schema=SELECTION_SCHEMA)
    validate_table(table, SELECTION_SCHEMA, "selection")
    return table


def discover(cfg, rdir: Path, n: int, selected: pa.Table, pool: Pool, root: Path) -> dict:
    """domains.parquet and the annotation proposal for the next round."""
    rc = cfg.recall
    sel = set(selected.column("id").to_pylist())
    ids = pool.meta.column("id").to_pylist()
    doms = pool.meta.column("domain").to_pylist()
    urls = pool.meta.column("url_normalized").to_pylist()
    recalled = [i in sel for i in ids]
    found = ann.discover_domains(doms, recalled, rc.math_domain_share)
    earlier: dict[str, int] = {}
    if n > 1:
        prev = pq.read_table(_round_dir(root, n - 1) / "domains.parquet").to_pydict()
        earlier = {d: r for d, r in zip(prev["domain"], prev["first_math_round"]) if r is not None}
    names = sorted(found)
    math = {d for d in names if found[d][2]}
    table = pa.table({
        "domain": names, "pages": [found[d][0] for d in names], "recalled": [found[d][1] for d in names],
        "share": pa.array([found[d][1] / found[d][0] for d in names], pa.float32()),
        "is_math": [found[d][2] for d in names],
        "first_math_round": pa.array([earlier.get(d, n if d in math else None) for d in names], pa.int16()),
    }, schema=DOMAIN_SCHEMA)
    write_parquet_atomic(rdir / "domains.parquet", table)
    proposed = ann.propose_prefixes(urls, doms, recalled, math, depth=rc.prefix_depth,
                                    min_pages=rc.prefix_min_pages, share=rc.prefix_share)
    state_file = rdir / "annotation_state.json"
    state = json.loads(state_file.read_text()) if state_file.exists() else {"decisions": [], "deleted": []}
    decisions = [ann.PrefixRow(d["domain"], d["prefix"], None, None, d["accepted"]) for d in state["decisions"]]
    rows = ann.merge_decisions(proposed, decisions, {tuple(k) for k in state["deleted"]})
    # the untouched proposal: the next round tells a person's edits apart from it
    ann.write_annotation(rdir / "annotation.proposed.tsv", rows)
    ann.write_annotation(rdir / "annotation.tsv", rows, comment=(
        f"round {n} proposal: path prefixes of math domains (recalled of total pool pages).\n"
        "Edit 'accepted' (yes/no), delete or add lines (recalled/total may be '-'); the next round reads this file."))
    new_domains = sorted(d for d in math if d not in earlier)
    return {"math_domains": len(math), "new_domains": len(new_domains), "new_domain_names": new_domains[:50],
            "prefixes_proposed": len(rows), "prefixes_accepted": sum(r.accepted for r in rows)}


def truth_metrics(truth_file: Path, pool: Pool, selected: pa.Table) -> dict:
    """Precision and recall of the recalled set against the mini-CC's labels, over the pool's pages."""
    truth = pq.read_table(truth_file, columns=["warc_record_id", "is_math", "kind", "language"]).to_pydict()
    label = {r: (m, k, lang) for r, m, k, lang in zip(truth["warc_record_id"], truth["is_math"], truth["kind"],
                                                       truth["language"])}
    sel = set(selected.column("id").to_pylist())
    per_kind: dict[str, list[int]] = {}
    tp = fp = fn = unlabelled = 0
    for i, rec in zip(pool.meta.column("id").to_pylist(), pool.meta.column("warc_record_id").to_pylist()):
        if rec not in label:
            unlabelled += 1
            continue
        is_math, kind, _ = label[rec]
        hit = i in sel
        tp += hit and is_math
        fp += hit and not is_math
        fn += (not hit) and is_math
        if is_math:
            k = per_kind.setdefault(kind, [0, 0])
            k[0] += hit
            k[1] += 1
    return {
        "precision": round(tp / (tp + fp), 4) if tp + fp else None,
        "recall": round(tp / (tp + fn), 4) if tp + fn else None,
        "tp": tp, "fp": fp, "fn": fn, "unlabelled_pages": unlabelled,
        "recall_by_kind": {k: round(h / t, 4) for k, (h, t) in sorted(per_kind.items())},
        "math_pages_by_kind": {k: t for k, (_, t) in sorted(per_kind.items())},
    }


def run_round(cfg, root: Path, n: int, seed: SeedLoad, pool: Pool, truth: Path | None, progress: bool) -> dict:
    rc = cfg.recall
    rdir = _round_dir(root, n)
    rdir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    timings: dict[str, float] = {}

    t = time.perf_counter()
    added_now = grow_seed(cfg, root, n, pool) if n > 1 else SEED_ADDED_SCHEMA.empty_table()
    added = _read_added(root, n)
    timings["grow"] = time.perf_counter() - t

    model_path = rdir / "model.bin"
    train_stats_path = rdir / "training_stats.json"
    t = time.perf_counter()
    if not ftm.is_verified(model_path) or not train_stats_path.exists():
        # no model, or one that is not exactly what was trained and checked (a full disk, a crash): what
        # was derived from it is discarded with it and the round trains again (deterministic: same model)
        discard(model_path, rdir / "metrics.json", rdir / "scores", rdir / "selected.parquet")
        train_stats = build_training_set(cfg, rdir, n, seed, added, pool)
        write_json_atomic(train_stats_path, train_stats)
        ftm.train_isolated(rdir / "train.txt", model_path, rc.fasttext, seed=rc.random_seed + n)
        if not ftm.is_verified(model_path):
            raise RecallError(f"{model_path}: training finished but the model was not published")
    train_stats = json.loads(train_stats_path.read_text())
    timings["train"] = time.perf_counter() - t

    threshold = rc.threshold if rc.threshold is not None else 0.5
    if not (rdir / "metrics.json").exists():
        write_json_atomic(rdir / "metrics.json", evaluate_holdout(ftm.load(model_path), rdir / "holdout.txt", threshold))
    metrics = json.loads((rdir / "metrics.json").read_text())

    t = time.perf_counter()
    score_stats = score_pool(pool.files, model_path, rdir / "scores", workers=rc.workers, max_chars=rc.max_chars,
                             batch_rows=rc.batch_rows, progress=progress)
    timings["score"] = time.perf_counter() - t
    if score_stats.get("rows") is None:
        score_stats = read_marker(rdir / "scores")

    t = time.perf_counter()
    sel_path = rdir / "selected.parquet"
    if not parquet_ok(sel_path):  # missing, or damaged since it was written
        scores = read_scores(rdir / "scores")
        if scores.num_rows != pool.meta.num_rows:
            raise RecallError(f"{rdir / 'scores'}: {scores.num_rows} scores for {pool.meta.num_rows} pool pages")
        first_seen: dict[str, int] = {}
        for k in range(1, n):
            prev = pq.read_table(_round_dir(root, k) / "selected.parquet", columns=["id"]).column("id").to_pylist()
            for i in prev:
                first_seen.setdefault(i, k)
        write_parquet_atomic(sel_path, select(cfg, scores, pool, first_seen, n))
    selected = pq.read_table(sel_path)
    disc = discover(cfg, rdir, n, selected, pool, root)
    timings["select_discover"] = time.perf_counter() - t

    sel_ids = set(selected.column("id").to_pylist())
    overlap = None
    if n > 1:
        prev_ids = set(pq.read_table(_round_dir(root, n - 1) / "selected.parquet", columns=["id"])
                       .column("id").to_pylist())
        overlap = round(len(sel_ids & prev_ids) / len(sel_ids), 4) if sel_ids else None
    stats = {
        "round": n,
        "pages_recalled": selected.num_rows,
        "tokens_recalled": int(pc.sum(selected.column("tokens")).as_py() or 0),
        "new_pages": int(pc.sum(pc.equal(selected.column("first_round"), n)).as_py() or 0),
        "overlap_prev": overlap,
        "seed_growth": added_now.num_rows,
        "seed_added_total": added.num_rows,
        **{k: train_stats[k] for k in ("positives", "positives_seed", "positives_added", "negatives",
                                       "train_examples", "holdout_examples")},
        "classifier": metrics,
        **disc,
        "scoring": {k: score_stats.get(k) for k in ("rows", "rows_scored_now", "skipped", "seconds", "workers",
                                                    "normalize_seconds", "predict_seconds", "pages_per_second")},
        "truth": truth_metrics(truth, pool, selected) if truth is not None and truth.exists() else None,
        "seconds": {k: round(v, 2) for k, v in timings.items()} | {"total": round(time.perf_counter() - t0, 2)},
    }
    write_json_atomic(rdir / "stats.json", stats)
    mark_complete(rdir, stats, outputs=["model.bin", "selected.parquet"])
    return stats


# --- the loop --------------------------------------------------------------------

def run_recall(cfg, out_dir: str | Path, *, stop_after: int | None = None, progress: bool = True) -> dict:
    """Run rounds until saturation or ``recall.max_rounds``; resume from each round's artefacts.

    ``stop_after`` ends after that round without completing the stage (to edit its annotation.tsv).
    """
    import ray

    from pipeline.core.executor import ensure_ray

    rc = cfg.recall
    root = Path(out_dir)
    workdir = cfg.workdir_path
    files = resolve_pool_files(cfg, workdir)
    seed = load_seed(seed_paths(cfg, workdir), min_tokens=rc.seed_min_tokens, max_chars=rc.max_chars,
                     max_docs=rc.seed_max_docs)
    pool = Pool.load(files)
    if pool.meta.num_rows == 0:
        raise RecallError(f"recall: the pool in {Path(files[0]).parent} holds no pages")
    langs = sorted(set(pool.meta.column("lang").to_pylist()))
    if len(langs) == 1:
        log.warning("recall: the pool holds pages in one language only (%s): negatives come from it alone, so "
                    "seed pages in other languages are separable by language, not by math", langs[0])
    if rc.annotation_file:
        ann.read_annotation(rc.annotation_file)  # a bad user file fails now, not after round 1
    truth = truth_path(cfg, workdir)
    root.mkdir(parents=True, exist_ok=True)
    rounds: list[dict] = []
    reason = "max_rounds"
    # joins RAY_ADDRESS (a cluster, `ray job submit`) or starts a local Ray of `workers` CPUs
    started_ray = ensure_ray(num_cpus=rc.workers)
    # up to max_rounds; saturation usually ends the loop earlier (the bar then stops short of its total)
    bar = progress_bar(rc.max_rounds, "recall rounds", "round", progress)
    try:
        for n in range(1, rc.max_rounds + 1):
            rdir = _round_dir(root, n)
            if is_complete(rdir):
                stats = read_marker(rdir)
                log.info("recall: round %d complete, skipped", n)
            else:
                log.info("recall: round %d", n)
                stats = run_round(cfg, root, n, seed, pool, truth, progress)
            rounds.append(stats)
            bar.update(1)
            if progress:
                tr = stats.get("truth") or {}
                log.info("recall r%d: %d pages, overlap %s, seed +%d, holdout AUC %s, truth P=%s R=%s", n,
                         stats["pages_recalled"], stats["overlap_prev"], stats["seed_growth"],
                         stats["classifier"]["auc"], tr.get("precision"), tr.get("recall"))
            if stats["overlap_prev"] is not None and stats["overlap_prev"] >= rc.saturation:
                reason = "saturated"
                break
            if stop_after is not None and n >= stop_after:
                reason = "stopped"
                break
    finally:
        bar.close()
        if started_ray:
            ray.shutdown()
    summary = {"rounds": rounds, "stop_reason": reason, "last_round": rounds[-1]["round"],
               "seed_files": seed.files, "seed_rows": seed.rows_read, "seed_filtered": seed.filtered,
               "pool_files": len(files), "pool_pages": pool.meta.num_rows, "pool_languages": langs}
    write_json_atomic(root / "summary.json", summary)
    from classifiers.report import plot_rounds

    plot_rounds(rounds, root / "recall_curve.png")
    brief = {k: v for k, v in summary.items() if k != "rounds"}
    brief["per_round"] = [{k: r.get(k) for k in ("round", "pages_recalled", "overlap_prev", "seed_growth",
                                                  "new_domains")} for r in rounds]
    if reason != "stopped":
        brief["recalled"] = write_recalled(root, files, _round_dir(root, rounds[-1]["round"]))
        mark_complete(root, brief)
    return summary


def write_recalled(root: Path, pool_files: list[str], last_round_dir: Path) -> dict:
    """Materialise the last round's selection as pages (RECALLED_SCHEMA) in ``rounds/recalled/``.

    One output file per pool file, written atomically; the stage marker is written after all of
    them, so a crash here redoes this step only.
    """
    from pipeline.core.io import write_parquet_atomic
    from pipeline.core.schema import POOL_SCHEMA, RECALLED_SCHEMA

    sel = pq.read_table(last_round_dir / "selected.parquet", columns=["id", "score", "first_round", "tokens"])
    out = root / "recalled"
    out.mkdir(parents=True, exist_ok=True)
    pages = 0
    for f in pool_files:
        t = pq.read_table(f, columns=POOL_SCHEMA.names)
        t = t.join(sel, keys="id", join_type="inner")
        t = t.sort_by([("id", "ascending")])
        t = pa.table([*(t.column(n) for n in POOL_SCHEMA.names),
                      pc.cast(t.column("score"), pa.float32()), pc.cast(t.column("first_round"), pa.int16()),
                      pc.cast(t.column("tokens"), pa.int32())], schema=RECALLED_SCHEMA)
        write_parquet_atomic(out / Path(f).name, t)
        pages += t.num_rows
    return {"pages": pages, "files": len(pool_files), "folder": str(out)}
