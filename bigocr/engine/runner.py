"""Where tasks run: one by one in this process, or on a Dask client (a local cluster or a remote one).

:func:`open_runner` connects (:mod:`bigocr.engine.cluster`), installs the
detector and the recognizer on the workers once, and yields a
:class:`Runner` whose :meth:`Runner.run` runs tiles and :meth:`Runner.read`
reads groups of words, calling back as each finishes.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
import uuid

from bigocr.engine.cluster import (SETTLE, TASK_RETRIES, ClusterWatch, check_resources, connect, install_detector, read_task,
                                   run_tile, run_tiles, scheduler_gone, tile_task)
from bigocr.errors import BigOCRError, ClusterError, SchedulerLost

__all__ = ["Runner", "open_runner", "progress_bar"]

log = logging.getLogger("bigocr")


class _Shipped:
    """A scan as its tasks get it: the scan itself (it reopens its file), or, when it holds its pixels decoded,
    a future of it scattered once (not pickled into every task) and scattered anew if a dying worker took
    its only copy."""

    #: Tries to scatter past workers that died a moment ago (the scheduler may still send data to them).
    TRIES = 4

    def __init__(self, client, scan):
        self.client, self.scan, self.future = client, scan, None

    def ref(self):
        if not self.scan.in_memory:
            return self.scan
        for attempt in range(self.TRIES):
            if self.future is not None and self.future.status == "finished":
                break
            try:
                self.future = self.client.scatter(self.scan, hash=False)
            except Exception as exc:
                if attempt == self.TRIES - 1 or scheduler_gone(self.client, exc, settle=SETTLE) or not (
                        isinstance(exc, OSError) or type(exc).__name__ == "CommClosedError"):
                    raise
                log.info("scattering %s met a worker that died (%s): again", self.scan.name, type(exc).__name__)
                time.sleep(1.0)
        return self.future


class Runner:
    """Runs tiles and reading groups: one by one in this process, or as tasks on a Dask client.

    On a cluster every task is submitted with ``retries=`` (:data:`TASK_RETRIES`), and one whose inputs died
    with a worker is sent again (:func:`~bigocr.engine.cluster.run_tiles`); :attr:`watch` keeps count.
    """

    def __init__(self, detector, client=None, plugin: str | None = None, resources: dict | None = None,
                 recognizer=None, reader: str | None = None, local: bool = False):
        self.local = local  # the in-process cluster (its workers are threads of this process)
        self.detector = detector
        self.client = client
        self.plugin = plugin
        self.resources = resources or None
        self.recognizer = recognizer
        self.reader = reader  # the recognizer's plugin on the workers
        self.watch = ClusterWatch(client)

    def _on_cluster(self, scan, kind: str, items, task, args, on_done, resources=None) -> list[dict]:
        """``task(scan, item, *args)`` for each of ``items`` on the cluster; a task that fails for good (its own
        data, again and again) fails the scan with one line naming it."""
        client, token, shipped = self.client, uuid.uuid4().hex[:12], _Shipped(self.client, scan)

        def submit(item, attempt):
            name = "-".join(map(str, item.index)) if isinstance(item.index, tuple) else item.index
            return client.submit(task, shipped.ref(), item, *args, key=f"bigocr-{kind}-{token}-{name}-{attempt}",
                                 pure=False, resources=resources, retries=TASK_RETRIES)

        try:
            return run_tiles(client, submit, items, on_done, resources, watch=self.watch)
        except (BigOCRError, KeyboardInterrupt):
            raise
        except Exception as exc:
            if scheduler_gone(client, exc, settle=SETTLE):
                self.watch.lost_scheduler = True
                raise SchedulerLost(f"the Dask scheduler was lost ({type(exc).__name__})") from None
            if self.local:  # this process's own threads: the error as it is (a bug, or the caller's callable)
                raise
            raise ClusterError(f"{scan.name}: a {kind} task failed {TASK_RETRIES + 1} times: "
                               f"{type(exc).__name__}: {exc}") from None

    def run(self, scan, tiles, maps, on_done) -> list[dict]:
        if self.client is None:
            reports = []
            for tile in tiles:
                reports.append(run_tile(scan, tile, self.detector, maps))
                on_done(reports[-1])
            return reports
        return self._on_cluster(scan, "tile", tiles, tile_task, (self.plugin, maps), on_done, self.resources)

    def read(self, scan, groups, on_done, lines: bool = False) -> None:
        """Read each group's words (``lines``: its lines); ``on_done(report)`` gets ``{"index", "readings",
        "seconds"}`` as each ends."""
        if self.client is None:
            from bigocr.recognizer.groups import read_group

            for group in groups:
                t0 = time.perf_counter()
                on_done({"index": group.index, "readings": read_group(scan, group, self.recognizer, lines),
                         "seconds": time.perf_counter() - t0})
            return
        self._on_cluster(scan, "read", groups, read_task, (self.reader, lines), on_done)


@contextlib.contextmanager
def open_runner(detector, scheduler, threads: int | None, resources: dict | None, recognizer=None):
    """A :class:`Runner` for ``scheduler``, with the detector (and recognizer) installed on the workers."""
    if scheduler == "synchronous":
        yield Runner(detector, recognizer=recognizer)
        return
    with connect(scheduler, threads) as (client, local):
        if local and resources:
            log.warning("--resources %s applies to a Dask cluster (--scheduler); the local cluster ignores it",
                        ",".join(f"{k}={v:g}" for k, v in resources.items()))
        if local:
            resources = None
        check_resources(client, resources)
        plugins = {}
        if detector is not None:
            plugins["detector"] = install_detector(client, detector, resources=resources)
        if recognizer is not None:
            plugins["recognizer"] = install_detector(client, recognizer, kind="recognizer")
        try:
            yield Runner(detector, client, plugins.get("detector"), resources, recognizer, plugins.get("recognizer"),
                         local=local)
        finally:
            for plugin in plugins.values() if not scheduler_gone(client) else ():
                with contextlib.suppress(Exception):
                    client.unregister_worker_plugin(plugin)


def progress_bar(total: int | None, enabled: bool, unit: str = "tile", position: int = 0):
    from tqdm import tqdm

    return tqdm(total=total, unit=unit, desc=f"{unit}s", file=sys.stderr, disable=not enabled, leave=False,
                position=position)
