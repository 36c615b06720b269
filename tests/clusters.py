"""Real Dask clusters for the tests: a `dask scheduler` and `dask worker` processes on 127.0.0.1."""

import json
import os
import subprocess
import sys
import time


def start_cluster(tmp_path, workers):
    """A scheduler and ``workers`` (a list of extra-argument lists) as separate processes."""
    sched_file = tmp_path / "scheduler.json"
    env = {**os.environ, "DASK_DISTRIBUTED__WORKER__DAEMON": "False"}
    procs = [subprocess.Popen([sys.executable, "-m", "dask", "scheduler", "--host", "127.0.0.1", "--port", "0",
                               "--no-dashboard", "--scheduler-file", str(sched_file)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)]
    for extra in workers:
        procs.append(subprocess.Popen([sys.executable, "-m", "dask", "worker", "--scheduler-file", str(sched_file),
                                       "--host", "127.0.0.1", "--no-dashboard", "--nthreads", "1", *extra],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env))
    deadline = time.time() + 60
    address = None
    while address is None:  # the scheduler creates the file before it has written it: wait for whole JSON
        assert time.time() < deadline, "dask scheduler did not start"
        try:
            address = json.loads(sched_file.read_text())["address"]
        except (OSError, ValueError, KeyError):
            time.sleep(0.2)
    from distributed import Client

    client = Client(address, timeout="30s")
    client.wait_for_workers(len(workers), timeout=60)
    return address, client, procs


def stop(client, procs):
    client.close()
    for p in procs[::-1]:
        p.terminate()
    for p in procs:
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()



