"""GPU catalog: usable memory and dense peak FLOP/s per card, plus custom cards.

Memory is what `nvidia-smi --query-gpu=memory.total` reports (MiB), not the marketing GB. Peak FLOP/s are
dense (no 2:4 sparsity) tensor-core numbers from NVIDIA's datasheets / architecture whitepapers for 16-bit
inputs with fp32 accumulation (what PyTorch uses); `fp32_flops` is the non-tensor FP32 rate. Cards without
bf16 (V100, T4) have `bf16=False`: the planner proposes fp16 there.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from .constants import MIB


class GpuSpec(BaseModel):
    name: str
    memory_bytes: int = Field(gt=0)
    bf16_flops: float = Field(gt=0, description="dense 16-bit tensor FLOP/s")
    fp32_flops: float = Field(gt=0)
    bf16: bool = True
    # Bandwidth between GPUs of one node: NVLink where the card has it, else PCIe (bytes/s, one direction).
    intra_node_bytes_per_s: float = 25e9


def _g(name: str, mib: int, tflops16: float, tflops32: float, link: float, bf16: bool = True) -> GpuSpec:
    return GpuSpec(
        name=name,
        memory_bytes=mib * MIB,
        bf16_flops=tflops16 * 1e12,
        fp32_flops=tflops32 * 1e12,
        bf16=bf16,
        intra_node_bytes_per_s=link,
    )


_NVLINK_V100 = 150e9  # NVLink 2: 300 GB/s bidirectional
_NVLINK_A100 = 300e9  # NVLink 3: 600 GB/s bidirectional
_NVLINK_H100 = 450e9  # NVLink 4: 900 GB/s bidirectional
_PCIE3 = 12e9
_PCIE4 = 25e9

GPUS: dict[str, GpuSpec] = {
    g.name: g
    for g in (
        # V100 datasheet: 125 TFLOPS tensor (fp16), 15.7 FP32 (SXM2). No bf16.
        _g("V100-16GB", 16160, 125, 15.7, _NVLINK_V100, bf16=False),
        _g("V100-32GB", 32510, 125, 15.7, _NVLINK_V100, bf16=False),
        # T4 datasheet: 65 TFLOPS fp16 tensor, 8.1 FP32. No bf16.
        _g("T4", 15360, 65, 8.1, _PCIE3, bf16=False),
        # A10G (AWS g5): NVIDIA does not publish a datasheet; AWS quotes ~70 TFLOPS 16-bit dense (assumption).
        _g("A10G", 23028, 70, 31.2, _PCIE4),
        # GA102 whitepaper (RTX 3090): 71 TFLOPS fp16 tensor with fp32 accumulate, 35.6 FP32.
        _g("RTX3090", 24576, 71, 35.6, _PCIE4),
        # AD102 whitepaper (RTX 4090): 165.2 TFLOPS fp16 tensor with fp32 accumulate, 82.6 FP32.
        _g("RTX4090", 24564, 165.2, 82.6, _PCIE4),
        # L4 datasheet: 121 TFLOPS bf16 dense (242 sparse), 30.3 FP32.
        _g("L4", 23034, 121, 30.3, _PCIE4),
        # L40S datasheet: 362 TFLOPS bf16 dense (733 sparse), 91.6 FP32.
        _g("L40S", 46068, 362, 91.6, _PCIE4),
        # A100 datasheet: 312 TFLOPS bf16 dense, 19.5 FP32.
        _g("A100-40GB", 40960, 312, 19.5, _NVLINK_A100),
        _g("A100-80GB", 81920, 312, 19.5, _NVLINK_A100),
        # H100 SXM datasheet: 989 TFLOPS bf16 dense, 67 FP32.
        _g("H100-80GB", 81559, 989, 67, _NVLINK_H100),
        # H200 datasheet: same compute as H100 SXM, 141 GB HBM3e.
        _g("H200", 143771, 989, 67, _NVLINK_H100),
    )
}

_ALIASES = {
    "V100": "V100-32GB",
    "V100-16G": "V100-16GB",
    "V100-32G": "V100-32GB",
    "3090": "RTX3090",
    "4090": "RTX4090",
    "RTX-3090": "RTX3090",
    "RTX-4090": "RTX4090",
    "A100": "A100-80GB",
    "A100-40G": "A100-40GB",
    "A100-80G": "A100-80GB",
    "H100": "H100-80GB",
    "H100-80G": "H100-80GB",
    "H200-141GB": "H200",
}


def gpu_names() -> list[str]:
    return list(GPUS)


def get_gpu(name: str) -> GpuSpec:
    """Look a card up by catalog name (case-insensitive, common aliases accepted)."""
    key = name.strip().upper().replace(" ", "")
    for known in GPUS:
        if known.upper() == key:
            return GPUS[known]
    for alias, target in _ALIASES.items():
        if alias.upper() == key:
            return GPUS[target]
    raise ValueError(
        f"gpu: unknown GPU {name!r}; choose one of {', '.join(GPUS)} or give custom memory/FLOP/s"
    )


def custom_gpu(memory_gib: float, tflops: float, name: str = "custom") -> GpuSpec:
    """A card not in the catalog: its memory in GiB and its dense 16-bit TFLOP/s."""
    if memory_gib <= 0 or tflops <= 0:
        raise ValueError("gpu: custom memory and TFLOP/s must be positive")
    return GpuSpec(
        name=name,
        memory_bytes=int(memory_gib * 2**30),
        bf16_flops=tflops * 1e12,
        fp32_flops=tflops * 1e12 / 8,
    )
