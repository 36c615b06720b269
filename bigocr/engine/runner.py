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

from bigocr.engine.cluster import check_resources, connect, install_detector, read_task, run_tile, run_tiles, tile_task

__all__ = ["Runner", "open_runner", "progress_bar"]

log = logging.getLogger("bigocr")


class Runner:
    """Runs tiles: one by one in this process, or as tasks on a Dask client."""

    def __init__(self, detector, client=None, plugin: str | None = None, resources: dict | None = None,
                 recognizer=None, reader: str | None = None):
        self.detector = detector
        self.client = client
        self.plugin = plugin
        self.resources = resources or None
        self.recognizer = recognizer
        self.reader = reader  # the recognizer's plugin on the workers

    def _shipped(self, scan):
        """What the tasks get for ``scan``: the scan itself (it reopens its file), or, when it holds its pixels
        decoded, a future of it scattered once (not pickled into every task)."""
        return self.client.scatter(scan, hash=False) if scan.in_memory else scan

    def run(self, scan, tiles, maps, on_done) -> list[dict]:
        if self.client is None:
            reports = []
            for tile in tiles:
                reports.append(run_tile(scan, tile, self.detector, maps))
                on_done(reports[-1])
            return reports
        client = self.client
        token = uuid.uuid4().hex[:12]
        scan_ref = self._shipped(scan)

        def submit(tile):
            r, c = tile.index
            return client.submit(tile_task, scan_ref, tile, self.plugin, maps, key=f"bigocr-tile-{token}-{r}-{c}",
                                 pure=False, resources=self.resources)

        return run_tiles(client, submit, tiles, on_done, self.resources)

    def read(self, scan, groups, on_done) -> None:
        """Read each group's words; ``on_done(report)`` gets ``{"index", "readings", "seconds"}`` as each ends."""
        if self.client is None:
            from bigocr.recognizer.groups import read_group

            for group in groups:
                t0 = time.perf_counter()
                on_done({"index": group.index, "readings": read_group(scan, group, self.recognizer),
                         "seconds": time.perf_counter() - t0})
            return
        client = self.client
        token = uuid.uuid4().hex[:12]
        scan_ref = self._shipped(scan)

        def submit(group):
            return client.submit(read_task, scan_ref, group, self.reader, key=f"bigocr-read-{token}-{group.index}",
                                 pure=False)

        run_tiles(client, submit, groups, on_done)


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
            yield Runner(detector, client, plugins.get("detector"), resources, recognizer, plugins.get("recognizer"))
        finally:
            for plugin in plugins.values():
                with contextlib.suppress(Exception):
                    client.unregister_worker_plugin(plugin)


def progress_bar(total: int | None, enabled: bool, unit: str = "tile", position: int = 0):
    from tqdm import tqdm

    return tqdm(total=total, unit=unit, desc=f"{unit}s", file=sys.stderr, disable=not enabled, leave=False,
                position=position)
