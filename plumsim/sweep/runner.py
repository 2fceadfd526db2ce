"""Run a sweep: validate the grid, materialise workloads, skip what is done, evaluate the rest in chunks on
a local process pool or a Dask cluster, store each chunk atomically, consolidate, plot.

Unit of resumable work: a (configuration, workload) pair (all its layers x modes). A chunk holds several
pairs so that each task carries enough work to amortise scheduling (hundreds to thousands of points).
"""

from __future__ import annotations

import contextlib
import math
import os
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from plumsim.errors import ConfigError
from plumsim.fileio import make_dirs, remove_empty_dirs
from plumsim.sweep.evaluate import evaluate_chunk
from plumsim.sweep.grid import Grid, load_grid, pair_key
from plumsim.sweep.progress import Progress
from plumsim.sweep.store import ResultStore

EXECUTORS = ("local", "dask")
# A chunk is sized for about this many points unless the user says otherwise: big enough that task
# overhead (pickling, scheduling: ~ms) is small against the work, small enough to lose little on a kill.
DEFAULT_CHUNK_POINTS = 2000
CHUNKS_PER_WORKER = 16
DASK_RETRIES = 3


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def package_versions() -> dict[str, str]:
    """Versions of Python and of the packages that shape the results (for the manifest and report)."""
    from importlib import metadata

    out = {"python": platform.python_version(), "platform": platform.platform()}
    for name in ("plumsim", "numpy", "pandas", "pyarrow", "dask", "distributed", "matplotlib", "pyyaml",
                 "torch", "scikit-learn"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def _name_field(grid: Grid, w) -> str:
    """The grid field a synthesised workload's name comes from (``workloads[i].name``, else ``.table``)."""
    entries = grid.raw.get("workloads") if isinstance(grid.raw, dict) else None
    for i, e in enumerate(entries if isinstance(entries, list) else []):
        if isinstance(e, dict) and "table" in e:
            prefix = str(e.get("name") or Path(str(e["table"])).stem)
            if w.name == prefix or w.name.startswith(prefix + "-"):
                return f"workloads[{i}]." + ("name" if e.get("name") else "table")
    return "workloads"


def workload_dirs(grid: Grid, store: ResultStore) -> dict[str, Path]:
    """``OUT/workloads/NAME`` of every table workload of the grid; a name that would leave that folder
    (a separator, ``..``, an absolute path, NUL, empty) is a ConfigError naming the grid field and value."""
    return {w.name: store.workload_dir(w.name, _name_field(grid, w), grid.path)
            for w in grid.workloads if w.dir is None}


def materialise_workloads(grid: Grid, store: ResultStore) -> list[dict]:
    """Saved workload folders for every workload of the grid: table workloads are synthesised once into
    ``OUT/workloads/NAME`` (kept across re-runs: a seeded synthesis is deterministic)."""
    from plumsim.workload.format import Workload
    from plumsim.workload.synth import synth

    dirs = workload_dirs(grid, store)  # every name checked before the first synthesis
    out = []
    for w in grid.workloads:
        scheme = w.scheme
        if w.dir is not None:
            d = Path(w.dir)
            wl = Workload.load(d)  # validate before any worker starts
            # a lowered model keeps its stem/classifier in fp: its scheme is that of the quantized layers
            scheme = next((lyr.scheme for lyr in wl.layers if lyr.scheme != "fp"), "fp")
        else:
            d = dirs[w.name]
            try:
                Workload.load(d)
            except Exception:  # missing or half-written: (re)build it
                synth(w.table, w.scheme, seed=w.seed, density=w.density,
                      positive_fraction=w.positive_fraction, name=w.name).save(d)
        out.append({"name": w.name, "dir": str(d.resolve()), "source": w.source(), "scheme": scheme, "family": w.family,
                    "density": w.density, "seed": w.seed})
    return out


def _n_layers(d: str) -> int:
    import json

    return len(json.loads((Path(d) / "manifest.json").read_text())["layers"])


def make_chunks(tasks: list[dict], points_per_task: list[int], workers: int,
                chunk_points: int | None) -> list[list[dict]]:
    """Group tasks (pairs) into chunks of about ``chunk_points`` points, ~16 chunks per worker when there
    is enough work: configurations differ several-fold in cost (a 16-multiplier SIGMA packs a layer into
    many more iterations than a 1024 one), and with few large chunks the last one ran alone (ResNet-18
    SIGMA grid, 2 workers: 8 chunks 1039 points/s, 32 chunks ~1700)."""
    total = sum(points_per_task)
    if not tasks:
        return []
    target = chunk_points or min(DEFAULT_CHUNK_POINTS, max(1, math.ceil(total / (CHUNKS_PER_WORKER * max(1, workers)))))
    chunks, cur, cur_pts = [], [], 0
    for t, p in zip(tasks, points_per_task):
        cur.append(t)
        cur_pts += p
        if cur_pts >= target:
            chunks.append(cur)
            cur, cur_pts = [], 0
    if cur:
        chunks.append(cur)
    return chunks


# ------------------------------------------------------------------------------------------------------
# executors: each yields the DataFrame of every chunk, in completion order

def _run_inline(chunks):
    for ch in chunks:
        yield ch, evaluate_chunk(ch)


def _run_local(chunks, workers: int):
    import multiprocessing as mp
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    # fork: workers start in milliseconds and inherit the imported package; the parent has no threads yet
    ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else None
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx)
    try:
        pending = {pool.submit(evaluate_chunk, ch): ch for ch in chunks}
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                ch = pending.pop(fut)
                yield ch, fut.result()
    finally:
        # on an error or Ctrl-C, drop the queued chunks instead of computing them (stored chunks stay)
        pool.shutdown(wait=True, cancel_futures=True)


@contextlib.contextmanager
def dask_worker_settings():
    """Settings for the worker processes of a LocalCluster the sweep starts (measured on the ResNet-18 grids):

    - no statistical profiler: it samples worker stacks every 10 ms, ~30% slower on this Python-heavy work;
    - no ``MALLOC_TRIM_THRESHOLD_=65536`` (Dask's default pre-spawn environment): glibc then returns freed
      memory to the OS after every large numpy temporary, which doubled the MAERI model's time (sys time).
      A cluster started earlier in this process leaves that variable in ``os.environ`` ("poisons" it) and
      the nanny would copy it; it is lifted while the workers spawn and put back afterwards.
    """
    import dask

    poisoned = os.environ.get("MALLOC_TRIM_THRESHOLD_") == "65536"
    if poisoned:
        del os.environ["MALLOC_TRIM_THRESHOLD_"]
    try:
        with dask.config.set({"distributed.worker.profile.enabled": False,
                              "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}):
            yield
    finally:
        if poisoned:
            os.environ["MALLOC_TRIM_THRESHOLD_"] = "65536"


def _run_dask(chunks, workers: int, scheduler: str | None):
    import logging

    from distributed import Client, LocalCluster, as_completed

    cluster = None
    if scheduler:
        try:
            client = Client(scheduler, timeout="20s")
        except (OSError, TimeoutError) as exc:
            raise ConfigError(f"cannot reach the Dask scheduler at {scheduler}: {exc}",
                              field="--scheduler") from None
    else:
        with dask_worker_settings():
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                                   dashboard_address=":0", silence_logs=logging.ERROR)
        client = Client(cluster)
    try:
        # retries: a chunk whose worker dies (or fails transiently) is run again elsewhere; pure=False
        # because the same chunk must really run again after a loss
        futures, by_key = [], {}
        for i, ch in enumerate(chunks):
            fut = client.submit(evaluate_chunk, ch, retries=DASK_RETRIES, pure=False,
                                key=f"plumsim-chunk-{i}-{os.getpid()}-{time.time_ns()}")
            futures.append(fut)
            by_key[fut.key] = ch
        for fut in as_completed(futures):
            yield by_key[fut.key], fut.result()
            fut.release()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


# ------------------------------------------------------------------------------------------------------

def run_sweep(grid: Grid | str | Path, out: str | Path, *, executor: str = "local", workers: int | None = None,
              scheduler: str | None = None, fresh: bool = False, chunk_points: int | None = None,
              progress: bool | None = None, on_chunk=None, log=None) -> dict:
    """Run (or resume) a sweep into ``out``; returns a summary dict (points, pairs, seconds, rate).

    ``executor``: "local" (process pool, ``workers`` processes, default all cores; 1 = in this process)
    or "dask" (``distributed``: a LocalCluster on 127.0.0.1 with ``workers`` processes, or the cluster
    at ``scheduler``; workers must see the same file system). ``progress``: None = bar on a TTY, lines
    otherwise; False = silent. ``on_chunk(summary_so_far)`` is called after each stored chunk.
    ``log``: where to print invalid configurations and notes (default stderr). Figures are the caller's
    (:func:`plumsim.plots.plot_results`): the sweep stage never imports plots.
    """
    log = log or sys.stderr
    if executor not in EXECUTORS:
        raise ConfigError(f"unknown executor {executor!r}; allowed: {', '.join(EXECUTORS)}", field="--executor")
    if workers is not None and workers < 1:
        raise ConfigError(f"--workers must be >= 1, got {workers}", field="--workers")
    if chunk_points is not None and chunk_points < 1:
        raise ConfigError(f"--chunk-points must be >= 1, got {chunk_points}", field="--chunk-points")
    if scheduler and executor != "dask":
        raise ConfigError("--scheduler needs --executor dask", field="--scheduler")
    if not isinstance(grid, Grid):
        grid = load_grid(grid)
    workers = workers or os.cpu_count() or 1
    store = ResultStore(out)
    workload_dirs(grid, store)  # output paths from grid names stay inside OUT, checked before any work
    created = make_dirs(store.out)
    try:
        with store.lock(log):  # a second sweep on OUT is refused before it clears or computes anything
            return _run_locked(grid, store, executor=executor, workers=workers, scheduler=scheduler,
                               fresh=fresh, chunk_points=chunk_points, progress=progress, on_chunk=on_chunk,
                               log=log)
    except BaseException:
        if created:  # a run that failed in a folder it made leaves no empty folders behind
            for sub in (store.parts, store.out / "workloads"):
                remove_empty_dirs([sub])
            remove_empty_dirs(created)
        raise


def _report_invalid(grid: Grid, store: ResultStore, log) -> None:
    """Print every invalid configuration of the grid to ``log`` (before any point runs) and write them
    to ``invalid_configs.csv`` (an empty file when there are none)."""
    if grid.invalid:  # every one, before any point runs
        print(f"{grid.name}: {len(grid.invalid)} invalid configuration(s) not run "
              f"(also in {store.out / 'invalid_configs.csv'}):", file=log)
        for bad in grid.invalid:
            print(f"  {bad['config_id']}: {bad['reason']}", file=log)
    store.write_invalid(grid.invalid)


def _pending_tasks(grid: Grid, store: ResultStore, wls: list[dict]):
    """The grid's pairs against what the store already holds; ``wls``: the materialised workloads. Gives
    (every pair key in grid order, the task dicts of the pairs still to run, their point counts (layers x
    modes), the number of points already done)."""
    layers = {w["name"]: _n_layers(w["dir"]) for w in wls}
    wl_by_name = {w["name"]: w for w in wls}
    order, tasks, pts = [], [], []
    done = store.done_keys()
    done_points = 0
    for accel, wspec in grid.pairs():
        key = pair_key(accel, wspec)
        order.append(key)
        n = layers[wspec.name] * len(grid.modes)
        if key in done:
            done_points += n
            continue
        tasks.append({"pair_key": key, "accel_fields": accel.fields(), "config": accel.config,
                      "workload": wl_by_name[wspec.name], "modes": list(grid.modes),
                      "energy_table": grid.energy_table})
        pts.append(n)
    return order, tasks, pts, done_points


def _start_manifest(grid: Grid, store: ResultStore, *, executor, workers, scheduler, wls, n_pairs: int,
                    total_points: int, nothing_to_run: bool):
    """The manifest of this run (start times, grid, versions, counts; the previous runs kept). Written
    now unless the sweep is already finished with this grid and ``nothing_to_run``. Gives (manifest,
    finished)."""
    old = store.read_manifest() or {}
    # a finished sweep run again with nothing to compute changes no file (a read-only copy is only read)
    finished = nothing_to_run and old.get("complete") is True and old.get("grid_digest") == grid.digest()
    manifest = {
        "grid_name": grid.name, "grid_file": grid.path, "grid_digest": grid.digest(), "grid": grid.raw,
        "versions": package_versions(), "executor": executor, "workers": workers,
        "scheduler": scheduler, "start_time": old.get("start_time") or _now(), "run_start_time": _now(),
        "end_time": None, "complete": False, "pairs": n_pairs, "points": total_points,
        "configs": len(grid.accels), "invalid_configs": len(grid.invalid), "workloads": wls,
        "modes": list(grid.modes), "energy_table": grid.energy_table,
        "runs": old.get("runs", []),
    }
    if not finished:
        store.write_manifest(manifest)
    return manifest, finished


def _chunk_stream(chunks, executor: str, workers: int, scheduler):
    """The executor for these chunks (Dask; in this process for one worker or one chunk; else a local
    pool of at most one process per chunk): an iterator of (chunk, its results DataFrame)."""
    if executor == "dask":
        return _run_dask(chunks, workers, scheduler)
    if workers == 1 or len(chunks) <= 1:
        return _run_inline(chunks)
    return _run_local(chunks, min(workers, len(chunks)))


def _store_chunks(stream, store: ResultStore, bar: Progress, n_chunks: int, total_points: int, on_chunk):
    """Store each chunk's results as it completes, advancing ``bar`` and calling ``on_chunk``; gives
    (pairs computed, points computed)."""
    computed_pairs = computed_points = 0
    try:
        for ch, df in stream:
            store.write_part(df)
            computed_pairs += len(ch)
            computed_points += len(df)
            bar.update(len(df))
            if on_chunk is not None:
                on_chunk({"chunks_done": bar.chunks, "chunks": n_chunks, "points_done": bar.done,
                          "points": total_points})
    finally:
        bar.close()
    return computed_pairs, computed_points


def _finish_manifest(store: ResultStore, manifest: dict, summary: dict) -> None:
    """Mark the manifest complete (end time now) and append this run's counts and times to its runs."""
    manifest.update(end_time=_now(), complete=True)
    manifest["runs"] = manifest["runs"] + [{k: summary[k] for k in (
        "pairs_computed", "pairs_resumed", "points_computed", "seconds", "points_per_second", "executor",
        "workers")} | {"start": manifest["run_start_time"], "end": manifest["end_time"]}]
    store.write_manifest(manifest)


def _run_locked(grid: Grid, store: ResultStore, *, executor, workers, scheduler, fresh, chunk_points, progress,
                on_chunk, log) -> dict:
    """:func:`run_sweep` once the lock on ``store.out`` is held."""
    if fresh:
        store.clear()
    store.prepare(grid.digest())
    _report_invalid(grid, store, log)
    wls = materialise_workloads(grid, store)
    order, tasks, pts, done_points = _pending_tasks(grid, store, wls)
    total_points = done_points + sum(pts)
    manifest, finished = _start_manifest(grid, store, executor=executor, workers=workers, scheduler=scheduler,
                                         wls=wls, n_pairs=len(order), total_points=total_points,
                                         nothing_to_run=not tasks)
    chunks = make_chunks(tasks, pts, workers if executor == "dask" or workers > 1 else 1, chunk_points)
    if done_points:
        print(f"{grid.name}: resuming, {len(order) - len(tasks)} of {len(order)} pairs already done "
              f"({done_points} points kept)", file=log)
    bar = Progress(total_points, done_points, len(chunks), label=grid.name, enabled=progress)
    t0 = time.perf_counter()
    stream = _chunk_stream(chunks, executor, workers, scheduler)
    computed_pairs, computed_points = _store_chunks(stream, store, bar, len(chunks), total_points, on_chunk)
    seconds = time.perf_counter() - t0
    df = store.consolidate(order, grid.modes)
    summary = {"grid": grid.name, "out": str(store.out), "pairs": len(order), "pairs_computed": computed_pairs,
               "pairs_resumed": len(order) - len(tasks), "points": total_points,
               "points_computed": computed_points, "rows": len(df), "chunks": len(chunks),
               "seconds": round(seconds, 3),
               "points_per_second": round(computed_points / seconds, 1) if seconds > 0 else None,
               "executor": executor, "workers": workers, "invalid_configs": len(grid.invalid),
               "unchanged": finished and not store.changed}
    if not summary["unchanged"]:
        _finish_manifest(store, manifest, summary)
    return summary
