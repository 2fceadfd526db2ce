"""The event-level folding model (plumsim.accel.maeri_fold_events) against every stored STONNE run it
applies to: MAERI CONV, accumulation buffer off, more than one fold, a single (n, g, k) tile."""

from pathlib import Path

import pandas as pd
import pytest

from plumsim.accel.maeri_fold_events import fold_tile_cycles

DATA = Path(__file__).parent / "data" / "stonne"
#: the two runs it misses (input forwarding): case -> model cycles
KNOWN_MISSES = {"C_mpace_fold_026": 886, "C_maeri_conv_08": 501}


def _cdiv(a, b):
    return -(-a // b)


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
            R, S, C, K, X, Y, st = (int(v) for v in (r.R, r.S, r.C, r.K, r.X, r.Y, r.stride))
            TR, TS, TC, TK, TX, TY = (int(v) for v in (r.T_R, r.T_S, r.T_C, r.T_K, r.T_X_, r.T_Y_))
            if TK != K or int(r.N) != 1 or int(r.G) != 1 or int(r.T_N) != 1:
                continue
            folds = _cdiv(R, TR) * _cdiv(S, TS) * _cdiv(C, TC)
            if folds < 2:
                continue
            rows, cols = _cdiv((X - R) // st + 1, TX), _cdiv((Y - S) // st + 1, TY)
            fwd = TY == 1 and TS > 1 and st == 1 and S % TS == 0 and cols > 1
            yield r.case_id, int(r.cycles), (int(r.ms_size), int(r.dn_bw), int(r.rn_bw), TR, TS, TC, TK, TX, TY,
                                             folds, rows, cols, st, fwd)


def test_event_model_reproduces_the_folding_runs():
    runs = list(_single_tile_folding_runs())
    assert len(runs) == 891
    misses = {}
    for case, ref, args in runs:
        got = fold_tile_cycles(*args)
        if got != ref:
            misses[case] = got
    assert misses == KNOWN_MISSES


@pytest.mark.slow
def test_event_model_reproduces_real_layers():
    # three ResNet-20 3x3 layers on MAERI 128/32/32 with the buffer off, 72k-146k cycles, one tile each
    runs = list(_single_tile_folding_runs(real=True))
    assert len(runs) == 3
    for case, ref, args in runs:
        assert fold_tile_cycles(*args) == ref, case


def test_event_model_rejects_a_runaway():
    with pytest.raises(RuntimeError, match="did not finish"):
        fold_tile_cycles(128, 128, 128, 1, 1, 4, 6, 1, 1, 2, 1, 4, max_cycles=10)
