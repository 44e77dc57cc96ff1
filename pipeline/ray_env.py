"""One way for every stage to get a Ray runtime.

Under ``ray job submit`` (or with ``RAY_ADDRESS`` set) the driver joins that
cluster and uses its resources; otherwise it starts a local Ray limited to
``num_cpus``, bound to 127.0.0.1 only (GCS, raylet, workers, dashboard agent,
runtime-env agent: nothing listens on another interface), and shuts it down when
the driver exits, also on SIGTERM and SIGINT. Local heads run with
``RAY_AUTH_MODE=disabled``: Ray 2.60 turns on token auth after a local
``ray.init()``, which then breaks ``ray job submit`` against it; being reachable
from this machine only is what keeps them closed (see the README for a cluster
with token auth).
"""
from __future__ import annotations

import logging
import os
from typing import Any, Callable, Iterator

log = logging.getLogger(__name__)


#: Ray's switch for single-machine mode: off, every Ray process binds to 127.0.0.1 (as Ray does on macOS).
_LOOPBACK_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


def loopback_only() -> None:
    """Make the next local ``ray.init()`` bind every Ray process to 127.0.0.1 (read by Ray at start-up; the
    processes it spawns inherit the variable)."""
    import sys

    os.environ[_LOOPBACK_ENV] = "0"
    constants = sys.modules.get("ray._private.ray_constants")
    if constants is not None:  # ray already imported: it read the variable then
        constants.ENABLE_RAY_CLUSTER = False


def _shutdown_on_signals() -> None:
    """SIGTERM and SIGINT end the driver through its ``finally`` blocks (Ray shut down there and at exit)."""
    import atexit
    import signal
    import threading

    import ray

    atexit.register(ray.shutdown)
    if threading.current_thread() is not threading.main_thread():
        return

    def _exit(signum, frame):
        signal.signal(signum, signal.SIG_DFL)  # a second signal ends at once
        raise SystemExit(128 + signum)

    for sig in (signal.SIGTERM, signal.SIGINT):
        if signal.getsignal(sig) in (signal.SIG_DFL, signal.default_int_handler):
            signal.signal(sig, _exit)


def ensure_ray(num_cpus: int | None = None) -> bool:
    """Initialise Ray if it is not yet; return True if this call started it."""
    import ray

    if ray.is_initialized():
        return False
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    if os.environ.get("RAY_ADDRESS"):
        ray.init(address=os.environ["RAY_ADDRESS"], log_to_driver=False)
        log.info("joined Ray cluster at %s (%s CPUs)", os.environ["RAY_ADDRESS"],
                 ray.cluster_resources().get("CPU"))
    else:
        loopback_only()
        ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False)
        _shutdown_on_signals()
        log.info("started local Ray on 127.0.0.1 with %s CPUs", ray.cluster_resources().get("CPU"))
    return True


def map_on_actors(actors: list, call: Callable[[Any, Any], Any], jobs: list, *,
                  new_actor: Callable[[], Any] | None = None, max_replacements: int = 0,
                  on_replace: Callable[[Any, BaseException], None] | None = None,
                  ) -> Iterator[tuple[Any, Any, BaseException | None]]:
    """Run ``call(actor, job)`` (it returns an ObjectRef) for every job, one job in flight per actor; yield
    ``(job, result, None)`` or ``(job, None, error)`` in the order jobs finish. Kills every actor at the end.

    Ray's ``ActorPool`` raises on a failed call without saying which job it was, and cannot replace a dead
    actor; stages need both. With ``new_actor``, an actor whose process died (``RayActorError``) is
    replaced and its job run again, up to ``max_replacements`` times per job (jobs must be safe to rerun:
    stage outputs are written atomically, markers last), after ``on_replace(job, error)``. Otherwise the failure is yielded for that job and
    the actor stays in the pool (Ray's own ``max_restarts`` may have brought it back).
    """
    import ray
    from ray.exceptions import RayActorError

    idle = list(actors)
    queue = list(range(len(jobs)))
    replaced: dict[int, int] = {}
    in_flight: dict = {}
    try:
        while queue or in_flight:
            while queue and idle:
                actor, i = idle.pop(), queue.pop(0)
                in_flight[call(actor, jobs[i])] = (actor, i)
            [ref], _ = ray.wait(list(in_flight), num_returns=1)
            actor, i = in_flight.pop(ref)
            try:
                result = ray.get(ref)
            except RayActorError as exc:
                if new_actor is not None and replaced.get(i, 0) < max_replacements:
                    replaced[i] = replaced.get(i, 0) + 1
                    if on_replace is not None:
                        on_replace(jobs[i], exc)
                    ray.kill(actor)  # dead already, or unreachable: never used again either way
                    idle.append(new_actor())
                    queue.insert(0, i)
                    continue
                idle.append(actor)
                yield jobs[i], None, exc
                continue
            except Exception as exc:  # the call raised: the actor itself is fine
                idle.append(actor)
                yield jobs[i], None, exc
                continue
            idle.append(actor)
            yield jobs[i], result, None
    finally:
        for a in idle + [a for a, _ in in_flight.values()]:
            ray.kill(a)
