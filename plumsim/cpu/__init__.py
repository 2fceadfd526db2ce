"""CPU kernels (numba) for quantized conv2d / linear, and the timing experiment."""
