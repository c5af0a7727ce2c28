"""qres: the quantized optimizers of "Learning Algorithm with Monotonically Increasing Resolution of
Quantization" (Seok and Kim) for PyTorch, on the C++ library's own steps.

    import qres
    optimizer = qres.optim.QtAdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
"""
import os

import torch

torch.ops.load_library(os.path.join(os.path.dirname(os.path.abspath(__file__)), "_C.so"))

from . import optim  # noqa: E402  (the operators must be loaded first)

__all__ = ["optim"]
