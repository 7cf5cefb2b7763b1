"""Activation memory: the tensors autograd saves for backward, per decoder layer and for the LM head.

Korthikanti et al. 2022 ("Reducing Activation Recomputation in Large Transformer Models", arXiv 2205.05198,
section 4.1) count 34·s·b·h + 5·a·s²·b bytes per fp16 GPT layer with dropout. Modern decoders differ, so
the same accounting is redone tensor by tensor for the Hugging Face code path (t = b·s tokens, e = bytes of
a compute element, I = MLP width, a = heads, d = a·head_dim):

* RMSNorm (LlamaRMSNorm): the fp32 upcast of its input (4·t·h) is saved by pow/mul; with a trainable norm
  weight the normalised tensor (e·t·h) too; LayerNorm saves its input (e·t·h).
* a linear saves its input only when its weight trains or it carries a LoRA adapter: attention input
  (e·t·h, shared by q/k/v), o_proj input (e·t·d), MLP input (e·t·h), down_proj input (e·t·I).
* eager attention: q (e·t·d), k and v repeated to all heads for GQA (`repeat_kv`, 2·e·t·d), the fp32
  softmax output (4·a·s²·b) and, in 16-bit, its cast copy (e·a·s²·b). Dropout p=0 returns its input.
* FlashAttention / SDPA: q, k, v unrepeated (e·t·(d + 2·kv)), the output and the o_proj copy (2·e·t·d), a
  logsumexp (4·a·s·b); no s² term.
* SwiGLU: SiLU input, SiLU output and up output (3·e·t·I) + down input; GELU MLP: fc1 output (+ fc2 input).
* LoRA: lora_A output (e·t·r) per adapted linear; with lora_dropout > 0 a dropped copy of the input and its
  mask (on CPU an e-byte noise tensor, on GPU a 1-byte mask).
* Gradient checkpointing keeps only each layer's input (e·t·h) and recomputes one layer in backward.
* Loss: transformers' ForCausalLMLoss upcasts logits to fp32 and log-softmax saves its fp32 output; its
  backward holds output, grad-out and grad-in together: 3·4·t·V, often the largest single term (V=152k).
"""

from __future__ import annotations

from dataclasses import dataclass

from .architecture import ModelShape
from .constants import CE_CHUNKS, LOSS_FP32_COPIES_BACKWARD, SOFTMAX_BYTES
from .memory import ModelStates, compute_bytes
from .schemas import PlanRequest


@dataclass
class Activations:
    saved_per_layer: float  # bytes one layer saves without checkpointing
    saved_layers: float  # bytes all layers keep between forward and backward
    head_saved: float  # final norm (+ LM-head input when the head trains)
    forward_logits: float  # logits + fp32 upcast + log-softmax output alive together at the end of forward
    loss_backward: float  # log-softmax backward (saved output, grad-out, grad-in)
    layer_backward: float  # one layer's backward working set (+ its recomputation under checkpointing)
    tokens: int


def effective_seq_len(req: PlanRequest) -> int:
    return req.seq_len + (req.num_virtual_tokens if req.method in ("ptuning", "prompt") else 0)


def _needs_input(
    shape: ModelShape, states: ModelStates, req: PlanRequest, group: str, layer_trains: bool
) -> bool:
    """A linear's input is saved iff its weight trains or it carries a LoRA adapter."""
    if layer_trains and req.method in ("full", "freeze"):
        return True
    return any(lin.group == group and lin.name in states.lora_linears for lin in shape.linears)


def layer_bytes(shape: ModelShape, states: ModelStates, req: PlanRequest, layer_trains: bool) -> float:
    """Bytes one decoder layer saves for backward (no checkpointing)."""
    e = compute_bytes(req)
    on_cpu = req.device == "cpu"
    b, s = req.micro_batch, effective_seq_len(req)
    t = b * s
    h, d, kv, inter, a = (
        shape.hidden_size,
        shape.attn_dim,
        shape.kv_dim,
        shape.intermediate_size,
        shape.num_heads,
    )
    norm_trains = layer_trains and req.method in ("full", "freeze")
    total = 0.0
    # two norms per layer
    per_norm = (4.0 * t * h if shape.norm == "rms" else e * t * h) + (e * t * h if norm_trains else 0.0)
    total += 2 * per_norm
    for group, width in (("attn_in", h), ("o_in", d), ("mlp_in", h), ("down_in", inter)):
        if _needs_input(shape, states, req, group, layer_trains):
            total += e * t * width
    # attention core
    if req.flash_attention:
        total += e * t * (d + 2 * kv) + 2 * e * t * d + 4.0 * b * a * s
    else:
        total += 3 * e * t * d + SOFTMAX_BYTES * b * a * s * s + (e * b * a * s * s if e != 4 else 0.0)
    # MLP nonlinearity
    total += (3 if shape.gated_mlp else 1) * e * t * inter
    # method extras
    if states.lora_linears:
        dropout = req.lora_dropout > 0
        mask = e if on_cpu else 1.0
        for lin in shape.linears:
            if lin.name in states.lora_linears:
                total += e * t * req.lora_r
                if dropout:
                    total += (e + mask) * t * lin.in_features
    if req.method == "adapter":
        m = req.adapter_bottleneck_size
        total += e * t * (h + 2 * m)  # one adapter: its input, the activation output (= up input)
    return total


def activations(shape: ModelShape, states: ModelStates, req: PlanRequest) -> Activations:
    e = compute_bytes(req)
    b, s = req.micro_batch, effective_seq_len(req)
    t = b * s
    h, V, L = shape.hidden_size, shape.vocab_size, shape.num_layers
    # Layers below the lowest trainable one see no gradient, so they save nothing (freeze tuning).
    kept_layers = L if req.method != "freeze" else states.trainable_layers
    per_layer = layer_bytes(shape, states, req, layer_trains=True)
    # Checkpointing keeps only each layer's input.
    saved_layers = kept_layers * (e * t * h if req.gradient_checkpointing else per_layer)
    head_trains = req.method == "full"
    head_saved = (4.0 * t * h if shape.norm == "rms" else e * t * h) + (2 * e * t * h if head_trains else 0.0)
    if req.chunked_loss:
        # torchtune CEWithChunkedOutputLoss (8 chunks, compiled cross-entropy): the e-byte logits stay, each
        # chunk is upcast in turn (fp32 input + output of one chunk at a time), backward adds e-byte grads.
        chunk = 4.0 * t * V / CE_CHUNKS
        forward_logits = e * t * V + 2 * chunk
        loss_backward = 2 * e * t * V + 2 * chunk
    else:
        # logits (e) + fp32 upcast (a copy only when e != 4) + saved log-softmax output (fp32)
        forward_logits = e * t * V + (4.0 * t * V if e != 4 else 0.0) + 4.0 * t * V
        loss_backward = LOSS_FP32_COPIES_BACKWARD * 4.0 * t * V
    # One layer's backward working set: attention-score gradients (eager) or the q/k/v gradients (flash),
    # the MLP gradients, and the hidden-state gradient in and out.
    if req.flash_attention:
        attn_bwd = 4 * e * t * shape.attn_dim
    else:
        attn_bwd = (8.0 if e == 4 else 10.0) * b * shape.num_heads * s * s
    layer_backward = max(attn_bwd, 3 * e * t * shape.intermediate_size) + 3 * e * t * h
    if req.gradient_checkpointing:
        layer_backward += per_layer
    return Activations(
        saved_per_layer=per_layer,
        saved_layers=saved_layers,
        head_saved=head_saved,
        forward_logits=forward_logits,
        loss_backward=loss_backward,
        layer_backward=layer_backward,
        tokens=t,
    )
