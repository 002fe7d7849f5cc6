"""What the "auto" settings see of the machine."""

from kernel_laugh import hardware


def test_an_instruction_set_cap_below_bf16_means_no_native_bf16(monkeypatch):
    """With oneDNN capped below its bf16 kernels (ONEDNN_MAX_CPU_ISA=AVX2), bf16 would be emulated: auto picks fp32."""
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "avx2")
    hardware.cpu_has_native_bf16.cache_clear()
    try:
        assert not hardware.cpu_has_native_bf16()
        assert not hardware.native_bf16("cpu")
    finally:
        hardware.cpu_has_native_bf16.cache_clear()
