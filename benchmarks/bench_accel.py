"""Speed of the accelerator models: every conv layer of ResNet-18/ImageNet (signed-binary, synthetic
weights, seed 0) on the 256-multiplier SIGMA and MAERI presets.

Prints per preset: layers, median model seconds per layer, and the ratio of STONNE's recorded median
wall time per reference case (tests/data/stonne/cases.csv, stonne_wall_s, same family) to it.
Run: .venv/bin/python benchmarks/bench_accel.py
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd

from plumsim.accel.cfg import load_config
from plumsim.accel.simulate import simulate_layer
from plumsim.workload.synth import synth

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    wl = synth(ROOT / "workloads" / "resnet18-imagenet.yaml", "signed-binary", seed=0)
    convs = [l for l in wl.layers if l.kind == "conv"]
    cases = pd.read_csv(ROOT / "tests" / "data" / "stonne" / "cases.csv")
    for preset, fam in (("sigma_256", "SIGMA"), ("maeri_256", "MAERI")):
        cfg = load_config(ROOT / "accel_configs" / f"{preset}.cfg")
        secs = []
        for layer in convs:
            t0 = time.perf_counter()
            try:
                simulate_layer(layer, cfg)
            except (NotImplementedError, AttributeError) as exc:
                print(f"{preset}: model not available ({exc})")
                break
            secs.append(time.perf_counter() - t0)
        if not secs:
            continue
        stonne = float(cases[cases.family.str.startswith(fam)].stonne_wall_s.median())
        med = float(np.median(secs))
        print(f"{preset}: {len(secs)} conv layers, median {med:.4f} s/layer (max {max(secs):.3f} s), "
              f"STONNE median wall per reference case {stonne:.3f} s -> ratio {stonne / med:.0f}x")


if __name__ == "__main__":
    main()
