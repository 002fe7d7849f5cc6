"""An inference copy of a timm network made fast for the device it runs on, from the same fp32 weights.

``inference_network(model, device, dtype)`` returns a callable (B, 3, H, W) float → (B, K) fp32 logits:
- batch norm folded into the convolution before it (torch.fx ``fuse``): one pass over activations fewer per layer;
- on x86 CPUs: every convolution in oneDNN's own blocked memory layout ("mkldnn" tensors), weights converted once,
  so activations are never converted between layers: for a ResNet-18 on a 2-core AMX CPU the bf16 forward ran
  1.7-1.9x eager channels-last autocast (scripts/benchmark.py, "forward" rows) and fp32 about 1.05x, with the
  same agreement with fp32 as autocast;
- elsewhere (GPUs, other CPUs): channels-last memory (what cuDNN convolutions prefer) and bf16 autocast if asked for.

The original module is never changed (Grad-CAM hooks into it). A model the faster forms cannot take (fx cannot
trace it, an op lacks a oneDNN kernel) runs in the simpler form: same numbers, a little slower."""

from __future__ import annotations

import copy
import logging
import platform
from typing import Callable

import torch
from torch import nn
from torch.fx.experimental.optimization import fuse

logger = logging.getLogger(__name__)

Network = Callable[[torch.Tensor], torch.Tensor]


def inference_network(model: nn.Module, device: torch.device, dtype: torch.dtype) -> Network:
    """The fastest form of ``model`` (a timm network, eval mode) this device runs in ``dtype``; see the module doc."""
    folded = _fold_batch_norm(model).to(device)
    # x86 only: the only CPUs it was measured on (ARM builds route oneDNN through other libraries).
    if device.type == "cpu" and torch.backends.mkldnn.is_available() and platform.machine().lower() in ("x86_64", "amd64"):
        onednn = _try_onednn(folded, dtype)
        if onednn is not None:
            return onednn
    return _Autocast(folded, device, dtype)


def channels_last_network(model: nn.Module, device: torch.device, dtype: torch.dtype) -> nn.Module:
    """The form used on GPUs and wherever the oneDNN form cannot be: batch norm folded, channels-last memory,
    bf16 autocast when ``dtype`` is bf16. Its ``net`` is the folded module (what a compiler would take)."""
    return _Autocast(_fold_batch_norm(model).to(device), device, dtype)


def cpu_chunk_size() -> int:
    """Images per call into the network on CPUs. 16: on a 2-core AMX Xeon a ResNet-18 ran 1.15-1.2x faster in
    chunks of 16 than in one batch of 32 (and than chunks of 8, 12, 24 or 64); with many threads, one per thread."""
    return max(16, torch.get_num_threads())


def _fold_batch_norm(model: nn.Module) -> nn.Module:
    """A deep copy of ``model`` with each batch norm folded into the convolution before it."""
    model = model.eval()
    try:
        return fuse(model)  # copies; the original keeps its batch norms
    except Exception as err:  # noqa: BLE001 - any tracing failure (data-dependent control flow...) means: do not fold
        logger.warning("batch norms not folded (%s: %s): predicting with the model as it is", type(err).__name__, err)
        return copy.deepcopy(model)


class _Autocast(nn.Module):
    """``net`` on channels-last input, under bf16 autocast when ``dtype`` is bf16 (fp32 otherwise)."""

    def __init__(self, net: nn.Module, device: torch.device, dtype: torch.dtype):
        super().__init__()
        self.net, self.device, self.dtype = net.to(memory_format=torch.channels_last), device, dtype

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.device, memory_format=torch.channels_last)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.dtype == torch.bfloat16):
            return self.net(x).float()


class _OneDnn(nn.Module):
    """``net`` with its convolutions swapped for ``_OneDnnConv2d``: the input enters oneDNN's layout once,
    stays there through every convolution, ReLU, residual add and pooling, and leaves before the classifier."""

    def __init__(self, net: nn.Module, dtype: torch.dtype):
        super().__init__()
        self.net, self.dtype = _swap_modules(net, dtype), dtype

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self._forward(chunk) for chunk in x.split(cpu_chunk_size())])

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.net(x.cpu().contiguous().to_mkldnn(self.dtype))
        return (y.to_dense() if y.is_mkldnn else y).float()


class _OneDnnConv2d(nn.Module):
    """A (folded) convolution on mkldnn tensors; weights converted once, here, not at every call."""

    def __init__(self, conv: nn.Conv2d, dtype: torch.dtype):
        super().__init__()
        if conv.padding_mode != "zeros" or isinstance(conv.padding, str):
            raise ValueError(f"oneDNN path takes zero padding given as numbers, not {conv.padding_mode}/{conv.padding}")
        self.args = (conv.padding, conv.stride, conv.dilation, conv.groups)
        self.weight = conv.weight.detach().contiguous().to_mkldnn(dtype)
        # fp32 bias: oneDNN accumulates in fp32 and adds it before rounding the output to bf16
        bias = conv.bias.detach() if conv.bias is not None else torch.zeros(conv.out_channels)
        self.bias = bias.float().to_mkldnn()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.mkldnn_convolution(x, self.weight, self.bias, *self.args)


class _DenseLinear(nn.Module):
    """The classifier, in fp32 on ordinary tensors: (B, C) features leave oneDNN's layout here."""

    def __init__(self, linear: nn.Linear):
        super().__init__()
        self.linear = linear

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x.to_dense().float() if x.is_mkldnn else x)


def _swap_modules(module: nn.Module, dtype: torch.dtype) -> nn.Module:
    for name, child in module.named_children():
        if isinstance(child, nn.Conv2d):
            setattr(module, name, _OneDnnConv2d(child, dtype))
        elif isinstance(child, nn.Linear):
            setattr(module, name, _DenseLinear(child))
        else:
            _swap_modules(child, dtype)
    return module


def _try_onednn(folded: nn.Module, dtype: torch.dtype) -> _OneDnn | None:
    """The oneDNN form of ``folded`` if it runs and agrees with the autocast form on a test batch, else None
    (an op without a mkldnn-tensor kernel fails here, at load time, not in the middle of a job)."""
    reference = _Autocast(folded, torch.device("cpu"), dtype)
    x = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    try:
        onednn = _OneDnn(copy.deepcopy(folded), dtype)  # a copy: the swap is in place, and the fallback needs folded
        with torch.inference_mode():
            got, want = onednn(x), reference(x)
    except Exception as err:  # noqa: BLE001 - any missing kernel or unsupported layer means: use autocast instead
        logger.warning("oneDNN layout unavailable for this model (%s: %s): using autocast", type(err).__name__, err)
        return None
    close = got.shape == want.shape and torch.allclose(got.softmax(-1), want.softmax(-1), atol=0.02)
    if not close:
        logger.warning("oneDNN layout disagrees with autocast on a test batch: using autocast")
    return onednn if close else None
