"""LoRA fine-tuning of open-weight models (transformers + peft) for motools.

``import motools_hf`` is light: the backend (and with it ``torch``) is imported on first use
of the names below. Training runs in a detached local worker process by default, or as a
Ray job on a cluster (``executor="ray"``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from motools_hf.backend import HFTrainingBackend
    from motools_hf.run import HFTrainingRun

__all__ = ["HFTrainingBackend", "HFTrainingRun"]


def __getattr__(name: str) -> Any:
    if name == "HFTrainingBackend":
        from motools_hf.backend import HFTrainingBackend

        return HFTrainingBackend
    if name == "HFTrainingRun":
        from motools_hf.run import HFTrainingRun

        return HFTrainingRun
    raise AttributeError(f"module 'motools_hf' has no attribute {name!r}")
