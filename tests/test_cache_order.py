"""Results never depend on what a process computed before: every model cache key holds every field the
result depends on. (The MAERI tile-search memo once left rn_bw out, so a sweep reused a tile searched for
another rn_bw and a configuration's results depended on the order the grid ran in.)"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from plumsim.accel import dataflow, maeri_timing, repetition, sigma, tiling, tpu
from plumsim.accel.lru import _ALL, LRUMemo, clear_caches
from plumsim.accel.cfg import load_config
from plumsim.accel.dataflow import simulate_dataflow
from plumsim.workload.synth import synth

ROOT = Path(__file__).resolve().parents[1]
CACHES = (tiling._SEARCHES, tpu._TILES, tpu._DRAINS, dataflow._NATIVE, dataflow._COMPRESSED, dataflow._LAYERS,
          repetition._ARITH, sigma._CONV_LAYOUTS, sigma._CONV_PLANS, maeri_timing._LOADS, maeri_timing._LAYOUTS)


def _clear():
    clear_caches()
    assert all(len(c) == 0 for c in CACHES)


def test_clear_caches_reaches_every_model_cache():
    # a new cache must be an LRUMemo (so clear_caches and the bounds reach it); the known ones are
    assert {id(c) for c in CACHES} <= {id(c) for c in _ALL}


def test_clear_caches_keeps_only_what_it_is_told_to():
    kept, other = LRUMemo(4), LRUMemo(4)
    for memo in (kept, other):
        memo.put("probe", 1)
    clear_caches(keep=(kept,))
    assert (len(kept), len(other)) == (1, 0)
    clear_caches()
    assert len(kept) == 0


def _run(layers, config, modes):
    return [(r.cycles, sorted(r.counters.items())) for lyr in layers for m in modes
            for r in [simulate_dataflow(lyr, config, m)]]


@pytest.mark.parametrize("preset, axis, values", [
    ("maeri_256.cfg", "rn_bw", (16, 64, 128)),
    ("sigma_256.cfg", "rn_bw", (16, 64, 256)),
    ("tpu_16x16.cfg", "rn_bw", (8, 16)),
])
def test_results_do_not_depend_on_what_ran_before(preset, axis, values):
    wl = synth(ROOT / "workloads" / "resnet18-imagenet.yaml", "signed-binary", seed=0, density=0.36)
    layers = [lyr for lyr in wl.layers if lyr.codes is not None][:6]
    base = load_config(ROOT / "accel_configs" / preset)
    if preset.startswith("maeri"):
        base = replace(base, dn_bw=16, accumulation_buffer=True)
    configs = [replace(base, **{axis: v}) for v in values]
    modes = ("native", "skip", "skip+repeat")
    alone = []
    for cfg in configs:   # each configuration in a fresh process state
        _clear()
        alone.append(_run(layers, cfg, modes))
    _clear()
    for cfg in reversed(configs):   # all of them in one process, the others first
        _run(layers, cfg, modes)
    together = [_run(layers, cfg, modes) for cfg in configs]
    assert together == alone
