"""The end-to-end demo (``plumsim demo --out results/demo``, ``make demo``).

1. train the digits CNN (scikit-learn's 8x8 digits, offline) with fp, binary, ternary and signed-binary
   weights (the fast recipe; a finished checkpoint in OUT/models is reused, an interrupted one resumed);
2. lower each checkpoint to a workload (OUT/lowered/);
3. add the ResNet-20/CIFAR-10 and ResNet-18/ImageNet layer tables with synthetic seeded weights;
4. sweep the grid ``accel_configs/sweeps/demo.yaml`` (MAERI, SIGMA and TPU presets, four repetition modes)
   plus the lowered digits models: results, attribution, plots (OUT/plots/);
5. recompute the PLUM paper's claims, quick version (:mod:`plumsim.pipeline.paper`): OUT/paper.json (the
   shape of :func:`plumsim.pipeline.paper.claims_json`, rendered by the report) and OUT/paper.md;
6. write OUT/report.html.

Every step keeps what is done, so running it again costs seconds.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import yaml

from plumsim.errors import ConfigError

SCHEMES = ("fp", "binary", "ternary", "signed-binary")
MODEL = "cnn-digits"


def default_grid() -> Path:
    """The shipped demo grid (a source checkout or editable install)."""
    return Path(__file__).resolve().parents[2] / "accel_configs" / "sweeps" / "demo.yaml"


def _absolutise(raw: dict, grid_path: Path) -> dict:
    """Copy of a grid dict with the relative paths made absolute (the copy lives in another folder)."""
    def fix(p):
        q = Path(str(p)).expanduser()
        return str(q if q.is_absolute() else (grid_path.parent / q).resolve())

    out = yaml.safe_load(yaml.safe_dump(raw))
    for acc in out.get("accelerators") or []:
        if isinstance(acc, dict) and "base" in acc:
            acc["base"] = fix(acc["base"])
    for w in out.get("workloads") or []:
        for k in ("table", "dir"):
            if isinstance(w, dict) and k in w:
                w[k] = fix(w[k])
    if out.get("energy_table") not in (None, "stonne", "horowitz45"):
        out["energy_table"] = fix(out["energy_table"])
    return out


def train_models(out: Path, epochs: int | None, log) -> list[dict]:
    """Train (or reuse / resume) the digits CNN per scheme; returns one summary dict per model."""
    from plumsim.quant.data import load_data
    from plumsim.quant.train import train

    data = None
    rows = []
    for scheme in SCHEMES:
        ck = out / "models" / f"{MODEL}-{scheme}"
        t0 = time.perf_counter()
        done = (ck / "config.json").is_file()
        if data is None:
            data = load_data("digits")
        res = train(MODEL, scheme, "digits", ck, epochs=epochs, resume=done, seed=0, progress="none",
                    dataset=data)
        h = res.history
        last = h.iloc[-1] if len(h) else {}
        rows.append({"model": MODEL, "scheme": scheme, "checkpoint": str(ck),
                     "epochs": int(last.get("epoch", 0)) if len(h) else 0,
                     "val_acc": float(last.get("val_acc", float("nan"))) if len(h) else float("nan"),
                     "quantized_density": float(last.get("density", float("nan"))) if len(h) else float("nan"),
                     "seconds": round(time.perf_counter() - t0, 1)})
        print(f"  {MODEL} {scheme:14s} val acc {rows[-1]['val_acc']:.3f}  density of quantized layers "
              f"{rows[-1]['quantized_density']:.3f}  ({'reused' if done else 'trained'}, "
              f"{rows[-1]['seconds']:.1f} s)", file=log, flush=True)
    return rows


def lower_models(out: Path, models: list[dict], log) -> list[dict]:
    """Lower each checkpoint to OUT/lowered/NAME (kept when it already loads)."""
    from plumsim.workload import Workload, lower

    entries = []
    for m in models:
        d = out / "lowered" / f"{MODEL}-{m['scheme']}"
        try:
            Workload.load(d)
        except Exception:  # missing or half-written: lower again
            wl = lower(m["checkpoint"])
            wl.name = d.name
            wl.save(d)
        entries.append({"dir": str(d.resolve()), "name": d.name, "family": MODEL})
    print(f"  lowered {len(entries)} models into {out / 'lowered'}", file=log, flush=True)
    return entries


def paper_claims(out: Path, epochs: int | None, log) -> dict:
    """The quick paper experiment into OUT/paper.json and OUT/paper.md; an existing OUT/paper.json made
    with the same settings is kept. Returns {"file", "claims", "seconds", "reused"}."""
    import json

    from plumsim.pipeline import paper

    settings = paper.settings_json(paper.settings_for(True, epochs=epochs))
    path = out / paper.FILES["json"]
    try:
        old = json.loads(path.read_text(encoding="utf-8"))
        if old.get("settings") == settings and old.get("claims"):
            print(f"  {path} kept: made with the same settings ({len(old['claims'])} claims)", file=log, flush=True)
            return {"file": path.name, "claims": len(old["claims"]), "seconds": old.get("seconds"), "reused": True}
    except (OSError, ValueError, AttributeError):
        pass   # missing or unreadable: run it
    df = paper.run_paper(True, epochs=epochs, progress=lambda line: print(f"  {line}", file=log, flush=True))
    paper.write_claims(df, out, formats=("json", "markdown"))
    return {"file": path.name, "claims": len(df), "seconds": df.attrs["seconds"], "reused": False}


def run_demo(out: str | Path = "results/demo", *, grid: str | Path | None = None, epochs: int | None = None,
             workers: int | None = None, executor: str = "local", fresh: bool = False,
             progress: bool | None = None, log=None) -> dict:
    """Run the whole pipeline into ``out``; returns {"report", "results", "plots", "sweep", "models"}."""
    from plumsim.report import write_report
    from plumsim.sweep.runner import run_sweep
    from plumsim.sweep.store import atomic_write_frame, atomic_write_json

    log = log or sys.stderr
    out = Path(out)
    grid_path = Path(grid) if grid else default_grid()
    if not grid_path.is_file():
        raise ConfigError("demo grid not found (it ships in accel_configs/sweeps/ of a source checkout); "
                          "pass --grid FILE", path=grid_path, field="--grid")
    try:
        raw = yaml.safe_load(grid_path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"not valid YAML: {str(exc).splitlines()[0]}", path=grid_path) from None
    if not isinstance(raw, dict):
        raise ConfigError("expected a mapping at the top level", path=grid_path)
    if fresh:
        import shutil

        for sub in ("models", "lowered"):
            shutil.rmtree(out / sub, ignore_errors=True)
        for name in ("paper.json", "paper.md"):
            (out / name).unlink(missing_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    print(f"[1/5] training the digits CNN with {', '.join(SCHEMES)}", file=log, flush=True)
    models = train_models(out, epochs, log)
    import pandas as pd

    atomic_write_frame(out / "models.csv", pd.DataFrame(models), "csv")
    print("[2/5] lowering the trained models to workloads", file=log, flush=True)
    lowered = lower_models(out, models, log)
    g = _absolutise(raw, grid_path)
    g["workloads"] = lowered + list(g.get("workloads") or [])
    g.setdefault("name", "demo")
    gfile = out / "grid.yaml"
    from plumsim.sweep.store import atomic_write_bytes

    atomic_write_bytes(gfile, yaml.safe_dump(g, sort_keys=False).encode())
    print(f"[3/5] sweeping {gfile} (MAERI, SIGMA, TPU presets x digits, ResNet-20, ResNet-18)", file=log,
          flush=True)
    summary = run_sweep(gfile, out, executor=executor, workers=workers, fresh=fresh, progress=progress,
                        log=log)
    from plumsim.plots import plot_results

    summary["plots"] = [str(p) for p in plot_results(out)]
    print("[4/5] the paper's claims, quick run (plumsim experiment paper --quick)", file=log, flush=True)
    claims = paper_claims(out, epochs, log)
    print("[5/5] writing the report", file=log, flush=True)
    report = write_report(out)
    atomic_write_json(out / "demo.json", {"models": models, "sweep": summary, "paper": claims,
                                          "seconds": round(time.perf_counter() - t0, 1)})
    return {"report": str(report), "results": str(out / "results.parquet"), "plots": str(out / "plots"),
            "sweep": summary, "models": models, "paper": claims, "seconds": round(time.perf_counter() - t0, 1)}
