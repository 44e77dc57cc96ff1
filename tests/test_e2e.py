"""The whole run: `python -m pipeline run` on a small mini-CC, then a rerun that resumes from markers."""
from __future__ import annotations

import json
import shutil
import subprocess

import pyarrow.dataset as ds
import pytest
from pipeline_runs import corpus_ids, run_pipeline

# full_run (tests/conftest.py): one unbroken run, session-scoped because the fault tests compare against it


def test_every_stage_completes_with_its_folder(full_run):
    workdir, res = full_run
    stages = ["minicc", "pool", "dedup", "rounds", "decontam", "corpus", "megatron", "report"]
    from pipeline.io import is_complete

    for stage in stages:
        assert is_complete(workdir / stage), stage  # the corpus keeps its marker in corpus/.meta/
    stats = json.loads((workdir / "run_stats.json").read_text())
    assert [s["stage"] for s in stats["stages"]] == stages
    assert all(s["status"] == "ran" for s in stats["stages"])
    by = {s["stage"]: s for s in stats["stages"]}
    # rows in and out chain from stage to stage
    assert by["pool"]["rows_in"] > by["pool"]["rows_out"] == by["dedup"]["rows_in"] > by["dedup"]["rows_out"]
    assert by["dedup"]["rows_out"] == by["rounds"]["rows_in"] > by["rounds"]["rows_out"] == by["decontam"]["rows_in"]
    assert by["decontam"]["rows_out"] == by["corpus"]["rows_out"] == len(corpus_ids(workdir))
    # the summary table: a line per stage with its status, seconds, rows in and rows out
    table = res.stdout[res.stdout.index("stage  "):].splitlines()
    assert table[0].split()[:6] == ["stage", "status", "seconds", "rows", "in", "rows"]
    for stage in stages:
        line = next(t for t in table if t.startswith(stage + " "))
        cells = line.split()
        assert cells[1] == "ran" and float(cells[2]) >= 0, line
        if by[stage]["rows_out"] is not None:
            assert f"{by[stage]['rows_out']:,}" in line, line
    assert table[-1].startswith("total") and "report:" in table[-1]
    assert "balanced" in next(t for t in table if t.startswith("report "))


def test_corpus_is_math_and_accounted_for(full_run):
    workdir, _ = full_run
    import pyarrow.parquet as pq

    manifest = json.loads((workdir / "corpus" / ".meta" / "manifest.json").read_text())
    ids = corpus_ids(workdir)
    assert manifest["rows"] == len(ids) == len(set(ids)) > 100
    truth = pq.read_table(workdir / "minicc" / "truth.parquet", columns=["warc_record_id", "is_math", "benchmark"])
    label = dict(zip(truth.column("warc_record_id").to_pylist(), truth.column("is_math").to_pylist()))
    bench = {r for r, b in zip(truth.column("warc_record_id").to_pylist(), truth.column("benchmark").to_pylist()) if b}
    rec = ds.dataset(sorted((workdir / "corpus").glob("part-*.parquet")), format="parquet").to_table(
        columns=["warc_record_id"]).column("warc_record_id").to_pylist()
    math_share = sum(bool(label.get(r)) for r in rec) / len(rec)
    assert math_share > 0.5, math_share
    assert not (set(rec) & bench), "pages quoting a benchmark must not reach the corpus"
    report = json.loads((workdir / "report" / "_SUCCESS").read_text())
    assert report["balanced"] is True


def test_report_renders_in_headless_chromium(full_run, tmp_path):
    workdir, _ = full_run
    index = workdir / "report" / "index.html"
    html = index.read_text()
    for png in ["stage_times.png", "funnel.png", "drop_reasons.png", "recall_rounds.png", "score_histogram.png",
                "top_domains.png", "dedup_clusters.png"]:
        assert (workdir / "report" / png).stat().st_size > 5000 and png in html
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    shot = tmp_path / "report.png"
    res = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                          "--disable-background-networking", "--disable-component-update", "--disable-sync",
                          f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1200,2400",
                          f"--screenshot={shot}", index.as_uri()], capture_output=True, text=True, timeout=120)
    assert shot.exists() and shot.stat().st_size > 20_000, res.stderr[-2000:]
    dom = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                          f"--user-data-dir={tmp_path / 'profile2'}", "--dump-dom", index.as_uri()],
                         capture_output=True, text=True, timeout=120).stdout
    assert "Accounting" in dom and "balanced" in dom and dom.count("<img") >= 7


def test_rerun_resumes_from_markers_without_changes(full_run, pipeline_env):
    workdir, _ = full_run
    before = corpus_ids(workdir)
    res = run_pipeline(workdir, env=pipeline_env)
    assert res.returncode == 0, res.stderr[-4000:]
    stats = json.loads((workdir / "run_stats.json").read_text())
    assert {s["stage"]: s["status"] for s in stats["stages"] if s["stage"] != "report"} == {
        s["stage"]: "cached" for s in stats["stages"] if s["stage"] != "report"}
    assert corpus_ids(workdir) == before
