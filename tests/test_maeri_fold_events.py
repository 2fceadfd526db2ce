"""The event-level folding model (plumsim.accel.maeri_fold_events) against every stored STONNE run it
applies to: MAERI CONV, accumulation buffer off, more than one fold, a single (n, g, k) tile."""

from pathlib import Path

import pandas as pd
import pytest

from plumsim.accel.config import AcceleratorConfig
from plumsim.accel.maeri import MaeriTile
from plumsim.accel.maeri_fold_events import fold_tile_cycles
from plumsim.errors import ConfigError

DATA = Path(__file__).parent / "data" / "stonne"
#: the two runs it misses (input forwarding): case -> model cycles
KNOWN_MISSES = {"C_mpace_fold_026": 886, "C_maeri_conv_08": 501}


#: set S: real ResNet-20 layers (seconds per run cycle by cycle; behind the slow marker)
REAL = "c_maeri_fold_real"


def _single_tile_folding_runs(real: bool = False):
    for csv in sorted(DATA.glob("**/cases.csv")):
        if (csv.parent.name == REAL) != real:
            continue
        df = pd.read_csv(csv, low_memory=False)
        for r in df.itertuples():
            if r.family != "MAERI_dense_CLI" or r.op != "CONV" or int(r.accumulation_buffer) != 0:
                continue
            tile = MaeriTile(*(int(getattr(r, f)) for f in ("T_R", "T_S", "T_C", "T_K", "T_G", "T_N", "T_X_", "T_Y_")))
            shape = tuple(int(getattr(r, f)) for f in ("N", "G", "C", "K", "R", "S", "X", "Y", "stride"))
            if tile.T_K != shape[3] or shape[0] != 1 or shape[1] != 1 or tile.T_N != 1:
                continue                    # one (n, g, k) tile
            cfg = AcceleratorConfig("MAERI_DENSE_WORKLOAD", "LINEAR", "ASNETWORK", int(r.ms_size), int(r.dn_bw),
                                    int(r.rn_bw), accumulation_buffer=False)
            yield r.case_id, int(r.cycles), (*shape, tile, cfg)


def test_event_model_reproduces_the_folding_runs():
    folding, misses = 0, {}
    for case, ref, args in _single_tile_folding_runs():
        try:
            got = fold_tile_cycles(*args)
        except ConfigError:
            continue                        # one fold: no partial-sum loop to time
        folding += 1
        if got != ref:
            misses[case] = got
    assert folding == 891
    assert misses == KNOWN_MISSES


@pytest.mark.slow
def test_event_model_reproduces_real_layers():
    # three ResNet-20 3x3 layers on MAERI 128/32/32 with the buffer off, 72k-146k cycles, one tile each
    runs = list(_single_tile_folding_runs(real=True))
    assert len(runs) == 3
    for case, ref, args in runs:
        assert fold_tile_cycles(*args) == ref, case


def _six_vn_tile(ab=False):
    # the traced 1x1 tile: six 5-multiplier VNs, two folds, four positions (STONNE: 36 cycles)
    cfg = AcceleratorConfig("MAERI_DENSE_WORKLOAD", "LINEAR", "ASNETWORK", 128, 128, 128, accumulation_buffer=ab)
    return (1, 1, 8, 6, 1, 1, 1, 4, 1, MaeriTile(1, 1, 4, 6, 1, 1, 1, 1), cfg)


def test_event_model_on_the_traced_tile_and_a_runaway():
    assert fold_tile_cycles(*_six_vn_tile()) == 36
    with pytest.raises(RuntimeError, match="did not finish"):
        fold_tile_cycles(*_six_vn_tile(), max_cycles=10)


def test_event_model_rejects_tiles_it_does_not_model():
    with pytest.raises(ConfigError, match="accumulation buffer off"):
        fold_tile_cycles(*_six_vn_tile(ab=True))
