"""Model states before sharding: which parameters train, and their weights, gradients, master copies and
optimizer states in bytes (whole model, one replica). zero.py then shards / offloads them per GPU.

Byte layout per trainable parameter, following how FT Studio's worker loads models (worker/training/methods:
every non-quantised method loads fp32 weights unless precision is pure_bf16; fp16/bf16 then run as HF AMP;
DeepSpeed casts the module to 16 bits and keeps an fp32 master; with DeepSpeed this is the ZeRO paper's
2 + 2 + 12 = 16 bytes):

| precision            | weights | grads | fp32 master | AdamW states |
| fp32                 | 4       | 4     | -           | 8            |
| fp16/bf16, DeepSpeed | 2       | 2     | 4           | 8            |
| fp16/bf16, HF AMP    | 4       | 4     | -           | 8 (+2 per linear weight: the bf16 copy autocast
|                      |         |       |             |    casts and the matmul saves for backward) |
| pure-bf16            | 2       | 2     | -           | 4 (states follow the param dtype)|

Frozen weights take the load dtype (fp32, or 2 bytes under pure-bf16 / DeepSpeed). QLoRA: the decoder's
linear weights are 4/8-bit; peft's prepare_model_for_kbit_training casts every other weight to fp32. LoRA
adapters stay fp32 (peft autocast_adapter_dtype=True) outside DeepSpeed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from app.jobs.trainer_args import ADAPTER_METHODS, load_dtype

from .architecture import ModelShape
from .constants import (
    ADAM_STATES,
    BNB8_BLOCK,
    BNB8_MIN_SIZE,
    INT8_BITS,
    NF4_BITS_DOUBLE_QUANT,
    NF4_BITS_SINGLE_QUANT,
)
from .schemas import PlanRequest

ATTENTION_ROLES = ("attn_in", "o_in")


@dataclass
class ModelStates:
    """Whole-replica bytes by term, plus what the activation model needs to know about trainability."""

    total_params: int
    trainable_params: int
    adapter_params: int
    weights: dict[str, float] = field(default_factory=dict)  # term -> bytes
    gradients: float = 0.0
    master: float = 0.0
    optimizer: float = 0.0
    autocast_copies: float = 0.0
    trainable_layers: int = 0  # decoder layers whose activations must be kept for backward
    lora_linears: tuple[str, ...] = ()  # linear names carrying a LoRA adapter
    trainable_tensor_sizes: list[tuple[int, int]] = field(default_factory=list)  # (numel, count)

    @property
    def weight_bytes(self) -> float:
        return sum(self.weights.values())


def is_mixed(req: PlanRequest) -> bool:
    return req.precision in ("fp16", "bf16")


def compute_bytes(req: PlanRequest) -> float:
    """Bytes of an activation element: fp32 runs in fp32, every 16-bit mode computes in 16 bits."""
    return 4.0 if req.precision == "fp32" else 2.0


def resolve_lora_targets(shape: ModelShape, targets: str) -> tuple[str, ...]:
    """`all-linear`, `attention`, `attention+mlp` or a comma list -> linear names present in the model."""
    text = targets.strip()
    names = [lin.name for lin in shape.linears]
    if text in ("all-linear", "all", "attention+mlp"):
        return tuple(dict.fromkeys(names))
    if text == "attention":
        return tuple(dict.fromkeys(lin.name for lin in shape.linears if lin.group in ATTENTION_ROLES))
    wanted = [t.strip() for t in text.split(",") if t.strip()]
    unknown = [t for t in wanted if t not in names]
    if not wanted or unknown:
        raise ValueError(
            f"lora_targets: {', '.join(unknown) or repr(text)} not in this model; its linear layers are "
            f"{', '.join(dict.fromkeys(names))} (or use all-linear / attention)"
        )
    return tuple(dict.fromkeys(wanted))


def _layer_tensors(shape: ModelShape) -> list[int]:
    sizes = [lin.in_features * lin.out_features for lin in shape.linears]
    sizes += [lin.out_features for lin in shape.linears if lin.bias]
    sizes += [shape.hidden_size] * (4 if shape.norm == "layer" else 2)
    return sizes


def _full_tensor_sizes(shape: ModelShape, layers: int, with_embeddings: bool) -> list[tuple[int, int]]:
    out = [(n, layers) for n in _layer_tensors(shape)]
    if with_embeddings:
        out.append((shape.embedding_params, 1))
        if shape.lm_head_params:
            out.append((shape.lm_head_params, 1))
        if shape.position_params:
            out.append((shape.position_params, 1))
        out.append((shape.hidden_size, 2 if shape.norm == "layer" else 1))
    return out


def _quantized_linear_bytes(shape: ModelShape, bits: int, double_quant: bool) -> float:
    """bitsandbytes storage of every decoder linear weight (biases stay in 16 bits: counted elsewhere)."""
    total = 0.0
    for lin in shape.linears:
        n = lin.in_features * lin.out_features
        if bits == 4:
            total += n * (NF4_BITS_DOUBLE_QUANT if double_quant else NF4_BITS_SINGLE_QUANT) / 8
        else:
            total += n * INT8_BITS / 8 + lin.out_features * 4  # int8 codes + one fp32 scale per row (SCB)
    return total * shape.num_layers


def optimizer_bytes_per_tensor(numel: int, req: PlanRequest, fp32_params: bool = False) -> float:
    """AdamW state bytes for one tensor of `numel` elements under the requested optimizer and precision."""
    state_elem = 2.0 if req.precision == "pure-bf16" and not fp32_params else 4.0
    if req.optimizer == "adamw" or numel < BNB8_MIN_SIZE:
        return ADAM_STATES * state_elem * numel
    blocks = -(-numel // BNB8_BLOCK)
    return ADAM_STATES * (numel + 4 * blocks)  # 1 byte per state + one fp32 absmax per block


def model_states(shape: ModelShape, req: PlanRequest) -> ModelStates:
    """Weights, gradients, master weights and optimizer states of one full replica for `req.method`."""
    total = shape.num_params
    deepspeed = req.zero is not None
    # dtype of frozen (non-quantised) weights: the child's load dtype (app/jobs/trainer_args.load_dtype: the
    # compute dtype for adapter methods, fp32 for full/freeze under mixed precision), or 16 bits once
    # DeepSpeed casts the module
    loaded_fp32 = load_dtype(req.method, req.precision.replace("-", "_")) == "fp32"
    half = 4.0 if loaded_fp32 and not (is_mixed(req) and deepspeed) else 2.0
    # Per trainable parameter: (weight, grad, master) bytes; see the module docstring.
    if req.precision == "fp32":
        w, g, m = 4.0, 4.0, 0.0
    elif req.precision == "pure-bf16":
        w, g, m = 2.0, 2.0, 0.0
    elif deepspeed:
        w, g, m = 2.0, 2.0, 4.0
    else:
        w, g, m = 4.0, 4.0, 0.0  # HF AMP keeps fp32 weights and autocasts copies
    st = ModelStates(total_params=total, trainable_params=0, adapter_params=0)
    L = shape.num_layers

    if req.method in ("full", "freeze"):
        if req.method == "full":
            trainable, st.trainable_layers = total, L
            sizes = _full_tensor_sizes(shape, L, with_embeddings=True)
        else:
            k = min(req.freeze_trainable_layers, L)
            trainable, st.trainable_layers = k * shape.layer_params, k
            sizes = _full_tensor_sizes(shape, k, with_embeddings=False)
        frozen = total - trainable
        st.weights["weights (trainable)"] = trainable * w
        if frozen:
            st.weights["weights (frozen)"] = frozen * half
        st.trainable_params = trainable
        st.trainable_tensor_sizes = sizes
    else:
        adapter_sizes: list[tuple[int, int]] = []
        if req.method in ("lora", "qlora"):
            st.lora_linears = resolve_lora_targets(shape, req.lora_targets)
            for lin in shape.linears:
                if lin.name in st.lora_linears:
                    adapter_sizes += [(req.lora_r * lin.in_features, L), (req.lora_r * lin.out_features, L)]
            st.trainable_layers = L
        elif req.method == "ptuning":
            # peft PromptEncoder (MLP reparameterisation): virtual-token embedding + Linear(h,e)-ReLU-
            # Linear(e,e)-ReLU-Linear(e,h), all with biases.
            h, e = shape.hidden_size, req.encoder_hidden_size
            adapter_sizes = [
                (req.num_virtual_tokens * h, 1), (h * e, 1), (e, 1), (e * e, 1), (e, 1), (e * h, 1), (h, 1)
            ]  # fmt: skip
            st.trainable_layers = L
        elif req.method == "prompt":
            adapter_sizes = [(req.num_virtual_tokens * shape.hidden_size, 1)]  # peft PromptEmbedding
            st.trainable_layers = L
        elif req.method == "prefix":
            # peft PrefixEncoder without projection: one embedding of num_layers x 2 (key, value) x kv width
            adapter_sizes = [(req.num_virtual_tokens * L * 2 * shape.kv_dim, 1)]
            st.trainable_layers = L
        elif req.method == "ia3":
            # peft IA3 on Llama-likes: one scale per output of k and v, one per input of the down projection
            adapter_sizes = [(2 * shape.kv_dim + shape.intermediate_size, L)]
            st.trainable_layers = L
        elif req.method == "adapter":
            # Bottleneck adapters (Houlsby et al. 2019) as FT Studio adds them (worker/training/methods/
            # adapter.py): one per layer after the feed-forward block, down h->m and up m->h with biases.
            h, mdim = shape.hidden_size, req.adapter_bottleneck_size
            adapter_sizes = [(h * mdim, L), (mdim, L), (mdim * h, L), (h, L)]
            st.trainable_layers = L
        adapters = sum(n * c for n, c in adapter_sizes)
        st.adapter_params = st.trainable_params = adapters
        st.trainable_tensor_sizes = adapter_sizes
        if req.method == "qlora":
            linear_params = sum(lin.in_features * lin.out_features for lin in shape.linears) * L
            st.weights["weights (quantized)"] = _quantized_linear_bytes(
                shape, req.quant_bits, req.double_quant
            )
            st.weights["weights (frozen)"] = (total - linear_params) * half
        else:
            st.weights["weights (frozen)"] = total * half
        # peft keeps adapters in fp32 under mixed precision (autocast_adapter_dtype=True); DeepSpeed casts
        # them to 16 bits and keeps an fp32 master instead: both cost 16 bytes per adapter parameter.
        if (req.method in ("lora", "qlora") or is_mixed(req)) and not deepspeed:
            # peft autocast_adapter_dtype (and the child's own adapter module) keep adapters in fp32
            w = g = 4.0
        st.weights["adapter weights"] = adapters * w
        total = st.total_params = total + adapters

    if is_mixed(req) and not deepspeed and loaded_fp32 and req.method not in ADAPTER_METHODS:
        # every decoder linear and the LM head run on a bf16 copy that the matmul saves for backward
        linear = sum(lin.in_features * lin.out_features for lin in shape.linears) * L
        st.autocast_copies = 2.0 * (linear + shape.vocab_size * shape.hidden_size)
    st.gradients = st.trainable_params * g
    st.master = st.trainable_params * m
    fp32_params = w == 4.0
    st.optimizer = sum(
        optimizer_bytes_per_tensor(n, req, fp32_params) * c for n, c in st.trainable_tensor_sizes
    )
    return st


def weights_gib(num_params: float, precision: str = "fp16") -> float:
    """The course's model-size table: parameters x bytes per parameter, in GiB."""
    bytes_per = {"fp32": 4, "fp16": 2, "bf16": 2, "int8": 1, "int4": 0.5}
    if precision not in bytes_per:
        raise ValueError(f"precision: choose one of {', '.join(bytes_per)}")
    return num_params * bytes_per[precision] / 2**30


def zero_paper_model_states(num_params: float, stage: int, num_gpus: int, k: int = 12) -> float:
    """Per-device model-state bytes from the ZeRO paper (Rajbhandari et al. 2020, Figure 1 / Table 1):
    baseline (2 + 2 + K)Ψ; P_os 4Ψ + KΨ/N; P_os+g 2Ψ + (2 + K)Ψ/N; P_os+g+p (2 + 2 + K)Ψ/N."""
    psi, n = float(num_params), float(num_gpus)
    if stage == 0:
        return (4 + k) * psi
    if stage == 1:
        return 4 * psi + k * psi / n
    if stage == 2:
        return 2 * psi + (2 + k) * psi / n
    if stage == 3:
        return (4 + k) * psi / n
    raise ValueError("zero: stage must be 0, 1, 2 or 3")
