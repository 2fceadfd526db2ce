"""The layer record that carries a trained (or synthetic) layer to the accelerator models.

numpy only: this module must not import torch (plumsim.accel imports it).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

KINDS = ("conv", "linear")


@dataclass(frozen=True)
class LayerShape:
    """Shape of one conv or linear layer, in STONNE's names.

    N batch, G groups, C input channels (total, all groups), K filters (output channels),
    R x S kernel, X x Y input size *before* padding, stride, padding (symmetric, pixels).
    A linear layer is C=in_features, K=out_features, R=S=X=Y=1, N = rows of the input (batch).
    """

    N: int
    G: int
    C: int
    K: int
    R: int
    S: int
    X: int
    Y: int
    stride: int = 1
    padding: int = 0

    @property
    def X_out(self) -> int:
        """Output rows: (X + 2*padding - R) // stride + 1."""
        return (self.X + 2 * self.padding - self.R) // self.stride + 1

    @property
    def Y_out(self) -> int:
        """Output columns: (Y + 2*padding - S) // stride + 1."""
        return (self.Y + 2 * self.padding - self.S) // self.stride + 1

    @property
    def M_gemm(self) -> int:
        """GEMM rows = filters per group (K/G); the GEMM runs once per group."""
        return self.K // self.G

    @property
    def K_gemm(self) -> int:
        """GEMM reduction length = C*R*S/G."""
        return (self.C // self.G) * self.R * self.S

    @property
    def N_gemm(self) -> int:
        """GEMM columns = output pixels x batch."""
        return self.X_out * self.Y_out * self.N

    @property
    def macs(self) -> int:
        """Dense multiply-accumulates of the layer (all groups)."""
        return self.G * self.M_gemm * self.K_gemm * self.N_gemm

    def as_dict(self) -> dict[str, int]:
        return {k: int(getattr(self, k)) for k in ("N", "G", "C", "K", "R", "S", "X", "Y", "stride", "padding")}


@dataclass
class Layer:
    """One layer of a workload.

    ``codes``: int8 array [K, C/G, R, S] of small integer codes (for signed-binary/binary/ternary in
    {-1, 0, +1}); the quantized weight is ``codes * scale[:, None, None, None]``.
    ``scale``: float32 [K], per-region (per output filter) scale (1 for the paper's signed-binary).
    ``sign``: int8 [K], +1 / -1 for a region whose non-zeros all share that sign, 0 for mixed.
    ``weights``: float32 [K, C/G, R, S], only for full-precision layers (``scheme == "fp"``),
    for which ``codes`` is None.
    ``input_sample``: optional float32 activations [N, C, X, Y] (linear: [N, C]).
    ``options["detection"]`` (lowered layers only; see :attr:`detection`): how the scheme was found.
    """

    name: str
    kind: str
    scheme: str
    shape: LayerShape
    codes: np.ndarray | None
    scale: np.ndarray
    sign: np.ndarray
    weights: np.ndarray | None = None
    input_sample: np.ndarray | None = None
    options: dict = field(default_factory=dict)

    @property
    def detection(self) -> dict | None:
        """How a lowered layer's scheme was found, or None (synthetic layers, older workloads): ``scheme``
        (detected), ``source`` ("values": detected from the weights, "declared": synthesized with a registered
        user quantizer, "module": declared by a plumsim
        QConv2d/QLinear, "onnx-qdq": QuantizeLinear/DequantizeLinear codes), ``forced`` (the scheme
        ``--scheme`` forced, or None), ``granularity`` ("layer"/"filter" scale), ``bits``, ``levels``
        (distinct codes), ``rtol`` and ``max_rel_error`` (fractions of max|w|), ``confidence`` (0..1),
        ``alternatives`` (other schemes the values fit), ``reason`` (why fp).
        See :mod:`plumsim.workload.detect`. Stored in ``options``, so the workload format is unchanged."""
        d = self.options.get("detection") if isinstance(self.options, dict) else None
        return d if isinstance(d, dict) else None

    @property
    def is_fp(self) -> bool:
        return self.codes is None

    def weight_tensor(self) -> np.ndarray:
        """Quantized (or FP) weights as float32 [K, C/G, R, S]."""
        if self.codes is None:
            return np.asarray(self.weights, dtype=np.float32)
        return self.codes.astype(np.float32) * self.scale.astype(np.float32)[:, None, None, None]

    def weight_matrix(self, group: int = 0) -> np.ndarray:
        """GEMM view of one group's weights: float32 [K/G, C*R*S/G] (im2col order c, r, s)."""
        s = self.shape
        w = self.weight_tensor()
        kg = s.K // s.G
        return w[group * kg:(group + 1) * kg].reshape(kg, -1)

    def code_matrix(self, group: int = 0) -> np.ndarray:
        """Like :meth:`weight_matrix` but the integer codes (FP layers: the float weights)."""
        s = self.shape
        src = self.codes if self.codes is not None else self.weights
        kg = s.K // s.G
        return np.asarray(src)[group * kg:(group + 1) * kg].reshape(kg, -1)

    # --- statistics (derived, never stored as independent truth) ---
    def nnz_per_region(self) -> np.ndarray:
        """Non-zero weights per output filter, int64 [K]."""
        src = self.codes if self.codes is not None else self.weights
        return np.count_nonzero(np.asarray(src).reshape(self.shape.K, -1), axis=1).astype(np.int64)

    def unique_nonzero_per_region(self) -> np.ndarray:
        """Distinct non-zero values per output filter, int64 [K]."""
        w = self.weight_tensor().reshape(self.shape.K, -1)
        out = np.empty(w.shape[0], dtype=np.int64)
        for o in range(w.shape[0]):  # K is at most a few thousand; one np.unique per filter
            row = w[o]
            out[o] = np.unique(row[row != 0]).size
        return out

    @property
    def numel(self) -> int:
        return int(np.prod(self.weight_tensor().shape))

    @property
    def nnz(self) -> int:
        return int(self.nnz_per_region().sum())

    @property
    def density(self) -> float:
        """Fraction of non-zero weights, 0..1."""
        return self.nnz / max(1, self.numel)
