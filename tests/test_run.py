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


def dead_pids(n: int) -> list[int]:
    """Process ids of processes that have exited (and were reaped)."""
    out = []
    for _ in range(n):
        proc = subprocess.Popen(["true"])
        proc.wait()
        out.append(proc.pid)
    return out


def test_temporaries_of_killed_processes_are_swept(tmp_path):
    from pipeline.core.io import sweep_stale_temps

    a, b, c, d = dead_pids(4)
    live = subprocess.Popen(["sleep", "60"])  # another run's writer, still writing: its file stays
    try:
        (tmp_path / "scores").mkdir()
        (tmp_path / "scores" / f".part-0.parquet.tmp-{a}").write_bytes(b"x" * 100)  # atomic_path's name
        (tmp_path / f".model.bin.tmp-{b}").write_bytes(b"x" * 1000)
        (tmp_path / f"math_text_document.tmp-{c}.bin").write_bytes(b"x" * 10)  # the Megatron merge's
        (tmp_path / f".parts.tmp-{d}").mkdir()
        (tmp_path / f".parts.tmp-{d}" / "a").write_bytes(b"x" * 7)
        keep = [tmp_path / "scores" / "part-0.parquet", tmp_path / "model.bin", tmp_path / "notes.tmp-draft",
                tmp_path / "_SUCCESS", tmp_path / f".pages.parquet.tmp-{live.pid}"]
        for p in keep:
            p.write_text("kept")
        assert sweep_stale_temps(tmp_path) == (4, 1117)
        assert sorted(p for p in tmp_path.rglob("*") if p.is_file()) == sorted(keep)
    finally:
        live.kill()
        live.wait()
    assert sweep_stale_temps(tmp_path) == (1, 4)  # its writer is gone now
    assert sweep_stale_temps(tmp_path / "missing") == (0, 0)


def test_a_failing_stage_is_recorded_and_the_summary_printed(tmp_path, monkeypatch, capsys):
    import pytest

    import pipeline.run as run
    from pipeline.core.config import load_config

    from pipeline.core.stats import StageStats

    def ok(ctx):
        from pipeline.core.io import mark_complete

        stats = StageStats("minicc", rows_out=10, notes="ten pages")
        mark_complete(ctx.folder, stats.to_dict())
        return stats

    def boom(ctx):
        assert ctx.inputs == {"minicc": str(tmp_path / "minicc")}  # what the stage list declares it reads
        assert not list(Path(ctx.folder).glob(".*.tmp-*"))  # a killed attempt's temporaries are gone first
        raise RuntimeError("disk full")

    (tmp_path / "pool").mkdir()
    (tmp_path / "pool" / f".pages.parquet.tmp-{dead_pids(1)[0]}").write_text("half")
    monkeypatch.setattr(run, "STAGES", [run.Stage("minicc", ok), run.Stage("pool", boom, reads=("minicc",))])
    cfg = load_config(None, {"workdir": str(tmp_path)})
    with pytest.raises(RuntimeError, match="disk full"):
        run.run_pipeline(cfg)
    stats = json.loads((tmp_path / "run_stats.json").read_text())["stages"]
    assert [(s["stage"], s["status"], s["rows_out"]) for s in stats] == [("minicc", "ran", 10),
                                                                          ("pool", "failed", None)]
    assert stats[1]["error"] == "RuntimeError: disk full" and stats[0]["notes"] == "ten pages"
    out = capsys.readouterr().out
    assert "rows in" in out and "FAILED: RuntimeError: disk full" in out
    with pytest.raises(RuntimeError):
        run.run_pipeline(cfg)  # the rerun skips the finished stage
    assert json.loads((tmp_path / "run_stats.json").read_text())["stages"][0]["status"] == "cached"


def test_one_run_per_workdir_and_a_dead_runs_lock_is_taken_over(tmp_path):
    """A second run on a workdir in use stops with a clear error naming the holder; once the holder is gone
    (killed: the kernel drops its lock) the next run takes the lock over."""
    import os
    import signal
    import time

    from pipeline.core.io import LOCK_FILE, WorkdirLocked, workdir_lock

    workdir = tmp_path / "out"
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from pipeline.core.io import workdir_lock\n"
        f"with workdir_lock({str(workdir)!r}):\n    print('locked', flush=True); time.sleep(120)")],
        cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        args = [sys.executable, "-m", "pipeline", "run", "--set", f"workdir={workdir}", "--until", "minicc"]
        second = subprocess.run(args, capture_output=True, text=True, cwd=REPO)
        assert second.returncode == 2 and "Traceback" not in second.stderr
        assert f"in use by another run: pid {holder.pid} on" in second.stderr and LOCK_FILE in second.stderr
        assert not (workdir / "minicc").exists()  # the second run did nothing
        try:
            with workdir_lock(workdir):
                raise AssertionError("a second lock was granted")
        except WorkdirLocked:
            pass
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
    t0 = time.monotonic()
    with workdir_lock(workdir) as me:
        assert me["taken_over"]["pid"] == holder.pid and me["pid"] == os.getpid()
        assert json.loads((workdir / LOCK_FILE).read_text())["pid"] == os.getpid()
    assert time.monotonic() - t0 < 5
    assert (workdir / LOCK_FILE).read_text() == ""  # released


def test_a_read_only_workdir_is_one_clear_error(tmp_path):
    import os

    if os.geteuid() == 0:
        ro = tmp_path / "ro"
        ro.mkdir()
        if subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(ro)],
                          capture_output=True).returncode:
            import pytest

            pytest.skip("cannot mount a read-only tmpfs")
        workdir = ro / "out"
    else:
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o555)
        workdir = ro / "out"
    try:
        out = subprocess.run([sys.executable, "-m", "pipeline", "run", "--set", f"workdir={workdir}", "--until",
                              "minicc"], capture_output=True, text=True, cwd=REPO)
    finally:
        if os.geteuid() == 0:
            subprocess.run(["umount", str(ro)], check=True)
    assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr
    assert "read-only" in out.stderr or "permission denied" in out.stderr
    assert str(workdir) in out.stderr


def test_a_url_workdirs_lock_object_is_held_taken_over_when_its_holder_died_and_lost_to_a_newer_holder():
    """On an object store (here fsspec's memory://) the lock is an object with a heartbeat: a second run stops
    naming the holder; a lock left by a dead process of this host is taken over at once; a holder whose lock
    object names another holder stops its run."""
    import socket
    import time

    import pytest

    from pipeline.core import storage
    from pipeline.core.io import LOCK_FILE, WorkdirLocked, workdir_lock

    workdir = "memory://locks/run"
    url = f"{workdir}/{LOCK_FILE}"
    with workdir_lock(workdir, stale_after=60) as me:
        assert me["taken_over"] is None and json.loads(storage.read_bytes(url))["pid"] == me["pid"]
        with pytest.raises(WorkdirLocked, match="in use by another run: pid"):
            with workdir_lock(workdir, stale_after=60):
                pass
    assert not storage.exists(url)  # released
    dead = dead_pids(1)[0]
    storage.write_bytes(url, json.dumps({"pid": dead, "host": socket.gethostname(), "token": "x",
                                         "heartbeat": time.time(), "started": "earlier"}).encode())
    with workdir_lock(workdir, stale_after=60) as me:
        assert me["taken_over"]["pid"] == dead
    storage.write_bytes(url, json.dumps({"pid": 1, "host": "elsewhere", "token": "y",
                                         "heartbeat": time.time() - 120}).encode())  # stale: no heartbeat for 2 min
    with pytest.raises(KeyboardInterrupt):
        with workdir_lock(workdir, stale_after=2) as me:
            assert me["taken_over"]["host"] == "elsewhere"
            storage.write_bytes(url, json.dumps({"pid": 1, "host": "elsewhere", "token": "z",
                                                 "heartbeat": time.time()}).encode())  # another run took it
            time.sleep(5)  # the next heartbeat finds it and interrupts this run
    assert json.loads(storage.read_bytes(url))["token"] == "z"  # the newer holder's lock stays
