"""The one front door: ``python -m pipeline <command>`` (console script ``mathcorpus``).

Each command is a small function that parses its own flags; ``COMMANDS`` lists
them in the order ``--help`` shows.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any, Callable

from pipeline.core.config import ConfigError, load_config

log = logging.getLogger("pipeline")


def _parse_override(text: str) -> tuple[str, Any]:
    import yaml

    if "=" not in text:
        raise argparse.ArgumentTypeError(f"--set takes KEY=VALUE, got {text!r}")
    key, value = text.split("=", 1)
    return key.strip(), yaml.safe_load(value)


def _add_config_args(p: argparse.ArgumentParser) -> None:
    """--config, --set and --no-progress: every command takes them."""
    p.add_argument("--config", "-c", default=None, help="YAML config file (default: built-in defaults)")
    p.add_argument(
        "--set", dest="overrides", action="append", default=[], type=_parse_override, metavar="KEY=VALUE",
        help="override one config value, e.g. --set synth.pages=2000 (repeatable)",
    )
    p.add_argument("--no-progress", action="store_true",
                   help="no progress bars (they are drawn only on a terminal anyway; log lines stay)")


def _add_input(p: argparse.ArgumentParser, help_text: str, *, many: bool = False, required: bool = False,
               aliases: tuple[str, ...] = (), positional: bool = False) -> None:
    """``--input``/``-i`` (a file or folder, or several with ``many``); older spellings stay as hidden aliases,
    and ``positional`` keeps ``COMMAND PATH...`` working too."""
    kw = dict(nargs="+", action="extend", default=None) if many else dict(default=None)
    p.add_argument("--input", "-i", dest="input", metavar="PATH", required=required, help=help_text, **kw)
    for alias in aliases:
        p.add_argument(alias, dest="input", help=argparse.SUPPRESS, **kw)
    if positional:
        p.add_argument("positional_input", nargs="*", default=[], help=argparse.SUPPRESS)


def _add_output(p: argparse.ArgumentParser, help_text: str, *, required: bool = False,
                aliases: tuple[str, ...] = ("--out",)) -> None:
    p.add_argument("--output", "-o", dest="output", default=None, required=required, metavar="DIR", help=help_text)
    for alias in aliases:
        p.add_argument(alias, dest="output", help=argparse.SUPPRESS)


def _inputs(args: argparse.Namespace) -> list[str]:
    """--input values then positional ones (``dedup a b``, ``inspect out/pool``), in the order given."""
    value = getattr(args, "input", None)
    given = value if isinstance(value, list) else ([value] if value else [])
    return [*given, *getattr(args, "positional_input", [])]


def _load(path, overrides: dict):
    """The validated config, its storage options made this process's defaults (a URL workdir)."""
    cfg = load_config(path, overrides)
    cfg.apply_storage_options()
    return cfg


def _config_from_args(args: argparse.Namespace):
    return _load(args.config, dict(args.overrides))


# --- synth -------------------------------------------------------------------

def _add_synth(sub) -> None:
    p = sub.add_parser(
        "synth", help="write the labelled mini Common Crawl (WARCs, truth, seed, benchmarks)",
        description="Write a deterministic, labelled mini Common Crawl: CC-style WARC files, truth.parquet, "
        "an OpenWebMath-format seed and small benchmark files. Same seed and size, same bytes.",
    )
    _add_config_args(p)
    _add_output(p, "output folder (created; default: <workdir>/minicc)")
    p.add_argument("--pages", type=int, default=None, help="response records to write (overrides synth.pages)")
    p.add_argument("--seed", type=int, default=None, help="random seed (overrides synth.seed)")
    p.add_argument("--force", action="store_true", help="rewrite even if OUT is already complete")
    p.set_defaults(func=cmd_synth)


def cmd_synth(args: argparse.Namespace) -> int:
    from pipeline.synth import generate_minicc

    cfg = _config_from_args(args)
    if args.pages is not None:
        cfg.synth.pages = args.pages
    if args.seed is not None:
        cfg.synth.seed = args.seed
    out = Path(args.output) if args.output else cfg.workdir_path / "minicc"
    stats = generate_minicc(cfg.synth, out, force=args.force, progress=True)
    print(json.dumps(stats, indent=2, sort_keys=True))
    return 0


# --- scan ---------------------------------------------------------------------

def _add_scan(sub) -> None:
    p = sub.add_parser(
        "scan", help="read WARC files and count their records by type (no extraction)",
        description="Stream WARC files with warcio and account for every record: counts by WARC-Type, "
        "HTTP status and content type, plus any file that failed and why. Exit status 1 if any input failed.",
    )
    _add_config_args(p)
    _add_input(p, "WARC files, folders of them, globs or URLs", many=True, positional=True)
    p.add_argument("--json", action="store_true", help="print one JSON object per file")
    p.set_defaults(func=cmd_scan)


def cmd_scan(args: argparse.Namespace) -> int:
    from pipeline.commoncrawl.inputs import expand_warc_inputs
    from pipeline.commoncrawl.warc import scan_warc

    inputs = _inputs(args)
    if not inputs:
        raise ConfigError("scan: give --input PATH...")
    failed = 0
    for path in expand_warc_inputs(inputs):
        s = scan_warc(path)
        failed += s.error is not None
        if args.json:
            print(json.dumps(s.as_dict(), sort_keys=True))
        else:
            types = ", ".join(f"{k}={v}" for k, v in sorted(s.by_type.items()))
            err = f"  FAILED: {s.error}" if s.error else ""
            print(f"{path}: {s.records} records ({types}){err}")
    return 1 if failed else 0


# --- extract ------------------------------------------------------------------

def _add_extract(sub) -> None:
    p = sub.add_parser(
        "extract", help="the pool stage: extract math-preserving text from WARC files with Ray",
        description="Read WARC files (local paths or globs, s3:// or https:// URLs, Common Crawl warc.paths.gz "
        "manifests) on Ray actors, keep HTML 200 responses, rewrite math as LaTeX, extract the main text, "
        "identify the language and deduplicate URLs (earliest fetch wins). A rerun skips finished WARCs. "
        "Exit status 1 if any input failed (see OUTPUT/failures.json).",
    )
    _add_config_args(p)
    _add_input(p, "WARC files, folders of them, globs, URLs or warc.paths.gz manifests (repeatable)", many=True)
    p.add_argument("--crawl", dest="crawls", action="append", default=None, metavar="ID",
                   help="a Common Crawl crawl id, e.g. CC-MAIN-2024-10: its warc.paths.gz under --base-url "
                   "(repeatable)")
    _add_output(p, "stage folder (pages/, drops/, stats.json, ...)", required=True, aliases=())
    p.add_argument("--workers", type=int, default=None, help="Ray actors (overrides pool.workers)")
    p.add_argument("--limit", type=int, default=None, help="first N WARCs of each manifest")
    p.add_argument("--sample", type=int, default=None, help="seeded random N WARCs of each manifest")
    p.add_argument("--seed", type=int, default=None, help="seed for --sample")
    p.add_argument("--base-url", default=None, help="prefix for manifest entries (pool.cc_base_url)")
    p.set_defaults(func=cmd_extract)


def cmd_extract(args: argparse.Namespace) -> int:
    from pipeline.pool import run_pool

    cfg = _config_from_args(args)
    for attr, key in (("workers", "workers"), ("limit", "manifest_limit"), ("sample", "manifest_sample"),
                      ("seed", "manifest_seed"), ("base_url", "cc_base_url"), ("crawls", "crawls")):
        value = getattr(args, attr)
        if value is not None:
            try:
                setattr(cfg.pool, key, value)
            except ValueError as exc:
                raise ConfigError(f"pool.{key}: {exc}") from None
    # Like --input for pool.inputs, only --crawl names crawls here (pool.crawls is for `run`).
    inputs = [*_inputs(args), *(cfg.pool.crawl_manifests() if args.crawls else [])]
    if not inputs:
        raise ConfigError("extract: give --input PATH... and/or --crawl ID")
    stats = run_pool(inputs, args.output, cfg.pool, progress=True)
    t = stats["totals"]
    print(json.dumps({k: t.get(k) for k in ("records_seen", "kept", "dropped", "dropped_by_reason",
                                            "math_elements_html", "math_fragments_text", "math_survival",
                                            "accounting_ok")}, indent=2, sort_keys=True))
    for f in stats["failures"]:
        print(f"FAILED {f['path']}: {f['reason']}", file=sys.stderr)
    return 1 if stats["failures"] else 0


# --- decontam -------------------------------------------------------------------

def _add_decontam(sub) -> None:
    p = sub.add_parser(
        "decontam", help="remove pages that quote a benchmark (GSM8K, MATH, CMATH, AGIEval, ...)",
        description="Drop every page holding an n-gram (default 10) of a benchmark question or answer, or a whole "
        "short benchmark text (3-9 tokens) as an exact substring. Writes kept pages, an audit log and a drop log "
        "under <workdir>/decontam (or --out); a rerun resumes.",
    )
    _add_config_args(p)
    _add_input(p, "a stage folder or folder of Parquet pages (overrides decontam.input)")
    _add_output(p, "output folder (default: <workdir>/decontam)")
    p.add_argument("--force", action="store_true", help="discard earlier output and rescan everything")
    p.set_defaults(func=cmd_decontam)


def cmd_decontam(args: argparse.Namespace) -> int:
    from decontam.loaders import BenchmarkFileError
    from pipeline.core import storage
    from pipeline.run import run_stage

    cfg = _config_from_args(args)
    if args.input is not None:
        cfg.decontam.input = args.input
    out = args.output or storage.join(cfg.workdir, "decontam")
    if args.force:
        storage.remove(out, recursive=True)
    try:
        stats = run_stage(cfg, "decontam", out, progress=not args.no_progress)  # reads what STAGES says it reads
    except BenchmarkFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(stats.to_dict(), indent=2, sort_keys=True, default=str))
    return 0


# --- dedup ------------------------------------------------------------------------

def _add_dedup(sub) -> None:
    description = ("Remove exact and near-duplicate texts from Parquet files with id, text and fetch_time columns. "
                   "Writes OUT/kept (surviving rows, input schema), OUT/removed (id, cluster_id, kept_id, reason), "
                   "OUT/drops and OUT/_SUCCESS with stats. Keeps, per cluster, the earliest fetch, then the longest "
                   "text, then the smallest id. A rerun resumes unfinished work.")
    p = sub.add_parser("dedup", description=description,
                       help="exact + MinHash LSH near-dedup of Parquet texts (the pool, or a finished corpus)")
    _add_config_args(p)
    _add_input(p, "Parquet files, stage folders or globs (default: dedup.inputs, else <workdir>/pool)", many=True,
               positional=True)
    _add_output(p, "output folder (default: <workdir>/dedup)")
    p.add_argument("--workers", type=int, default=None, help="Ray tasks in flight (default: dedup.workers)")
    p.add_argument("--force", action="store_true", help="redo even if OUT is already complete")
    p.set_defaults(func=cmd_dedup)


def cmd_dedup(args: argparse.Namespace) -> int:
    import shutil

    from dedup.stage import run_dedup
    from pipeline.core.io import is_complete, read_marker

    cfg = _config_from_args(args)
    inputs = _inputs(args) or cfg.dedup.inputs or [str(cfg.workdir_path / "pool")]
    out = Path(args.output) if args.output else cfg.workdir_path / "dedup"
    if is_complete(out):
        if not args.force:
            print(f"{out} is complete; --force to redo")
            print(json.dumps(read_marker(out), indent=2, sort_keys=True))
            return 0
        shutil.rmtree(out)
    stats = run_dedup(inputs, out, cfg.dedup, workers=args.workers)
    print(json.dumps(stats, indent=2, sort_keys=True))
    return 0


# --- recall -------------------------------------------------------------------

def _add_recall(sub) -> None:
    p = sub.add_parser(
        "recall", help="the iterative fastText recall loop over the pool (rounds/rN/)",
        description="Train a fastText math classifier on the seed and random pool negatives, score the whole pool "
        "on Ray, keep the top pages, discover math domains, propose URL path prefixes (rounds/rN/annotation.tsv, "
        "editable) and grow the seed; repeat until a round recalls what the round before did (recall.saturation) "
        "or recall.max_rounds. A rerun resumes from each round's artefacts.",
    )
    _add_config_args(p)
    _add_input(p, "pool (or dedup) stage folder or Parquet glob (overrides recall.input)", aliases=("--pool",))
    _add_output(p, "stage folder (default: <workdir>/rounds)")
    p.add_argument("--seed-file", dest="seed_files", action="append", default=None, metavar="PATH",
                   help="OpenWebMath-format jsonl/Parquet seed (repeatable; overrides recall.seed_files)")
    p.add_argument("--annotation", default=None, help="your annotation TSV (overrides recall.annotation_file)")
    p.add_argument("--stop-after", type=int, default=None, metavar="N",
                   help="stop after round N (edit rounds/rN/annotation.tsv, then rerun to go on)")
    p.set_defaults(func=cmd_recall)


def cmd_recall(args: argparse.Namespace) -> int:
    from classifiers.annotation import AnnotationError
    from classifiers.recall import RecallError, run_recall
    from classifiers.report import format_rounds
    from classifiers.seed import SeedError

    # As overrides, so that the config's checks see them (a real-crawl config needs a seed).
    flags = {f"recall.{key}": getattr(args, attr) for attr, key in (
        ("input", "input"), ("seed_files", "seed_files"), ("annotation", "annotation_file"))
        if getattr(args, attr) is not None}
    cfg = _load(args.config, {**dict(args.overrides), **flags})
    out = Path(args.output) if args.output else cfg.workdir_path / "rounds"
    try:
        summary = run_recall(cfg, out, stop_after=args.stop_after, progress=True)
    except (SeedError, AnnotationError, RecallError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(format_rounds(summary["rounds"]))
    print(f"stopped: {summary['stop_reason']} after round {summary['last_round']}; curve: {out / 'recall_curve.png'}")
    return 0


# --- run ----------------------------------------------------------------------

def _add_run(sub) -> None:
    p = sub.add_parser(
        "run", help="run every stage on the configured input, skipping completed work",
        description="Run the pipeline under the config's workdir. Each stage writes its own sub-folder with a "
        "completion marker, so a rerun resumes where the last one stopped.",
    )
    _add_config_args(p)
    _add_input(p, "WARC files, folders, globs, URLs or manifests to read instead of the mini-CC (pool.inputs)",
               many=True)
    _add_output(p, "the run folder (workdir)", aliases=())
    p.add_argument("--until", default=None, metavar="STAGE",
                   help="stop after this stage (minicc, pool, dedup, rounds, decontam, corpus, megatron, report)")
    p.set_defaults(func=cmd_run)


def cmd_run(args: argparse.Namespace) -> int:
    from pipeline.run import run_pipeline

    flags = {k: v for k, v in (("pool.inputs", args.input), ("workdir", args.output)) if v}
    cfg = _load(args.config, {**dict(args.overrides), **flags})
    return run_pipeline(cfg, until=args.until, progress=not args.no_progress)


# --- inspect ------------------------------------------------------------------

def _add_inspect(sub) -> None:
    p = sub.add_parser(
        "inspect", help="summarise a stage's rows: schema, counts by language, domain and round, tokens, random samples",
        description="Summarise any stage folder of a run (pool, dedup, rounds, decontam, corpus), a run folder (its "
        "corpus) or Parquet files: counts by language, domain and round, the score histogram, tokens counted with "
        "the run's tokenizer (words when there is none yet) and rows drawn at random with --seed.",
    )
    _add_config_args(p)
    _add_input(p, "stage folder, run folder or Parquet files (default: the config's workdir)", positional=True)
    p.add_argument("--top", type=int, default=20, help="domains to list")
    p.add_argument("--samples", type=int, default=3, help="rows to draw at random and print")
    p.add_argument("--seed", type=int, default=0, help="seed of the random draw (same seed, same rows)")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    p.set_defaults(func=cmd_inspect)


def cmd_inspect(args: argparse.Namespace) -> int:
    from pipeline.inspect import find_tokenizer, locate_rows, render, summarize

    cfg = _config_from_args(args)
    inputs = _inputs(args)
    if len(inputs) > 1:
        raise ConfigError("inspect: give one --input folder")
    target = Path(inputs[0]) if inputs else cfg.workdir_path
    try:
        rows = locate_rows(target)
        workdir = cfg.workdir_path if args.config or args.overrides else None
        tokenizer = find_tokenizer(rows.folder, cfg.tokenize.tokenizer, workdir)
        summary = summarize(target, top_domains=args.top, samples=args.samples, seed=args.seed, tokenizer=tokenizer)
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(summary, indent=2, default=str, ensure_ascii=False) if args.json else render(summary))
    return 0


# --- show ---------------------------------------------------------------------

def _add_show(sub) -> None:
    p = sub.add_parser(
        "show", help="one page by id: its WARC record's headers (one ranged read) and its text",
        description="Find the row with this id in the run's corpus (else recalled pages, else the pool), read its "
        "WARC record again at warc_offset/warc_length of warc_path (local, s3:// or https://; pool.storage_options "
        "apply) and print the WARC and HTTP headers and the extracted text.",
    )
    _add_config_args(p)
    p.add_argument("id", help="the page's id (16 hex digits)")
    _add_input(p, "run folder or stage folder to look in (default: the config's workdir)")
    p.add_argument("--html", action="store_true", help="also print the HTTP payload (de-chunked, decompressed)")
    p.set_defaults(func=cmd_show)


def cmd_show(args: argparse.Namespace) -> int:
    from pipeline.show import render, show

    cfg = _config_from_args(args)
    try:
        shown = show(args.input or cfg.workdir_path, args.id, cfg.pool.storage_options)
    except (FileNotFoundError, KeyError, ValueError) as exc:
        print(f"error: {str(exc).strip(chr(39))}", file=sys.stderr)
        return 2
    print(render(shown, with_html=args.html))
    return 0


# --- report -------------------------------------------------------------------

def _add_report(sub) -> None:
    p = sub.add_parser(
        "report", help="(re)build <workdir>/report/index.html and its PNG plots from a run's outputs",
        description="Read what the stages left in a run folder (markers, stats, rounds, logs, shards, megatron/) and "
        "write report/index.html with plots a corpus builder checks: tokens per language and source, document "
        "lengths, the score histogram with the threshold, held-out classifier metrics per round, math survival, "
        "dedup clusters, decontamination hits per benchmark, the Megatron blend, random sample documents, the "
        "config that ran and the accounting table. --compare puts a second run beside it.",
    )
    _add_config_args(p)
    _add_input(p, "the run folder (default: the config's workdir)")
    _add_output(p, "where to write index.html and the plots (default: <run folder>/report)", aliases=())
    p.add_argument("--compare", default=None, metavar="OTHER_WORKDIR",
                   help="a second run folder: write a side-by-side page (compare.html) of the two runs")
    p.add_argument("--seed", type=int, default=0, help="seed of the sample documents drawn")
    p.set_defaults(func=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    from pipeline.report import build_comparison, build_report

    from pipeline.core import storage

    cfg = _config_from_args(args)
    workdir = args.input or cfg.workdir
    out = args.output or storage.join(workdir, "report")
    if args.compare:
        other = Path(args.compare)
        if not other.is_dir():
            print(f"error: --compare {other}: no such run folder", file=sys.stderr)
            return 2
        page = build_comparison(workdir, other, out, seed=args.seed)
        print(f"{page}: {workdir} beside {other}")
        return 0
    stats = build_report(workdir, out, seed=args.seed)
    print(f"{storage.join(out, 'index.html')}: {len(stats['plots'])} plots; accounting balanced: "
          f"{stats['totals'].get('balanced')}")
    return 0


# --- synth-mixture -------------------------------------------------------------

def _add_synth_mixture(sub) -> None:
    p = sub.add_parser(
        "synth-mixture", help="write small stand-ins for the other training sources (code, web text)",
        description="Write DIR/code.jsonl and DIR/cc_text.jsonl: deterministic stand-ins for the GitHub code and "
        "Common Crawl text of DeepSeekMath's training mix, so the blend runs end to end without downloads.",
    )
    _add_config_args(p)
    _add_output(p, "output folder (created)", required=True)
    p.add_argument("--docs", type=int, default=3000, help="documents per source")
    p.add_argument("--seed", type=int, default=20240205)
    p.add_argument("--force", action="store_true", help="rewrite even if OUT is already complete")
    p.set_defaults(func=cmd_synth_mixture)


def cmd_synth_mixture(args: argparse.Namespace) -> int:
    from pipeline.synth.mixture import generate_mixture_standins

    print(json.dumps(generate_mixture_standins(args.output, args.docs, args.seed, args.force), indent=2))
    return 0


# --- tokenize ------------------------------------------------------------------

def _add_corpus_arg(p: argparse.ArgumentParser, help_text: str) -> None:
    _add_input(p, help_text, many=True, aliases=("--corpus",))


def _add_tokenize(sub) -> None:
    p = sub.add_parser(
        "tokenize", help="tokenise the corpus and the other mixture sources into Megatron .bin/.idx files",
        description="Tokenise every mixture source into <workdir>/megatron/<source>_text_document.{bin,idx} "
        "(Ray, deterministic), train the default BPE tokenizer first if none is configured, and write the "
        "Megatron --data-path blend and a pretrain_gpt.py launch script. Skips the work if megatron/ is complete.",
    )
    _add_config_args(p)
    _add_corpus_arg(p, "tokenise these Parquet/jsonl files or folders as the math corpus (default: <workdir>/corpus)")
    _add_output(p, "the Megatron folder (default: <workdir>/megatron, where `train` reads it)", aliases=())
    p.add_argument("--force", action="store_true", help="redo even if megatron/ is complete")
    p.set_defaults(func=cmd_tokenize)


def cmd_tokenize(args: argparse.Namespace) -> int:
    import shutil

    from pipeline.core.io import is_complete, read_marker
    from training.mixture import build_megatron

    cfg = _config_from_args(args)
    folder = Path(args.output) if args.output else cfg.workdir_path / "megatron"
    if args.force and folder.exists():
        shutil.rmtree(folder)
    stats = read_marker(folder) if is_complete(folder) else build_megatron(cfg, folder, args.input)
    print(json.dumps(stats, indent=2, sort_keys=True))
    return 0


# --- train ---------------------------------------------------------------------

def _add_train(sub) -> None:
    p = sub.add_parser(
        "train", help="continued pre-training on the blended Megatron datasets (Ray Train, DDP)",
        description="Continued pre-training of a local Hugging Face causal LM (default: a tiny Llama built in code) "
        "on <workdir>/megatron/'s blend, with Ray Train's TorchTrainer. Checkpoints go to <workdir>/train/checkpoints "
        "as Hugging Face folders; a rerun resumes from the newest one exactly.",
    )
    _add_config_args(p)
    _add_corpus_arg(p, "when megatron/ is not built yet, tokenise these files as the math corpus first")
    p.add_argument("--stop-after", type=int, default=None, metavar="N",
                   help="end after N steps of this invocation (the schedule still spans train.steps); resume later")
    p.set_defaults(func=cmd_train)


def cmd_train(args: argparse.Namespace) -> int:
    from pipeline.core.io import is_complete
    from pipeline.core.progress import set_bars
    from pipeline.run import corpus_files
    from training.mixture import build_megatron
    from training.trainer import train

    set_bars(not args.no_progress)
    cfg = _config_from_args(args)
    folder = cfg.workdir_path / "megatron"  # training reads its datasets from local files (memory-mapped)
    if not is_complete(folder):
        if args.input is None and not corpus_files(str(cfg.workdir_path / "corpus")):
            print(f"error: no corpus at {cfg.workdir_path / 'corpus'} and no tokenised data in {folder}: run the "
                  "pipeline (make corpus) first, or pass --input PATH (Parquet or jsonl with a text field, e.g. "
                  f"{cfg.workdir_path / 'minicc/seed/openwebmath.jsonl'})", file=sys.stderr)
            return 2
        build_megatron(cfg, folder, args.input)
    metrics = train(cfg, stop_after=args.stop_after)
    print(json.dumps(metrics, indent=2, sort_keys=True))
    return 0


# --- evaluate ------------------------------------------------------------------

def _add_evaluate(sub) -> None:
    p = sub.add_parser(
        "evaluate", help="few-shot GSM8K and MATH accuracy and bits-per-byte of a local Hugging Face causal LM",
        description="Score CHECKPOINT (a local Hugging Face causal-LM folder, e.g. <workdir>/train/checkpoints/"
        "step-NNNNNNN) with lm-evaluation-harness on the local benchmark files (evaluate.gsm8k, evaluate.math: "
        "the mini-CC's by default): few-shot accuracy (GSM8K's final number, MATH's \\boxed{} answer) and "
        "bits-per-byte on the reference solutions. Writes OUTPUT/results.json and per-item samples.",
    )
    p.add_argument("checkpoint", help="local Hugging Face causal-LM folder")
    _add_config_args(p)
    p.add_argument("--output", "-o", default=None,
                   help="output folder (default: <workdir>/evaluate/<checkpoint folder name>)")
    p.add_argument("--limit", type=int, default=None, metavar="N", help="score N items per benchmark "
                   "(overrides evaluate.limit)")
    p.set_defaults(func=cmd_evaluate)


def cmd_evaluate(args: argparse.Namespace) -> int:
    from training.evaluate import evaluate_checkpoint, format_results

    if args.no_progress:
        import os

        os.environ["TQDM_DISABLE"] = "1"  # lm-eval's and transformers' tqdm bars
    cfg = _config_from_args(args)
    if args.limit is not None:
        try:
            cfg.evaluate.limit = args.limit
        except ValueError as exc:
            raise ConfigError(f"evaluate.limit: {exc}") from None
    out = Path(args.output) if args.output else cfg.workdir_path / "evaluate" / Path(args.checkpoint).resolve().name
    try:
        results = evaluate_checkpoint(args.checkpoint, out, cfg.evaluate, cfg.workdir_path,
                                      progress=not args.no_progress)
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(format_results(results))
    print(f"results: {out / 'results.json'}")
    return 0


def _add_validate(sub) -> None:
    p = sub.add_parser(
        "validate", help="train the model at equal tokens on the blend and on cc_text alone, evaluate both",
        description="DeepSeekMath's corpus check at our scale: train.model (default: the tiny model) for "
        "validation.steps steps on <workdir>/megatron's blend and on validation.baseline_source alone, evaluate "
        "both (see `evaluate`), and write <workdir>/validate/results.json and loss_curves.png (shown by `report`).",
    )
    _add_config_args(p)
    p.set_defaults(func=cmd_validate)


def cmd_validate(args: argparse.Namespace) -> int:
    from training.validate import format_table, run_validation

    if args.no_progress:
        import os

        os.environ["TQDM_DISABLE"] = "1"
    cfg = _config_from_args(args)
    try:
        results = run_validation(cfg, progress=not args.no_progress)
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(format_table(results))
    print(f"results: {cfg.workdir_path / 'validate' / 'results.json'}")
    return 0


COMMANDS: list[Callable] = [_add_run, _add_synth, _add_synth_mixture, _add_extract, _add_dedup, _add_recall,
                            _add_decontam, _add_tokenize, _add_train, _add_evaluate, _add_validate, _add_scan,
                            _add_inspect, _add_show, _add_report]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mathcorpus",
        description="Build a DeepSeekMath-style math corpus from Common Crawl WARC files.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="<command>")
    sub.required = True
    for add in COMMANDS:
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    from pipeline.core.progress import set_bars

    set_bars(not getattr(args, "no_progress", False))
    from pipeline.core.executor import Executor
    from pipeline.core.io import WorkdirLocked

    try:
        # One executor per command: it starts Ray on the first units a command runs (never for the commands
        # that run none) and stops it when the command ends; `run` holds its own for the whole run.
        with Executor():
            return int(args.func(args) or 0)
    except (ConfigError, WorkdirLocked) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # a read-only or full disk, a failed output check: the first error, not a traceback
        if args.verbose or not isinstance(getattr(exc, "cause", exc), OSError):
            raise
        print(f"error: {describe_os_error(exc)} (run with -v for the traceback)", file=sys.stderr)
        return 1


def describe_os_error(exc: BaseException) -> str:
    """One line for a file-system error; errors raised in a Ray worker are shown as their cause."""
    import errno

    cause = getattr(exc, "cause", None)
    if isinstance(cause, OSError):
        exc = cause
    what = {errno.ENOSPC: "no space left on the device", errno.EROFS: "the file system is read-only",
            errno.EACCES: "permission denied", errno.EDQUOT: "disk quota exceeded"}.get(exc.errno or -1)
    where = f": {exc.filename}" if exc.filename else ""
    if what:
        return f"{what}{where}"
    first = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {first[0] if first else ''}"[:500]
