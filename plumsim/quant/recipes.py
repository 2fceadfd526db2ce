"""Training recipes as named presets (docs/design.md, "Paper training").

- ``cifar-resnet``: Adam, lr 0.01, divided by 10 at epochs 150, 200 and 320, 350 epochs, batch 128.
- ``imagenet-resnet18``: Adam, lr 2e-4, no weight decay, linear decay to 0, 320 epochs, batch 256,
  distillation from an FP teacher when one is given (``--teacher``).
- ``digits-fast``: Adam, lr 0.01, linear decay, 15 epochs, batch 64: seconds on a laptop CPU.

The learning rate is a pure function of the epoch (:meth:`Recipe.lr_at`), so a resumed run needs no
scheduler state. When ``epochs`` is overridden, step milestones are scaled in proportion
(e.g. 35 epochs of cifar-resnet divide at 15, 20 and 32).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

from plumsim.errors import PlumsimError


@dataclass(frozen=True)
class Recipe:
    """Optimiser and schedule. ``lr`` in the optimiser's units; ``milestones`` in epochs (of ``epochs``)."""

    name: str
    epochs: int
    batch_size: int
    lr: float
    weight_decay: float = 0.0
    schedule: str = "step"                 # "step" | "linear" | "constant"
    milestones: tuple = ()
    gamma: float = 0.1
    distill_weight: float = 0.0            # share of the loss given to KL(teacher || student) when a teacher is set
    temperature: float = 1.0
    base_epochs: int | None = None         # the epochs the milestones were written for

    def lr_at(self, epoch: int) -> float:
        """Learning rate for 0-based ``epoch``."""
        if self.schedule == "constant":
            return self.lr
        if self.schedule == "linear":
            return self.lr * (1.0 - epoch / max(1, self.epochs))
        base = self.base_epochs or self.epochs
        scale = self.epochs / base
        drops = sum(1 for m in self.milestones if epoch >= round(m * scale))
        return self.lr * self.gamma ** drops

    def with_overrides(self, epochs=None, batch_size=None, lr=None) -> "Recipe":
        r = self
        if epochs is not None and int(epochs) != self.epochs:
            if int(epochs) < 1:
                raise PlumsimError(f"epochs must be >= 1, got {epochs}", field="epochs")
            r = replace(r, epochs=int(epochs), base_epochs=self.base_epochs or self.epochs)
        if batch_size is not None:
            if int(batch_size) < 1:
                raise PlumsimError(f"batch size must be >= 1, got {batch_size}", field="batch_size")
            r = replace(r, batch_size=int(batch_size))
        if lr is not None:
            if not float(lr) > 0:
                raise PlumsimError(f"learning rate must be > 0, got {lr}", field="lr")
            r = replace(r, lr=float(lr))
        return r

    def as_dict(self) -> dict:
        d = asdict(self)
        d["milestones"] = list(self.milestones)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Recipe":
        d = dict(d)
        d["milestones"] = tuple(d.get("milestones", ()))
        return cls(**d)


RECIPES = {
    "cifar-resnet": Recipe("cifar-resnet", epochs=350, batch_size=128, lr=0.01, schedule="step",
                           milestones=(150, 200, 320), gamma=0.1),
    "imagenet-resnet18": Recipe("imagenet-resnet18", epochs=320, batch_size=256, lr=2e-4, weight_decay=0.0,
                                schedule="linear", distill_weight=1.0, temperature=1.0),
    "digits-fast": Recipe("digits-fast", epochs=15, batch_size=64, lr=0.01, schedule="linear"),
}

DEFAULT_RECIPE = {"digits": "digits-fast", "cifar10": "cifar-resnet", "imagenet": "imagenet-resnet18"}


def get_recipe(name: str) -> Recipe:
    if name not in RECIPES:
        raise PlumsimError(f"unknown recipe '{name}'; valid: {', '.join(RECIPES)}", field="recipe")
    return RECIPES[name]
