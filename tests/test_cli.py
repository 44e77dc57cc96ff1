"""One CLI vocabulary, `inspect` on every stage folder of a real run, and `show ID` back to the WARC bytes."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow.dataset as ds
import pytest
from pipeline_runs import REPO

from pipeline.cli import build_parser

COMMANDS = ["run", "synth", "synth-mixture", "extract", "dedup", "recall", "decontam", "tokenize", "train", "scan",
            "inspect", "show", "report"]


def _cli(*args: str, ok: bool = True) -> subprocess.CompletedProcess:
    res = subprocess.run([sys.executable, "-m", "pipeline", *args], capture_output=True, text=True, cwd=REPO)
    if ok:
        assert res.returncode == 0, res.stderr[-3000:]
    return res


def _sub(command: str):
    parser = build_parser()
    return next(a for a in parser._actions if a.dest == "command").choices[command]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_takes_config_set_and_no_progress(command):
    flags = {a for act in _sub(command)._actions for a in act.option_strings}
    assert {"--config", "--set", "--no-progress"} <= flags, command
    if command not in ("synth", "synth-mixture"):  # the generators have nothing to read
        assert "--input" in flags, command
    if command not in ("scan", "inspect", "show", "train"):  # these print, they write no folder
        assert "--output" in flags, command


def test_old_spellings_still_parse_and_mean_the_same():
    parser = build_parser()
    pairs = [
        (["dedup", "a.parquet", "b", "--out", "o"], ["dedup", "--input", "a.parquet", "b", "--output", "o"]),
        (["recall", "--pool", "p", "--out", "o"], ["recall", "--input", "p", "--output", "o"]),
        (["decontam", "--input", "p", "--out", "o"], ["decontam", "-i", "p", "-o", "o"]),
        (["tokenize", "--corpus", "c1", "c2"], ["tokenize", "--input", "c1", "c2"]),
        (["train", "--corpus", "c"], ["train", "--input", "c"]),
        (["inspect", "out/pool"], ["inspect", "--input", "out/pool"]),
        (["synth", "--out", "m"], ["synth", "--output", "m"]),
    ]
    from pipeline.cli import _inputs

    for old, new in pairs:
        a, b = parser.parse_args(old), parser.parse_args(new)
        assert (_inputs(a), a.output if "output" in a else None) == (_inputs(b), b.output if "output" in b else None)
    assert parser.parse_args(["train", "--no-progress"]).no_progress  # rejected before issue 16


@pytest.mark.parametrize("stage", ["pool", "dedup", "rounds", "decontam", "corpus"])
def test_inspect_takes_every_stage_folder(full_run, stage):
    workdir, _ = full_run
    js = json.loads(_cli("inspect", "--input", str(workdir / stage), "--json", "--samples", "4", "--seed", "1").stdout)
    assert js["stage"] == stage and js["rows"] > 50 and len(js["samples"]) == 4
    assert isinstance(js["by_lang"], dict) and isinstance(js["top_domains"], dict)
    assert all(isinstance(s, dict) and s["id"] and "text" in s for s in js["samples"])
    # tokens are the run's BPE tokens (megatron/tokenizer), as Megatron counts them, not words
    assert js["token_unit"].startswith("tokens (") and "megatron/tokenizer" in js["token_unit"]
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(workdir / "megatron" / "tokenizer" / "tokenizer.json"))
    for s in js["samples"]:
        assert s["tokens"] == len(tok.encode(s["text"], add_special_tokens=False).ids)
    if stage == "corpus":
        megatron = json.loads((workdir / "megatron" / "_SUCCESS").read_text())["sources"]["math_corpus"]
        eods = megatron["docs"]  # Megatron appends one end-of-document token to each document
        assert js["tokens"] == megatron["tokens"] - eods, (js["tokens"], megatron)


def test_corpus_rows_trace_to_their_warc_bytes_and_show_prints_them(full_run):
    workdir, _ = full_run
    files = sorted((workdir / "corpus").glob("part-*.parquet"))
    rows = ds.dataset(files, format="parquet").to_table(
        columns=["id", "url", "text", "warc_path", "warc_offset", "warc_length", "warc_record_id"]).to_pylist()
    for r in rows:  # an absolute path that opens from anywhere, not one relative to where the job ran
        assert Path(r["warc_path"]).is_absolute() and Path(r["warc_path"]).exists(), r["warc_path"]
        assert r["warc_offset"] >= 0 and r["warc_length"] > 0
    row = rows[len(rows) // 2]
    out = _cli("show", row["id"], "--config", str(REPO / "configs" / "default.yaml"), "--set",
               f"workdir={workdir}").stdout
    assert f"WARC-Record-ID: {row['warc_record_id']}" in out and "WARC-Type: response" in out
    assert f"WARC-Target-URI: {row['url']}" in out or row["url"] in out
    assert "--- HTTP headers ---" in out and "HTTP/1.1 200" in out
    assert out.rstrip().endswith(row["text"].rstrip()[-200:])
    html = _cli("show", row["id"], "--input", str(workdir), "--html").stdout
    assert "--- HTTP payload ---" in html and "<html" in html.lower()
    missing = _cli("show", "0000000000000000", "--input", str(workdir), ok=False)
    assert missing.returncode == 2 and "no row with id 0000000000000000" in missing.stderr


def test_the_run_corpus_folder_is_read_whole_as_issue_16_tried_it(full_run):
    """The commands that failed on a run's corpus folder: pyarrow and duckdb on the folder, no glob."""
    import duckdb
    import pyarrow.parquet as pq

    workdir, _ = full_run
    folder = workdir / "corpus"
    manifest = json.loads((folder / ".meta" / "manifest.json").read_text())
    table = pq.read_table(folder)
    assert table.num_rows == manifest["rows"] and "warc_offset" in table.schema.names
    con = duckdb.connect()
    for source in (f"{folder}/*", str(folder)):
        assert con.execute(f"select count(*) from read_parquet('{source}')").fetchone()[0] == manifest["rows"]
    size = manifest["row_group_rows"]
    for f in manifest["files"]:
        meta = pq.ParquetFile(folder / f["file"]).metadata
        groups = [meta.row_group(g).num_rows for g in range(meta.num_row_groups)]
        assert all(n == size for n in groups[:-1]) and 0 < groups[-1] <= size, groups
