"""`python -m pipeline run`: stages under one workdir, skipped once complete."""
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_run_builds_minicc_then_resumes_from_markers(tmp_path):
    args = [sys.executable, "-m", "pipeline", "run", "--config", str(REPO / "configs" / "default.yaml"),
            "--set", f"workdir={tmp_path / 'out'}", "--set", "synth.pages=120", "--set", "synth.seed_docs=10",
            "--set", "synth.domains=40", "--set", "synth.math_domains=4", "--set", "synth.records_per_warc=50",
            "--until", "minicc"]
    first = subprocess.run(args, capture_output=True, text=True, cwd=REPO)
    assert first.returncode == 0, first.stderr
    stats = json.loads((tmp_path / "out" / "run_stats.json").read_text())
    assert stats["stages"][0]["stage"] == "minicc" and stats["stages"][0]["status"] == "ran"
    assert (tmp_path / "out" / "minicc" / "_SUCCESS").exists()
    before = (tmp_path / "out" / "minicc" / "truth.parquet").stat().st_mtime_ns
    second = subprocess.run(args, capture_output=True, text=True, cwd=REPO)
    assert second.returncode == 0, second.stderr
    stats = json.loads((tmp_path / "out" / "run_stats.json").read_text())
    assert stats["stages"][0]["status"] == "cached"
    assert (tmp_path / "out" / "minicc" / "truth.parquet").stat().st_mtime_ns == before


def test_run_rejects_a_bad_config_naming_the_key(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("synth:\n  pages: -5\n")
    out = subprocess.run([sys.executable, "-m", "pipeline", "run", "--config", str(bad)], capture_output=True,
                         text=True, cwd=REPO)
    assert out.returncode == 2 and "synth.pages" in out.stderr


def test_until_names_an_unknown_stage(tmp_path):
    out = subprocess.run([sys.executable, "-m", "pipeline", "run", "--set", f"workdir={tmp_path}", "--until", "poool"],
                         capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 2 and "unknown stage 'poool'" in out.stderr
