"""Hostile-input tour: random mutations of real input files through the real CLI, counted.

    .venv/bin/python benchmarks/fuzz_inputs.py [--per-kind 80] [--seed 0] [--timeout 20]

Each case mutates one shipped file (a STONNE .cfg, an energy table, a layer table, a sweep grid, a
workload manifest) once: a number replaced by nan / inf / 1e400 / -1 / 0 / 128.5 / 2**40 / a string /
a boolean / a list, a line deleted or doubled, a byte flipped, the file cut short, binary junk appended.
The command that reads it runs in this process through ``plumsim.cli.main``. Outcomes:

- ``clean``: exit 0 (the mutation left a valid file, or a value the program accepts);
- ``refused``: exit 2 or 3 with one line on stderr (the project's own error);
- ``traceback``: an exception escaped ``main`` (a bug);
- ``hang``: still running after --timeout seconds (a bug).

Prints a table per input kind and writes OUT/fuzz.json with every traceback and hang (their mutation
and message), so each can be replayed. Not part of the test suite (minutes).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import random
import re
import shutil
import signal
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from plumsim.cli import main as cli  # noqa: E402

VALUES = ["nan", "inf", "-inf", "1e400", "-1", "0", "128.5", "1099511627776", "abc", "true", "[]", "{}", "''",
          "-0.0", "1e-9"]
NUMBER = re.compile(r"(?<![\w.])-?\d+(\.\d+)?(e-?\d+)?(?![\w.])")


class Hang(Exception):
    pass


def mutate(text: str, rng: random.Random) -> tuple[bytes, str]:
    """(mutated file bytes, what was done)."""
    enc, what = _mutate(text, rng)
    return (enc if isinstance(enc, bytes) else enc.encode("utf-8")), what


def _mutate(text: str, rng: random.Random):
    lines = text.splitlines(keepends=True)
    kind = rng.choice(["number", "number", "number", "delete", "double", "flip", "cut", "junk"])
    if kind == "number":
        spots = list(NUMBER.finditer(text))
        if spots:
            m = rng.choice(spots)
            v = rng.choice(VALUES)
            return text[:m.start()] + v + text[m.end():], f"number {m.group(0)!r} at {m.start()} -> {v}"
        kind = "delete"
    if kind in ("delete", "double") and lines:
        i = rng.randrange(len(lines))
        if kind == "delete":
            return "".join(lines[:i] + lines[i + 1:]), f"line {i + 1} deleted"
        return "".join(lines[:i + 1] + lines[i:]), f"line {i + 1} doubled"
    if kind == "flip" and text:
        b = bytearray(text.encode())
        i = rng.randrange(len(b))
        b[i] ^= 1 << rng.randrange(8)
        return bytes(b), f"bit flipped at byte {i}"
    if kind == "cut" and text:
        i = rng.randrange(len(text))
        return text[:i], f"cut at {i}"
    return text.encode() + b"\x00\xff\xfe junk \x89PNG", "binary junk appended"


def _run(argv, timeout: float):
    err, out = io.StringIO(), io.StringIO()

    def alarm(*_):
        raise Hang()

    old = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            rc = cli([str(a) for a in argv])
        return ("clean" if rc == 0 else "refused" if rc in (2, 3) else f"exit {rc}"), err.getvalue()
    except Hang:
        return "hang", err.getvalue()
    except SystemExit as exc:   # argparse usage errors
        return ("refused" if exc.code == 2 else f"exit {exc.code}"), err.getvalue()
    except BaseException:
        return "traceback", traceback.format_exc()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def kinds(tmp: Path):
    """(name, source file, file name to write, argv builder) per input kind."""
    from plumsim.workload.synth import synth

    wl = tmp / "wl"
    synth(ROOT / "workloads" / "cnn-digits.yaml", "signed-binary", seed=0).save(wl)
    sigma = ROOT / "accel_configs" / "sigma_64.cfg"
    grid = tmp / "grid.yaml"
    grid.write_text(
        "name: fuzz\nenergy_table: stonne\nmodes: [native, skip+repeat]\n"
        "accelerators:\n"
        f"  - label: sigma\n    base: {ROOT / 'accel_configs' / 'sigma_64.cfg'}\n"
        "    axes:\n      ms_size: [32, 64]\n      dn_bw: [ms_size/4]\n      rn_bw: [same]\n"
        f"  - label: maeri\n    base: {ROOT / 'accel_configs' / 'maeri_64.cfg'}\n"
        "    axes:\n      ms_size: [64]\n      dn_bw: [ms_size/4]\n"
        f"workloads:\n  - table: {ROOT / 'workloads' / 'cnn-digits.yaml'}\n    schemes: [binary, signed-binary]\n"
        "    name: digits\n    seed: 0\n")
    return [
        ("cfg (simulate)", ROOT / "accel_configs" / "maeri_64.cfg", "m.cfg",
         lambda f, o: ["simulate", wl, "--accel", f]),
        ("cfg (attribute)", sigma, "s.cfg", lambda f, o: ["attribute", wl, "--accel", f]),
        ("energy table", ROOT / "plumsim" / "data" / "energy" / "horowitz45.yaml", "e.yaml",
         lambda f, o: ["attribute", wl, "--accel", sigma, "--energy-table", f]),
        ("layer table", ROOT / "workloads" / "resnet20-cifar10.yaml", "t.yaml",
         lambda f, o: ["workload", "synth", "--table", f, "--scheme", "ternary", "--seed", "0", "--out", o]),
        ("sweep grid", grid, "g.yaml", lambda f, o: ["sweep", f, "--out", o, "--no-plots", "--workers", "1"]),
        ("workload manifest", wl / "manifest.json", "manifest.json",
         lambda f, o: ["workload", "show", f.parent]),
    ]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--per-kind", type=int, default=80)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--timeout", type=float, default=20.0)
    ap.add_argument("--out", default=str(ROOT / "results" / "fuzz"))
    args = ap.parse_args()
    rng = random.Random(args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    table, bad, samples = [], [], {}
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tdir:
        tmp = Path(tdir)
        for name, src, fname, argv in kinds(tmp):
            text = src.read_text()
            counts = {"tried": 0, "clean": 0, "refused": 0, "traceback": 0, "hang": 0, "other": 0}
            seen = samples.setdefault(name, [])
            for i in range(args.per_kind):
                case = tmp / f"case{i}"
                if fname == "manifest.json":   # a workload folder with a mutated manifest
                    shutil.copytree(src.parent, case)
                else:
                    case.mkdir()
                mutated, what = mutate(text, rng)
                f = case / fname
                f.write_bytes(mutated)
                outcome, msg = _run(argv(f, case / "out"), args.timeout)
                counts["tried"] += 1
                counts[outcome if outcome in counts else "other"] += 1
                if outcome == "refused" and len(msg.strip().splitlines()) != 1:
                    counts["other"] += 1
                    outcome = "refused, not one line"
                if outcome == "refused" and len(seen) < 6:
                    seen.append({"mutation": what, "message": msg.strip()[:300]})
                if outcome not in ("clean", "refused"):
                    bad.append({"kind": name, "mutation": what, "outcome": outcome, "message": msg[-2000:]})
                shutil.rmtree(case, ignore_errors=True)
            table.append({"input": name, **counts})
            print(table[-1], flush=True)
    seconds = round(time.perf_counter() - t0, 1)
    import pandas as pd

    print(pd.DataFrame(table).to_string(index=False))
    print(f"{seconds} s; {len(bad)} tracebacks/hangs/other (details in {out / 'fuzz.json'})")
    (out / "fuzz.json").write_text(json.dumps({"seed": args.seed, "per_kind": args.per_kind, "seconds": seconds,
                                               "counts": table, "bad": bad,
                                               "refusal_samples": samples}, indent=2))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
