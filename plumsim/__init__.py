"""plumsim: accelerator simulation of signed-binary (PLUM), binary and ternary networks.

Pipeline (imports go one way): quant -> workload -> accel -> energy -> sweep -> plots/report -> cli.
Importing the package has no side effects and does not import torch.
"""

__version__ = "0.1.0"
