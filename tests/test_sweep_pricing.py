"""The sweep's fast pricing (plumsim.energy.breakdown.group_energies) equals energy_breakdown on real simulated runs (both shipped
tables, every controller, every mode, including the native STONNE models)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from plumsim.accel.cfg import load_config
from plumsim.energy import energy_breakdown, load_energy_table
from plumsim.results import group_column
from plumsim.sweep.evaluate import price, simulate_mode
from plumsim.workload.synth import synth

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("table_name", ["stonne", "horowitz45"])
def test_fast_price_equals_breakdown(table_name):
    table = load_energy_table(table_name)
    wl = synth(ROOT / "workloads" / "cnn-digits.yaml", "ternary", seed=3)
    n = 0
    for cfg in ("sigma_64.cfg", "maeri_64.cfg", "tpu_8x8.cfg"):
        config = load_config(ROOT / "accel_configs" / cfg)
        for mode in ("dense", "skip", "repeat", "skip+repeat", "native"):
            for layer in wl.layers:
                res = simulate_mode(layer, config, mode)
                fast, unit, groups = price(res, table)
                br = energy_breakdown(res, table)
                slow, unit2 = float(br["energy"].sum()), str(br["unit"].iloc[0]) if len(br) else table.unit
                groups2 = {group_column(g): float(v) for g, v in br.groupby("group")["energy"].sum().items()}
                assert unit == unit2 == table.unit
                assert fast == pytest.approx(float(br["energy"].sum()), rel=1e-12)
                assert fast == pytest.approx(slow, rel=1e-12)
                assert set(groups) == set(groups2)
                for g in groups:
                    assert groups[g] == pytest.approx(groups2[g], rel=1e-12, abs=1e-12)
                assert sum(groups.values()) == pytest.approx(fast, rel=1e-12)
                n += 1
    assert n == 3 * 5 * len(wl.layers)


def test_group_column_names():
    assert group_column("distribution network") == "energy_distribution_network"
    assert group_column("Global buffer") == "energy_global_buffer"
    assert np.all([group_column(g).startswith("energy_") for g in ("static", "x-y z")])


@pytest.mark.parametrize("table_name", ["stonne", "horowitz45"])
def test_sweep_attribution_equals_plumsim_attribute(tmp_path, table_name):
    """The sweep's per-layer mode energies/cycles and shares are those of `plumsim.energy.attribute` on the
    same workload and accelerator (same style per controller, same per-layer weight width for the table)."""
    from plumsim.energy import attribute
    from plumsim.sweep.evaluate import evaluate_pair
    from plumsim.sweep.grid import AccelPoint

    wl = synth(ROOT / "workloads" / "cnn-digits.yaml", "signed-binary", seed=1, density=0.3)
    wl.save(tmp_path / "w")
    for cfg in ("sigma_64.cfg", "maeri_64.cfg"):
        config = load_config(ROOT / "accel_configs" / cfg)
        acc = AccelPoint(label="a", config=config)
        df = evaluate_pair(acc.fields(), config, {"name": "w", "family": "w", "source": "s",
                                                   "scheme": "signed-binary", "density": 0.3, "seed": 1,
                                                   "dir": str(tmp_path / "w")},
                           ("dense", "skip", "repeat", "skip+repeat"), table_name)
        ref = attribute(wl, config, table_name, include_fp=True)
        for metric in ("energy", "cycles"):
            r = ref[(ref["metric"] == metric) & (ref["layer"] != "total")].set_index("layer")
            mine = df.pivot_table(index="layer", columns="mode", values=metric).loc[r.index]
            for k, m in (("D", "dense"), ("S", "skip"), ("R", "repeat"), ("SR", "skip+repeat")):
                np.testing.assert_allclose(mine[m], r[k], rtol=1e-12)
            first = df[df["mode"] == "dense"].set_index("layer").loc[r.index]
            np.testing.assert_allclose(first[f"{metric}_sparsity_share"], r["sparsity_share"], rtol=1e-9)
            np.testing.assert_allclose(first[f"{metric}_repetition_share"], r["repetition_share"], rtol=1e-9)
