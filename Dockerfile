# FT Studio image: the web, the migration and the worker all run from this one image.
#
#   CPU image (default):  docker build -t ftstudio:cpu .
#   GPU image:            docker build -t ftstudio:gpu --build-arg TORCH_INDEX_URL=https://pypi.org/simple .
#
# torch is installed first, from TORCH_INDEX_URL, pinned to 2.13.0 (../shared/STACK-NOTES.md). The PyTorch CPU
# index gives the small CPU-only build; PyPI's Linux x86_64 torch wheel is the CUDA build (its CUDA runtime
# comes as nvidia-* wheels), which is what the GPU worker needs. A specific CUDA variant works too, e.g.
# https://download.pytorch.org/whl/cu128, as long as it publishes torch 2.13.0. `pip install .` afterwards
# keeps that torch: a local version such as 2.13.0+cpu satisfies the project's pin torch==2.13.0.
FROM python:3.11-slim

ARG TORCH_VERSION=2.13.0
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# A C++ toolchain and ninja: DeepSpeed compiles its CPU ops (shared memory, CPU Adam) on first use.
# CUDA ops that need nvcc (fused Adam) are not available in this slim image; the studio uses torch's AdamW.
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential ninja-build \
    && rm -rf /var/lib/apt/lists/*

RUN pip install --index-url "${TORCH_INDEX_URL}" "torch==${TORCH_VERSION}"

WORKDIR /app
# Dependencies first (cached while only the code changes): pyproject + empty packages are enough to resolve.
COPY pyproject.toml ./
RUN mkdir -p app worker && touch app/__init__.py worker/__init__.py \
    && pip install . \
    && rm -rf app worker build

COPY . .
RUN pip install --no-deps . && rm -rf build

# The studio imports its packages from the source tree, not from site-packages: it finds alembic.ini,
# migrations/, templates/, static/ and app/demo/*.jsonl next to them (REPO_ROOT in app/migrations.py), and
# the worker starts the training child with cwd = this folder.
ENV PYTHONPATH=/app \
    FTSTUDIO_DATA_DIR=/data \
    TORCH_EXTENSIONS_DIR=/data/cache/torch_extensions \
    HF_HOME=/data/cache/huggingface

RUN useradd --create-home --uid 1000 ftstudio \
    && mkdir -p /data \
    && chown ftstudio:ftstudio /data
USER ftstudio
VOLUME ["/data"]

EXPOSE 8000
CMD ["ftstudio", "web", "--host", "0.0.0.0", "--port", "8000"]
