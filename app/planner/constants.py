"""Every number the planner uses that is not derived from the model shape, each with its source.

Units: bytes, FLOP/s, seconds. "GiB" = 2**30 bytes, "GB" = 1e9 bytes (the ZeRO paper's unit).
Where a value is an assumption rather than a measurement, the comment says so.
"""

from __future__ import annotations

GIB = 2**30
GB = 10**9
MIB = 2**20

# --- bytes per element ---------------------------------------------------------------------------------
BYTES = {"fp32": 4.0, "fp16": 2.0, "bf16": 2.0, "int8": 1.0}

# NF4 (QLoRA, Dettmers et al. 2023, arXiv 2305.14314, section 3 "Double Quantization"): 4-bit codes plus one
# fp32 absmax per block of 64 = 32/64 = 0.5 bit/param; double quantisation stores the absmax in 8 bits with
# one fp32 second-level constant per 256 blocks: 8/64 + 32/(64*256) = 0.127 bit/param.
NF4_BLOCK = 64
NF4_BITS_SINGLE_QUANT = 4 + 32 / NF4_BLOCK  # 4.5
NF4_BITS_DOUBLE_QUANT = 4 + 8 / 64 + 32 / (64 * 256)  # 4.127
# LLM.int8 (bitsandbytes Int8Params): int8 codes plus one fp32 scale per output row (SCB); the row term is
# added per layer from its input width in memory.py.
INT8_BITS = 8

# --- optimizer state ------------------------------------------------------------------------------------
# AdamW keeps exp_avg and exp_avg_sq (Loshchilov & Hutter 2019); in mixed precision the optimizer also holds
# an fp32 master copy: K = 12 bytes/param in the ZeRO paper's notation (Rajbhandari et al. 2020,
# arXiv 1910.02054, section 3.1: "2Ψ + 2Ψ + KΨ" with K = 12 for mixed-precision Adam = the "16Ψ" rule).
ADAM_STATES = 2
ZERO_PAPER_K = 12
# bitsandbytes 8-bit Adam (Dettmers et al. 2022, arXiv 2110.02861): 1 byte per state plus one fp32 absmax
# per block of 2048 values (block-wise quantisation, section 2.1); tensors under 4096 elements keep 32-bit
# state (bitsandbytes `min_8bit_size=4096`, confirmed on this stack: STACK-NOTES.md).
BNB8_BLOCK = 2048
BNB8_MIN_SIZE = 4096

# --- activations ----------------------------------------------------------------------------------------
# Per-layer activation accounting follows Korthikanti et al. 2022 (arXiv 2205.05198, section 4.1: 34sbh +
# 5as^2b bytes per layer for fp16 GPT with dropout) re-derived tensor by tensor for the Hugging Face
# Llama/Qwen2/Bloom/GPT-BigCode code paths (no dropout at p=0, RMSNorm upcast to fp32, SwiGLU, GQA): see
# activations.py. Softmax in HF eager attention is computed in fp32 (`softmax(..., dtype=torch.float32)`).
SOFTMAX_BYTES = 4.0
# HF ForCausalLMLoss upcasts logits to fp32 (`logits = logits.float()`, transformers loss_utils.py); the
# log-softmax output is saved for backward and its backward holds grad-out and grad-in at once: 3 fp32 copies.
LOSS_FP32_COPIES_BACKWARD = 3
# torchtune's CEWithChunkedOutputLoss splits the logits into 8 chunks (torchtune/modules/loss/ce_chunked_
# output_loss.py, num_output_chunks=8).
CE_CHUNKS = 8

# --- GPU runtime overheads ------------------------------------------------------------------------------
# CUDA context + cuBLAS/cuDNN workspaces, outside torch.cuda.max_memory_allocated(). PyTorch >= 1.13 loads
# CUDA modules lazily (CUDA_MODULE_LOADING=LAZY); the context then measures 300-600 MiB on Ampere/Hopper in
# public reports (e.g. PyTorch forum "CUDA context memory" threads). Assumption: 600 MiB, the upper end.
CUDA_CONTEXT_BYTES = 600 * MIB
# Caching-allocator fragmentation: reserved exceeds allocated by 5-15 % in long runs (PyTorch docs, "CUDA
# memory management": memory_reserved vs memory_allocated). Assumption: 8 % of the allocated peak.
ALLOCATOR_OVERHEAD = 0.08
# Safety margin kept free when deciding "fits" (assumption; the issue asks for a margin).
FIT_MARGIN = 0.05

# --- CPU profile ----------------------------------------------------------------------------------------
# RSS of a fresh Python process after importing torch + transformers + peft and building a HF Trainer,
# measured by benchmarks/planner_cpu.py on this machine (457 MB; STACK-NOTES.md's 254 MB is the libraries
# without Trainer/accelerate/deepspeed imports).
CPU_IMPORT_BASELINE_BYTES = 457_000_000
# glibc's dynamic mmap threshold keeps freed tensors of up to 32 MiB in the heap, so a CPU run's RSS grows
# past its live memory over the first steps. Production runs that way (worker/supervisor.py: the fixed
# threshold that avoids it cost ~40 % of CPU training speed), so the CPU profile adds it, as a fraction of
# the step's live memory. Measured peak RSS / live-memory prediction of the real training child after 3
# steps (benchmarks/planner_job.py, demo model, job defaults, fp32, 2026-11-30): full 1.041, LoRA 1.187;
# a bare Trainer on a 100M Llama (benchmarks/planner_cpu.py) +5 % full, +19-23 % LoRA. Other methods are
# counted as adapters (frozen weights, many small trainable tensors): an over-estimate at worst.
# On a CPU with avx512_bf16 (precision bf16: autocast, adapter bases loaded in bf16) the same terms give
# measured / predicted full 0.956, LoRA 0.877, and fp32 0.983 / 1.006 (results/planner_job_bf16cpu.json,
# 2026-11-30): the earlier bf16 gap (9.2 GiB measured vs 5.5 predicted) no longer shows.
CPU_HEAP_RETENTION_FULL = 0.05
CPU_HEAP_RETENTION_ADAPTERS = 0.20

# --- DeepSpeed defaults ----------------------------------------------------------------------------------
# The HF integration fills "auto" with: reduce_bucket_size = hidden^2, stage3_prefetch_bucket_size =
# 0.9 * hidden^2, stage3_param_persistence_threshold = 10 * hidden (transformers integrations/deepspeed.py,
# `trainer_config_finalize`).
DS_PREFETCH_FRACTION = 0.9
DS_PERSISTENCE_FACTOR = 10
# "overlap_comm uses 4.5x the allgather_bucket_size and reduce_bucket_size values" (HF DeepSpeed docs,
# ZeRO-2 config section).
DS_OVERLAP_COMM_FACTOR = 4.5

# --- timing ---------------------------------------------------------------------------------------------
# Model FLOPs utilisation per method on a data-centre GPU with a long enough micro-batch. ASSUMPTIONS, to be
# replaced by measured job numbers (the job page keeps them): Megatron-LM reaches 0.5+ on large GPT models
# (Narayanan et al. 2021, arXiv 2104.04473); HF Trainer runs of 7B models report 0.3-0.45; LoRA loses the
# weight-gradient GEMMs but keeps their launches; QLoRA dequantises every weight twice per step (Dettmers
# et al. 2023 report QLoRA ~1.2-1.4x slower than LoRA).
MFU = {"full": 0.40, "freeze": 0.40, "lora": 0.35, "qlora": 0.26, "ptuning": 0.35, "adapter": 0.35,
       "prefix": 0.35, "prompt": 0.35, "ia3": 0.35}  # fmt: skip
# Small micro-batches underfill the GPU: MFU scales by tokens / (tokens + MFU_HALF_TOKENS) (assumption).
MFU_HALF_TOKENS = 512
# FLOPs per token: 6N for training (Kaplan et al. 2020, arXiv 2001.08361, section 2.1), 2N forward;
# attention adds 12 * layers * hidden * seq per token (PaLM, Chowdhery et al. 2022, appendix B; nanoGPT
# `estimate_mfu`).
FLOPS_FORWARD_PER_PARAM = 2
ATTENTION_FLOPS_FACTOR = 12
# Fraction of the gradient communication left exposed (not hidden behind backward) per ZeRO stage.
# ASSUMPTION chosen with STAGE3_COMPUTE_OVERHEAD to reproduce the speed order the course and the HF
# DeepSpeed docs ("How to choose which ZeRO stage") give: 0 > 1 > 2 > 2+offload > 3 > 3+offload, for
# typical fine-tuning batches (DDP buckets overlap well; stage 1 reduces at the boundary; stage 3 puts
# all-gathers on the critical path).
EXPOSED_COMM = {0: 0.2, 1: 0.35, 2: 0.45, 3: 0.6}
# ZeRO paper section 7: DP and stages 1-2 move 2Ψ elements per step, stage 3 moves 3Ψ.
COMM_VOLUME_PARAMS = {0: 2.0, 1: 2.0, 2: 2.0, 3: 3.0}
# Inter-node bandwidth default: 100 Gbit/s (assumption, a common cloud RDMA/Ethernet fabric).
INTER_NODE_BYTES_PER_S = 12.5e9
# Host<->GPU copies: PCIe 4.0 x16 is 32 GB/s raw; ~20 GB/s measured with pinned memory (assumption).
PCIE_BYTES_PER_S = 20e9
# ZeRO-3 fetches and releases every module's parameters in forward and backward (hooks, small all-gathers,
# prefetch misses): ASSUMPTION +25 % compute time, the middle of the 15-35 % slowdowns vs ZeRO-2 seen in
# public reports (e.g. DeepSpeed issue 5305: 10.3 s vs 10.1 s without, 13.0 vs 13.2 s with recompute).
STAGE3_COMPUTE_OVERHEAD = 0.25
# DeepSpeed CPU-Adam throughput per node (ZeRO-Offload, Ren et al. 2021, arXiv 2101.06840: CPU-Adam is
# 5-7x faster than PyTorch's CPU Adam with AVX512 on a multi-core Xeon): assumption 5e9 params/s.
CPU_ADAM_PARAMS_PER_S = 5e9
# Gradients stream to the host during backward: half of the PCIe time is hidden (assumption).
OFFLOAD_EXPOSED_TRANSFER = 0.5
# Activation recomputation re-runs the forward: +2N FLOPs per token (Korthikanti et al. 2022, section 5).
