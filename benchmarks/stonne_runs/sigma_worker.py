"""Run one SIGMA case through STONNE's PyTorch frontend (torch_stonne). Started by make_runs.py.

Runs under the python that has torch and torch_stonne (``$STONNE_PYTHON``), in a fresh folder that is
also ``$OUTPUT_DIR`` (where STONNE writes its output_stats_* files). Usage:

    $STONNE_PYTHON sigma_worker.py job.json

job.json: {"case_id", "op" (SparseConv | SparseLinear), "weights_npz", "cfg", "stride", "padding",
"groups", "result"}. Loads ``weight``/``input`` from the .npz (cast to float32, as in the reference
``how`` column), makes the one frontend call, times only that call, and compares the returned tensor
with a float64 PyTorch conv2d / matmul of the same tensors (rounded to float32). Writes the result JSON:
{"wall_s", "func_max_abs_err", "func_ref_max_abs", "func_err_per_batch"}.
Nothing here models STONNE; it only drives the extension.
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np
import torch
import torch_stonne


def main(job_path: str) -> None:
    job = json.load(open(job_path))
    d = np.load(job["weights_npz"])
    name, cfg = job["case_id"], job["cfg"]
    w = torch.from_numpy(d["weight"].astype(np.float32))
    x = torch.from_numpy(d["input"].astype(np.float32))
    if job["op"] == "SparseConv":
        s, p, g = int(job["stride"]), int(job["padding"]), int(job["groups"])
        t0 = time.perf_counter()
        out = torch_stonne.simulated_conv_forward(name, x, w, [s, s], [p, p], [1, 1], g, cfg, "", 0.0)
        wall = time.perf_counter() - t0
        ref = torch.nn.functional.conv2d(x.double(), w.double(), stride=s, padding=p, groups=g)
    elif job["op"] == "SparseLinear":
        w2d = w.reshape(w.shape[0], -1)
        t0 = time.perf_counter()
        out = torch_stonne.simulated_linear_forward(name, x, w2d, cfg, "", 0.0, True)
        wall = time.perf_counter() - t0
        ref = x.double() @ w2d.double().T
    else:
        raise SystemExit(f"unknown op {job['op']!r}")
    ref = ref.float()  # float64 reference, rounded to float32 like STONNE's output
    err = (out - ref).abs()
    if job["op"] == "SparseConv":
        per_batch = [float(err[n].max()) for n in range(err.shape[0])]
    else:
        per_batch = [float(err.max())]
    res = {"wall_s": wall, "func_max_abs_err": float(err.max()), "func_ref_max_abs": float(ref.abs().max()),
           "func_err_per_batch": per_batch, "out_shape": list(out.shape)}
    with open(job["result"], "w") as f:
        json.dump(res, f)


if __name__ == "__main__":
    main(sys.argv[1])
