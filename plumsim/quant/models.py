"""Models: a small CNN for 8x8 digits, ResNet-20 (CIFAR-10) and ResNet-18 (ImageNet, PLUM style).

Every conv / linear is a :class:`QConv2d` / :class:`QLinear`; layers the paper keeps in full precision
(first conv, classifier, ResNet-18's 1x1 downsample shortcuts) use scheme "fp", so lowering reads
``.scheme`` on every layer. All builders take ``scheme`` plus the scheme's options (for signed-binary:
``positive_fraction``, ``delta_ratio``) and ``input_clamp`` (default 2.0, the paper's [-2, 2]).

:func:`build_model` records what it built in ``model.plumsim_spec`` (a JSON-able dict) so a checkpoint
can rebuild the same model.
"""

from __future__ import annotations

import torch
from torch import nn

from plumsim.errors import PlumsimError
from plumsim.quant.layers import QConv2d, QLinear

MODEL_INPUT_SHAPES = {
    "cnn-digits": (1, 1, 8, 8),
    "resnet20": (1, 3, 32, 32),
    "resnet18": (1, 3, 224, 224),
}

MODEL_NUM_CLASSES = {"cnn-digits": 10, "resnet20": 10, "resnet18": 1000}


def _fp_conv(cin, cout, k, stride=1, padding=0):
    return QConv2d(cin, cout, k, stride=stride, padding=padding, bias=False, scheme="fp")


# ---------------------------------------------------------------- small CNN for sklearn digits
class CNNDigits(nn.Module):
    """1x8x8 -> 10 classes. FP conv(1->16) ; Q conv(16->32) ; pool ; Q conv(32->64) ; pool ; FP linear."""

    def __init__(self, scheme="signed-binary", input_clamp=2.0, width: int = 16, num_classes: int = 10,
                 **qopts):
        super().__init__()
        w = int(width)
        self.conv1 = _fp_conv(1, w, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(w)
        self.act1 = nn.PReLU(w)
        self.conv2 = QConv2d(w, 2 * w, 3, padding=1, scheme=scheme, input_clamp=input_clamp, **qopts)
        self.bn2 = nn.BatchNorm2d(2 * w)
        self.act2 = nn.PReLU(2 * w)
        self.pool2 = nn.MaxPool2d(2)                                  # 8x8 -> 4x4
        self.conv3 = QConv2d(2 * w, 4 * w, 3, padding=1, scheme=scheme, input_clamp=input_clamp, **qopts)
        self.bn3 = nn.BatchNorm2d(4 * w)
        self.act3 = nn.PReLU(4 * w)
        self.pool3 = nn.AdaptiveAvgPool2d(1)
        self.fc = QLinear(4 * w, num_classes, bias=True, scheme="fp")

    def forward(self, x):
        x = self.act1(self.bn1(self.conv1(x)))
        x = self.pool2(self.act2(self.bn2(self.conv2(x))))
        x = self.pool3(self.act3(self.bn3(self.conv3(x))))
        return self.fc(torch.flatten(x, 1))


def cnn_digits(scheme="signed-binary", **opts) -> CNNDigits:
    """Small CNN for 1x8x8 digits (10 classes); see :class:`CNNDigits`."""
    return CNNDigits(scheme=scheme, **opts)


# ---------------------------------------------------------------- ResNet-20 (CIFAR-10)
class _PadShortcut(nn.Module):
    """ResNet 'option A' shortcut: subsample by ``stride`` and zero-pad channels (no weights)."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.stride, self.extra = stride, cout - cin

    def forward(self, x):
        x = x[:, :, ::self.stride, ::self.stride]
        if self.extra:
            lo = self.extra // 2
            x = nn.functional.pad(x, (0, 0, 0, 0, lo, self.extra - lo))
        return x


class BasicBlock(nn.Module):
    """Two quantized 3x3 convs with BatchNorm and PReLU, plus a shortcut."""

    def __init__(self, cin, cout, stride, scheme, input_clamp, qopts, shortcut: str):
        super().__init__()
        self.conv1 = QConv2d(cin, cout, 3, stride=stride, padding=1, scheme=scheme,
                             input_clamp=input_clamp, **qopts)
        self.bn1 = nn.BatchNorm2d(cout)
        self.act1 = nn.PReLU(cout)
        self.conv2 = QConv2d(cout, cout, 3, stride=1, padding=1, scheme=scheme,
                             input_clamp=input_clamp, **qopts)
        self.bn2 = nn.BatchNorm2d(cout)
        self.act2 = nn.PReLU(cout)
        if stride == 1 and cin == cout:
            self.shortcut = nn.Identity()
        elif shortcut == "pad":
            self.shortcut = _PadShortcut(cin, cout, stride)
        else:  # FP 1x1 conv + BN, as in PLUM's ResNet-18
            self.shortcut = nn.Sequential(_fp_conv(cin, cout, 1, stride=stride), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = self.act1(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.act2(out + self.shortcut(x))


class ResNetCIFAR(nn.Module):
    """ResNet-(6n+2) for 3x32x32: FP 3x3 stem (16), stages 16/32/64 of n blocks, FP classifier."""

    def __init__(self, depth=20, scheme="signed-binary", input_clamp=2.0, num_classes=10, **qopts):
        super().__init__()
        if (depth - 2) % 6:
            raise PlumsimError(f"ResNet-CIFAR depth must be 6n+2, got {depth}", field="depth")
        n = (depth - 2) // 6
        self.conv1 = _fp_conv(3, 16, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(16)
        self.act1 = nn.PReLU(16)
        layers, cin = [], 16
        for i, cout in enumerate((16, 32, 64)):
            blocks = []
            for b in range(n):
                stride = 2 if (i > 0 and b == 0) else 1
                blocks.append(BasicBlock(cin, cout, stride, scheme, input_clamp, qopts, shortcut="pad"))
                cin = cout
            layers.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3 = layers
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = QLinear(64, num_classes, scheme="fp")

    def forward(self, x):
        x = self.act1(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(torch.flatten(self.pool(x), 1))


def resnet20(scheme="signed-binary", **opts) -> ResNetCIFAR:
    """ResNet-20 for CIFAR-10 (0.27 M weights): 3 stages x 3 blocks, 'option A' shortcuts."""
    return ResNetCIFAR(depth=20, scheme=scheme, **opts)


# ---------------------------------------------------------------- ResNet-18 (ImageNet, PLUM style)
class ResNet18(nn.Module):
    """FP 7x7/2 stem + 3x3/2 max-pool, 4 stages (64/128/256/512) x 2 blocks, FP 1x1 downsample, FP fc."""

    def __init__(self, scheme="signed-binary", input_clamp=2.0, num_classes=1000, **qopts):
        super().__init__()
        self.conv1 = _fp_conv(3, 64, 7, stride=2, padding=3)
        self.bn1 = nn.BatchNorm2d(64)
        self.act1 = nn.PReLU(64)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        stages, cin = [], 64
        for i, cout in enumerate((64, 128, 256, 512)):
            stride = 1 if i == 0 else 2
            stages.append(nn.Sequential(
                BasicBlock(cin, cout, stride, scheme, input_clamp, qopts, shortcut="conv"),
                BasicBlock(cout, cout, 1, scheme, input_clamp, qopts, shortcut="conv")))
            cin = cout
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = QLinear(512, num_classes, scheme="fp")

    def forward(self, x):
        x = self.maxpool(self.act1(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.pool(x), 1))


def resnet18(scheme="signed-binary", num_classes=1000, **opts) -> ResNet18:
    """ResNet-18 as in the PLUM code (FP stem, FP 1x1 shortcuts, PReLU, quantized 3x3 block convs)."""
    return ResNet18(scheme=scheme, num_classes=num_classes, **opts)


MODELS = {"cnn-digits": cnn_digits, "resnet20": resnet20, "resnet18": resnet18}


def build_model(name: str, scheme="signed-binary", **opts) -> nn.Module:
    """Build a model by name ("cnn-digits", "resnet20", "resnet18").

    ``opts``: model options (``num_classes``, ``input_clamp``, ``width`` for cnn-digits) and scheme
    options (e.g. ``positive_fraction``). The result has ``plumsim_spec`` =
    {"model", "scheme", "options", "layer_schemes"} (JSON-able when the options are).
    """
    if name not in MODELS:
        raise PlumsimError(f"unknown model '{name}'; valid: {', '.join(MODELS)}", field="model")
    if not isinstance(scheme, str):
        raise PlumsimError("build_model takes a registered scheme name (so checkpoints can rebuild it), "
                           f"got {scheme!r}", field="scheme")
    try:
        model = MODELS[name](scheme=scheme, **opts)
    except TypeError as exc:
        raise PlumsimError(f"bad option for model '{name}': {exc}", field="options") from None
    model.plumsim_spec = {"model": name, "scheme": scheme, "options": dict(opts), "layer_schemes": {}}
    return model


def set_layer_scheme(model: nn.Module, layer_name: str, scheme: str, **options) -> None:
    """Change one layer's scheme (e.g. thinned binary) and record it in ``model.plumsim_spec``."""
    mods = dict(model.named_modules())
    m = mods.get(layer_name)
    if not isinstance(m, (QConv2d, QLinear)):
        raise PlumsimError(f"no quantizable layer named '{layer_name}'", field="layer_schemes")
    m.set_quantizer(scheme, **options)
    spec = getattr(model, "plumsim_spec", None)
    if spec is not None:
        spec.setdefault("layer_schemes", {})[layer_name] = {"scheme": scheme, "options": dict(options)}
