"""Model shape: read a causal LM's config.json (or a known id offline) into the numbers the planner needs.

Parameter counts are exact for the Hugging Face implementations (tests compare them with models built on
the meta device for Llama, Qwen2, Bloom, GPT-BigCode and GPT-2). ChatGLM and Baichuan2 need
trust_remote_code to build, so their counts follow the published modelling files
(THUDM/chatglm3-6b modeling_chatglm.py, baichuan-inc/Baichuan2-* modeling_baichuan.py).
"""

from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

InputGroup = Literal["attn_in", "o_in", "mlp_in", "down_in"]


class Linear(BaseModel):
    """One linear layer of a decoder block; `group` names the activation tensor it reads."""

    model_config = ConfigDict(frozen=True)
    name: str
    in_features: int
    out_features: int
    bias: bool
    group: InputGroup

    @property
    def params(self) -> int:
        return self.in_features * self.out_features + (self.out_features if self.bias else 0)


class ModelShape(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    model_type: str
    hidden_size: int = Field(gt=0)
    num_layers: int = Field(gt=0)
    num_heads: int = Field(gt=0)
    num_kv_heads: int = Field(gt=0)
    head_dim: int = Field(gt=0)
    intermediate_size: int = Field(gt=0)
    gated_mlp: bool
    vocab_size: int = Field(gt=0)
    tie_embeddings: bool
    norm: Literal["rms", "layer"] = "rms"
    position: Literal["rope", "alibi", "learned"] = "rope"
    max_position_embeddings: int = 4096
    linears: tuple[Linear, ...]
    embedding_layernorm: bool = False  # bloom's word_embeddings_layernorm

    @property
    def kv_dim(self) -> int:
        return self.num_kv_heads * self.head_dim

    @property
    def attn_dim(self) -> int:
        return self.num_heads * self.head_dim

    @property
    def norm_params(self) -> int:
        return self.hidden_size * (2 if self.norm == "layer" else 1)

    @cached_property
    def layer_params(self) -> int:
        return sum(lin.params for lin in self.linears) + 2 * self.norm_params

    @property
    def embedding_params(self) -> int:
        return self.vocab_size * self.hidden_size

    @property
    def position_params(self) -> int:
        return self.max_position_embeddings * self.hidden_size if self.position == "learned" else 0

    @property
    def lm_head_params(self) -> int:
        return 0 if self.tie_embeddings else self.vocab_size * self.hidden_size

    @cached_property
    def num_params(self) -> int:
        """Total parameters, exactly as `sum(p.numel() for p in model.parameters())` counts them."""
        return (
            self.embedding_params
            + self.position_params
            + (self.norm_params if self.embedding_layernorm else 0)
            + self.num_layers * self.layer_params
            + self.norm_params  # final norm
            + self.lm_head_params
        )

    @property
    def largest_layer_params(self) -> int:
        """The biggest single parameter tensor group ZeRO-3 gathers at once (usually the embedding)."""
        return max(self.embedding_params, max(lin.params for lin in self.linears))


def _llama_linears(cfg: dict[str, Any], h: int, a: int, kv: int, hd: int, inter: int) -> tuple[Linear, ...]:
    qkv_bias = bool(cfg.get("attention_bias", False)) or cfg.get("model_type") == "qwen2"
    mlp_bias = bool(cfg.get("mlp_bias", False))
    o_bias = bool(cfg.get("attention_bias", False))
    return (
        Linear(name="q_proj", in_features=h, out_features=a * hd, bias=qkv_bias, group="attn_in"),
        Linear(name="k_proj", in_features=h, out_features=kv * hd, bias=qkv_bias, group="attn_in"),
        Linear(name="v_proj", in_features=h, out_features=kv * hd, bias=qkv_bias, group="attn_in"),
        Linear(name="o_proj", in_features=a * hd, out_features=h, bias=o_bias, group="o_in"),
        Linear(name="gate_proj", in_features=h, out_features=inter, bias=mlp_bias, group="mlp_in"),
        Linear(name="up_proj", in_features=h, out_features=inter, bias=mlp_bias, group="mlp_in"),
        Linear(name="down_proj", in_features=inter, out_features=h, bias=mlp_bias, group="down_in"),
    )


def _first(cfg: dict[str, Any], *keys: str, default: Any = None) -> Any:
    for key in keys:
        if cfg.get(key) is not None:
            return cfg[key]
    if default is None:
        raise ValueError(f"config.json: missing {' / '.join(keys)}")
    return default


def shape_from_config(cfg: dict[str, Any], name: str = "model") -> ModelShape:
    """Build a ModelShape from a parsed config.json; raises ValueError naming what is missing."""
    if not isinstance(cfg, dict):
        raise ValueError("config.json: expected a JSON object")
    mtype = str(cfg.get("model_type", "")).lower()
    common: dict[str, Any] = {"name": name, "model_type": mtype or "llama"}
    if mtype in ("gpt_bigcode", "gpt2"):
        h = int(_first(cfg, "n_embd", "hidden_size"))
        a = int(_first(cfg, "n_head", "num_attention_heads"))
        kv = 1 if (mtype == "gpt_bigcode" and cfg.get("multi_query", True)) else a
        hd = h // a
        inter = int(cfg.get("n_inner") or 4 * h)
        linears = (
            Linear(name="c_attn", in_features=h, out_features=h + 2 * kv * hd, bias=True, group="attn_in"),
            Linear(name="c_proj", in_features=h, out_features=h, bias=True, group="o_in"),
            Linear(name="c_fc", in_features=h, out_features=inter, bias=True, group="mlp_in"),
            Linear(name="c_proj", in_features=inter, out_features=h, bias=True, group="down_in"),
        )
        return ModelShape(
            **common, hidden_size=h, num_layers=int(_first(cfg, "n_layer", "num_hidden_layers")),
            num_heads=a, num_kv_heads=kv, head_dim=hd, intermediate_size=inter, gated_mlp=False,
            vocab_size=int(cfg["vocab_size"]), tie_embeddings=bool(cfg.get("tie_word_embeddings", True)),
            norm="layer", position="learned",
            max_position_embeddings=int(_first(cfg, "n_positions", default=1024)),
            linears=linears,
        )  # fmt: skip
    if mtype == "bloom":
        h = int(_first(cfg, "hidden_size", "n_embed"))
        a = int(_first(cfg, "n_head", "num_attention_heads"))
        linears = (
            Linear(name="query_key_value", in_features=h, out_features=3 * h, bias=True, group="attn_in"),
            Linear(name="dense", in_features=h, out_features=h, bias=True, group="o_in"),
            Linear(name="dense_h_to_4h", in_features=h, out_features=4 * h, bias=True, group="mlp_in"),
            Linear(name="dense_4h_to_h", in_features=4 * h, out_features=h, bias=True, group="down_in"),
        )
        return ModelShape(
            **common, hidden_size=h, num_layers=int(_first(cfg, "n_layer", "num_hidden_layers")), num_heads=a,
            num_kv_heads=a, head_dim=h // a, intermediate_size=4 * h, gated_mlp=False,
            vocab_size=int(cfg["vocab_size"]), tie_embeddings=bool(cfg.get("tie_word_embeddings", True)),
            norm="layer", position="alibi", max_position_embeddings=int(cfg.get("seq_length", 2048)),
            linears=linears, embedding_layernorm=True,
        )  # fmt: skip
    if mtype == "chatglm":
        h = int(cfg["hidden_size"])
        a = int(cfg["num_attention_heads"])
        hd = int(cfg.get("kv_channels") or h // a)
        kv = int(cfg.get("multi_query_group_num", a)) if cfg.get("multi_query_attention") else a
        inter = int(cfg["ffn_hidden_size"])
        bias = bool(cfg.get("add_bias_linear", False))
        linears = (
            Linear(name="query_key_value", in_features=h, out_features=a * hd + 2 * kv * hd,
                   bias=bool(cfg.get("add_qkv_bias", False)) or bias, group="attn_in"),
            Linear(name="dense", in_features=a * hd, out_features=h, bias=bias, group="o_in"),
            Linear(name="dense_h_to_4h", in_features=h, out_features=2 * inter, bias=bias, group="mlp_in"),
            Linear(name="dense_4h_to_h", in_features=inter, out_features=h, bias=bias, group="down_in"),
        )  # fmt: skip
        return ModelShape(
            **common, hidden_size=h, num_layers=int(cfg["num_layers"]), num_heads=a, num_kv_heads=kv,
            head_dim=hd, intermediate_size=inter, gated_mlp=True,
            vocab_size=int(_first(cfg, "padded_vocab_size", "vocab_size")),
            tie_embeddings=False, norm="rms" if cfg.get("rmsnorm", True) else "layer",
            max_position_embeddings=int(cfg.get("seq_length", 8192)), linears=linears,
        )  # fmt: skip
    # Llama family (llama, mistral, qwen2, qwen3 without q/k norm, baichuan, internlm ...).
    h = int(_first(cfg, "hidden_size", "n_embd", "d_model"))
    a = int(_first(cfg, "num_attention_heads", "n_head"))
    kv = int(cfg.get("num_key_value_heads") or a)
    hd = int(cfg.get("head_dim") or h // a)
    inter = int(_first(cfg, "intermediate_size", "ffn_hidden_size"))
    if mtype == "baichuan":
        linears = (
            Linear(name="W_pack", in_features=h, out_features=3 * h, bias=False, group="attn_in"),
            *_llama_linears(cfg, h, a, kv, hd, inter)[3:],
        )
        # Baichuan2-13B uses ALiBi (no max_position_embeddings key, model_max_length instead).
        position = "rope" if "max_position_embeddings" in cfg else "alibi"
    else:
        linears = _llama_linears(cfg, h, a, kv, hd, inter)
        position = "rope"
    if h % a and not cfg.get("head_dim"):
        raise ValueError(f"config.json: hidden_size {h} is not divisible by num_attention_heads {a}")
    return ModelShape(
        **common, hidden_size=h, num_layers=int(_first(cfg, "num_hidden_layers", "n_layer", "num_layers")),
        num_heads=a, num_kv_heads=kv, head_dim=hd, intermediate_size=inter, gated_mlp=True,
        vocab_size=int(cfg["vocab_size"]), tie_embeddings=bool(cfg.get("tie_word_embeddings", False)),
        norm="rms", position=position,
        max_position_embeddings=int(_first(cfg, "max_position_embeddings", "model_max_length", default=4096)),
        linears=linears,
    )  # fmt: skip


def _llama(h: int, inter: int, layers: int, heads: int, kv: int, vocab: int, tie: bool, pos: int, **kw: Any):
    return {
        "model_type": kw.pop("model_type", "llama"), "hidden_size": h, "intermediate_size": inter,
        "num_hidden_layers": layers, "num_attention_heads": heads, "num_key_value_heads": kv,
        "vocab_size": vocab, "tie_word_embeddings": tie, "max_position_embeddings": pos, **kw,
    }  # fmt: skip


# config.json values of public checkpoints (copied from each repository's config.json), so the planner
# answers offline for the ids users type most.
KNOWN_CONFIGS: dict[str, dict[str, Any]] = {
    "meta-llama/Llama-2-7b-hf": _llama(4096, 11008, 32, 32, 32, 32000, False, 4096),
    "meta-llama/Llama-2-13b-hf": _llama(5120, 13824, 40, 40, 40, 32000, False, 4096),
    "meta-llama/Meta-Llama-3-8B": _llama(4096, 14336, 32, 32, 8, 128256, False, 8192),
    "meta-llama/Llama-3.2-1B": _llama(2048, 8192, 16, 32, 8, 128256, True, 131072, head_dim=64),
    "meta-llama/Llama-3.2-3B": _llama(3072, 8192, 28, 24, 8, 128256, True, 131072, head_dim=128),
    "mistralai/Mistral-7B-v0.1": _llama(4096, 14336, 32, 32, 8, 32000, False, 32768, model_type="mistral"),
    "Qwen/Qwen2-0.5B": _llama(896, 4864, 24, 14, 2, 151936, True, 131072, model_type="qwen2"),
    "Qwen/Qwen2-1.5B": _llama(1536, 8960, 28, 12, 2, 151936, True, 131072, model_type="qwen2"),
    "Qwen/Qwen2-7B": _llama(3584, 18944, 28, 28, 4, 152064, False, 131072, model_type="qwen2"),
    "Qwen/Qwen2.5-0.5B-Instruct": _llama(896, 4864, 24, 14, 2, 151936, True, 32768, model_type="qwen2"),
    "Qwen/Qwen2.5-7B-Instruct": _llama(3584, 18944, 28, 28, 4, 152064, False, 32768, model_type="qwen2"),
    "baichuan-inc/Baichuan2-7B-Chat": _llama(
        4096, 11008, 32, 32, 32, 125696, False, 4096, model_type="baichuan"
    ),
    "baichuan-inc/Baichuan2-13B-Chat": {
        "model_type": "baichuan", "hidden_size": 5120, "intermediate_size": 13696, "num_hidden_layers": 40,
        "num_attention_heads": 40, "vocab_size": 125696, "tie_word_embeddings": False,
        "model_max_length": 4096,
    },
    "THUDM/chatglm3-6b": {
        "model_type": "chatglm", "hidden_size": 4096, "ffn_hidden_size": 13696, "num_layers": 28,
        "num_attention_heads": 32, "kv_channels": 128, "multi_query_attention": True,
        "multi_query_group_num": 2,
        "padded_vocab_size": 65024, "add_qkv_bias": True, "add_bias_linear": False, "seq_length": 8192,
    },
    "HuggingFaceTB/SmolLM2-135M-Instruct": _llama(576, 1536, 30, 9, 3, 49152, True, 8192),
    "HuggingFaceTB/SmolLM2-360M-Instruct": _llama(960, 2560, 32, 15, 5, 49152, True, 8192),
    "bigcode/starcoderbase-1b": {
        "model_type": "gpt_bigcode", "n_embd": 2048, "n_inner": 8192, "n_layer": 24, "n_head": 16,
        "multi_query": True, "vocab_size": 49152, "n_positions": 8192,
    },
    "bigscience/bloom-560m": {"model_type": "bloom", "hidden_size": 1024, "n_layer": 24, "n_head": 16,
                              "vocab_size": 250880, "seq_length": 2048},
    "bigscience/bloomz-560m": {"model_type": "bloom", "hidden_size": 1024, "n_layer": 24, "n_head": 16,
                               "vocab_size": 250880, "seq_length": 2048},
}  # fmt: skip
KNOWN_CONFIGS["HuggingFaceTB/SmolLM2-135M"] = KNOWN_CONFIGS["HuggingFaceTB/SmolLM2-135M-Instruct"]
KNOWN_CONFIGS["Qwen/Qwen2-7B-Instruct"] = KNOWN_CONFIGS["Qwen/Qwen2-7B"]
KNOWN_CONFIGS["meta-llama/Llama-2-7b-chat-hf"] = KNOWN_CONFIGS["meta-llama/Llama-2-7b-hf"]
KNOWN_CONFIGS["meta-llama/Llama-3.2-3B-Instruct"] = KNOWN_CONFIGS["meta-llama/Llama-3.2-3B"]
KNOWN_CONFIGS["baichuan-inc/Baichuan2-7B-Base"] = KNOWN_CONFIGS["baichuan-inc/Baichuan2-7B-Chat"]
KNOWN_CONFIGS["baichuan-inc/Baichuan2-13B-Base"] = KNOWN_CONFIGS["baichuan-inc/Baichuan2-13B-Chat"]


def shape_from_config_json(cfg: Any, name: str = "model") -> ModelShape:
    """A parsed config.json -> ModelShape (a multimodal config's text_config is its language model);
    ValueError for one that lacks what the shape needs."""
    if isinstance(cfg, dict) and isinstance(cfg.get("text_config"), dict):
        cfg = {**cfg["text_config"], "model_type": cfg["text_config"].get("model_type", "")}
    try:
        return shape_from_config(cfg, name=name)
    except (KeyError, TypeError) as exc:
        raise ValueError(f"model: config.json lacks a needed key: {exc}") from exc


def load_model_shape(source: str | Path) -> ModelShape:
    """A model folder, a config.json path, or a known hub id -> ModelShape.

    Raises FileNotFoundError for a path or id it cannot find, ValueError for a config it cannot read.
    """
    text = str(source).strip()
    if not text:
        raise ValueError("model: empty model name")
    path = Path(text).expanduser()
    if path.is_dir():
        path = path / "config.json"
        if not path.is_file():
            raise FileNotFoundError(f"model: folder {text!r} has no config.json")
    if path.is_file():
        try:
            cfg = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"model: cannot read {path}: {exc}") from exc
        return shape_from_config_json(cfg, name=str(path.parent.name or text))
    for known, cfg in KNOWN_CONFIGS.items():
        if known.lower() == text.lower():
            return shape_from_config(cfg, name=known)
    raise FileNotFoundError(
        f"model: {text!r} is neither a folder with config.json, a config.json file, nor a known id "
        f"(known offline: {', '.join(sorted(KNOWN_CONFIGS))})"
    )
