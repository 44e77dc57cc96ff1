"""The workdir lock on an object store (``workdir: s3://bucket/run``), where there is no ``flock``.

The lock is an object, ``<workdir>/.run.lock``, naming its holder (pid, host, start time, a random token)
and a heartbeat the holder rewrites every ``stale_after / 4`` seconds from a background thread. A run
that finds the object takes it over when the heartbeat is older than ``stale_after`` seconds, or at once
when the holder is a process of this machine that no longer exists (a driver killed with SIGKILL leaves
its lock behind, as a killed ``flock`` holder does not); otherwise it stops with
:class:`pipeline.core.io.WorkdirLocked` naming the holder.

The limit: plain object stores have no compare-and-swap on a key, so taking the lock is "read, write
ours, read back": two drivers that start within the same moment on a free lock can both read their
own token back (the write of one landing between the other's write and read-back). Each heartbeat
reads the lock first; a holder whose token is gone has lost it, logs that, and interrupts its run
(``KeyboardInterrupt`` in the main thread), so two runs overlap for at most one heartbeat interval.
Stages stay safe under that overlap (units publish at final keys, markers last), only their work is
duplicated. Local workdirs use :func:`pipeline.core.io.workdir_lock`'s ``flock``, which has no such limit.
"""
from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
from contextlib import contextmanager
from typing import Iterator

from pipeline.core import storage

log = logging.getLogger(__name__)

#: seconds without a heartbeat after which a lock is taken over (config: ``lock_stale_seconds``)
DEFAULT_STALE_AFTER = 60.0


def _read(url: str) -> dict | None:
    try:
        raw = storage.read_bytes(url)
    except FileNotFoundError:
        return None
    try:
        holder = json.loads(raw or b"{}")
    except ValueError:
        return {}  # unreadable: treated as stale
    return holder if isinstance(holder, dict) else {}


def _holder_gone(holder: dict, stale_after: float) -> bool:
    if not holder:
        return True
    if time.time() - float(holder.get("heartbeat", 0)) > stale_after:
        return True
    if holder.get("host") == socket.gethostname() and isinstance(holder.get("pid"), int):
        try:
            os.kill(holder["pid"], 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
    return False


@contextmanager
def object_store_lock(workdir: str, lock_name: str, what: str = "run",
                      stale_after: float = DEFAULT_STALE_AFTER) -> Iterator[dict]:
    """Hold ``<workdir>/<lock_name>`` on an object store for one run (see the module's docstring)."""
    from pipeline.core.io import WorkdirLocked

    url = storage.join(workdir, lock_name)
    previous = _read(url)
    if previous is not None and not _holder_gone(previous, stale_after):
        age = time.time() - float(previous.get("heartbeat", 0))
        raise WorkdirLocked(
            f"{workdir} is in use by another {previous.get('what', 'run')}: pid {previous.get('pid', '?')} on "
            f"{previous.get('host', '?')}, started {previous.get('started', '?')}, last heartbeat {age:.0f}s ago "
            f"(lock object {url}; taken over after {stale_after:.0f}s without one); wait for it to finish or "
            "stop it, then rerun")
    me = {"pid": os.getpid(), "host": socket.gethostname(), "what": what, "token": uuid.uuid4().hex,
          "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "heartbeat": time.time()}

    def write() -> None:
        me["heartbeat"] = time.time()
        storage.write_bytes(url, json.dumps(me).encode())

    write()
    back = _read(url) or {}
    if back.get("token") != me["token"]:
        raise WorkdirLocked(f"{workdir}: another {back.get('what', 'run')} (pid {back.get('pid', '?')} on "
                            f"{back.get('host', '?')}) took the lock object {url} at the same moment; rerun later")
    stop = threading.Event()
    main = threading.main_thread()

    def beat() -> None:
        import _thread

        while not stop.wait(max(stale_after / 4, 0.5)):
            try:
                current = _read(url) or {}
                if current.get("token") != me["token"]:
                    log.error("lost the workdir lock %s to pid %s on %s: stopping this run", url,
                              current.get("pid", "?"), current.get("host", "?"))
                    if main.is_alive():
                        _thread.interrupt_main()
                    return
                write()
            except Exception as exc:  # a store hiccup: the next beat tries again, staleness allows several
                log.warning("workdir lock heartbeat failed (%s): %s", url, exc)

    thread = threading.Thread(target=beat, name="workdir-lock-heartbeat", daemon=True)
    thread.start()
    out = {k: me[k] for k in ("pid", "host", "what", "started")}
    out["taken_over"] = previous or None
    try:
        yield out
    finally:
        stop.set()
        thread.join(timeout=5)
        current = _read(url) or {}
        if current.get("token") == me["token"]:
            storage.remove(url)
