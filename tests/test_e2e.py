"""The whole run: `python -m pipeline run` on a small mini-CC, then a rerun that resumes from markers."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.dataset as ds
import pytest
from pipeline_runs import REPO, corpus_ids, run_pipeline

# full_run (tests/conftest.py): one unbroken run, session-scoped because the fault tests compare against it


def test_every_stage_completes_with_its_folder(full_run):
    workdir, res = full_run
    stages = ["minicc", "pool", "dedup", "rounds", "decontam", "corpus", "megatron", "report"]
    from pipeline.core.io import is_complete

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


REPORT_PLOTS = ["stage_times.png", "funnel.png", "drop_reasons.png", "tokens_by_language.png", "tokens_by_source.png",
                "doc_lengths.png", "score_histogram.png", "recall_rounds.png", "heldout.png", "math_survival.png",
                "top_domains.png", "dedup_clusters.png", "decontam_hits.png", "megatron_blend.png"]


def _chromium_dom(page: Path, profile: Path) -> str:
    """The page's DOM after load in headless Chromium (skips where Debian's chromium is not installed)."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    res = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                          "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
                          "--virtual-time-budget=10000", "--dump-dom", page.as_uri()],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    return res.stdout


def _every_image_loaded(dom: str) -> int:
    """The page's own load check (<html data-images="loaded/total">): every <img> decoded."""
    m = re.search(r'data-images="(\d+)/(\d+)"', dom)
    assert m, "the page's image check did not run"
    assert m.group(1) == m.group(2), f"only {m.group(1)} of {m.group(2)} images loaded"
    return int(m.group(2))


def test_report_shows_what_a_corpus_builder_checks_first(full_run, tmp_path):
    workdir, _ = full_run
    index = workdir / "report" / "index.html"
    page = index.read_text()
    for png in REPORT_PLOTS:
        assert (workdir / "report" / png).stat().st_size > 5000 and png in page, png
    # each plot has a one-line reading from its numbers
    assert re.search(r"Median document [\d,]+ tokens, 90% under [\d,]+", page)
    assert "at or above the threshold 0.5" in page and "% of pages with math markup keep" in page
    assert re.search(r"pages removed across \d+ benchmarks", page)
    assert "Held-out classifier metrics per round" in page and "--data-path" in page
    assert page.count("<div class='doc'>") == 5 and "<code class='tex'>" in page  # random samples, TeX marked
    assert "the config that ran" in page and "threshold: 0.5" in page
    dom = _chromium_dom(index, tmp_path / "profile")
    assert "Accounting" in dom and "balanced" in dom
    assert _every_image_loaded(dom) == len(REPORT_PLOTS)


def test_report_compare_puts_two_runs_side_by_side(full_run, pipeline_env, tmp_path):
    """What a user does after changing a threshold: rerun from recall, then compare with the first run."""
    workdir, _ = full_run
    other = tmp_path / "strict"
    shutil.copytree(workdir, other, ignore=shutil.ignore_patterns("rounds", "decontam", "corpus", "megatron",
                                                                  "report"))
    res = run_pipeline(other, "--set", "recall.threshold=0.9", "--until", "corpus", env=pipeline_env)
    assert res.returncode == 0, res.stderr[-4000:]
    res = subprocess.run([sys.executable, "-m", "pipeline", "report", "--input", str(other), "--compare",
                          str(workdir), "--no-progress"], capture_output=True, text=True, cwd=REPO)
    assert res.returncode == 0, res.stderr[-3000:]
    page = (other / "report" / "compare.html").read_text()
    assert "recall.threshold" in page and "<td class='n'>0.9</td>" in page and "<td class='n'>0.5</td>" in page
    assert "corpus pages" in page and "math share of the corpus (truth)" in page
    dom = _chromium_dom(other / "report" / "compare.html", tmp_path / "profile")
    assert _every_image_loaded(dom) == 4


def test_rerun_resumes_from_markers_without_changes(full_run, pipeline_env):
    workdir, _ = full_run
    before = corpus_ids(workdir)
    res = run_pipeline(workdir, env=pipeline_env)
    assert res.returncode == 0, res.stderr[-4000:]
    stats = json.loads((workdir / "run_stats.json").read_text())
    assert {s["stage"]: s["status"] for s in stats["stages"] if s["stage"] != "report"} == {
        s["stage"]: "cached" for s in stats["stages"] if s["stage"] != "report"}
    assert corpus_ids(workdir) == before
