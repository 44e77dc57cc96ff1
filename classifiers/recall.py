"""The iterative recall loop (DeepSeekMath §2.1): train, score, select, discover domains, grow the seed.

It reads the pool's pages (``pool/pages/<stem>.parquet``) minus dedup's decisions
(``dedup/removed/<stem>.parquet``) one pool file per unit, and writes decisions keyed by id, one file per
pool file. Layout of the stage folder (``<workdir>/rounds/``, a local path or an fsspec URL)::

    rN/seed_added/<stem>.parquet  pool pages that joined the positives at the start of round N (N > 1)
    rN/annotation_used.tsv   the annotation the growth was computed from (a copy, N > 1)
    rN/training_set.parquet  key, label, split, origin of every training example (no text)
    rN/train.txt, holdout.txt  the fastText files (normalised text)
    rN/model.bin             the round's fastText model (+ model.bin.verified.json)
    rN/metrics.json          held-out precision, recall, AUC
    rN/scores/<stem>.parquet P(math) and token count of every page (SCORE_SCHEMA) + scores/_SUCCESS
    rN/selected/<stem>.parquet  recalled pages, best first within the file, with the first round that
                             recalled each (SELECTION_SCHEMA) + selected/_SUCCESS (holding the cut)
    rN/domains/part-<p>.parquet every pool domain, by hash partition: pages, recalled, share, is_math
    rN/annotation.tsv        proposed path prefixes of math domains (edit it: see docs/recall.md)
    rN/stats.json, rN/_SUCCESS   the round's stats; the marker is written last
    recalled/<stem>.parquet  the last round's decisions: id, score, tokens, round (RECALLED_SCHEMA)
    summary.json, recall_curve.png, _SUCCESS   the whole loop

Every step runs on the executor (:mod:`classifiers.steps` for the global ones) with per-unit markers,
so a run killed in the middle of a round resumes at the units that were missing, and a finished round
(``rN/_SUCCESS``) is never redone. The driver holds small aggregates only: counts, one score histogram,
the accepted prefixes, the training set (bounded by the seed, not by the pool).
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from classifiers import annotation as ann
from classifiers import model as ftm
from classifiers import steps
from classifiers.pool_pages import PoolPart, read_pages, stem_of
from classifiers.score import parquet_intact, score_pool
from classifiers.seed import SeedLoad, load_seed
from classifiers.text import normalize
from pipeline.core import storage
from pipeline.core.inputs import InputNotFound, expand_files
from pipeline.core.io import clear_marker, is_complete, mark_complete, read_marker
from pipeline.core.progress import progress_bar
from pipeline.core.schema import RECALLED_SCHEMA, validate_table
from pipeline.core.stats import StageStats

log = logging.getLogger(__name__)


#: pool pages per hash partition of the domain statistics
PAGES_PER_DOMAIN_PARTITION = 1_000_000


class RecallError(ValueError):
    """The recall loop cannot run on this input; the message says which file and why."""


# --- inputs --------------------------------------------------------------------

def _json(path: str, opts=None) -> dict:
    return json.loads(storage.read_bytes(path, opts))


def _write_json(path: str, obj, opts=None) -> None:
    storage.write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n").encode(), opts)


def pool_parts(pool: str, dedup: str | None = None, storage_options: dict | None = None) -> list[PoolPart]:
    """The pool files of ``pool`` (a pool stage folder: its ``pages/``; a folder of Parquet files; a file or a
    glob) and, with ``dedup`` (a dedup stage folder), each file's ``<dedup>/removed/<stem>.parquet``."""
    where = storage.join(pool, "pages") if storage.exists(storage.join(pool, "pages"), storage_options) else pool
    try:
        files = expand_files([where], storage_options=storage_options, what="recall input")
    except InputNotFound as exc:
        raise RecallError(f"recall: {exc}") from None
    if not files:
        raise RecallError(f"recall: no pool Parquet files in {where}")
    parts = []
    for f in files:
        stem = stem_of(f)
        removed = None
        if dedup is not None:
            removed = storage.join(dedup, "removed", f"{stem}.parquet")
            if not storage.exists(removed, storage_options):
                raise RecallError(f"recall: dedup finished but left no decisions for pool file {stem} "
                                  f"({removed} is missing): run dedup again")
        parts.append(PoolPart(stem=stem, pages=f, removed=removed))
    if len({p.stem for p in parts}) != len(parts):
        raise RecallError(f"recall: pool files in {where} have clashing names")
    return parts


def resolve_pool_parts(cfg, workdir: str | None = None, storage_options: dict | None = None) -> list[PoolPart]:
    """``recall.input`` if set (taken as it is); else the workdir's pool minus dedup's decisions when dedup
    finished (the pool alone, with a warning, when it did not run)."""
    if cfg.recall.input:
        return pool_parts(cfg.recall.input, None, storage_options)
    workdir = workdir or cfg.workdir
    pool, dedup = storage.join(workdir, "pool"), storage.join(workdir, "dedup")
    if not is_complete(pool):
        raise RecallError(f"recall needs the pool stage's output: {pool}/_SUCCESS is missing (or set recall.input)")
    if not is_complete(dedup):
        log.warning("recall: %s has not finished: the pool's pages are read without dedup's decisions", dedup)
        dedup = None
    return pool_parts(pool, dedup, storage_options)


def seed_paths(cfg, workdir: str) -> list[str]:
    return list(cfg.recall.seed_files) or [storage.join(workdir, "minicc", "seed", "openwebmath.jsonl")]


def truth_path(cfg, workdir: str) -> str | None:
    if cfg.recall.truth:
        return cfg.recall.truth
    if not cfg.pool.reads_minicc:  # a real crawl has no truth (a stale mini-CC in the workdir is not it)
        return None
    p = storage.join(workdir, "minicc", "truth.parquet")
    return p if storage.exists(p) else None


def _part_dict(p: PoolPart) -> dict:
    return {"stem": p.stem, "pages": p.pages, "removed": p.removed, "scores": p.scores, "url_column": p.url_column}


def inventory_unit(unit: dict) -> dict:
    """One pool file's pages after dedup: how many, removed, and the languages among them."""
    part = PoolPart(**unit["part"])
    pages = read_pages(part, ["id", "lang"], unit.get("storage_options"))
    total = storage.parquet_rows(part.pages, unit.get("storage_options"))
    return {"rows_in": pages.num_rows, "removed": total - pages.num_rows,
            "langs": sorted(set(pages.column("lang").to_pylist()))}


# --- one round -------------------------------------------------------------------

@dataclass
class RecallRun:
    """What every step of a loop over one pool reads: the config, the stage folder, the pool's parts, the
    seed, the truth file (None: none), the executor and the storage options."""

    cfg: object
    root: str
    parts: list[PoolPart]
    seed: SeedLoad
    truth: str | None
    executor: object
    progress: bool
    opts: dict | None = None
    #: hash partitions of the domain statistics (the same in every round: a round reads the one before's)
    domain_partitions: int = 1

    def rdir(self, n: int) -> str:
        return storage.join(self.root, f"r{n}")

    def path(self, n: int, *names: str) -> str:
        return storage.join(self.rdir(n), *names)

    def stems(self, suffix: str = ".parquet") -> list[str]:
        return [f"{p.stem}{suffix}" for p in self.parts]


def _annotation_for(loop: RecallRun, n: int) -> str:
    """The file round ``n``'s growth reads: the user's file wins over round n-1's proposal."""
    if loop.cfg.recall.annotation_file:
        return loop.cfg.recall.annotation_file
    return loop.path(n - 1, "annotation.tsv")


def grow(loop: RecallRun, n: int) -> int:
    """Round ``n``'s seed growth: pages under accepted prefixes that round n-1 did not recall and that are not
    positives yet (``rN/seed_added/<stem>.parquet``)."""
    src = _annotation_for(loop, n)
    rows = ann.read_annotation(src)
    accepted = ann.accepted_prefixes(rows)
    markers = loop.path(n, "_units", "grow_seed")
    for p in loop.parts:  # a part damaged since it was written is grown again
        if not parquet_intact(loop.path(n, "seed_added", f"{p.stem}.parquet"), loop.opts):
            storage.remove(storage.join(markers, f"{p.stem}.json"), loop.opts)
    exclude = [loop.path(n - 1, "selected")] + [loop.path(k, "seed_added") for k in range(2, n)]
    added = steps.grow_seed(loop.parts, accepted, loop.path(n, "seed_added"), loop.executor, round_no=n,
                            exclude_folders=exclude, markers=markers,
                            fingerprint=steps.fingerprint_of("grow", n, accepted), storage_options=loop.opts)
    storage.write_bytes(loop.path(n, "annotation_used.tsv"), storage.read_bytes(src, loop.opts), loop.opts)
    _write_json(loop.path(n, "annotation_state.json"), _decisions(loop, n, rows), loop.opts)
    return added


def _decisions(loop: RecallRun, n: int, used: list[ann.PrefixRow]) -> dict:
    """A person's annotation decisions so far (carried into every later proposal)."""
    prev_state = loop.path(n - 1, "annotation_state.json")
    state = _json(prev_state, loop.opts) if storage.exists(prev_state, loop.opts) else {"decisions": [],
                                                                                         "deleted": []}
    decisions = {(d["domain"], d["prefix"]): d for d in state["decisions"]}
    deleted = {tuple(k) for k in state["deleted"]}
    pristine = loop.path(n - 1, "annotation.proposed.tsv")
    proposed = None if loop.cfg.recall.annotation_file else ann.read_annotation(pristine)
    changed, gone = ann.human_edits(used, proposed)
    for r in changed:
        decisions[(r.domain, r.prefix)] = {"domain": r.domain, "prefix": r.prefix, "accepted": r.accepted}
        deleted.discard((r.domain, r.prefix))
    for k in gone:
        decisions.pop(k, None)
        deleted.add(k)
    return {"decisions": sorted(decisions.values(), key=lambda d: (d["domain"], d["prefix"])),
            "deleted": sorted(list(k) for k in deleted)}


def _added_files(loop: RecallRun, n: int, stem: str) -> list[str]:
    return [loop.path(k, "seed_added", f"{stem}.parquet") for k in range(2, n + 1)]


def eligible_unit(unit: dict) -> dict:
    """How many of one file's pages may be drawn as negatives: not a seed URL, not a grown positive."""
    part, opts = PoolPart(**unit["part"]), unit.get("storage_options")
    meta = read_pages(part, ["id", part.url_column], opts)
    keep = _eligible(meta, part, unit, opts)
    return {"eligible": int(keep.sum()), "rows_in": meta.num_rows}


def _eligible(meta: pa.Table, part: PoolPart, unit: dict, opts) -> np.ndarray:
    seed_urls = storage.read_parquet_table(unit["seed_urls"], ["url"], opts).column("url").combine_chunks()
    bad = pc.is_in(meta.column(part.url_column), value_set=seed_urls).to_numpy(zero_copy_only=False)
    for f in unit["added"]:
        ids = storage.read_parquet_table(f, ["id"], opts).column("id").combine_chunks()
        bad |= pc.is_in(meta.column("id"), value_set=ids).to_numpy(zero_copy_only=False)
    return ~bad


def training_pages_unit(unit: dict) -> dict:
    """One file's training texts (normalised): its grown positives, and the negatives at ``unit["pick"]``
    (positions among the file's eligible pages, ascending)."""
    part, opts = PoolPart(**unit["part"]), unit.get("storage_options")
    meta = read_pages(part, ["id", part.url_column, "text"], opts)
    keep = _eligible(meta, part, unit, opts)
    eligible_rows = np.flatnonzero(keep)
    picked = eligible_rows[np.asarray(unit["pick"], dtype=np.int64)] if unit["pick"] else np.zeros(0, np.int64)
    added_ids = set()
    for f in unit["added"]:
        added_ids.update(storage.read_parquet_table(f, ["id"], opts).column("id").to_pylist())
    ids = meta.column("id").to_pylist()
    texts = meta.column("text")
    positives = {i: normalize(texts[k].as_py(), unit["max_chars"]) for k, i in enumerate(ids) if i in added_ids}
    negatives = {ids[k]: normalize(texts[int(k)].as_py(), unit["max_chars"]) for k in picked}
    return {"positives": positives, "negatives": negatives}


def build_training_set(loop: RecallRun, n: int) -> dict:
    """Positives (seed + grown pages) and as many random pool negatives (times ``negatives_ratio``), never
    from a positive URL; a deterministic held-out split. Writes train.txt, holdout.txt, training_set.parquet.

    The negatives are a uniform draw without replacement over the eligible pages in pool order: the driver
    draws positions from the per-file counts, each file's unit reads the texts at its positions."""
    rc, opts = loop.cfg.recall, loop.opts
    rs = rc.random_seed * 1000 + n
    seed_urls = storage.join(loop.rdir(n), "_units", "seed_urls.parquet")
    storage.write_parquet(seed_urls, pa.table({"url": pa.array(sorted({d.url for d in loop.seed.docs if d.url}),
                                                                pa.string())}), opts)
    base = [{"part": _part_dict(p), "seed_urls": seed_urls, "storage_options": opts,
             "added": [f for f in _added_files(loop, n, p.stem) if storage.exists(f, opts)]} for p in loop.parts]
    counts = [r.result["eligible"] for r in loop.executor.map("recall_negatives", eligible_unit, base,
                                                              key=lambda u: u["part"]["stem"], progress=False)]
    added_ids = [i for k in range(2, n + 1) for p in loop.parts
                 for i in _ids_if_exists(loop.path(k, "seed_added", f"{p.stem}.parquet"), opts)]
    positives = len(loop.seed.docs) + len(added_ids)
    want = int(round(positives * rc.negatives_ratio))
    total = sum(counts)
    if total == 0:
        raise RecallError("recall: the pool has no page outside the positives to draw negatives from")
    if want > total:
        log.warning("recall r%d: %d negatives wanted, the pool has only %d eligible pages", n, want, total)
    rng = np.random.default_rng(rs)
    # the same draw as choosing among every eligible page in pool order: positions into the concatenation
    positions = np.sort(rng.choice(total, size=min(want, total), replace=False))
    offsets = np.concatenate(([0], np.cumsum(counts)))
    units = []
    for k, u in enumerate(base):
        lo, hi = np.searchsorted(positions, [offsets[k], offsets[k + 1]])
        units.append(dict(u, pick=(positions[lo:hi] - offsets[k]).tolist(), max_chars=rc.max_chars))
    got = [r.result for r in loop.executor.map("recall_training_pages", training_pages_unit, units,
                                               key=lambda u: u["part"]["stem"], progress=False)]
    added_text = {i: t for g in got for i, t in g["positives"].items()}
    neg_text = {i: t for g in got for i, t in g["negatives"].items()}
    neg_ids = sorted(neg_text)
    keys = [d.url or d.source for d in loop.seed.docs] + added_ids + neg_ids
    texts = [normalize(d.text, rc.max_chars) for d in loop.seed.docs] + [added_text[i] for i in added_ids] \
        + [neg_text[i] for i in neg_ids]
    labels = [1] * positives + [0] * len(neg_ids)
    origin = ["seed"] * len(loop.seed.docs) + ["seed_added"] * len(added_ids) + ["pool_negative"] * len(neg_ids)
    split = ["holdout" if ftm.holdout_of(k, rc.holdout_fraction, rc.random_seed) else "train" for k in keys]
    examples = [ftm.Example(k, t, y) for k, t, y in zip(keys, texts, labels)]
    n_train = ftm.write_fasttext_file(loop.path(n, "train.txt"),
                                      [e for e, s in zip(examples, split) if s == "train"], shuffle_seed=rs)
    n_hold = ftm.write_fasttext_file(loop.path(n, "holdout.txt"), [e for e, s in zip(examples, split) if s == "holdout"])
    storage.write_parquet(loop.path(n, "training_set.parquet"), pa.table({
        "key": pa.array(keys, pa.string()), "label": pa.array(labels, pa.int8()),
        "split": pa.array(split, pa.string()), "origin": pa.array(origin, pa.string())}), opts)
    return {"positives": positives, "positives_seed": len(loop.seed.docs), "positives_added": len(added_ids),
            "negatives": len(neg_ids), "train_examples": n_train, "holdout_examples": n_hold}


def _ids_if_exists(path: str, opts) -> list[str]:
    if not storage.exists(path, opts):
        return []
    return storage.read_parquet_table(path, ["id"], opts).column("id").to_pylist()


def discover(loop: RecallRun, n: int, fingerprint: str = "") -> dict:
    """domains/ and the annotation proposal for the next round (distributed: :func:`classifiers.steps.domain_stats`);
    ``fingerprint``: the selection's (its units' markers are trusted while it holds)."""
    rc = loop.cfg.recall
    found = steps.domain_stats(loop.parts, loop.path(n, "selected"), loop.path(n, "domains"), loop.executor,
                               share=rc.math_domain_share, depth=rc.prefix_depth, min_pages=rc.prefix_min_pages,
                               prefix_share=rc.prefix_share, partitions=loop.domain_partitions, round_no=n,
                               previous_folder=loop.path(n - 1, "domains") if n > 1 else None,
                               markers=loop.path(n, "_units"),
                               fingerprint=fingerprint,
                               storage_options=loop.opts)
    state_file = loop.path(n, "annotation_state.json")
    state = _json(state_file, loop.opts) if storage.exists(state_file, loop.opts) else {"decisions": [],
                                                                                          "deleted": []}
    decisions = [ann.PrefixRow(d["domain"], d["prefix"], None, None, d["accepted"]) for d in state["decisions"]]
    rows = ann.merge_decisions(found.proposals, decisions, {tuple(k) for k in state["deleted"]})
    # the untouched proposal: the next round tells a person's edits apart from it
    ann.write_annotation(loop.path(n, "annotation.proposed.tsv"), rows)
    ann.write_annotation(loop.path(n, "annotation.tsv"), rows, comment=(
        f"round {n} proposal: path prefixes of math domains (recalled of total pool pages).\n"
        "Edit 'accepted' (yes/no), delete or add lines (recalled/total may be '-'); the next round reads this file."))
    return {"math_domains": found.math_domains, "new_domains": found.new_domains,
            "new_domain_names": found.new_domain_names, "prefixes_proposed": len(rows),
            "prefixes_accepted": sum(r.accepted for r in rows), "domains": found.domains,
            "domain_partitions": found.partitions}


def truth_unit(unit: dict) -> dict:
    """One file's confusion counts against the mini-CC's labels (by WARC record id)."""
    part, opts = PoolPart(**unit["part"]), unit.get("storage_options")
    meta = read_pages(part, ["id", "warc_record_id"], opts)
    truth = storage.read_parquet_table(unit["truth"], ["warc_record_id", "is_math", "kind"], opts)
    truth = truth.filter(pc.is_in(truth.column("warc_record_id"),
                                  value_set=meta.column("warc_record_id").combine_chunks()))
    label = dict(zip(truth.column("warc_record_id").to_pylist(),
                     zip(truth.column("is_math").to_pylist(), truth.column("kind").to_pylist())))
    sel = set(_ids_if_exists(unit["selected"], opts))
    counts = {"tp": 0, "fp": 0, "fn": 0, "unlabelled": 0}
    per_kind: dict[str, list[int]] = {}
    for i, rec in zip(meta.column("id").to_pylist(), meta.column("warc_record_id").to_pylist()):
        if rec not in label:
            counts["unlabelled"] += 1
            continue
        is_math, kind = label[rec]
        hit = i in sel
        counts["tp"] += hit and is_math
        counts["fp"] += hit and not is_math
        counts["fn"] += (not hit) and is_math
        if is_math:
            k = per_kind.setdefault(kind, [0, 0])
            k[0] += hit
            k[1] += 1
    return {**{k: int(v) for k, v in counts.items()}, "per_kind": per_kind}


def truth_metrics(loop: RecallRun, n: int) -> dict:
    """Precision and recall of the recalled set against the mini-CC's labels, over the pool's pages."""
    units = [{"part": _part_dict(p), "truth": loop.truth, "selected": loop.path(n, "selected", f"{p.stem}.parquet"),
              "storage_options": loop.opts} for p in loop.parts]
    got = [r.result for r in loop.executor.map("recall_truth", truth_unit, units, key=lambda u: u["part"]["stem"],
                                               progress=False)]
    tp, fp, fn = (sum(g[k] for g in got) for k in ("tp", "fp", "fn"))
    per_kind: dict[str, list[int]] = {}
    for g in got:
        for k, (h, t) in g["per_kind"].items():
            acc = per_kind.setdefault(k, [0, 0])
            acc[0] += h
            acc[1] += t
    return {
        "precision": round(tp / (tp + fp), 4) if tp + fp else None,
        "recall": round(tp / (tp + fn), 4) if tp + fn else None,
        "tp": tp, "fp": fp, "fn": fn, "unlabelled_pages": sum(g["unlabelled"] for g in got),
        "recall_by_kind": {k: round(h / t, 4) for k, (h, t) in sorted(per_kind.items())},
        "math_pages_by_kind": {k: t for k, (_, t) in sorted(per_kind.items())},
    }


def _discard_from_model(loop: RecallRun, n: int) -> None:
    """Everything derived from round ``n``'s model (it is trained again: the same model, deterministically)."""
    for name in ("model.bin", "model.bin.verified.json", "metrics.json", "training_stats.json"):
        storage.remove(loop.path(n, name), loop.opts)
    for name in ("scores", "selected", "domains"):
        storage.remove(loop.path(n, name), loop.opts, recursive=True)
    for step in ("select_write", "domain_counts", "domain_partitions"):
        storage.remove(loop.path(n, "_units", step), loop.opts, recursive=True)


def select_round(loop: RecallRun, n: int, digest: str) -> dict:
    """The round's selection: the budget's cut from score histograms, then a per-file filter (selected/)."""
    rc = loop.cfg.recall
    folder = loop.path(n, "selected")
    fingerprint = steps.fingerprint_of("select", digest, rc.threshold, rc.token_budget, n)
    if is_complete(folder) and read_marker(folder).get("fingerprint") == fingerprint:
        return read_marker(folder)
    # missing, or damaged since it was published: the selection and what was derived from it are redone
    clear_marker(folder)
    for step in ("select_write", "domain_counts", "domain_partitions"):
        storage.remove(loop.path(n, "_units", step), loop.opts, recursive=True)
    scored = [p.with_scores(loop.path(n, "scores", f"{p.stem}.parquet")) for p in loop.parts]
    cut = steps.select_by_budget(scored, loop.executor, budget_tokens=rc.token_budget, threshold=rc.threshold,
                                 storage_options=loop.opts)
    totals = steps.write_selection(scored, cut, folder, loop.executor, round_no=n,
                                   earlier_folders=[loop.path(k, "selected") for k in range(1, n)],
                                   markers=loop.path(n, "_units", "select_write"), fingerprint=fingerprint,
                                   storage_options=loop.opts)
    if totals["rows_out"] != cut.selected_rows:
        raise RecallError(f"{folder}: the filter kept {totals['rows_out']} pages, the cut {cut.selected_rows}")
    info = {"fingerprint": fingerprint, "cut": cut.to_dict(), **totals}
    mark_complete(folder, info, outputs=loop.stems())
    return info


def run_round(loop: RecallRun, n: int) -> dict:
    rc, opts = loop.cfg.recall, loop.opts
    t0 = time.perf_counter()
    timings: dict[str, float] = {}

    t = time.perf_counter()
    added_now = grow(loop, n) if n > 1 else 0
    added_total = sum(storage.parquet_rows(f, opts) for p in loop.parts for f in _added_files(loop, n, p.stem)
                      if storage.exists(f, opts))
    timings["grow"] = time.perf_counter() - t

    model_path = loop.path(n, "model.bin")
    train_stats_path = loop.path(n, "training_stats.json")
    metrics_path = loop.path(n, "metrics.json")
    threshold = rc.threshold if rc.threshold is not None else 0.5
    t = time.perf_counter()
    if not ftm.is_verified(model_path, opts) or not storage.exists(train_stats_path, opts):
        # no model, or one that is not exactly what was trained and checked (a full disk, a crash): what
        # was derived from it is discarded with it and the round trains again (deterministic: same model)
        _discard_from_model(loop, n)
        train_stats = build_training_set(loop, n)
        metrics = ftm.train_and_evaluate(loop.path(n, "train.txt"), model_path, rc.fasttext, rc.random_seed + n,
                                         holdout_file=loop.path(n, "holdout.txt"), threshold=threshold,
                                         executor=loop.executor, storage_options=opts)
        if not ftm.is_verified(model_path, opts):
            raise RecallError(f"{model_path}: training finished but the model was not published")
        _write_json(metrics_path, metrics, opts)
        _write_json(train_stats_path, train_stats, opts)
    if not storage.exists(metrics_path, opts):
        _write_json(metrics_path, ftm.train_and_evaluate(None, model_path, rc.fasttext, rc.random_seed + n,
                                                         holdout_file=loop.path(n, "holdout.txt"),
                                                         threshold=threshold, executor=loop.executor,
                                                         storage_options=opts), opts)
    train_stats = _json(train_stats_path, opts)
    metrics = _json(metrics_path, opts)
    timings["train"] = time.perf_counter() - t
    digest = ftm.model_digest(model_path, opts)

    t = time.perf_counter()
    score_stats = score_pool(loop.parts, model_path, loop.path(n, "scores"), executor=loop.executor,
                             workers=rc.workers, max_chars=rc.max_chars, batch_rows=rc.batch_rows,
                             progress=loop.progress, storage_options=opts)
    timings["score"] = time.perf_counter() - t

    t = time.perf_counter()
    sel = select_round(loop, n, digest)
    disc = discover(loop, n, sel["fingerprint"])
    timings["select_discover"] = time.perf_counter() - t

    overlap = None
    if n > 1:
        overlap = round(sel["overlap_prev"] / sel["rows_out"], 4) if sel["rows_out"] else None
    stats = {
        "round": n,
        "pages_recalled": sel["rows_out"],
        "tokens_recalled": sel["tokens"],
        "new_pages": sel["new_pages"],
        "overlap_prev": overlap,
        "cut": sel["cut"],
        "seed_growth": added_now,
        "seed_added_total": added_total,
        **{k: train_stats[k] for k in ("positives", "positives_seed", "positives_added", "negatives",
                                       "train_examples", "holdout_examples")},
        "classifier": metrics,
        **disc,
        "scoring": {k: score_stats.get(k) for k in ("rows", "rows_scored_now", "skipped", "seconds", "workers",
                                                    "normalize_seconds", "predict_seconds", "pages_per_second")},
        "truth": truth_metrics(loop, n) if loop.truth is not None else None,
        "seconds": {k: round(v, 2) for k, v in timings.items()} | {"total": round(time.perf_counter() - t0, 2)},
    }
    _write_json(loop.path(n, "stats.json"), stats, opts)
    mark_complete(loop.rdir(n), stats, outputs=["model.bin"] + [f"selected/{s}" for s in loop.stems()])
    return stats


# --- the loop --------------------------------------------------------------------

def recall_loop(cfg, root: str, parts: list[PoolPart], executor, *, workdir: str, stop_after: int | None = None,
                progress: bool = True, storage_options: dict | None = None) -> dict:
    """Run rounds until saturation or ``recall.max_rounds`` over ``parts``; resume from each round's artefacts.

    ``stop_after`` ends after that round without completing the stage (to edit its annotation.tsv).
    Returns the summary (also ``<root>/summary.json``)."""
    rc = cfg.recall
    opts = storage_options
    inv = [r.result for r in executor.map("recall_inventory", inventory_unit,
                                          [{"part": _part_dict(p), "storage_options": opts} for p in parts],
                                          key=lambda u: u["part"]["stem"], progress=False)]
    pool_pages = sum(i["rows_in"] for i in inv)
    if pool_pages == 0:
        raise RecallError(f"recall: the pool in {storage.parent(parts[0].pages)} holds no pages")
    langs = sorted({lang for i in inv for lang in i["langs"]})
    if len(langs) == 1:
        log.warning("recall: the pool holds pages in one language only (%s): negatives come from it alone, so "
                    "seed pages in other languages are separable by language, not by math", langs[0])
    if rc.annotation_file:
        ann.read_annotation(rc.annotation_file)  # a bad user file fails now, not after round 1
    seed = load_seed(seed_paths(cfg, workdir), min_tokens=rc.seed_min_tokens, max_chars=rc.max_chars,
                     max_docs=rc.seed_max_docs)
    truth = truth_path(cfg, workdir)
    storage.makedirs(root, opts)
    # about a million pages per partition: a partition unit's memory stays bounded, a small pool has one
    loop = RecallRun(cfg, root, parts, seed, truth, executor, progress, opts,
                     domain_partitions=max(1, min(256, -(-pool_pages // PAGES_PER_DOMAIN_PARTITION))))
    rounds: list[dict] = []
    reason = "max_rounds"
    # up to max_rounds; saturation usually ends the loop earlier (the bar then stops short of its total)
    bar = progress_bar(rc.max_rounds, "recall rounds", "round", progress)
    try:
        for n in range(1, rc.max_rounds + 1):
            if is_complete(loop.rdir(n)):
                stats = read_marker(loop.rdir(n))
                log.info("recall: round %d complete, skipped", n)
            else:
                log.info("recall: round %d", n)
                stats = run_round(loop, n)
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
    summary = {"rounds": rounds, "stop_reason": reason, "last_round": rounds[-1]["round"],
               "seed_files": seed.files, "seed_rows": seed.rows_read, "seed_filtered": seed.filtered,
               "pool_files": len(parts), "pool_pages": pool_pages,
               "pool_removed_by_dedup": sum(i["removed"] for i in inv), "pool_languages": langs}
    _write_json(storage.join(root, "summary.json"), summary, opts)
    from classifiers.report import plot_rounds

    plot_rounds(rounds, storage.join(root, "recall_curve.png"))
    if reason != "stopped":
        summary["recalled"] = write_recalled(loop, rounds[-1]["round"])
    return summary


def recalled_unit(unit: dict) -> dict:
    """One file's decisions: the last round's selection by id (RECALLED_SCHEMA, sorted by id)."""
    opts = unit.get("storage_options")
    sel = storage.read_parquet_table(unit["selected"], ["id", "score", "tokens", "first_round"], opts)
    sel = sel.sort_by([("id", "ascending")])
    table = pa.table({"id": sel.column("id"), "score": sel.column("score"), "tokens": sel.column("tokens"),
                      "round": sel.column("first_round")}, schema=RECALLED_SCHEMA)
    validate_table(table, RECALLED_SCHEMA, f"recalled {unit['stem']}")
    storage.write_parquet(unit["out"], table, opts)
    return {"rows_out": table.num_rows}


def write_recalled(loop: RecallRun, last_round: int) -> dict:
    """The stage's decisions, ``recalled/<stem>.parquet``: one file per pool file (no text: the pool holds it)."""
    out = storage.join(loop.root, "recalled")
    units = [{"stem": p.stem, "selected": loop.path(last_round, "selected", f"{p.stem}.parquet"),
              "out": storage.join(out, f"{p.stem}.parquet"), "storage_options": loop.opts} for p in loop.parts]
    res = loop.executor.map("recall_decisions", recalled_unit, units, key=lambda u: u["stem"], progress=False)
    return {"pages": sum(r.result["rows_out"] for r in res), "files": len(units), "folder": out}


def run_recall(cfg, out_dir, *, stop_after: int | None = None, progress: bool = True, executor=None,
               parts: list[PoolPart] | None = None, storage_options: dict | None = None) -> dict:
    """The loop on ``cfg``'s pool (:func:`resolve_pool_parts`, or ``parts``) into ``out_dir``, on ``executor``
    (default: the running command's, :func:`pipeline.core.executor.current`)."""
    from pipeline.core.executor import current

    workdir = cfg.workdir
    parts = parts if parts is not None else resolve_pool_parts(cfg, workdir, storage_options)
    summary = recall_loop(cfg, str(out_dir), parts, executor or current(cfg.recall.workers), workdir=workdir,
                          stop_after=stop_after, progress=progress, storage_options=storage_options)
    if summary["stop_reason"] != "stopped":
        stats = _stage_stats(summary, len(parts), 0.0)
        mark_complete(str(out_dir), stats.to_dict(), outputs=[f"recalled/{p.stem}.parquet" for p in parts])
    return summary


def _stage_stats(summary: dict, units: int, seconds: float) -> StageStats:
    recalled = summary["recalled"]["pages"]
    per_round = [{k: r.get(k) for k in ("round", "pages_recalled", "tokens_recalled", "new_pages", "overlap_prev",
                                        "seed_growth", "new_domains", "math_domains", "truth")}
                 for r in summary["rounds"]]
    return StageStats(stage="rounds", rows_in=summary["pool_pages"], rows_out=recalled,
                      dropped={"not_recalled": summary["pool_pages"] - recalled}, units=units,
                      seconds=round(seconds, 3), notes=f"{summary['last_round']} rounds, {summary['stop_reason']}",
                      extra={"per_round": per_round, "stop_reason": summary["stop_reason"],
                             "last_round": summary["last_round"], "pool_files": summary["pool_files"],
                             "pool_removed_by_dedup": summary["pool_removed_by_dedup"],
                             "pool_languages": summary["pool_languages"], "seed_rows": summary["seed_rows"],
                             "seed_filtered": summary["seed_filtered"], "recalled": summary["recalled"]})


def run_recall_stage(ctx) -> StageStats:
    """The ``rounds`` stage: reads ``ctx.inputs["pool"]`` minus ``ctx.inputs["dedup"]``'s decisions (when the
    run declares dedup; ``recall.input`` overrides both), writes ``ctx.folder``. rows_in: the pool's pages
    after dedup; rows_out: the pages recalled; dropped: ``not_recalled``; extra: the per-round figures."""
    t0 = time.perf_counter()
    opts = ctx.storage_options or None
    if ctx.cfg.recall.input:
        parts = pool_parts(ctx.cfg.recall.input, None, opts)
    else:
        parts = pool_parts(ctx.inputs["pool"], ctx.inputs.get("dedup"), opts)
    summary = recall_loop(ctx.cfg, ctx.folder, parts, ctx.executor, workdir=ctx.workdir, progress=ctx.progress,
                          storage_options=opts)
    stats = _stage_stats(summary, len(parts), time.perf_counter() - t0)
    mark_complete(ctx.folder, stats.to_dict(), outputs=[f"recalled/{p.stem}.parquet" for p in parts])
    return stats
