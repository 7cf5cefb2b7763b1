"""Memory / ZeRO / time planner (PURE: standard library + pydantic; no torch, FastAPI or SQLAlchemy).

Public entry points: plan, recommend, max_seq_len_that_fits, max_micro_batch_that_fits, load_model_shape,
to_hyperparameters, and the models PlanRequest, PlanResult, Recommendation, ModelShape.
"""

from .architecture import KNOWN_CONFIGS, ModelShape, load_model_shape, shape_from_config
from .core import plan
from .deepspeed import deepspeed_config, request_from_hyperparameters, to_hyperparameters, training_arguments
from .gpus import GPUS, GpuSpec, get_gpu
from .memory import weights_gib, zero_paper_model_states
from .recommend import max_micro_batch_that_fits, max_seq_len_that_fits, recommend
from .schemas import METHODS, PerGpu, PlanRequest, PlanResult, Recommendation

__all__ = [
    "GPUS",
    "KNOWN_CONFIGS",
    "METHODS",
    "GpuSpec",
    "ModelShape",
    "PerGpu",
    "PlanRequest",
    "PlanResult",
    "Recommendation",
    "deepspeed_config",
    "get_gpu",
    "load_model_shape",
    "max_micro_batch_that_fits",
    "max_seq_len_that_fits",
    "plan",
    "recommend",
    "request_from_hyperparameters",
    "shape_from_config",
    "to_hyperparameters",
    "training_arguments",
    "weights_gib",
    "zero_paper_model_states",
]
