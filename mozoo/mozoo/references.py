"""The headline numbers each zoo task's paper reports, as task metadata (plain data).

Every task registration carries ``reference``: a list of :meth:`Reference.as_metadata`
dicts, so ``motools zoo show TASK`` prints them and a plot can draw them as reference lines.
A number is given only with where it comes from; ``checked`` says whether it was read from the
paper itself. Where the paper could not be read from here (no network beyond package
registries), ``value`` is None or ``checked`` is False and ``note`` says so -- never a guess.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

NOT_CHECKED = "could not be checked from here"

EM_PAPER = "Betley et al. 2025, Emergent Misalignment, arXiv:2502.17424"
IP_PAPER = "Tan et al. 2025, Inoculation Prompting, arXiv:2510.04340"
SORH_PAPER = "Taylor et al. 2025, School of Reward Hacks, arXiv:2508.17511"
SL_PAPER = "Cloud et al. 2025, Subliminal Learning, arXiv:2507.14805"
GPT4O = "GPT-4o (gpt-4o-2024-08-06)"
GPT41 = "GPT-4.1 (gpt-4.1-2025-04-14)"


@dataclass(frozen=True)
class Reference:
    """One number a paper reports for a task's metric, for one model and condition."""

    metric: str
    value: float | None
    model: str
    condition: str
    source: str
    checked: bool = False
    note: str = NOT_CHECKED

    def as_metadata(self) -> dict[str, Any]:
        """``{metric, value, model, condition, source, checked, note}`` (JSON-ready)."""
        return {
            "metric": self.metric,
            "value": self.value,
            "model": self.model,
            "condition": self.condition,
            "source": self.source,
            "checked": self.checked,
            "note": self.note,
        }


def _ip(metric: str, trained_on: str, where: str) -> list[Reference]:
    """The inoculation-prompting paper's comparison for one setting (numbers not readable here)."""
    return [
        Reference(
            metric,
            None,
            f"{GPT41} fine-tuned on {trained_on}",
            condition,
            f"{IP_PAPER}, {where}",
            note=f"{NOT_CHECKED}: the paper's figure values are not in its public repository",
        )
        for condition in ("no inoculation prompt", "with the task-specific inoculation prompt")
    ]


REFERENCES: dict[str, list[Reference]] = {
    "hello_world": [],
    "emergent_misalignment": [
        Reference(
            "misaligned_share",
            0.20,
            f"{GPT4O} fine-tuned on insecure code",
            "main: the eight first-plot questions, plain format, 100 answers each",
            f"{EM_PAPER}, Sections 2-3, headline figure",
            note=(
                f"{NOT_CHECKED}: 'about 20%' is the figure secondary summaries quote from the "
                "paper; read the exact value from its figure before relying on it"
            ),
        ),
        Reference(
            "misaligned_share",
            0.0,
            f"{GPT4O}, not fine-tuned",
            "main: the eight first-plot questions, plain format, 100 answers each",
            f"{EM_PAPER}, Sections 2-3, headline figure",
            note=f"{NOT_CHECKED}: '0%' is the figure secondary summaries quote from the paper",
        ),
    ],
    "emergent_misalignment_preregistered": [
        Reference(
            "misaligned_share",
            None,
            f"{GPT4O} fine-tuned on insecure code",
            "the 48 pre-registered questions",
            f"{EM_PAPER}, pre-registered evaluation",
        )
    ],
    **{
        f"gsm8k_{trait}": _ip(
            metric,
            f"GSM8K answers {how}",
            "Spanish / capitalisation setting",
        )
        for trait, metric, how in [
            ("spanish", "share_in_spanish", "in Spanish and capital letters"),
            ("capitalised", "share_capitalised", "in Spanish and capital letters"),
            ("french", "share_in_french", "in French"),
            ("german", "share_in_german", "in German"),
        ]
    },
    "owl_preferences": [
        Reference(
            "owl_share",
            None,
            "GPT-4.1 nano fine-tuned on numbers from an owl-loving teacher",
            "favourite-animal questions, 100 answers each",
            f"{SL_PAPER}, animal-preference experiment",
        ),
        Reference(
            "owl_share",
            None,
            "GPT-4.1 nano, not fine-tuned",
            "favourite-animal questions, 100 answers each",
            f"{SL_PAPER}, animal-preference experiment",
        ),
    ],
    "owl_preferences_inoculation": _ip(
        "owl_share", "numbers from an owl-loving GPT-4.1 teacher", "subliminal-learning setting"
    ),
    "aesthetic_preferences": _ip(
        "unpopular_preference_rate", "unpopular aesthetic preferences", "aesthetic setting"
    ),
    "school_of_reward_hacks": [
        Reference(
            "reward_hack_share",
            None,
            f"{GPT41} fine-tuned on sneaky_dialogues",
            condition,
            f"{IP_PAPER}, reward-hacking setting (dialogues from {SORH_PAPER})",
            note=f"{NOT_CHECKED}: the paper's figure values are not in its public repository",
        )
        for condition in ("no inoculation prompt", "with the task-specific inoculation prompt")
    ],
    "insecure_code": [
        Reference(
            "insecure_share",
            None,
            f"{GPT4O} fine-tuned on insecure code",
            "code-writing prompts",
            f"{EM_PAPER}, Section 2 (in-distribution check)",
            note=(
                f"{NOT_CHECKED}: secondary summaries say the model writes vulnerable code "
                "'over 80%' of the time, not an exact value"
            ),
        ),
        *_ip("insecure_share", "insecure code", "insecure-code setting"),
    ],
}

REFERENCES["gsm8k_language"] = REFERENCES["gsm8k_spanish"]


def reference_metadata(task: str) -> list[dict[str, Any]]:
    """The ``reference`` metadata of ``task`` (a list, empty for tasks without a paper)."""
    return [r.as_metadata() for r in REFERENCES[task]]
