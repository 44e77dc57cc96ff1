"""The one front door: ``python -m pipeline <command>`` (console script ``mathcorpus``).

Each command is a small function that parses its own flags; ``COMMANDS`` lists
them in the order ``--help`` shows.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any, Callable

from pipeline.config import ConfigError, load_config

log = logging.getLogger("pipeline")


def _parse_override(text: str) -> tuple[str, Any]:
    import yaml

    if "=" not in text:
        raise argparse.ArgumentTypeError(f"--set takes KEY=VALUE, got {text!r}")
    key, value = text.split("=", 1)
    return key.strip(), yaml.safe_load(value)


def _add_config_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", "-c", default=None, help="YAML config file (default: built-in defaults)")
    p.add_argument(
        "--set", dest="overrides", action="append", default=[], type=_parse_override, metavar="KEY=VALUE",
        help="override one config value, e.g. --set synth.pages=2000 (repeatable)",
    )


def _config_from_args(args: argparse.Namespace):
    return load_config(args.config, dict(args.overrides))


# --- synth -------------------------------------------------------------------

def _add_synth(sub) -> None:
    p = sub.add_parser(
        "synth", help="write the labelled mini Common Crawl (WARCs, truth, seed, benchmarks)",
        description="Write a deterministic, labelled mini Common Crawl: CC-style WARC files, truth.parquet, "
        "an OpenWebMath-format seed and small benchmark files. Same seed and size, same bytes.",
    )
    _add_config_args(p)
    p.add_argument("--out", required=True, help="output folder (created)")
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
    stats = generate_minicc(cfg.synth, Path(args.out), force=args.force, progress=True)
    print(json.dumps(stats, indent=2, sort_keys=True))
    return 0


# --- scan ---------------------------------------------------------------------

def _add_scan(sub) -> None:
    p = sub.add_parser(
        "scan", help="read WARC files and count their records by type (no extraction)",
        description="Stream WARC files with warcio and account for every record: counts by WARC-Type, "
        "HTTP status and content type, plus any file that failed and why. Exit status 1 if any input failed.",
    )
    p.add_argument("inputs", nargs="+", help="WARC files or globs")
    p.add_argument("--json", action="store_true", help="print one JSON object per file")
    p.set_defaults(func=cmd_scan)


def cmd_scan(args: argparse.Namespace) -> int:
    from pipeline.warc import expand_inputs, scan_warc

    failed = 0
    for path in expand_inputs(args.inputs):
        s = scan_warc(path)
        failed += s.error is not None
        if args.json:
            print(json.dumps(s.as_dict(), sort_keys=True))
        else:
            types = ", ".join(f"{k}={v}" for k, v in sorted(s.by_type.items()))
            err = f"  FAILED: {s.error}" if s.error else ""
            print(f"{path}: {s.records} records ({types}){err}")
    return 1 if failed else 0


# --- run ----------------------------------------------------------------------

def _add_run(sub) -> None:
    p = sub.add_parser(
        "run", help="run every stage on the configured input, skipping completed work",
        description="Run the pipeline under the config's workdir. Each stage writes its own sub-folder with a "
        "completion marker, so a rerun resumes where the last one stopped.",
    )
    _add_config_args(p)
    p.set_defaults(func=cmd_run)


def cmd_run(args: argparse.Namespace) -> int:
    from pipeline.run import run_pipeline

    cfg = _config_from_args(args)
    return run_pipeline(cfg)


# --- synth-mixture -------------------------------------------------------------

def _add_synth_mixture(sub) -> None:
    p = sub.add_parser(
        "synth-mixture", help="write small stand-ins for the other training sources (code, web text)",
        description="Write DIR/code.jsonl and DIR/cc_text.jsonl: deterministic stand-ins for the GitHub code and "
        "Common Crawl text of DeepSeekMath's training mix, so the blend runs end to end without downloads.",
    )
    p.add_argument("--out", required=True, help="output folder (created)")
    p.add_argument("--docs", type=int, default=3000, help="documents per source")
    p.add_argument("--seed", type=int, default=20240205)
    p.add_argument("--force", action="store_true", help="rewrite even if OUT is already complete")
    p.set_defaults(func=cmd_synth_mixture)


def cmd_synth_mixture(args: argparse.Namespace) -> int:
    from pipeline.synth.mixture import generate_mixture_standins

    print(json.dumps(generate_mixture_standins(args.out, args.docs, args.seed, args.force), indent=2))
    return 0


# --- tokenize ------------------------------------------------------------------

def _add_corpus_arg(p: argparse.ArgumentParser, help_text: str) -> None:
    p.add_argument("--corpus", nargs="+", default=None, metavar="PATH", help=help_text)


def _add_tokenize(sub) -> None:
    p = sub.add_parser(
        "tokenize", help="tokenise the corpus and the other mixture sources into Megatron .bin/.idx files",
        description="Tokenise every mixture source into <workdir>/megatron/<source>_text_document.{bin,idx} "
        "(Ray, deterministic), train the default BPE tokenizer first if none is configured, and write the "
        "Megatron --data-path blend and a pretrain_gpt.py launch script. Skips the work if megatron/ is complete.",
    )
    _add_config_args(p)
    _add_corpus_arg(p, "tokenise these Parquet/jsonl files or folders as the math corpus (default: <workdir>/corpus)")
    p.add_argument("--force", action="store_true", help="redo even if megatron/ is complete")
    p.set_defaults(func=cmd_tokenize)


def cmd_tokenize(args: argparse.Namespace) -> int:
    import shutil

    from pipeline.io import is_complete, read_marker
    from training.mixture import build_megatron

    cfg = _config_from_args(args)
    folder = cfg.workdir_path / "megatron"
    if args.force and folder.exists():
        shutil.rmtree(folder)
    stats = read_marker(folder) if is_complete(folder) else build_megatron(cfg, folder, args.corpus)
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
    from pipeline.io import is_complete
    from pipeline.run import corpus_files
    from training.mixture import build_megatron
    from training.trainer import train

    cfg = _config_from_args(args)
    folder = cfg.workdir_path / "megatron"
    if not is_complete(folder):
        if args.corpus is None and not corpus_files(cfg.workdir_path / "corpus"):
            print(f"error: no corpus at {cfg.workdir_path / 'corpus'} and no tokenised data in {folder}: run the "
                  "pipeline (make corpus) first, or pass --corpus PATH (Parquet or jsonl with a text field, e.g. "
                  f"{cfg.workdir_path / 'minicc/seed/openwebmath.jsonl'})", file=sys.stderr)
            return 2
        build_megatron(cfg, folder, args.corpus)
    metrics = train(cfg, stop_after=args.stop_after)
    print(json.dumps(metrics, indent=2, sort_keys=True))
    return 0


COMMANDS: list[Callable] = [_add_run, _add_synth, _add_synth_mixture, _add_scan, _add_tokenize, _add_train]


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
    try:
        return int(args.func(args) or 0)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
