"""The PLUM paper's headline claims recomputed by plumsim, one row per claim (``plumsim experiment paper``).

The paper (Kuhar, Jain, Tumanov, "PLUM: Improving Inference Efficiency By Leveraging Repetition-Sparsity
Trade-Off") reports: signed-binary weights about 2.8x less dense than binary, about 2x the energy
efficiency (measured with STONNE), a 1.26x CPU speedup over binary and 1.75x over ternary, higher accuracy
than binary at the same number of non-zero weights, and 66.2% top-1 on ImageNet (ResNet-18).
:func:`run_paper` recomputes each one that can be recomputed offline, through the real stages:

* **density** (binary / signed-binary): the digits CNN trained with ``plumsim.quant`` (recipe
  ``digits-fast``, one run per seed; the runs of :func:`plumsim.quant.experiments.equal_nnz`), and the
  ResNet-20/CIFAR-10 and ResNet-18/ImageNet layer tables with synthetic latents
  (:func:`plumsim.workload.synth.synth`, the paper's quantizer rule, one draw per seed);
* **energy and cycles on SIGMA native** (STONNE's own sparse dataflow, the paper's STONNE setting):
  signed-binary vs binary and vs ternary on both tables (synthetic latents, signed-binary at the paper's
  density 0.36), on the trained digits CNN (lowered from the seed-0 checkpoints), and with the ``horowitz45``
  table (pJ) beside STONNE's own (:func:`plumsim.accel.dataflow.simulate_dataflow` priced with
  :func:`plumsim.energy.breakdown.group_energies`, per layer with the table for its weight width, the
  quantized layers only: the FP stem and classifier are the same for every scheme);
* **measured on STONNE**: every pair of stored real STONNE runs (``tests/data/stonne``) of the same SIGMA
  layer on the same machine with binary and signed-binary (or ternary) weights: STONNE's own energy and
  cycle ratios beside plumsim's model on the very same runs;
* **repetition-aware dataflows**: ``skip+repeat`` for every scheme on SIGMA, MAERI and the TPU mesh (all
  hypothetical machines, labelled with :func:`plumsim.accel.dataflow.hypothesis`), and MAERI / TPU
  ``native`` (dense in STONNE);
* **CPU speedups** (:mod:`plumsim.cpu.experiment`: numba kernels, each scheme in its best
  repetition-aware dataflow, median of repeats) on this machine;
* **accuracy** at equal non-zeros (:func:`plumsim.quant.experiments.equal_nnz`) and the value-assignment
  sweep (:func:`plumsim.quant.experiments.value_assignment`), mean +- sample std over seeds;
* the ImageNet top-1 row says why it is not recomputed here.

The returned DataFrame has the columns :data:`COLUMNS`, all text:

``claim``
    what is compared (e.g. "energy binary / signed-binary, SIGMA native");
``paper``
    the paper's figure as text ("2.8x", "about 2x"; "not reported" where the paper gives none);
``plumsim``
    plumsim's figure (mean +- std over seeds where there are several);
``unit``
    what the figures are ("x (binary density / signed-binary density)", "val accuracy 0..1", ...);
``setting``
    network, weights (trained or synthetic, seed, density), accelerator config file, energy table,
    dataflow (and whether STONNE runs it as modelled); paths relative to the source checkout;
``note``
    one line: why plumsim's figure differs from the paper's (or why it is not recomputed).

``df.attrs``: ``seconds`` (wall time of the run), ``settings`` (:meth:`Settings.as_dict`: quick, seeds,
epochs, configs, CPU machine ...), ``raw`` (the numbers behind the rows, for tests and scripts: densities
per seed, cycles and energy per network x scheme x machine x dataflow, the STONNE pairs, CPU totals,
accuracy summaries).

:func:`claims_json` gives the JSON the CLI writes to ``paper.json`` (and the demo to ``OUT/paper.json``,
which ``plumsim.report`` renders)::

    {"claims": [{"claim": str, "paper": str, "plumsim": str, "unit": str, "setting": str, "note": str}, ...],
     "seconds": float,            # wall time of the run
     "settings": {...},           # Settings.as_dict()
     "raw": {...}}                # the numbers behind the rows (optional for readers)

Full run (default): 3 seeds, the recipe's 15 epochs, five value-assignment fractions, three SIGMA
presets, ResNet-18 CPU timing (every dataflow, median of 5); a few minutes on 2 cores. ``quick=True``: 2
seeds, 5 epochs, fractions 0 / 0.5 / 1, one SIGMA preset, the dataflow variants on ResNet-20 only, CPU
timing of ResNet-20's quantized layers in skip+repeat (median of 3); well under a minute plus numba's
one-off compilation.
"""

from __future__ import annotations

import math
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import pandas as pd

from plumsim.errors import PlumsimError, WorkloadError
from plumsim.fileio import jsonable

COLUMNS = ("claim", "paper", "plumsim", "unit", "setting", "note")

#: the paper's figures, as text
PAPER = {"density": "2.8x", "energy": "about 2x", "cpu_binary": "1.26x", "cpu_ternary": "1.75x",
         "equal_nnz": "signed-binary more accurate than binary at the same non-zeros",
         "value_assignment": "p = 0.5 (half the filters positive)", "imagenet": "66.2% top-1",
         "none": "not reported"}

#: the paper's trained signed-binary density (2.8x below binary's 1.0)
PAPER_SB_DENSITY = 0.36

NETWORKS = {"resnet20": ("ResNet-20/CIFAR-10", "workloads/resnet20-cifar10.yaml"),
            "resnet18": ("ResNet-18/ImageNet", "workloads/resnet18-imagenet.yaml")}
SCHEMES = ("binary", "ternary", "signed-binary")
STONNE_SETS = ("tests/data/stonne/cases.csv", "tests/data/stonne/c_sigma/cases.csv")
MODEL = "cnn-digits"
RECIPE = "digits-fast"
RECIPE_EPOCHS = 15


@dataclass(frozen=True)
class Settings:
    """What one run computes (see the module doc for the full and quick choices)."""

    quick: bool = False
    seeds: tuple[int, ...] = (0, 1, 2)
    epochs: int = RECIPE_EPOCHS
    fractions: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0)
    sigma: str = "accel_configs/sigma_128.cfg"
    sigma_range: tuple[str, ...] = ("accel_configs/sigma_64.cfg", "accel_configs/sigma_128.cfg",
                                    "accel_configs/sigma_256.cfg")
    maeri: str = "accel_configs/maeri_128.cfg"
    tpu: str = "accel_configs/tpu_16x16.cfg"
    energy_table: str = "stonne"
    sb_density: float = PAPER_SB_DENSITY
    variant_networks: tuple[str, ...] = ("resnet20", "resnet18")
    cpu_table: str = "resnet18"
    cpu_fp_layers: bool = True
    cpu_dataflows: tuple[str, ...] = ("dense", "skip", "repeat", "skip+repeat")
    cpu_repeats: int = 5
    cpu_threads: int = 1
    extra: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        d = asdict(self)
        d.pop("extra")
        d.update(self.extra)
        d.update({"model": MODEL, "recipe": RECIPE, "data": "digits"})
        return d


def settings_for(quick: bool = False, seeds: int | None = None, epochs: int | None = None) -> Settings:
    """The full or quick settings; ``seeds`` (a count: seeds 0..N-1) and ``epochs`` override them."""
    if seeds is not None and (not isinstance(seeds, int) or isinstance(seeds, bool) or not 1 <= seeds <= 10):
        raise PlumsimError(f"expected a number of seeds in 1..10, got {seeds!r}", field="--seeds")
    if epochs is not None and (not isinstance(epochs, int) or isinstance(epochs, bool) or epochs < 1):
        raise PlumsimError(f"expected a number of epochs >= 1, got {epochs!r}", field="epochs")
    if quick:
        s = Settings(quick=True, seeds=(0, 1), epochs=5, fractions=(0.0, 0.5, 1.0),
                     sigma_range=("accel_configs/sigma_128.cfg",), variant_networks=("resnet20",),
                     cpu_table="resnet20", cpu_fp_layers=False, cpu_dataflows=("skip+repeat",), cpu_repeats=3)
    else:
        s = Settings()
    kw = {}
    if seeds is not None:
        kw["seeds"] = tuple(range(seeds))
    if epochs is not None:
        kw["epochs"] = int(epochs)
    return Settings(**{**asdict(s), **kw}) if kw else s


def default_root() -> Path:
    """The source checkout (layer tables, presets, stored STONNE runs)."""
    return Path(__file__).resolve().parents[2]


# -------------------------------------------------------------------------------------------- formatting
def _x(v: float) -> str:
    return "n/a" if v is None or not math.isfinite(v) else f"{v:.2f}x"


def _mean_std(values) -> tuple[float, float]:
    values = [float(v) for v in values]
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def _pm(values, fmt: str = "{:.2f}", suffix: str = "") -> str:
    m, s = _mean_std(values)
    return f"{fmt.format(m)}{suffix} ± {fmt.format(s)}"


def _setting(**parts) -> str:
    return "; ".join(f"{k.replace('_', ' ')}: {v}" for k, v in parts.items() if v)


def _row(claim, paper, plumsim, unit, setting, note) -> dict:
    return dict(zip(COLUMNS, (claim, paper, plumsim, unit, setting, note)))


def _seeds_text(seeds) -> str:
    return f"seed{'s' if len(seeds) > 1 else ''} {', '.join(str(s) for s in seeds)}"


# -------------------------------------------------------------------------------------------- pricing
class _Pricer:
    """Cycles and energy of a workload's quantized layers on a machine and dataflow (memoised)."""

    def __init__(self, root: Path):
        self.root = root
        self.configs: dict = {}
        self.tables: dict = {}
        self.memo: dict = {}

    def config(self, rel: str):
        from plumsim.accel.cfg import load_config

        if rel not in self.configs:
            self.configs[rel] = load_config(self.root / rel)
        return self.configs[rel]

    def table(self, name: str, bits: int):
        from plumsim.energy.tables import load_energy_table

        key = (name, bits)
        if key not in self.tables:
            self.tables[key] = load_energy_table(name, weight_bits=bits)
        return self.tables[key]

    def run(self, key, workload, cfg_rel: str, dataflow: str, table: str) -> dict:
        """{"cycles", "energy", "unit", "groups" (energy per breakdown group), "faithful", "hypothesis"}
        over the quantized layers."""
        from plumsim.accel.dataflow import hypothesis, is_stonne_faithful, simulate_dataflow
        from plumsim.energy.attribution import layer_weight_bits
        from plumsim.energy.breakdown import group_energies

        mkey = (key, cfg_rel, dataflow, table)
        if mkey in self.memo:
            return self.memo[mkey]
        cfg = self.config(cfg_rel)
        cycles, parts, unit, groups = 0, [], "", {}
        for lyr in workload.layers:
            if lyr.is_fp:
                continue
            r = simulate_dataflow(lyr, cfg, dataflow)
            e, unit, per = group_energies(r, self.table(table, min(32, layer_weight_bits(lyr))))
            cycles += int(r.cycles)
            parts.append(e)
            for g, v in per.items():
                groups[g] = groups.get(g, 0.0) + v
        out = {"cycles": cycles, "energy": math.fsum(parts), "unit": unit, "groups": groups,
               "faithful": is_stonne_faithful(cfg, dataflow), "hypothesis": hypothesis(cfg, dataflow)}
        self.memo[mkey] = out
        return out


def _synth(root: Path, net: str, scheme: str, seed: int = 0, density: float | None = None):
    from plumsim.workload.synth import synth

    return synth(root / NETWORKS[net][1], scheme, seed=seed, density=density)


def _quantized_density(workload) -> float:
    layers = [lyr for lyr in workload.layers if not lyr.is_fp]
    return sum(lyr.nnz for lyr in layers) / max(1, sum(lyr.numel for lyr in layers))


def _machine(cfg_rel: str) -> str:
    name = Path(cfg_rel).stem
    return {"sigma": "SIGMA", "maeri": "MAERI", "tpu": "TPU mesh"}.get(name.split("_")[0], name)


# -------------------------------------------------------------------------------------------- groups
def _value_assignment_runs(s: Settings, eq_runs: pd.DataFrame) -> pd.DataFrame:
    """The value-assignment runs (signed-binary with a fraction p of positive filters, every seed): the
    fractions other than 0.5 trained here, p = 0.5 taken from the signed-binary runs of ``eq_runs`` (the
    same arguments); sorted by p, then seed."""
    from plumsim.quant import experiments as X

    others = [p for p in s.fractions if p != 0.5]
    va_runs = X.value_assignment(fractions=others, seeds=list(s.seeds), epochs=s.epochs)[0] if others else pd.DataFrame()
    if 0.5 in s.fractions:   # the signed-binary runs of equal_nnz are the p = 0.5 runs (same arguments)
        half = eq_runs[eq_runs["variant"] == "signed-binary"].assign(variant="p=0.5", positive_fraction=0.5)
        va_runs = pd.concat([va_runs, half], ignore_index=True)
    return va_runs.sort_values(["positive_fraction", "seed"], kind="stable").reset_index(drop=True)


def _seed0_models(s: Settings):
    """Train the digits CNN once per scheme (seed 0) and lower it; gives (scheme -> Workload named
    ``<model>-<scheme>-trained-s0``, scheme -> weight density of the quantized layers, 0..1)."""
    from plumsim.quant.data import load_data
    from plumsim.quant.train import layer_stats, train
    from plumsim.workload import lower

    ds = load_data("digits")
    lowered, dens0 = {}, {}
    for scheme in SCHEMES:
        res = train(MODEL, scheme, "digits", epochs=s.epochs, seed=0, progress="none", dataset=ds)
        st = layer_stats(res.model)
        dens0[scheme] = float(st["nnz"].sum() / st["numel"].sum())
        wl = lower(res.model)
        wl.name = f"{MODEL}-{scheme}-trained-s0"
        lowered[scheme] = wl
    return lowered, dens0


def _trained_density_row(eq_runs: pd.DataFrame, dens0: dict, raw: dict, train_text: str) -> dict:
    """The claim row of binary / signed-binary density of the trained digits CNN (per seed, from the
    equal-nnz runs; ternary from ``dens0``); the densities are recorded in ``raw["density"]``."""
    by = {v: g.sort_values("seed") for v, g in eq_runs.groupby("variant")}
    sb_d = by["signed-binary"]["density"].tolist()
    bin_d = by["binary"]["density"].tolist()
    ratios = [b / max(d, 1e-12) for b, d in zip(bin_d, sb_d)]
    raw["density"] = {"digits": {"binary": bin_d, "signed-binary": sb_d, "ratio": ratios,
                                 "ternary_seed0": dens0["ternary"]}}
    return _row("density binary / signed-binary (trained digits CNN)", PAPER["density"],
                _pm(ratios, suffix="x"), "x (binary density / signed-binary density, quantized layers)",
                _setting(network=f"{MODEL} (8x8 digits, workloads/cnn-digits.yaml shapes)", weights=train_text,
                         layers="conv2, conv3 (stem and classifier FP)"),
                f"signed-binary density {_pm(sb_d)} (ternary {dens0['ternary']:.2f}); a tiny CNN trained "
                "for seconds, not the paper's ResNets: its latents end sparser than the paper's 0.36")


def _equal_nnz_row(eq_sum: pd.DataFrame, train_text: str) -> dict:
    """The claim row of validation accuracy (0..1, mean ± std over seeds) of signed-binary against binary
    thinned to the same non-zeros, with a verdict on whether the gap exceeds one std."""
    stats = eq_sum.set_index("variant")

    def acc(v):
        r = stats.loc[v]
        return f"{r['acc_mean']:.3f} ± {r['acc_std']:.3f}"

    gap = stats.loc["signed-binary", "acc_mean"] - stats.loc["binary-thinned", "acc_mean"]
    spread = max(stats.loc["signed-binary", "acc_std"], stats.loc["binary-thinned", "acc_std"])
    verdict = ("within one std: digits is too easy to separate the schemes (the paper's gap is on "
               "CIFAR-10/ImageNet ResNets)") if abs(gap) <= max(spread, 1e-9) else \
        ("signed-binary ahead, as in the paper" if gap > 0 else
         "binary-thinned ahead on digits; the paper's gap is on CIFAR-10/ImageNet ResNets")
    return _row("accuracy at equal non-zeros: signed-binary vs binary thinned to its non-zeros",
                PAPER["equal_nnz"],
                f"signed-binary {acc('signed-binary')} vs binary-thinned {acc('binary-thinned')} "
                f"(plain binary {acc('binary')})", "val accuracy 0..1 (mean ± std over seeds)",
                _setting(network=MODEL, weights=train_text,
                         thinning="binary keeps its largest-|w| weights, per layer as many as the "
                                  "signed-binary run of the same seed (plumsim.quant.experiments.equal_nnz)"),
                f"gap {gap:+.3f}: {verdict}")


def _value_assignment_row(va_runs: pd.DataFrame, va_sum: pd.DataFrame, train_text: str) -> dict:
    """The claim row of validation accuracy (0..1, mean ± std) and density per fraction p of positive
    filters, naming the best p."""
    va = va_sum.set_index("variant")
    parts = [f"p={p:g}: {va.loc[f'p={p:g}', 'acc_mean']:.3f} ± {va.loc[f'p={p:g}', 'acc_std']:.3f} "
             f"(density {va.loc[f'p={p:g}', 'density_mean']:.2f})" for p in sorted(set(va_runs["positive_fraction"]))]
    best = va_sum.sort_values("acc_mean", ascending=False).iloc[0]
    return _row("value assignment: accuracy vs fraction p of positive filters (signed-binary)",
                PAPER["value_assignment"], "; ".join(parts), "val accuracy 0..1 (mean ± std), density",
                _setting(network=MODEL, weights=train_text),
                f"best {best['variant']} (accuracy spread {va_sum['acc_mean'].max() - va_sum['acc_mean'].min():.3f} "
                f"across p, largest std {va_sum['acc_std'].max():.3f}) on a two-layer digits CNN trained for "
                "seconds; the paper's p = 0.5 is its ResNet setting")


def _training(s: Settings, raw: dict) -> tuple[list[dict], dict]:
    """Density, equal-nnz and value-assignment rows on digits; the lowered seed-0 models."""
    from plumsim.quant import experiments as X

    seeds = list(s.seeds)
    eq_runs, eq_sum = X.equal_nnz(seeds=seeds, epochs=s.epochs)
    va_runs = _value_assignment_runs(s, eq_runs)
    va_sum = X.summarize(va_runs)
    lowered, dens0 = _seed0_models(s)
    raw["training"] = {"equal_nnz_runs": eq_runs.to_dict("records"), "equal_nnz": eq_sum.to_dict("records"),
                       "value_assignment_runs": va_runs.to_dict("records"),
                       "value_assignment": va_sum.to_dict("records"), "seed0_density": dens0}
    train_text = f"trained ({RECIPE}, {s.epochs} epochs, {_seeds_text(seeds)})"
    rows = [_trained_density_row(eq_runs, dens0, raw, train_text),
            _equal_nnz_row(eq_sum, train_text),
            _value_assignment_row(va_runs, va_sum, train_text)]
    return rows, lowered


def _density_tables(s: Settings, root: Path, raw: dict) -> list[dict]:
    rows = []
    for net, (label, rel) in NETWORKS.items():
        sb = [_quantized_density(_synth(root, net, "signed-binary", seed)) for seed in s.seeds]
        ter = [_quantized_density(_synth(root, net, "ternary", seed)) for seed in s.seeds]
        ratios = [1.0 / d for d in sb]
        raw["density"][net] = {"binary": [1.0] * len(sb), "signed-binary": sb, "ternary": ter, "ratio": ratios}
        rows.append(_row(f"density binary / signed-binary ({label} layer table)", PAPER["density"],
                         _pm(ratios, suffix="x"), "x (binary density / signed-binary density, quantized layers)",
                         _setting(network=f"{label} ({rel})",
                                  weights=f"synthetic standard-normal latents, {_seeds_text(s.seeds)}, the paper's "
                                          "quantizer rule (threshold 0.05·max|w| per filter)"),
                         f"signed-binary density {_pm(sb)} (ternary {_pm(ter)}): on untrained normal latents "
                         "the threshold removes few weights; training concentrates latents near zero (paper 0.36)"))
    return rows


def _ratio_text(vals: dict, labels: dict) -> str:
    return ", ".join(f"{_x(v)} ({labels[k]})" for k, v in vals.items())


def _sigma_runs(s: Settings, root: Path, pricer: _Pricer, raw: dict):
    """SIGMA native runs of every network's synthetic seed-0 workloads: each scheme (signed-binary at the
    paper's density) on every config of ``s.sigma_range``, and signed-binary at the quantizer's own density
    on ``s.sigma``; recorded in ``raw``. Gives (workloads by (network, scheme), results by (network,
    scheme, cfg), rule-density results by network)."""
    nets = list(NETWORKS)
    wl = {(n, sc): _synth(root, n, sc, 0, s.sb_density if sc == "signed-binary" else None)
          for n in nets for sc in SCHEMES}
    res = {(n, sc, cfg): pricer.run((n, sc, "paper"), wl[(n, sc)], cfg, "native", s.energy_table)
           for n in nets for sc in SCHEMES for cfg in s.sigma_range}
    native_sb = {n: _synth(root, n, "signed-binary", 0) for n in nets}   # the quantizer's own density
    rule = {n: pricer.run((n, "signed-binary", "rule"), native_sb[n], s.sigma, "native", s.energy_table) for n in nets}
    raw["sigma_native"] = {f"{n}/{sc}/{Path(cfg).stem}": r for (n, sc, cfg), r in res.items()}
    raw["sigma_native_rule_density"] = {n: dict(r, density=_quantized_density(native_sb[n])) for n, r in rule.items()}
    return wl, res, rule


def _sigma_table_rows(s: Settings, res: dict, rule: dict, raw: dict, setting: str, unit_e: str) -> list[dict]:
    """The four claim rows of SIGMA native in the sweep's energy table (unit ``unit_e``): energy and cycles
    of binary and of ternary over signed-binary, with their spread over ``s.sigma_range`` and, for binary
    energy, the ratio at the quantizer's own density (``rule``)."""
    nets = list(NETWORKS)
    labels = {n: NETWORKS[n][0] for n in nets}

    def ratios(metric, other, cfg=None):
        cfg = cfg or s.sigma
        return {n: res[(n, other, cfg)][metric] / res[(n, "signed-binary", cfg)][metric] for n in nets}

    def spread(metric, other):
        if len(s.sigma_range) < 2:
            return ""
        vals = [v for c in s.sigma_range for v in ratios(metric, other, c).values()]
        return f"; {min(vals):.2f}-{max(vals):.2f}x over {', '.join(Path(c).stem for c in s.sigma_range)}"

    dens_ratio = 1.0 / s.sb_density
    rule_e = {n: res[(n, "binary", s.sigma)]["energy"] / rule[n]["energy"] for n in nets}
    big = res[(nets[-1], "binary", s.sigma)]
    gb_share = big["groups"].get("global buffer", 0.0) / big["energy"] if big["energy"] else 0.0
    rule_d = ", ".join(f"{raw['sigma_native_rule_density'][n]['density']:.2f}" for n in nets)
    return [
        _row("energy binary / signed-binary, SIGMA native", PAPER["energy"], _ratio_text(ratios("energy", "binary"), labels),
             f"x (energy ratio, {unit_e})", setting,
             f"SIGMA skips zero weights: its networks and arithmetic shrink with the non-zeros ({dens_ratio:.2f}x "
             f"fewer), its global-buffer reads of the streamed inputs do not ({gb_share:.0%} of binary's energy on "
             f"{labels[nets[-1]]}){spread('energy', 'binary')}; at the quantizer's own density on normal latents ({rule_d}) "
             f"{_ratio_text(rule_e, labels)}"),
        _row("energy ternary / signed-binary, SIGMA native", PAPER["none"], _ratio_text(ratios("energy", "ternary"), labels),
             f"x (energy ratio, {unit_e})", setting,
             f"ternary (TWN) keeps about 0.58 of its weights: SIGMA pays for its extra non-zeros{spread('energy', 'ternary')}"),
        _row("cycles binary / signed-binary, SIGMA native", PAPER["none"], _ratio_text(ratios("cycles", "binary"), labels),
             "x (cycle ratio, STONNE cycles)", setting,
             f"fewer non-zeros pack more filters per iteration: cycles drop more than energy{spread('cycles', 'binary')}"),
        _row("cycles ternary / signed-binary, SIGMA native", PAPER["none"], _ratio_text(ratios("cycles", "ternary"), labels),
             "x (cycle ratio, STONNE cycles)", setting,
             f"cycles follow the stationary non-zeros and the reconfigurations{spread('cycles', 'ternary')}"),
    ]


def _sigma_horowitz_row(s: Settings, pricer: _Pricer, wl: dict, raw: dict, setting: str, unit_e: str,
                        cfg_text: str) -> dict:
    """The claim row of binary / signed-binary energy on ``s.sigma`` priced with the physical Horowitz
    45 nm table (pJ); the runs are recorded in ``raw``."""
    nets = list(NETWORKS)
    labels = {n: NETWORKS[n][0] for n in nets}
    hrun = {(n, sc): pricer.run((n, sc, "paper"), wl[(n, sc)], s.sigma, "native", "horowitz45")
            for n in nets for sc in ("binary", "signed-binary")}
    hz = {n: hrun[(n, "binary")]["energy"] / hrun[(n, "signed-binary")]["energy"] for n in nets}
    hbig = hrun[(nets[-1], "binary")]
    hgb = hbig["groups"].get("global buffer", 0.0) / hbig["energy"] if hbig["energy"] else 0.0
    raw["sigma_native_horowitz45"] = {f"{n}/{sc}": r for (n, sc), r in hrun.items()}
    return _row("energy binary / signed-binary, SIGMA native, physical table", PAPER["energy"],
                _ratio_text(hz, labels), "x (energy ratio, pJ)",
                setting.replace(f"energy table: {s.energy_table} ({unit_e})",
                                "energy table: horowitz45 (pJ, 45 nm, operand widths of each scheme)")
                       .replace(cfg_text, s.sigma),
                f"in pJ the global-buffer reads are {hgb:.0%} of binary's energy ({labels[nets[-1]]}) and SIGMA "
                "reads the streamed inputs whatever the weights' density; Horowitz prices no wires or switches, "
                "which carry most of the saving in STONNE's table: the paper's ~2x rests on STONNE's table")


def _sigma_trained_row(s: Settings, pricer: _Pricer, lowered: dict, raw: dict, unit_e: str) -> dict:
    """The claim row of binary (and ternary) / signed-binary energy on ``s.sigma`` for the trained digits
    CNN lowered from the seed-0 checkpoints (``lowered``: scheme -> Workload); runs recorded in ``raw``."""
    tr = {sc: pricer.run(("digits", sc, "trained"), lowered[sc], s.sigma, "native", s.energy_table) for sc in SCHEMES}
    raw["sigma_native_trained_digits"] = tr
    dens = {sc: _quantized_density(lowered[sc]) for sc in SCHEMES}
    return _row("energy binary / signed-binary (and ternary / signed-binary), SIGMA native, trained weights",
                PAPER["energy"],
                f"{_x(tr['binary']['energy'] / tr['signed-binary']['energy'])} "
                f"(ternary: {_x(tr['ternary']['energy'] / tr['signed-binary']['energy'])})",
                f"x (energy ratio, {unit_e})",
                _setting(network=f"{MODEL} conv2, conv3 (8x8 and 4x4 inputs)",
                         weights=f"trained ({RECIPE}, {s.epochs} epochs, seed 0), lowered with plumsim.lower; "
                                 f"densities binary {dens['binary']:.2f}, ternary {dens['ternary']:.2f}, "
                                 f"signed-binary {dens['signed-binary']:.2f}",
                         accelerator=s.sigma, energy_table=f"{s.energy_table} ({unit_e})",
                         dataflow="native (STONNE-faithful)"),
                f"real trained weights: signed-binary ended at density {dens['signed-binary']:.2f} (binary / "
                f"signed-binary {dens['binary'] / max(dens['signed-binary'], 1e-12):.2f}x), and SIGMA's energy "
                "follows the non-zeros; two small layers only")


def _sigma_native(s: Settings, root: Path, pricer: _Pricer, lowered: dict, raw: dict) -> list[dict]:
    """The SIGMA native claim rows: synthetic workloads in the sweep's energy table and in Horowitz pJ,
    and the trained digits CNN (``lowered``); every run is recorded in ``raw``."""
    wl, res, rule = _sigma_runs(s, root, pricer, raw)
    unit_e = res[(list(NETWORKS)[0], "binary", s.sigma)]["unit"]
    cfg_text = s.sigma + (f" (range: {', '.join(Path(c).stem for c in s.sigma_range)})" if len(s.sigma_range) > 1 else "")
    setting = _setting(network="ResNet-20/CIFAR-10 and ResNet-18/ImageNet tables",
                       weights=f"synthetic (seed 0), signed-binary at the paper's density {s.sb_density}, "
                               "binary, ternary (TWN rule)",
                       accelerator=cfg_text, energy_table=f"{s.energy_table} ({unit_e})",
                       dataflow="native (SIGMA skips zero weights; STONNE-faithful)")
    rows = _sigma_table_rows(s, res, rule, raw, setting, unit_e)
    # the same in pJ (Horowitz 45 nm)
    rows.append(_sigma_horowitz_row(s, pricer, wl, raw, setting, unit_e, cfg_text))
    # trained digits CNN, lowered from the seed-0 checkpoints
    rows.append(_sigma_trained_row(s, pricer, lowered, raw, unit_e))
    return rows


def _i(v):
    """A whole-number cell as int (CSV columns with blanks read as float), anything else unchanged."""
    try:
        f = float(v)
    except (TypeError, ValueError):
        return v
    return int(f) if math.isfinite(f) and f.is_integer() else v


def _stonne_pairs(root: Path) -> list[dict]:
    """Every stored SIGMA pair (same layer, same machine) with binary or ternary and signed-binary weights:
    STONNE's cycles and energy and plumsim's model of the same runs."""
    from plumsim.energy.breakdown import total_energy
    from plumsim.energy.tables import load_energy_table
    from plumsim.stonne.validate import prepare_case, read_cases

    key = ["op", "N", "G", "C", "K", "R", "S", "X", "Y", "stride", "padding", "ms_size", "dn_bw", "rn_bw",
           "mn_type", "rn_type"]
    frames, rows_by_id = [], {}
    for rel in STONNE_SETS:
        path = root / rel
        if not path.is_file():
            continue
        df = pd.read_csv(path, low_memory=False)
        df = df[df["controller_type"] == "SIGMA_SPARSE_GEMM"]
        frames.append(df[["case_id", "weight_kind", "weight_density", "cycles", "energy_total", *key]].assign(file=rel))
        for ref, row in read_cases(path):
            rows_by_id[str(row["case_id"])] = (ref, row, path.parent)
    if not frames:
        return []
    allrows = pd.concat(frames, ignore_index=True)
    for k in key:
        allrows[f"key_{k}"] = allrows[k].map(_i).astype(str)
    table = load_energy_table("stonne")
    model: dict = {}

    def modelled(cid):
        if cid not in model:
            ref, row, base = rows_by_id[cid]
            r = prepare_case(row, base, ref)()
            model[cid] = {"cycles": int(r.cycles), "energy": total_energy(r, table)}
        return model[cid]

    pairs = []
    for _, g in allrows.groupby([f"key_{k}" for k in key], sort=False):
        kinds = set(g["weight_kind"])
        sbs = g[g["weight_kind"].str.startswith("signed_binary")]
        for other in ("binary", "ternary"):
            if other not in kinds or sbs.empty:
                continue
            o = g[g["weight_kind"] == other].iloc[0]
            for _, sb in sbs.iterrows():
                mo, ms = modelled(str(o["case_id"])), modelled(str(sb["case_id"]))
                pairs.append({"versus": other, "other_case": o["case_id"], "sb_case": sb["case_id"],
                              "files": sorted({o["file"], sb["file"]}), "sb_density": float(sb["weight_density"]),
                              "layer": f"{o['op']} C{_i(o['C'])} K{_i(o['K'])} {_i(o['R'])}x{_i(o['S'])} on "
                                       f"{_i(o['X'])}x{_i(o['Y'])}",
                              "machine": f"SIGMA ms {_i(o['ms_size'])} dn {_i(o['dn_bw'])} rn {_i(o['rn_bw'])}",
                              "stonne_energy": float(o["energy_total"]) / float(sb["energy_total"]),
                              "stonne_cycles": float(o["cycles"]) / float(sb["cycles"]),
                              "model_energy": mo["energy"] / ms["energy"],
                              "model_cycles": mo["cycles"] / ms["cycles"]})
    return pairs


def _stonne_rows(root: Path, raw: dict) -> list[dict]:
    pairs = _stonne_pairs(root)
    raw["stonne_pairs"] = pairs
    if not pairs:
        return [_row("energy binary / signed-binary, measured on STONNE", PAPER["energy"], "n/a",
                     "x (energy ratio, STONNE units)", "stored STONNE runs (tests/data/stonne)",
                     "no stored STONNE runs found: they ship in a source checkout only")]
    rows = []
    for other, metric in (("binary", "energy"), ("ternary", "energy"), ("binary", "cycles"), ("ternary", "cycles")):
        ps = [p for p in pairs if p["versus"] == other]
        if not ps:
            continue
        st = ", ".join(f"{p[f'stonne_{metric}']:.2f}x (d {p['sb_density']:.2f})" for p in ps)
        md = ", ".join(f"{p[f'model_{metric}']:.2f}x" for p in ps)
        err = max(abs(p[f"model_{metric}"] / p[f"stonne_{metric}"] - 1) for p in ps)
        files = sorted({f for p in ps for f in p["files"]})
        machines = sorted({p["machine"] for p in ps})
        layers = sorted({p["layer"] for p in ps})
        paper = PAPER["energy"] if (other, metric) == ("binary", "energy") else PAPER["none"]
        unit = "x (energy ratio, STONNE units)" if metric == "energy" else "x (cycle ratio, STONNE cycles)"
        note = (f"measured, not modelled: {len(ps)} stored pair(s) of the same layer and machine; plumsim's model "
                f"is within {err:.2%} of STONNE's ratio on them")
        if (other, metric) == ("binary", "energy"):
            note += "; SIGMA skips zeros, so the ratio grows as signed-binary gets sparser"
        rows.append(_row(f"{metric} {other} / signed-binary, SIGMA native, measured on STONNE",
                         paper, f"measured on STONNE: {st}; plumsim model: {md}", unit,
                         _setting(network=f"ResNet-20-shaped 3x3 conv ({'; '.join(layers)})",
                                  weights="synthetic (stored reference weights; d = signed-binary density)",
                                  accelerator="; ".join(machines) + " (STONNE commit 22634b8)",
                                  energy_table="STONNE's own (STONNE units)",
                                  dataflow="native (STONNE's SIGMA, MK_STA_KN_STR)", runs=", ".join(files)),
                         note))
    return rows


def _variants(s: Settings, root: Path, pricer: _Pricer, raw: dict) -> list[dict]:
    """skip+repeat for every scheme on SIGMA, MAERI, TPU; MAERI / TPU native."""
    nets = list(s.variant_networks)
    labels = {n: NETWORKS[n][0] for n in nets}
    wl = {(n, sc): _synth(root, n, sc, 0, s.sb_density if sc == "signed-binary" else None)
          for n in nets for sc in SCHEMES}
    out = {}
    rows = []
    net_text = " and ".join(f"{labels[n]} table" for n in nets)
    weights = f"synthetic (seed 0), signed-binary at density {s.sb_density}, binary, ternary (TWN rule)"
    for cfg, dataflows in ((s.sigma, ("skip+repeat",)), (s.maeri, ("native", "skip+repeat")),
                           (s.tpu, ("native", "skip+repeat"))):
        for df in dataflows:
            r = {(n, sc): pricer.run((n, sc, "paper"), wl[(n, sc)], cfg, df, s.energy_table) for n in nets for sc in SCHEMES}
            out.update({f"{n}/{sc}/{Path(cfg).stem}/{df}": v for (n, sc), v in r.items()})
            e_b = {n: r[(n, "binary")]["energy"] / r[(n, "signed-binary")]["energy"] for n in nets}
            e_t = {n: r[(n, "ternary")]["energy"] / r[(n, "signed-binary")]["energy"] for n in nets}
            c_b = {n: r[(n, "binary")]["cycles"] / r[(n, "signed-binary")]["cycles"] for n in nets}
            sample = r[(nets[0], "signed-binary")]
            machine = _machine(cfg)
            hyp = sample["hypothesis"]
            label = "STONNE-faithful" if sample["faithful"] else "hypothetical machine"
            setting = _setting(network=net_text, weights=weights, accelerator=cfg,
                               energy_table=f"{s.energy_table} ({sample['unit']})",
                               dataflow=f"{df} for every scheme ({label}{': ' + hyp if hyp else ''})")
            text = (f"energy binary/sb {_ratio_text(e_b, labels)}; energy ternary/sb {_ratio_text(e_t, labels)}; "
                    f"cycles binary/sb {_ratio_text(c_b, labels)}")
            if df == "native":
                note = (f"{machine} is dense in STONNE: every zero is multiplied, so every scheme costs the same; "
                        "signed-binary's sparsity needs a machine that skips zeros")
            elif machine == "SIGMA":
                note = ("binary gains the most from repetition (SumMerge: one shared window sum, half of its rows), "
                        "so its gap to signed-binary shrinks from SIGMA native's (the paper's ~2x setting): "
                        "repetition hardware mostly helps binary")
            else:
                note = (f"on a dense {machine} that could skip zeros and factorize, signed-binary's sparsity and "
                        "single value per filter both pay: hypothetical hardware, not what STONNE runs; the "
                        "paper's ~2x is SIGMA native")
            rows.append(_row(f"signed-binary vs binary and ternary, {machine} {df}", PAPER["none"], text,
                             f"x (ratios; energy {sample['unit']}, cycles STONNE cycles)", setting, note))
    raw["variants"] = out
    return rows


def _cpu(s: Settings, root: Path, raw: dict) -> list[dict]:
    from plumsim.cpu import experiment as E
    from plumsim.workload.format import Workload

    net = s.cpu_table
    wls = [_synth(root, net, sc, 0, s.sb_density if sc == "signed-binary" else None)
           for sc in ("signed-binary", "binary", "ternary")]
    if not s.cpu_fp_layers:
        wls = [Workload(name=w.name, layers=[lyr for lyr in w.layers if not lyr.is_fp], meta=w.meta) for w in wls]
    load = _loadavg()
    layers = E.time_workloads(wls, threads=[s.cpu_threads], repeats=s.cpu_repeats, warmup=1,
                              dataflows=s.cpu_dataflows, seed=0)
    load = max(load, _loadavg())
    sp = E.speedups(layers)
    best = {f"{k[0]}@{k[1]}": v for k, v in E.best_dataflows(layers).items()}
    m = E.machine_info()
    tot = sp[(sp["baseline"] == "best") & (sp["layer"].str.startswith("TOTAL"))]
    dense = sp[(sp["baseline"] == "dense") & (sp["layer"] == "TOTAL")]
    raw["cpu"] = {"machine": m, "best_dataflow": best, "load_average": load, "totals": tot.to_dict("records"),
                  "dense": dense.to_dict("records")}
    machine = (f"{m['cpu']} ({m['cores']} cores, {'/'.join(m['simd'][:2]) or 'no SIMD flags read'}), numba {m['numba']}, "
               f"{s.cpu_threads} thread{'s' if s.cpu_threads > 1 else ''}")
    layers_text = "every layer (FP stem, shortcuts, classifier on the dense kernel)" if s.cpu_fp_layers \
        else "quantized layers only"
    cores = m.get("cores") or 1
    busy = (f"; timed while the load average was {load:.1f} on {cores} cores: other processes inflate the "
            "times" if load > cores else "")
    rows = []
    for other in ("binary", "ternary"):
        t = tot[tot["versus"] == other].set_index("layer")
        if "TOTAL" not in t.index:
            continue
        allr = t.loc["TOTAL"]
        q = t.loc["TOTAL (quantized)"] if "TOTAL (quantized)" in t.index else allr
        d = dense[dense["versus"] == other]
        dense_text = f"; vs {other}'s dense kernel {d['measured'].iloc[0]:.2f}x" if len(d) else ""
        extra = f" ({q['measured']:.2f}x quantized layers only)" if s.cpu_fp_layers else ""
        rows.append(_row(f"CPU speedup signed-binary over {other}", PAPER[f"cpu_{other}"],
                         f"{allr['measured']:.2f}x measured{extra}; model predicts {allr['predicted']:.2f}x",
                         f"x ({other} ms / signed-binary ms, median of {s.cpu_repeats})",
                         _setting(network=f"{NETWORKS[net][0]} table, batch 1, {layers_text}",
                                  weights=f"synthetic (seed 0), signed-binary at density {s.sb_density}",
                                  machine=machine,
                                  kernels=f"plumsim.cpu, each scheme in its best repetition-aware dataflow "
                                          f"(signed-binary {allr['signed_binary_dataflow']}, {other} "
                                          f"{allr['other_dataflow']}){dense_text}"),
                         "a different CPU (the paper: Intel Xeon), numba kernels, other vector widths and caches; "
                         "the prediction counts mults + adds + index bits, not memory traffic" + busy))
    return rows


def _loadavg() -> float:
    import os

    try:
        return float(os.getloadavg()[0])
    except (OSError, AttributeError):
        return 0.0


def _not_recomputed() -> list[dict]:
    return [_row("ImageNet top-1 accuracy, signed-binary ResNet-18", PAPER["imagenet"], "not recomputed",
                 "top-1 accuracy", _setting(network="ResNet-18/ImageNet", weights="would be trained (320 epochs)"),
                 "needs ImageNet and days of training: `plumsim train --model resnet18 --data imagenet:PATH "
                 "--recipe imagenet-resnet18` runs the paper's recipe")]


# -------------------------------------------------------------------------------------------- driver
def run_paper(quick: bool = False, *, seeds: int | None = None, epochs: int | None = None,
              root: str | Path | None = None, progress: Callable[[str], None] | None = None) -> pd.DataFrame:
    """Recompute every claim (module doc); returns the claims DataFrame (columns :data:`COLUMNS`, attrs
    ``seconds``, ``settings``, ``raw``). ``progress``: called with one line per claim group (default: stderr)."""
    s = settings_for(quick, seeds, epochs)
    root = Path(root) if root is not None else default_root()
    for rel in (*(v[1] for v in NETWORKS.values()), s.sigma, *s.sigma_range, s.maeri, s.tpu):
        if not (root / rel).is_file():
            raise WorkloadError("the paper experiment needs the layer tables and accelerator presets of a "
                                "plumsim source checkout", path=root / rel)
    say = progress or (lambda line: print(line, file=sys.stderr, flush=True))
    t0 = time.perf_counter()
    raw: dict = {}
    pricer = _Pricer(root)
    groups = 6
    rows: list[dict] = []

    def step(i, text):
        say(f"[paper {i}/{groups}] {text} ({time.perf_counter() - t0:.0f} s)")

    step(1, f"training {MODEL} on digits ({RECIPE}, {s.epochs} epochs, {_seeds_text(s.seeds)}): density, "
            "equal non-zeros, value assignment")
    train_rows, lowered = _training(s, raw)
    step(2, "density of the ResNet-20 and ResNet-18 tables (synthetic latents)")
    dens_rows = _density_tables(s, root, raw)
    rows += train_rows[:1] + dens_rows
    step(3, f"energy and cycles on SIGMA native ({', '.join(Path(c).stem for c in s.sigma_range)})")
    rows += _sigma_native(s, root, pricer, lowered, raw)
    step(4, "stored STONNE runs: measured ratios beside plumsim's model")
    rows += _stonne_rows(root, raw)
    step(5, "repetition-aware dataflows (skip+repeat) on SIGMA, MAERI, TPU; MAERI and TPU native")
    rows += _variants(s, root, pricer, raw)
    step(6, f"CPU kernels ({NETWORKS[s.cpu_table][0]}, {', '.join(s.cpu_dataflows)}, median of {s.cpu_repeats})")
    rows += _cpu(s, root, raw)
    rows += train_rows[1:] + _not_recomputed()
    df = pd.DataFrame(rows, columns=list(COLUMNS))
    seconds = round(time.perf_counter() - t0, 1)
    df.attrs.update({"seconds": seconds, "settings": s.as_dict(), "raw": raw})
    say(f"[paper] {len(df)} claims in {seconds:.0f} s")
    return df


# -------------------------------------------------------------------------------------------- output
def settings_json(settings: Settings) -> dict:
    """``settings.as_dict()`` as it reads back from paper.json (lists, plain numbers): two runs made with
    the same settings compare equal."""
    return jsonable(settings.as_dict())


def claims_json(df: pd.DataFrame) -> dict:
    """{"claims": [{claim, paper, plumsim, unit, setting, note}, ...], "seconds": float, "settings": {...},
    "raw": {...}} (the module doc's shape)."""
    claims = [{c: str(r[c]) for c in COLUMNS} for r in df.to_dict("records")]
    return {"claims": claims, "seconds": float(df.attrs.get("seconds", 0.0)),
            "settings": jsonable(df.attrs.get("settings", {})), "raw": jsonable(df.attrs.get("raw", {}))}


def frame_from_json(doc: dict) -> pd.DataFrame:
    """The claims DataFrame back from :func:`claims_json`'s dict (attrs restored)."""
    claims = doc.get("claims") if isinstance(doc, dict) else None
    if not isinstance(claims, list) or not all(isinstance(c, dict) for c in claims):
        raise PlumsimError("expected a mapping with a list 'claims'", field="claims")
    df = pd.DataFrame([{c: str(r.get(c, "")) for c in COLUMNS} for r in claims], columns=list(COLUMNS))
    df.attrs.update({"seconds": float(doc.get("seconds") or 0.0), "settings": doc.get("settings") or {},
                     "raw": doc.get("raw") or {}})
    return df


def _md_cell(text) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def claims_markdown(df: pd.DataFrame) -> str:
    """A GitHub-flavoured markdown table of the claims, with a line saying how it was run."""
    st = df.attrs.get("settings", {})
    mode = "quick" if st.get("quick") else "full"
    seeds = st.get("seeds") or []
    head = (f"PLUM's claims recomputed by plumsim ({mode} run, {len(seeds)} seed{'s' if len(seeds) != 1 else ''}, "
            f"{float(df.attrs.get('seconds', 0.0)):.0f} s)")
    lines = [head, "", "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for r in df.to_dict("records"):
        lines.append("| " + " | ".join(_md_cell(r[c]) for c in COLUMNS) + " |")
    return "\n".join(lines) + "\n"


def claims_text(df: pd.DataFrame) -> str:
    """Human-readable blocks, one per claim (the CLI's ``--format table``)."""
    out = []
    for i, r in enumerate(df.to_dict("records"), 1):
        out.append(f"{i:2d}. {r['claim']}\n    paper: {r['paper']}\n    plumsim: {r['plumsim']}   [{r['unit']}]\n"
                   f"    setting: {r['setting']}\n    note: {r['note']}")
    return "\n".join(out) + "\n"


#: the files :func:`write_claims` can write, by format
FILES = {"json": "paper.json", "markdown": "paper.md", "csv": "paper.csv"}


def write_claims(df: pd.DataFrame, out: str | Path, formats=("json", "markdown", "csv")) -> list[Path]:
    """Write the claims into folder ``out`` (paper.json / paper.md / paper.csv), each file atomically
    (whole or not at all); an OSError becomes :class:`plumsim.errors.StorageError`. Returns the paths."""
    import json

    from plumsim.fileio import atomic_write_bytes, make_dirs

    out = Path(out)
    make_dirs(out)
    data = {"json": lambda: json.dumps(claims_json(df), indent=2, ensure_ascii=False) + "\n",
            "markdown": lambda: claims_markdown(df),
            "csv": lambda: df[list(COLUMNS)].to_csv(index=False)}
    written = []
    for fmt in formats:
        written.append(atomic_write_bytes(out / FILES[fmt], data[fmt]().encode("utf-8")))
    return written
