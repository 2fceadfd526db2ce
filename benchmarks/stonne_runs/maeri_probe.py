#!/usr/bin/env python
"""MAERI probe runs (tests/data/stonne/c_maeri_probe/): the data MAERI's fitted constants in
plumsim/accel/calibration.py were read from. The same as

    python probe_specs.py && python make_runs.py run specs/c_maeri_probe.yaml --jobs 1

(the grids are described in probe_specs.py). Extra arguments go to ``make_runs.py run`` (e.g. ``--only``);
needs STONNE_BIN, see README.md.
"""

import sys

import make_runs
import probe_specs

if __name__ == "__main__":
    spec = probe_specs.write_all()["maeri"]
    args = sys.argv[1:]
    sys.exit(make_runs.main(["run", str(spec)] + (args if "--jobs" in args else ["--jobs", "1"] + args)))
