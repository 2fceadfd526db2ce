"""Weight statistics of a workload: density, non-zeros per region, distinct non-zero values, repetition.

numpy/pandas only. A *region* is one output filter W[o, :, :, :] (a linear layer: one output row).

Repetition measure (``repetition``): ``nnz / sum over regions of U_o``, where ``U_o`` is the number of
distinct non-zero values of region o. It is the mean number of non-zero weights that share one value
inside a region, i.e. how many multiplies a factorizing datapath (UCNN-style: sum the inputs sharing a
value, then multiply once per distinct value) saves per multiply over zero-skipping: zero-skipping costs
``nnz`` multiplies, factorization ``sum(U_o)``. Signed-binary: U_o = 1, so repetition = nnz / K (every
non-zero of a filter is the same value); binary: about C*R*S/G / 2; full-precision weights: about 1.
Regions with no non-zero value contribute 0 to both sums; a layer with no non-zero at all has
repetition 0.
"""

from __future__ import annotations

import numpy as np

#: Columns of :func:`workload_stats`, with meaning and unit.
STATS_COLUMNS = {
    "name": "layer name",
    "kind": "'conv' or 'linear'",
    "scheme": "quantization scheme ('fp' = full precision)",
    "N": "batch", "G": "groups", "C": "input channels", "K": "filters (output channels)",
    "R": "kernel rows", "S": "kernel columns", "X": "input rows (before padding)",
    "Y": "input columns (before padding)", "stride": "stride (pixels)", "padding": "padding (pixels)",
    "X_out": "output rows", "Y_out": "output columns",
    "M_gemm": "GEMM rows = K/G", "K_gemm": "GEMM reduction length = C*R*S/G",
    "N_gemm": "GEMM columns = X_out*Y_out*N",
    "macs": "dense multiply-accumulates of the layer (count)",
    "numel": "weights (count)",
    "nnz": "non-zero weights (count)",
    "density": "nnz / numel (fraction, 0..1)",
    "nnz_per_region_min": "fewest non-zeros in one filter (count)",
    "nnz_per_region_mean": "mean non-zeros per filter (count)",
    "nnz_per_region_max": "most non-zeros in one filter (count)",
    "zero_regions": "filters with no non-zero weight (count)",
    "mean_unique_nonzero_per_region": "mean distinct non-zero values per filter (count)",
    "max_unique_nonzero_per_region": "most distinct non-zero values in one filter (count)",
    "repetition": "nnz / sum of distinct non-zero values per filter (weights per distinct value)",
    "single_signed_regions": "filters whose non-zeros all share one sign (count)",
}


def layer_stats(layer) -> dict:
    """Statistics of one :class:`~plumsim.workload.layer.Layer` as a flat dict (keys = STATS_COLUMNS
    except the identity and shape columns; counts as int, fractions as float)."""
    nnz_r = layer.nnz_per_region()
    uniq_r = layer.unique_nonzero_per_region()
    nnz = int(nnz_r.sum())
    numel = int(layer.numel)
    u_sum = int(uniq_r.sum())
    src = layer.codes if layer.codes is not None else layer.weights
    flat = np.asarray(src).reshape(layer.shape.K, -1)
    single = int((((flat > 0).any(axis=1)) ^ ((flat < 0).any(axis=1))).sum())
    return {
        "numel": numel,
        "nnz": nnz,
        "density": nnz / max(1, numel),
        "nnz_per_region_min": int(nnz_r.min()) if nnz_r.size else 0,
        "nnz_per_region_mean": float(nnz_r.mean()) if nnz_r.size else 0.0,
        "nnz_per_region_max": int(nnz_r.max()) if nnz_r.size else 0,
        "zero_regions": int((nnz_r == 0).sum()),
        "mean_unique_nonzero_per_region": float(uniq_r.mean()) if uniq_r.size else 0.0,
        "max_unique_nonzero_per_region": int(uniq_r.max()) if uniq_r.size else 0,
        "repetition": (nnz / u_sum) if u_sum else 0.0,
        "single_signed_regions": single,
    }


def shape_columns(layer) -> dict:
    """Identity, shape and GEMM-view columns of one layer."""
    s = layer.shape
    row = {"name": layer.name, "kind": layer.kind, "scheme": layer.scheme}
    row.update(s.as_dict())
    row.update({"X_out": s.X_out, "Y_out": s.Y_out, "M_gemm": s.M_gemm, "K_gemm": s.K_gemm,
                "N_gemm": s.N_gemm, "macs": s.macs})
    return row


def workload_stats(workload):
    """One row per layer of ``workload`` (a :class:`~plumsim.workload.format.Workload` or a list of
    layers); columns as documented in :data:`STATS_COLUMNS`, in that order."""
    import pandas as pd

    layers = getattr(workload, "layers", workload)
    rows = []
    for layer in layers:
        row = shape_columns(layer)
        row.update(layer_stats(layer))
        rows.append(row)
    return pd.DataFrame(rows, columns=list(STATS_COLUMNS))
