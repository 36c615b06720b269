"""Dask: the client, the detector on each worker, and the tile tasks.

A run gets a ``distributed.Client``: the caller's own, one connected to a
running scheduler (``--scheduler ADDRESS`` or ``DASK_SCHEDULER_ADDRESS``), or a
local cluster of threads in this process.  The detector travels to the workers
once, as a worker plugin: each worker loads the model when it joins (again if
it is restarted) and sets its torch threads so that the tiles it runs at once
share its cores.  Tile tasks look the detector up on their worker.

Tile tasks are idempotent: a tile writes only the map chunks it owns, then
sets its flag in ``maps.zarr/tiles_done``; running it twice (Dask reruns the
tasks of a worker that died) writes the same bytes twice.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time

from bigocr.detector.infer import check_maps
from bigocr.errors import BigOCRError, ClusterError, ParameterError
from bigocr.memory import release_memory
from bigocr.merge.stitch import mark_done, open_maps, write_tile

__all__ = ["DetectorPlugin", "connect", "install_detector", "run_tile", "tile_task", "read_task", "run_tiles",
           "check_resources", "ClusterWatch", "scheduler_gone", "TASK_RETRIES", "RESUBMITS"]

log = logging.getLogger("bigocr")

#: Seconds between checks that the cluster can still run the tiles, while waiting for them.
WATCH_INTERVAL = 5.0


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def set_torch_threads(threads: int) -> None:
    """Set torch's intra-op threads, if torch is loaded or loadable."""
    import torch

    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)


try:
    from distributed.diagnostics.plugin import WorkerPlugin
except ImportError:  # pragma: no cover - distributed is a dependency
    WorkerPlugin = object


class DetectorPlugin(WorkerPlugin):
    """The detector, installed once on every worker.

    Parameters
    ----------
    name : str
        The plugin's name on the workers; tile tasks find the detector by it.
    detector : callable
        Pickled to each worker once.  If it has a ``warm()`` method (CRAFT
        detectors do), it is called when the worker joins, so the model is
        loaded once per worker and a missing weights file fails there, loudly.
    torch_threads : int, optional
        Torch threads on each worker; default: the worker's cores divided by
        the tiles it runs at once (Dask starts workers with ``OMP_NUM_THREADS=1``).
    """

    def __init__(self, name: str, detector, torch_threads: int | None = None, resources: dict | None = None):
        self.name = name
        self.detector = detector
        self.torch_threads = torch_threads
        self.resources = resources or {}
        self.threads = None

    def setup(self, worker):
        self.threads = self.torch_threads or max(1, _cores() // max(1, worker.state.nthreads))
        set_torch_threads(self.threads)
        offered = getattr(worker.state, "total_resources", {}) or {}
        if any(offered.get(k, 0) < v for k, v in self.resources.items()):
            return  # this worker never runs the tiles: nothing to load
        warm = getattr(self.detector, "warm", None)
        if warm is not None:
            try:
                warm()
            except Exception as exc:
                raise ClusterError(f"worker {worker.address}: cannot load the detector: {exc}") from None


def _worker_detector(name: str):
    from distributed import get_worker

    try:
        plugin = get_worker().plugins[name]
    except KeyError:
        raise RuntimeError(f"detector plugin {name!r} is not installed on this worker") from None
    set_torch_threads(plugin.threads)  # a restarted torch (fork) or a foreign task may have changed it
    return plugin.detector


def run_tile(scan, tile, detector, maps) -> dict:
    """Detect one tile, write the map chunks it owns, then mark it done.

    Parameters
    ----------
    scan : Scan
    tile : Tile
    detector : callable
    maps : str or zarr store
        ``maps.zarr``.

    Returns
    -------
    dict
        The tile's index and seconds spent reading, detecting and writing.
    """
    t0 = time.perf_counter()
    halved = getattr(detector, "halved_input", False)
    if halved:  # a half-input CRAFT: the tile at half resolution, resampled once from the scan
        from bigocr.tiler.scale import read_halved

        pixels = read_halved(scan, tile.window)
    else:
        pixels = scan.read(*tile.window)
    t1 = time.perf_counter()
    region, affinity = check_maps(pixels, detector.detect_halved(pixels) if halved else detector(pixels), halved)
    t2 = time.perf_counter()
    group = open_maps(maps, mode="r+")
    write_tile(group, tile, region, affinity)
    mark_done(group, tile)
    del pixels, region, affinity
    release_memory()
    t3 = time.perf_counter()
    return {"index": tile.index, "read": t1 - t0, "detect": t2 - t1, "write": t3 - t2}


def tile_task(scan, tile, plugin_name: str, maps) -> dict:
    """:func:`run_tile` on a Dask worker, with the worker's detector."""
    return run_tile(scan, tile, _worker_detector(plugin_name), maps)


def read_task(scan, group, plugin_name: str, lines: bool = False) -> dict:
    """:func:`bigocr.recognizer.groups.read_group` on a Dask worker, with the worker's recognizer."""
    from bigocr.recognizer.groups import read_group

    t0 = time.perf_counter()
    readings = read_group(scan, group, _worker_detector(plugin_name), lines)
    release_memory()
    return {"index": group.index, "readings": readings, "seconds": time.perf_counter() - t0}


@contextlib.contextmanager
def connect(scheduler, threads: int | None = None):
    """A dask.distributed client: the given one, one to an address, or a local cluster.

    Parameters
    ----------
    scheduler : None, str or distributed.Client
        None: ``DASK_SCHEDULER_ADDRESS`` if set, else a local cluster of
        ``threads`` threads (default: one per core) in this process.
    threads : int, optional
        Tiles in flight on the local cluster.

    Yields
    ------
    (client, local)
        ``local`` is True for the in-process cluster.
    """
    from distributed import Client, LocalCluster

    if scheduler is None:
        scheduler = os.environ.get("DASK_SCHEDULER_ADDRESS") or None
    if isinstance(scheduler, Client):
        yield scheduler, False
        return
    if scheduler is None:
        # Threads in this process: the model is loaded once and shared, reads and
        # decodes overlap the network, and nothing is pickled.  The scheduler
        # always serves HTTP: keep it on a free loopback port.
        import torch

        caller_threads = torch.get_num_threads()  # the plugin sets them for this whole process
        try:
            with LocalCluster(n_workers=1, threads_per_worker=threads or _cores(), processes=False,
                              dashboard_address="127.0.0.1:0", worker_dashboard_address="127.0.0.1:0") as cluster, \
                    Client(cluster) as client:
                yield client, True
        finally:
            set_torch_threads(caller_threads)
        return
    try:
        client = Client(scheduler, timeout="10s")
    except (OSError, TimeoutError) as exc:
        raise ParameterError(f"--scheduler {scheduler}: cannot reach the Dask scheduler: {exc}") from None
    with client:
        yield client, False


def _workers(client) -> dict:
    return client.scheduler_info(n_workers=-1).get("workers", {})


def check_resources(client, resources: dict | None, wait: float = 10.0) -> None:
    """Fail fast if no worker of the cluster can run a tile.

    Waits up to ``wait`` seconds for a first worker, then checks that one
    offers every resource in ``resources`` (e.g. ``{"GPU": 1}``).

    Raises
    ------
    ClusterError
        The cluster has no workers, or none with the resources.
    """
    address = getattr(client.scheduler, "address", "the scheduler")
    if not _workers(client):
        try:
            if wait <= 0:  # distributed reads a zero timeout as none at all
                raise TimeoutError
            client.wait_for_workers(1, timeout=wait)
        except (TimeoutError, OSError):
            raise ClusterError(f"the Dask cluster at {address} has no workers (waited {wait:g} s); "
                                 "start some with: dask worker " + str(address)) from None
    if not resources:
        return
    workers = _workers(client)
    if not any(all(w.get("resources", {}).get(k, 0) >= v for k, v in resources.items()) for w in workers.values()):
        wanted = ",".join(f"{k}={v:g}" for k, v in resources.items())
        offered = sorted({f"{k}={v:g}" for w in workers.values() for k, v in w.get("resources", {}).items()})
        raise ClusterError(
            f"no worker of the Dask cluster at {address} offers resources {wanted} "
            f"({len(workers)} worker(s), offering {', '.join(offered) or 'no resources'}); "
            f"start GPU workers with: dask worker {address} --resources {wanted}, or choose other --resources"
        )


def install_detector(client, detector, torch_threads: int | None = None, resources: dict | None = None,
                     kind: str = "detector") -> str:
    """Install ``detector`` (or the recognizer) on every worker (now and joining later); returns the plugin's name.

    Workers without ``resources`` get it too but load nothing.
    """
    import uuid

    name = f"bigocr-{kind}-{uuid.uuid4().hex[:12]}"
    try:
        client.register_plugin(DetectorPlugin(name, detector, torch_threads, resources), name=name)
    except BigOCRError:
        raise
    except Exception as exc:  # setup failed on a worker: weights missing there, no GPU, ...
        raise ClusterError(f"cannot install the {kind} on the Dask workers: {type(exc).__name__}: {exc}") from None
    return name


def _total_threads(client) -> int:
    return sum(int(w.get("nthreads", 1)) for w in _workers(client).values()) or 1


#: Times a task that raised is run again by Dask (``retries=``) before its scan fails.
TASK_RETRIES = 2
#: Times a task whose inputs were lost with a worker (a scattered scan) is sent again before its scan fails.
RESUBMITS = 4


class ClusterWatch:
    """What a run saw of its cluster: the workers it met and lost, the tasks it sent again.

    Shared by every :func:`run_tiles` of a runner (tiles, headline pass, reading, every scan of a batch).
    """

    def __init__(self, client=None):
        self.client = client
        self.seen: set[str] = set()
        self.resubmitted = 0
        self.lost_scheduler = False
        self._lock = threading.Lock()
        self.look()

    def look(self) -> None:
        """Note the workers there now."""
        if self.client is None or self.lost_scheduler:
            return
        with contextlib.suppress(Exception):
            workers = set(_workers(self.client))
            with self._lock:
                self.seen |= workers

    def lost_workers(self) -> list[str]:
        if self.client is None or self.lost_scheduler:  # (report() says a lost scheduler on its own)
            return []
        try:
            now = set(_workers(self.client))
        except Exception:
            return []
        return sorted(self.seen - now)

    def sent_again(self) -> None:
        with self._lock:
            self.resubmitted += 1

    def report(self) -> str:
        """One line for the end of a batch."""
        address = getattr(getattr(self.client, "scheduler", None), "address", "the cluster")
        if self.lost_scheduler:
            return f"cluster {address}: the scheduler was lost; {self.resubmitted} task(s) sent again before"
        lost = self.lost_workers()
        return (f"cluster {address}: {len(self.seen)} worker(s) seen, {len(lost)} lost; "
                f"{self.resubmitted} task(s) sent again after a worker died")


#: Seconds a connection error may take to show as a lost scheduler (the client notices within a heartbeat).
SETTLE = 10.0


def scheduler_gone(client, exc: BaseException | None = None, settle: float = 0.0) -> bool:
    """Whether the client has lost its scheduler (futures then end cancelled, ``scheduler-connection-lost``).

    With ``settle``, a connection error (``exc``) waits up to that many seconds for the client to say so:
    the same error comes from a worker that died, after which the client stays connected.
    """
    if exc is not None and "scheduler-connection-lost" in str(exc):
        return True

    def gone():
        return getattr(client, "status", "running") not in ("running", "newly-created")

    if gone():
        return True
    if settle and exc is not None and (isinstance(exc, OSError) or type(exc).__name__ == "CommClosedError"):
        deadline = time.monotonic() + settle
        while time.monotonic() < deadline:
            time.sleep(0.1)
            if gone():
                return True
    return False


def _is_cancelled(exc: BaseException) -> bool:
    from concurrent.futures import CancelledError

    return isinstance(exc, CancelledError) or type(exc).__name__ in ("FutureCancelledError", "FuturesCancelledError")


def run_tiles(client, submit, tiles, on_done, resources: dict | None = None, window: int | None = None,
              watch: ClusterWatch | None = None) -> list[dict]:
    """Run ``submit(tile, attempt) -> future`` over ``tiles`` with a bounded number in flight.

    Only ``window`` tasks (default: twice the cluster's threads, at least 8)
    exist at a time and each is released once its report is in, so the
    scheduler's and workers' memory does not grow with the number of tiles.
    Every :data:`WATCH_INTERVAL` seconds without progress, checks that the
    cluster can still run them (a worker with the resources is left).

    Faults: a task whose worker dies is run again by Dask itself; one whose
    inputs died with a worker (Dask cancels it: "lost dependencies") is sent
    again here, with ``attempt`` counting up, up to :data:`RESUBMITS` times;
    ``submit`` then ships its inputs anew.  A scheduler that goes away raises
    :class:`~bigocr.errors.SchedulerLost`; a task that kills its worker again
    and again, :class:`~bigocr.errors.ClusterError`.
    """
    from distributed import wait

    from bigocr.errors import SchedulerLost

    watch = watch or ClusterWatch()
    window = window or max(8, 2 * _total_threads(client))
    todo = iter(tiles)
    pending: dict = {}  # future -> (tile, attempt)

    def top_up():
        while len(pending) < window:
            tile = next(todo, None)
            if tile is None:
                return
            pending[submit(tile, 0)] = (tile, 0)

    def lost(exc=None):
        watch.lost_scheduler = True
        raise SchedulerLost(f"the Dask scheduler at {getattr(client.scheduler, 'address', '?')} was lost "
                            f"({'connection closed' if exc is None else type(exc).__name__})") from None

    reports = []
    with _ctrl_c_checks() as check_interrupt:
        try:
            top_up()
            while pending:
                try:
                    done = wait(list(pending), timeout=WATCH_INTERVAL, return_when="FIRST_COMPLETED").done
                except TimeoutError:
                    check_interrupt()
                    if scheduler_gone(client):
                        lost()
                    watch.look()
                    check_resources(client, resources, wait=0.0)
                    continue
                except Exception as exc:  # wait() raises when a future was cancelled
                    if not _is_cancelled(exc) or scheduler_gone(client, exc):
                        lost(exc)
                    done = [f for f in pending if f.done()]  # the cancelled ones are handled one by one below
                check_interrupt()
                for future in done:
                    tile, attempt = pending.pop(future)
                    try:
                        report = future.result()
                    except BigOCRError:
                        raise
                    except Exception as exc:
                        if type(exc).__name__ == "KilledWorker":
                            raise ClusterError(f"a task killed its worker again and again ({exc}); "
                                               "it may need more memory than a worker has") from None
                        if _is_cancelled(exc) or getattr(future, "status", "") in ("lost", "cancelled"):
                            if scheduler_gone(client, exc):
                                lost(exc)
                            if attempt >= RESUBMITS:
                                raise ClusterError(f"a task's inputs were lost with a worker {attempt + 1} times "
                                                   f"({exc}); the workers keep dying") from None
                            watch.look()
                            watch.sent_again()
                            log.info("task %s lost its inputs with a worker: sent again", future.key)
                            pending[submit(tile, attempt + 1)] = (tile, attempt + 1)
                            continue
                        raise
                    future.release()
                    reports.append(report)
                    on_done(report)
                top_up()
        except BaseException:
            with contextlib.suppress(Exception):
                client.cancel(list(pending))
            raise
    return reports


@contextlib.contextmanager
def _ctrl_c_checks():
    """Yield a check that raises KeyboardInterrupt once Ctrl-C (SIGINT) came during the block.

    Python raises KeyboardInterrupt wherever the main thread is; when that is a
    finalizer (a released future, a store being closed) the exception is
    printed as ignored and lost, and the run would go on.  The flag keeps it.
    """
    seen = threading.Event()
    previous = signal.getsignal(signal.SIGINT) if threading.current_thread() is threading.main_thread() else None
    if previous is None or previous is signal.SIG_IGN:  # not ours to change, or Ctrl-C ignored on purpose
        yield lambda: None
        return

    def on_sigint(signum, frame):
        seen.set()
        if callable(previous):
            previous(signum, frame)
        else:
            raise KeyboardInterrupt

    def check():
        if seen.is_set():
            raise KeyboardInterrupt

    signal.signal(signal.SIGINT, on_sigint)
    try:
        yield check
    finally:
        signal.signal(signal.SIGINT, previous)
