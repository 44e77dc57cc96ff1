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
