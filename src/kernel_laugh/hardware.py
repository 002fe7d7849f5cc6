"""What this machine runs fast: native bf16 and how many data-loader workers it can feed.

Used to resolve the "auto" defaults of training and inference; nothing here changes results beyond bf16's
rounding, which the tests bound."""

from __future__ import annotations

import functools
import os
from pathlib import Path

import torch


# oneDNN instruction-set caps (ONEDNN_MAX_CPU_ISA) below its native bf16 kernels.
PRE_BF16_ISAS = {"SSE41", "AVX", "AVX2", "AVX2_VNNI", "AVX512_CORE", "AVX512_CORE_VNNI"}


@functools.cache
def cpu_has_native_bf16() -> bool:
    """AVX512-BF16 or AMX: bf16 matmuls and convolutions run natively (elsewhere bf16 is emulated, slower than fp32).
    An ONEDNN_MAX_CPU_ISA cap below bf16 counts as no: oneDNN would then emulate it."""
    cap = os.environ.get("ONEDNN_MAX_CPU_ISA") or os.environ.get("DNNL_MAX_CPU_ISA") or ""
    if cap.upper() in PRE_BF16_ISAS:
        return False
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return " avx512_bf16" in flags or " amx_bf16" in flags


def native_bf16(device: torch.device | str) -> bool:
    """Whether bf16 autocast is faster than fp32 on ``device`` ("cpu", "cuda", "cuda:1"...)."""
    kind = torch.device(device).type
    if kind == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    return kind == "cpu" and cpu_has_native_bf16()


def training_device() -> torch.device:
    """The device Accelerate will train on in this process (a GPU if there is one, else the CPU)."""
    return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")


def available_cpus() -> int:
    """CPUs this process may use (its affinity mask: containers and `taskset` give fewer than os.cpu_count())."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def loader_workers(processes: int = 1) -> int:
    """Data-loader workers per training process: the CPUs left after one per process, at most 4 (beyond that
    the model, not decoding, is the bottleneck for a ResNet-18 on cached images). 0 on a 2-CPU machine, where
    a worker would take a core from the model's own threads."""
    spare = available_cpus() // max(processes, 1) - 1
    return max(0, min(4, spare)) if spare >= 2 else 0
