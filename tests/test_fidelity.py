"""The models against every set of real STONNE runs in tests/data/stonne, held to the errors measured there.

Each (set, family) row holds the model to its measured median and max |cycle error| and max |energy error|
(STONNE's stock table) plus a small margin, so a change that makes any family worse fails here. Counters
(multiplications, global-buffer reads and writes) must be exact everywhere. Measured with
``plumsim stonne validate tests/data/stonne/<set>/cases.csv`` (see docs/design.md, "Fidelity").
"""
from pathlib import Path

import pytest

from plumsim.stonne.validate import validate_cases
from plumsim.stonne.energy_check import add_energy_columns

DATA = Path(__file__).parent / "data" / "stonne"

# set, family, n, measured median |cycle err|, max |cycle err|, max |energy err|
MEASURED = [
    ("cases.csv", "MAERI-AB-on", 26, 0.0, 0.0, 0.00099),
    ("cases.csv", "MAERI-AB-off", 6, 0.0, 0.0, 0.00052),
    ("cases.csv", "MAERI-AB-on-rn_bw<dn_bw", 2, 0.0, 0.0, 0.0005),
    ("cases.csv", "SIGMA", 26, 0.0009, 0.0102, 0.0012),
    ("cases.csv", "TPU", 12, 0.0, 0.0, 0.0),
    ("c_maeri/cases.csv", "MAERI-AB-on", 22, 0.0, 0.0042, 0.0045),
    ("c_maeri/cases.csv", "MAERI-AB-off", 24, 0.0, 0.0, 0.0019),
    ("c_maeri/cases.csv", "MAERI-AB-on-rn_bw<dn_bw", 6, 0.0, 0.0, 0.0021),
    ("c_sigma/cases.csv", "SIGMA", 73, 0.0003, 0.0161, 0.0031),
    ("c_tpu/cases.csv", "TPU", 30, 0.0, 0.0, 0.0),
    ("c_tpu_probe/cases.csv", "TPU", 174, 0.0, 0.0, 0.0),
    ("c_sigma_probe/cases.csv", "SIGMA", 54, 0.0, 0.0210, 0.0050),
    ("c_maeri_probe/cases.csv", "MAERI-AB-on", 133, 0.0, 0.0, 0.0043),
    ("c_maeri_probe/cases.csv", "MAERI-AB-off", 684, 0.0, 0.0, 0.0053),
    ("c_maeri_probe/cases.csv", "MAERI-AB-on-rn_bw<dn_bw", 167, 0.0, 0.0, 0.0047),
    ("c_maeri_pace/cases.csv", "MAERI-AB-off", 136, 0.0, 0.0, 0.0028),
    ("c_maeri_pace/cases.csv", "MAERI-AB-on", 25, 0.0, 0.0, 0.0),
    ("c_maeri_row/cases.csv", "MAERI-AB-off", 70, 0.0, 0.0, 0.0037),
    ("c_maeri_fold_real/cases.csv", "MAERI-AB-off", 10, 0.0, 0.0031, 0.00035),
    ("c_maeri_fold_multirate/cases.csv", "MAERI-AB-off", 4, 0.000114, 0.00013, 0.000014),
    # set U: grouped (T_G > 1) and batched (T_N > 1, N > T_N) tiles, event-level, every cycle count exact
    ("c_maeri_batch_groups/cases.csv", "MAERI-AB-off", 27, 0.0, 0.0, 0.0039),
    # set V, held out: tiles in a row (batch tiles, T_N > 1, padded K tiles), every cycle count exact
    ("c_maeri_sequences/cases.csv", "MAERI-AB-off", 79, 0.0, 0.0, 0.0054),
    # set W, held out: set V's grid with the buffer on (closed form), 1 of 74 off (2 cycles of 626)
    ("c_maeri_sequences_ab/cases.csv", "MAERI-AB-on", 27, 0.0, 0.0032, 0.0068),
    ("c_maeri_sequences_ab/cases.csv", "MAERI-AB-on-rn_bw<dn_bw", 47, 0.0, 0.0, 0.0045),
    # set X, held out: input forwarding on read ports shared by two VNs, every cycle count exact
    ("c_maeri_forwarding/cases.csv", "MAERI-AB-off", 23, 0.0, 0.0, 0.00082),
]


def _margin(measured: float) -> float:
    return measured * 1.05 + 1e-4


@pytest.fixture(scope="module")
def reports():
    out = {}
    for name in sorted({m[0] for m in MEASURED}):
        rep = validate_cases(DATA / name)
        out[name] = add_energy_columns(rep, DATA / name)
    return out


@pytest.mark.parametrize("name,family,n,med,mx,emx", MEASURED, ids=[f"{m[0]}-{m[1]}" for m in MEASURED])
def test_family_within_its_measured_error(reports, name, family, n, med, mx, emx):
    s = reports[name].summary.set_index("family").loc[family]
    assert s["n"] == n and s["n_modelled"] == n
    assert s["median_abs_err"] <= _margin(med), s["median_abs_err"]
    assert s["max_abs_err"] <= _margin(mx), s["max_abs_err"]
    assert s["energy_max_abs_err"] <= _margin(emx), s["energy_max_abs_err"]
    for c in ("mult_max_abs_err", "gb_reads_max_abs_err", "gb_writes_max_abs_err"):
        assert s[c] == 0, c


def test_every_set_is_covered(reports):
    # a new set of runs in tests/data/stonne must get its row above
    sets = {str(p.relative_to(DATA)) for p in DATA.glob("**/cases.csv")}
    assert sets <= {m[0] for m in MEASURED}
