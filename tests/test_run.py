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
            "--until", "minicc", "--no-progress"]
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


def test_temporaries_of_killed_processes_are_swept(tmp_path):
    from pipeline.io import sweep_stale_temps

    (tmp_path / "scores").mkdir()
    (tmp_path / "scores" / ".part-0.parquet.tmp-4242").write_bytes(b"x" * 100)  # atomic_path's name
    (tmp_path / ".model.bin.tmp-17").write_bytes(b"x" * 1000)
    (tmp_path / "math_text_document.tmp-99.bin").write_bytes(b"x" * 10)  # the Megatron merge's
    (tmp_path / ".parts.tmp-5").mkdir()
    (tmp_path / ".parts.tmp-5" / "a").write_bytes(b"x" * 7)
    keep = [tmp_path / "scores" / "part-0.parquet", tmp_path / "model.bin", tmp_path / "notes.tmp-draft",
            tmp_path / "_SUCCESS"]
    for p in keep:
        p.write_text("kept")
    assert sweep_stale_temps(tmp_path) == (4, 1117)
    assert sorted(p for p in tmp_path.rglob("*") if p.is_file()) == sorted(keep)
    assert sweep_stale_temps(tmp_path / "missing") == (0, 0)


def test_a_failing_stage_is_recorded_and_the_summary_printed(tmp_path, monkeypatch, capsys):
    import pytest

    import pipeline.run as run
    from pipeline.config import load_config

    def ok(cfg, folder):
        folder.mkdir(parents=True, exist_ok=True)
        from pipeline.io import mark_complete

        mark_complete(folder, {"response_records": 10})
        return {"response_records": 10}

    def boom(cfg, folder):
        assert not list(folder.glob(".*.tmp-*"))  # a killed attempt's temporaries are gone before it starts
        raise RuntimeError("disk full")

    (tmp_path / "pool").mkdir()
    (tmp_path / "pool" / ".pages.parquet.tmp-123").write_text("half")
    monkeypatch.setattr(run, "STAGES", [run.Stage("minicc", ok, uses_ray=False),
                                        run.Stage("pool", boom, uses_ray=False)])
    cfg = load_config(None, {"workdir": str(tmp_path)})
    with pytest.raises(RuntimeError, match="disk full"):
        run.run_pipeline(cfg)
    stats = json.loads((tmp_path / "run_stats.json").read_text())["stages"]
    assert [(s["stage"], s["status"], s["rows_out"]) for s in stats] == [("minicc", "ran", 10),
                                                                          ("pool", "failed", None)]
    assert stats[1]["stats"]["error"] == "RuntimeError: disk full"
    out = capsys.readouterr().out
    assert "rows in" in out and "FAILED: RuntimeError: disk full" in out
    with pytest.raises(RuntimeError):
        run.run_pipeline(cfg)  # the rerun skips the finished stage
    assert json.loads((tmp_path / "run_stats.json").read_text())["stages"][0]["status"] == "cached"
