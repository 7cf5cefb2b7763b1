"""Published tables the planner must reproduce exactly (to the digits they are stated with)."""

from __future__ import annotations

import pytest

from app.planner import PlanRequest, load_model_shape, plan, weights_gib, zero_paper_model_states
from app.planner.constants import NF4_BITS_DOUBLE_QUANT, NF4_BITS_SINGLE_QUANT
from app.planner.memory import model_states

# The course's model-size table: GiB of fp16 weights (2 bytes/param); fp32 doubles it.
COURSE_TABLE = [(6e9, 11.18), (7e9, 13.04), (13e9, 24.21), (175e9, 325.96)]


@pytest.mark.parametrize(("params", "gib"), COURSE_TABLE)
def test_course_model_size_table(params: float, gib: float) -> None:
    assert round(weights_gib(params, "fp16"), 2) == gib
    assert round(weights_gib(params, "fp32"), 2) == round(2 * weights_gib(params, "fp16"), 2)
    assert round(weights_gib(params, "fp32") / 2, 2) == gib


# ZeRO paper (Rajbhandari et al. 2020), Figure 1: 7.5B parameters, 64 GPUs, K = 12.
@pytest.mark.parametrize(("stage", "gb"), [(0, "120"), (1, "31.4"), (2, "16.6"), (3, "1.9")])
def test_zero_paper_per_device_model_states(stage: int, gb: str) -> None:
    value = zero_paper_model_states(7.5e9, stage, 64) / 1e9
    digits = len(gb.split(".")[1]) if "." in gb else 0
    assert f"{value:.{digits}f}" == gb


def test_sixteen_phi_rule_from_the_full_planner() -> None:
    """Mixed-precision AdamW under DeepSpeed costs 2 + 2 + 4 + 4 + 4 = 16 bytes per parameter."""
    shape = load_model_shape("meta-llama/Llama-2-7b-hf")
    req = PlanRequest(model="meta-llama/Llama-2-7b-hf", method="full", precision="bf16", zero=0)
    st = model_states(shape, req)
    total = st.weight_bytes + st.gradients + st.master + st.optimizer
    assert total == 16 * shape.num_params


@pytest.mark.parametrize(("stage", "paper_stage"), [(1, 1), (2, 2), (3, 3)])
def test_planner_sharding_matches_the_paper_formula(stage: int, paper_stage: int) -> None:
    """The planner's per-GPU model states (weights + grads + master + optimizer) = the paper's formula."""
    shape = load_model_shape("meta-llama/Llama-2-13b-hf")
    req = PlanRequest(
        model="meta-llama/Llama-2-13b-hf", method="full", precision="bf16", zero=stage, num_gpus=8
    )
    result = plan(req, shape=shape, with_recommendations=False)
    b = result.per_gpu.phase_peaks  # the step phase holds exactly the model states + step buffers
    from app.planner.zero import shard

    sh = shard(shape, model_states(shape, req), req)
    states = sum(sh.weights.values()) + sh.gradients + sh.master + sh.optimizer
    assert states == pytest.approx(zero_paper_model_states(shape.num_params, paper_stage, 8), rel=1e-9)
    assert b["optimizer_step"] >= states


def test_nf4_bits_per_parameter_from_the_qlora_paper() -> None:
    # QLoRA section 3: 32/64 = 0.5 bit without, 8/64 + 32/(64*256) = 0.127 bit with double quantisation.
    assert round(NF4_BITS_SINGLE_QUANT - 4, 3) == 0.5
    assert round(NF4_BITS_DOUBLE_QUANT - 4, 3) == 0.127


def test_qlora_weights_use_nf4_bits() -> None:
    shape = load_model_shape("meta-llama/Llama-2-7b-hf")
    linear = sum(lin.in_features * lin.out_features for lin in shape.linears) * shape.num_layers
    for dq, bits in ((True, NF4_BITS_DOUBLE_QUANT), (False, NF4_BITS_SINGLE_QUANT)):
        req = PlanRequest(model="x", method="qlora", double_quant=dq)
        assert model_states(shape, req).weights["weights (quantized)"] == pytest.approx(linear * bits / 8)


def test_planner_package_is_pure() -> None:
    """app.planner imports neither torch/transformers nor the web or database stack (fresh interpreter)."""
    import subprocess
    import sys
    from pathlib import Path

    code = (
        "import sys, app.planner\n"
        "bad = [m for m in ('torch', 'transformers', 'peft', 'fastapi', 'sqlalchemy') if m in sys.modules]\n"
        "print(','.join(bad))\n"
    )
    repo = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=repo, check=True)
    assert out.stdout.strip() == ""
