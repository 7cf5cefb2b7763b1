"""Model shapes: config.json parsing and exact parameter counts (checked against real HF models)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.planner import KNOWN_CONFIGS, load_model_shape, shape_from_config

# Published parameter counts of checkpoints whose modelling code needs trust_remote_code (not built here).
PUBLISHED = {
    "THUDM/chatglm3-6b": 6_243_584_000,
    "baichuan-inc/Baichuan2-7B-Chat": 7_505_973_248,
    "baichuan-inc/Baichuan2-13B-Chat": 13_896_668_160,
}

HF_BUILT = [
    "meta-llama/Llama-2-7b-hf",
    "meta-llama/Llama-3.2-3B",
    "mistralai/Mistral-7B-v0.1",
    "Qwen/Qwen2-7B",
    "Qwen/Qwen2-0.5B",
    "HuggingFaceTB/SmolLM2-135M-Instruct",
    "bigcode/starcoderbase-1b",
    "bigscience/bloom-560m",
]


def _hf_param_count(cfg: dict) -> int:
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    args = {k: v for k, v in cfg.items() if k != "model_type"}
    config = transformers.AutoConfig.for_model(cfg["model_type"], **args)
    with torch.device("meta"):
        model = transformers.AutoModelForCausalLM.from_config(config)
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("model_id", HF_BUILT)
def test_param_count_equals_the_hf_model_on_meta_device(model_id: str) -> None:
    assert load_model_shape(model_id).num_params == _hf_param_count(KNOWN_CONFIGS[model_id])


def test_gpt2_config_counts_like_hf() -> None:
    cfg = {
        "model_type": "gpt2",
        "n_embd": 256,
        "n_layer": 3,
        "n_head": 4,
        "vocab_size": 1000,
        "n_positions": 128,
    }
    assert shape_from_config(cfg).num_params == _hf_param_count(cfg)


@pytest.mark.parametrize(("model_id", "count"), sorted(PUBLISHED.items()))
def test_remote_code_models_match_published_counts(model_id: str, count: int) -> None:
    assert load_model_shape(model_id).num_params == count


def test_shape_fields_for_gqa_and_multi_query() -> None:
    qwen = load_model_shape("Qwen/Qwen2-7B")
    assert (qwen.num_heads, qwen.num_kv_heads, qwen.head_dim, qwen.kv_dim) == (28, 4, 128, 512)
    assert qwen.gated_mlp and not qwen.tie_embeddings and qwen.vocab_size == 152064
    starcoder = load_model_shape("bigcode/starcoderbase-1b")
    assert starcoder.num_kv_heads == 1 and not starcoder.gated_mlp and starcoder.position == "learned"
    glm = load_model_shape("THUDM/chatglm3-6b")
    assert glm.num_kv_heads == 2 and glm.vocab_size == 65024
    assert load_model_shape("baichuan-inc/Baichuan2-13B-Chat").position == "alibi"
    assert load_model_shape("bigscience/bloom-560m").norm == "layer"


def test_load_from_folder_and_config_path(tmp_path: Path) -> None:
    cfg = dict(KNOWN_CONFIGS["HuggingFaceTB/SmolLM2-135M-Instruct"])
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    by_dir = load_model_shape(tmp_path)
    by_file = load_model_shape(tmp_path / "config.json")
    assert by_dir.num_params == by_file.num_params == 134_515_008


def test_known_ids_are_case_insensitive() -> None:
    assert load_model_shape("qwen/qwen2-7b").num_params == load_model_shape("Qwen/Qwen2-7B").num_params


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("not json", "cannot read"),
        ("[1, 2]", "JSON object"),
        ('{"model_type": "llama", "hidden_size": 64}', "num_attention_heads"),
        ('{"model_type": "llama", "hidden_size": 64, "num_attention_heads": 6, "intermediate_size": 8,'
         ' "num_hidden_layers": 1, "vocab_size": 10}', "divisible"),
    ],
)  # fmt: skip
def test_bad_config_names_the_problem(tmp_path: Path, content: str, needle: str) -> None:
    (tmp_path / "config.json").write_text(content)
    with pytest.raises(ValueError, match=needle):
        load_model_shape(tmp_path)


def test_unknown_model_is_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="known id"):
        load_model_shape("nobody/nothing")
    with pytest.raises(FileNotFoundError, match="no config.json"):
        load_model_shape(tmp_path)
