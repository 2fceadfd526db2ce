"""The Dask executor on a real distributed.LocalCluster on loopback (2 worker processes), including a
worker killed with SIGKILL mid-sweep: the sweep must still finish with every point."""

from __future__ import annotations

import io
import logging
import os
import signal

import pandas as pd
import pytest

from test_sweep import write_grid

from plumsim.sweep.runner import run_sweep

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def cluster():
    from distributed import Client, LocalCluster

    from plumsim.sweep.runner import dask_worker_settings

    with dask_worker_settings():
        cl = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                          dashboard_address=":0", silence_logs=logging.ERROR)
    client = Client(cl)
    yield cl, client
    client.close()
    cl.close()


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("dref")
    p = write_grid(tmp)
    run_sweep(p, tmp / "out", workers=1, progress=False, log=io.StringIO())
    return p, pd.read_parquet(tmp / "out" / "results.parquet")


def test_dask_external_scheduler_equals_local(cluster, reference, tmp_path):
    cl, _ = cluster
    p, ref = reference
    s = run_sweep(p, tmp_path / "out", executor="dask", scheduler=cl.scheduler_address, workers=2,
                  chunk_points=16, progress=False, log=io.StringIO())
    assert s["executor"] == "dask" and s["chunks"] > 2
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "out" / "results.parquet"), ref)


def test_dask_worker_killed_mid_sweep(cluster, reference, tmp_path):
    cl, client = cluster
    p, ref = reference
    pids = client.run(os.getpid)  # {worker address: pid} of the worker processes
    assert len(pids) == 2
    # the sweep's worker settings reached the workers (see plumsim.sweep.runner.dask_worker_settings)
    env = client.run(lambda: os.environ.get("MALLOC_TRIM_THRESHOLD_"))
    assert set(env.values()) == {None}
    victim = sorted(pids.values())[0]
    killed = []

    def kill_one_worker(state):
        # after the first stored chunk, while the others are queued or running: SIGKILL one worker
        if not killed and state["chunks_done"] < state["chunks"]:
            os.kill(victim, signal.SIGKILL)
            killed.append(state["chunks_done"])

    s = run_sweep(p, tmp_path / "out", executor="dask", scheduler=cl.scheduler_address, workers=2,
                  chunk_points=4, progress=False, on_chunk=kill_one_worker, log=io.StringIO())
    assert killed == [1]
    assert s["chunks"] >= 8 and s["pairs_computed"] == s["pairs"]
    df = pd.read_parquet(tmp_path / "out" / "results.parquet")
    pd.testing.assert_frame_equal(df, ref)  # every point, no duplicate, same numbers
    # the nanny restarted the worker
    client.wait_for_workers(2, timeout=30)
    assert victim not in client.run(os.getpid).values()


def test_dask_local_cluster_started_by_the_sweep(reference, tmp_path):
    p, ref = reference
    s = run_sweep(p, tmp_path / "out", executor="dask", workers=2, progress=False,
                  log=io.StringIO())
    assert s["workers"] == 2
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "out" / "results.parquet"), ref)
