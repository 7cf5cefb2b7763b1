"""Third-party log lines that read as failures in a healthy run's log. The job page shows a log's last lines
to people who cannot tell a harmless warning from a broken run, so the children silence these few, by name,
before the libraries that write them are imported."""

from __future__ import annotations

import logging

NOISY_LOGGERS: dict[str, int] = {
    # On a CPU with AVX512-BF16, importing bitsandbytes (peft imports it; transformers' Trainer imports peft,
    # so every job, whatever its method) tries to fetch an optional 4-bit kernel from the Hugging Face Hub
    # through the `kernels` package and warns "Failed to load CPU gemm_4bit_forward" when it cannot. The
    # studio does not install `kernels` (it runs code downloaded from the Hub); 4-bit works without it.
    "bitsandbytes.backends.cpu.ops": logging.ERROR,
}


def quiet_third_party_noise() -> None:
    for name, level in NOISY_LOGGERS.items():
        logging.getLogger(name).setLevel(level)
