"""The inference copy of a network: faster forms on CPU, the same numbers, and a fallback for what they cannot take."""

import platform

import pytest
import timm
import torch
from torch import nn

from kernel_laugh.fastpath import inference_network

CPU = torch.device("cpu")


def _resnet() -> nn.Module:
    torch.manual_seed(0)
    model = timm.create_model("resnet18", num_classes=3).eval()
    for m in model.modules():  # non-trivial batch-norm statistics, so folding them is really tested
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    return model


ONEDNN_CPU = torch.backends.mkldnn.is_available() and platform.machine().lower() in ("x86_64", "amd64")


@pytest.mark.skipif(not ONEDNN_CPU, reason="the oneDNN form is used on x86 torch builds with oneDNN only")
def test_cpu_network_runs_in_onednn_layout_with_fp32_numbers():
    """On CPUs the convolutions run on oneDNN tensors (the fast form), giving the original's fp32 logits."""
    model = _resnet()
    x = torch.randn(3, 3, 64, 64)
    net = inference_network(model, CPU, torch.float32)
    assert any(type(m).__name__ == "_OneDnnConv2d" for m in net.modules())
    with torch.inference_mode():
        assert torch.allclose(net(x), model(x), atol=1e-4)
        assert torch.allclose(inference_network(model, CPU, torch.bfloat16)(x).softmax(-1), model(x).softmax(-1), atol=0.03)
    assert all(not t.is_mkldnn for t in model.state_dict().values())  # the original is untouched


class _ReflectNet(nn.Module):
    """Reflection padding and an input-dependent branch: neither torch.fx nor the oneDNN convolution takes it."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1, padding_mode="reflect")
        self.bn = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        x = self.bn(self.conv(x)).relu()
        if x.mean() > 10:  # data-dependent control flow: fx cannot trace it
            x = x * 0
        return self.fc(x.mean((2, 3)))


def test_a_network_the_fast_forms_cannot_take_still_runs_with_the_same_numbers():
    torch.manual_seed(0)
    model = _ReflectNet().eval()
    x = torch.randn(2, 3, 16, 16)
    net = inference_network(model, CPU, torch.float32)
    with torch.inference_mode():
        assert torch.allclose(net(x), model(x), atol=1e-5)
