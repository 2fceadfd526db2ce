"""Quantizer classes (one per scheme) and the registry that resolves "name or object" in one place.

A :class:`Quantizer` is called on a latent float weight and returns the straight-through quantized
float weight; :meth:`Quantizer.codes` returns the integer codes and per-region scale such that
``codes.float() * scale.view(-1, 1, ...) == quantizer(w)`` exactly.

Users add schemes with :func:`register_quantizer`::

    class MyQ(Quantizer):
        name = "my-scheme"
        def codes(self, w): ...
    register_quantizer("my-scheme", MyQ)
    QConv2d(16, 16, 3, scheme="my-scheme")
"""

from __future__ import annotations

import inspect

import torch

from plumsim.errors import PlumsimError
from plumsim.quant import quantizers as qf


class Quantizer:
    """Base class. Subclasses set ``name`` and implement :meth:`codes`; options are constructor kwargs.

    ``options`` (dict) holds the constructor options so a layer / checkpoint can record and rebuild it.
    The default ``__call__`` derives the STE weight from :meth:`codes`.
    """

    name: str = "base"

    def __init__(self, **options):
        self.options = dict(options)

    def codes(self, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Integer codes (int8, same shape as ``w``) and per-region scale (float32 [K])."""
        raise NotImplementedError

    def __call__(self, w: torch.Tensor) -> torch.Tensor:
        c, s = self.codes(w)
        return qf._ste(w, qf._dequant(c, s, w))

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in self.options.items())
        return f"{type(self).__name__}({opts})"


class FPQuantizer(Quantizer):
    """Full precision: identity. ``codes`` raises TypeError (an FP layer has no integer codes)."""

    name = "fp"

    def __call__(self, w):
        return qf.fp(w)

    def codes(self, w):
        raise TypeError("scheme 'fp' has no integer codes; use the float weights")


class SignedBinaryQuantizer(Quantizer):
    """PLUM signed-binary, options ``positive_fraction`` (0..1), ``delta_ratio`` (>= 0), ``scale``."""

    name = "signed-binary"

    def __init__(self, positive_fraction: float = 0.5, delta_ratio: float = 0.05, scale=None):
        if not 0.0 <= float(positive_fraction) <= 1.0:
            raise PlumsimError(f"positive_fraction must be within [0, 1], got {positive_fraction}",
                               field="positive_fraction")
        if not float(delta_ratio) >= 0.0:
            raise PlumsimError(f"delta_ratio must be >= 0, got {delta_ratio}", field="delta_ratio")
        super().__init__(positive_fraction=float(positive_fraction), delta_ratio=float(delta_ratio))
        if scale is not None:  # kept out of options unless given: a tensor is not JSON
            self.options["scale"] = scale

    def codes(self, w):
        return qf.signed_binary_codes(w, **self.options)


class BinaryQuantizer(Quantizer):
    """Binary {-1, +1}; options ``per_filter_scale`` (bool), ``keep_fraction`` (thinned binary)."""

    name = "binary"

    def __init__(self, per_filter_scale: bool = False, keep_fraction: float | None = None):
        if keep_fraction is not None and not 0.0 <= float(keep_fraction) <= 1.0:
            raise PlumsimError(f"keep_fraction must be within [0, 1], got {keep_fraction}", field="keep_fraction")
        super().__init__(per_filter_scale=bool(per_filter_scale))
        if keep_fraction is not None:
            self.options["keep_fraction"] = float(keep_fraction)

    def codes(self, w):
        return qf.binary_codes(w, **self.options)


class TernaryQuantizer(Quantizer):
    """TWN ternary, no options."""

    name = "ternary"

    def codes(self, w):
        return qf.ternary_codes(w)


QUANTIZERS: dict[str, type[Quantizer]] = {
    "fp": FPQuantizer,
    "binary": BinaryQuantizer,
    "ternary": TernaryQuantizer,
    "signed-binary": SignedBinaryQuantizer,
}


def register_quantizer(name: str, cls: type[Quantizer]) -> type[Quantizer]:
    """Add (or replace) a scheme. ``cls`` must subclass :class:`Quantizer`. Returns ``cls``."""
    if not isinstance(name, str) or not name:
        raise PlumsimError(f"quantizer name must be a non-empty string, got {name!r}", field="scheme")
    if not (inspect.isclass(cls) and issubclass(cls, Quantizer)):
        raise PlumsimError(f"quantizer '{name}' must be a subclass of plumsim.quant.Quantizer, got {cls!r}",
                           field="scheme")
    QUANTIZERS[name] = cls
    return cls


def scheme_names() -> list[str]:
    """Registered scheme names."""
    return list(QUANTIZERS)


def get_quantizer(name_or_obj, **options) -> Quantizer:
    """Resolve a scheme name, a Quantizer subclass or a Quantizer instance to an instance.

    Unknown names and options the scheme does not take raise :class:`PlumsimError` listing what is
    allowed. Options given with an instance are an error (the instance already carries its options).
    """
    if isinstance(name_or_obj, Quantizer):
        if options:
            raise PlumsimError(f"options {sorted(options)} given with a ready quantizer {name_or_obj!r}",
                               field="scheme")
        return name_or_obj
    if inspect.isclass(name_or_obj) and issubclass(name_or_obj, Quantizer):
        cls = name_or_obj
    elif isinstance(name_or_obj, str):
        cls = QUANTIZERS.get(name_or_obj)
        if cls is None:
            raise PlumsimError(f"unknown quantization scheme '{name_or_obj}'; valid: {', '.join(QUANTIZERS)}",
                               field="scheme")
    else:
        raise PlumsimError(f"scheme must be a name ({', '.join(QUANTIZERS)}) or a Quantizer, got {name_or_obj!r}",
                           field="scheme")
    allowed = _allowed_options(cls)
    if allowed is not None:
        bad = sorted(set(options) - allowed)
        if bad:
            raise PlumsimError(f"scheme '{getattr(cls, 'name', cls.__name__)}' does not take option(s) "
                               f"{', '.join(bad)}; it takes: {', '.join(sorted(allowed)) or 'none'}",
                               field="scheme options")
    try:
        return cls(**options)
    except TypeError as exc:
        raise PlumsimError(f"bad options for scheme '{cls.name}': {exc}", field="scheme options") from None


def _allowed_options(cls) -> set[str] | None:
    """Keyword names the constructor accepts; None when it takes **kwargs (anything goes)."""
    params = inspect.signature(cls.__init__).parameters.values()
    names = set()
    for p in params:
        if p.kind is inspect.Parameter.VAR_KEYWORD:
            if cls.__init__ is Quantizer.__init__:
                return set()
            return None
        if p.name != "self" and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY):
            names.add(p.name)
    return names
