"""One way for every stage to get a Ray runtime.

Under ``ray job submit`` (or with ``RAY_ADDRESS`` set) the driver joins that
cluster and uses its resources; otherwise it starts an in-process local Ray
limited to ``num_cpus``. Local heads run with ``RAY_AUTH_MODE=disabled``: Ray
2.60 turns on token auth after a local ``ray.init()``, which then breaks
``ray job submit`` against it.
"""
from __future__ import annotations

import logging
import os
from typing import Any, Callable, Iterator

log = logging.getLogger(__name__)


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
        ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False)
        log.info("started local Ray with %s CPUs", ray.cluster_resources().get("CPU"))
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
