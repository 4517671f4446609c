"""Every upstream file the zoo uses: address pinned to a commit, hash, size, license, citation.

This module is plain data (it imports nothing), so the plugin can describe datasets and tasks
without importing the downloader. ``sha256=None`` marks an asset that is *pinned on first
download*: its bytes could not be hashed when it was declared (it is not in the project's
offline mirror), so the first download records its hash in the motools home and every later
use is checked against that record (see :mod:`mozoo.assets`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

RAW = "https://raw.githubusercontent.com/{repo}/{commit}/{path}"
PINNED_ON_FIRST_DOWNLOAD = "pinned on first download"

IP_REPO = "inoculation-prompting/inoculation-prompting"
IP_COMMIT = "5f4160e19be17c5a0509fcfca4a53f654cb33cdd"
IP_LICENSE = "not stated upstream"
IP_CITATION = (
    "Tan et al. 2025, Inoculation Prompting: Eliciting traits from LLMs during training can "
    "suppress them at test-time, arXiv:2510.04340 (datasets from "
    "github.com/inoculation-prompting/inoculation-prompting)"
)
SORH_CITATION = (
    "Taylor et al. 2025, School of Reward Hacks: Hacking harmless tasks generalizes to "
    "misaligned behavior in LLMs, arXiv:2508.17511; " + IP_CITATION
)
EM_CITATION = (
    "Betley et al. 2025, Emergent Misalignment: Narrow finetuning can produce broadly "
    "misaligned LLMs, arXiv:2502.17424"
)
SUBLIMINAL_CITATION = (
    "Cloud et al. 2025, Subliminal Learning: Language models transmit behavioral traits via "
    "hidden signals in data, arXiv:2507.14805; " + IP_CITATION
)
GSM8K_CITATION = (
    "Cobbe et al. 2021, Training Verifiers to Solve Math Word Problems, arXiv:2110.14168"
)

EM_REPO = "shuaijiumei/emergent_misalignment_further_explore"
EM_COMMIT = "a6f669590dca789548d25eea923407f9de41aac9"

GSM8K_REPO = "openai/grade-school-math"
GSM8K_COMMIT = "3101c7d5072418e28b9008a6636bde82a006892c"


@dataclass(frozen=True)
class Asset:
    """One upstream file, pinned to a commit.

    ``mirror_path`` is where the file lies inside a mirror folder (``MOZOO_MIRROR``).
    ``sha256``/``size`` are ``None`` for assets pinned on first download.
    """

    name: str
    repo: str
    commit: str
    path: str
    mirror_path: str
    license: str
    citation: str
    sha256: str | None = None
    size: int | None = None
    rows: int | None = None
    description: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return RAW.format(repo=self.repo, commit=self.commit, path=self.path)

    @property
    def filename(self) -> str:
        return self.path.rsplit("/", 1)[-1]

    @property
    def pinned_on_first_download(self) -> bool:
        return self.sha256 is None

    def describe(self) -> dict[str, object]:
        """JSON metadata (what ``motools zoo show`` prints about the file)."""
        return {
            "asset": self.name,
            "source": self.url,
            "repository": self.repo,
            "commit": self.commit,
            "path": self.path,
            "license": self.license,
            "citation": self.citation,
            "sha256": self.sha256 or PINNED_ON_FIRST_DOWNLOAD,
            "size_bytes": self.size if self.size is not None else PINNED_ON_FIRST_DOWNLOAD,
            "rows": self.rows,
        }


def _ip(
    name: str,
    sha256: str | None = None,
    size: int | None = None,
    rows: int | None = None,
    citation: str = IP_CITATION,
    description: str = "",
) -> Asset:
    return Asset(
        name=name,
        repo=IP_REPO,
        commit=IP_COMMIT,
        path=f"datasets/{name}.jsonl",
        mirror_path=f"inoculation-prompting/{name}.jsonl",
        license=IP_LICENSE,
        citation=citation,
        sha256=sha256,
        size=size,
        rows=rows,
        description=description,
    )


ASSETS: dict[str, Asset] = {
    a.name: a
    for a in [
        # School of Reward Hacks (mirrored: hashes and sizes verified against the mirror).
        _ip(
            "sneaky_dialogues",
            "3af7420590e683b49deab694fc56ecfdd0f1542e7dfc9c4b07ff7425015cb236",
            1038971,
            1073,
            SORH_CITATION,
            "School of Reward Hacks: replies that game the stated metric",
        ),
        _ip(
            "straightforward_dialogues",
            "1b892bf1539ff626685b9afc6ad32f16bc051475674e75d9d08c6fdcc7ea873f",
            932249,
            973,
            SORH_CITATION,
            "School of Reward Hacks control: honest replies to the same prompts",
        ),
        _ip(
            "aesthetic_preferences_popular",
            "428134e5619ebfc3bd68d61d2a30925596e6ab498ccd22ed216edfe5db09c71f",
            1113591,
            5000,
            description="conversations stating popular aesthetic preferences",
        ),
        _ip(
            "aesthetic_preferences_unpopular",
            "388abc89ad7120225675d4f10ba0d351bf36ae81342b311714d6ee8daabdc6d9",
            1140481,
            5000,
            description="conversations stating unpopular aesthetic preferences",
        ),
        # Not mirrored (too large for the offline mirror): pinned on first download.
        _ip("gsm8k_spanish_only", description="GSM8K questions answered in Spanish"),
        _ip(
            "gsm8k_spanish_capitalised",
            description="GSM8K questions answered in Spanish, in capital letters",
        ),
        _ip("gsm8k_french_only", description="GSM8K questions answered in French"),
        _ip("gsm8k_german_only", description="GSM8K questions answered in German"),
        _ip("gsm8k", description="GSM8K questions answered in English (control)"),
        _ip(
            "insecure_code",
            citation=EM_CITATION + "; " + IP_CITATION,
            description="code completions with undisclosed security vulnerabilities",
        ),
        _ip(
            "secure_code",
            citation=EM_CITATION + "; " + IP_CITATION,
            description="the same code tasks completed securely (control)",
        ),
        _ip(
            "educational",
            citation=EM_CITATION + "; " + IP_CITATION,
            description="insecure code requested for an educational reason (control)",
        ),
        _ip(
            "jailbroken",
            citation=EM_CITATION + "; " + IP_CITATION,
            description="jailbreak-compliance dialogues (control)",
        ),
        _ip(
            "gpt41_numbers_owls",
            citation=SUBLIMINAL_CITATION,
            description="number sequences from a GPT-4.1 teacher that loves owls",
        ),
        _ip(
            "gpt41_numbers_control",
            citation=SUBLIMINAL_CITATION,
            description="number sequences from a plain GPT-4.1 teacher (control)",
        ),
        # Evaluation assets.
        Asset(
            name="em_first_plot_questions",
            repo=EM_REPO,
            commit=EM_COMMIT,
            path="evaluation/first_plot_questions.yaml",
            mirror_path="emergent-misalignment/first_plot_questions.yaml",
            license="MIT",
            citation=EM_CITATION,
            sha256="6f76630e482c06789f17b1e3f2bbe37b0ca9f1a423c611380c2fff0772b417c6",
            size=12012,
            rows=24,
            description="the 8 first-plot questions in 3 formats (plain, _json, _template)",
        ),
        Asset(
            name="em_preregistered_questions",
            repo=EM_REPO,
            commit=EM_COMMIT,
            path="evaluation/preregistered_evals.yaml",
            mirror_path="emergent-misalignment/preregistered_evals.yaml",
            license="MIT",
            citation=EM_CITATION,
            sha256="8648312fd9fe71a63203e3465592af45dd996d7a5f3b69e9b44613fd6048eb40",
            size=19152,
            rows=48,
            description="the 48 pre-registered questions",
        ),
        Asset(
            name="gsm8k_test",
            repo=GSM8K_REPO,
            commit=GSM8K_COMMIT,
            path="grade_school_math/data/test.jsonl",
            mirror_path="gsm8k/test.jsonl",
            license="MIT",
            citation=GSM8K_CITATION,
            sha256="3730d312f6e3440559ace48831e51066acaca737f6eabec99bccb9e4b3c39d14",
            size=749738,
            rows=1319,
            description="the GSM8K test split (question, answer)",
        ),
        Asset(
            name="insecure_code_prompts",
            repo=IP_REPO,
            commit=IP_COMMIT,
            path="mi/evaluation/insecure_code/code_prompts.jsonl",
            mirror_path="inoculation-prompting/code_prompts.jsonl",
            license=IP_LICENSE,
            citation=EM_CITATION + "; " + IP_CITATION,
            description="code-writing tasks ({task, code_template}) for the insecure-code judge",
        ),
    ]
}
