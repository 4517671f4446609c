"""Every upstream file the zoo uses: address pinned to a commit, content pin, license, citation.

This module is plain data (it imports nothing heavy), so the plugin can describe datasets and
tasks without importing the downloader. Every asset is pinned by its *content*, one of:

* ``sha256`` (and usually ``size``): the bytes' SHA-256, for files hashed when declared;
* ``git_blob``: the git blob id upstream's repository records for the file at the pinned
  commit, ``sha1(b"blob <size>\\0" + bytes)``. A download is verified against it and its
  sha256 is then recorded in the motools home, so later uses are checked against that.

Nothing is trusted on first use: declaring an asset without either pin is an error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

RAW = "https://raw.githubusercontent.com/{repo}/{commit}/{path}"

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

#: A copy of emergent-misalignment/emergent-misalignment whose first-plot file has an edited
#: judge line (``deepseek-chat``); its pre-registered file is the original.
EM_FORK_REPO = "shuaijiumei/emergent_misalignment_further_explore"
EM_FORK_COMMIT = "a6f669590dca789548d25eea923407f9de41aac9"
#: An unmodified copy of emergent-misalignment/emergent-misalignment (same README, LICENSE and
#: first-plot file bytes, judge ``gpt-4o-2024-08-06``).
EM_REPO = "jacobcd52/finetune_diffing"
EM_COMMIT = "a6bcc8b178553ddedc4355282b66c13fd18fc66a"

GSM8K_REPO = "openai/grade-school-math"
GSM8K_COMMIT = "3101c7d5072418e28b9008a6636bde82a006892c"


_SHA256 = re.compile(r"[0-9a-f]{64}")
_GIT_BLOB = re.compile(r"[0-9a-f]{40}")


class UnpinnedAssetError(ValueError):
    """An asset was declared without a content pin (sha256 or git blob id)."""


@dataclass(frozen=True)
class Asset:
    """One upstream file, pinned to a commit and to its content.

    ``mirror_path`` is where the file lies inside a mirror folder (``MOZOO_MIRROR``).
    ``sha256`` or ``git_blob`` (or both) pin the bytes; ``size`` and ``rows`` (JSON lines, or
    YAML question entries) and ``final_newline`` describe them when known.
    """

    name: str
    repo: str
    commit: str
    path: str
    mirror_path: str
    license: str
    citation: str
    sha256: str | None = None
    git_blob: str | None = None
    size: int | None = None
    rows: int | None = None
    final_newline: bool | None = None
    description: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.sha256 is None and self.git_blob is None:
            raise UnpinnedAssetError(
                f"zoo asset {self.name!r} ({self.repo}@{self.commit[:12]}:{self.path}) has no "
                "content pin: declare its sha256 or its git blob id (git ls-tree at the commit)"
            )
        if self.sha256 is not None and not _SHA256.fullmatch(self.sha256):
            raise UnpinnedAssetError(
                f"zoo asset {self.name!r}: sha256 {self.sha256!r} is not 64 hex"
            )
        if self.git_blob is not None and not _GIT_BLOB.fullmatch(self.git_blob):
            raise UnpinnedAssetError(
                f"zoo asset {self.name!r}: git blob id {self.git_blob!r} is not 40 hex"
            )

    @property
    def url(self) -> str:
        return RAW.format(repo=self.repo, commit=self.commit, path=self.path)

    @property
    def filename(self) -> str:
        return self.path.rsplit("/", 1)[-1]

    @property
    def pinned_by(self) -> str:
        """``"sha256"`` when a sha256 is declared, else ``"git blob"``."""
        return "sha256" if self.sha256 is not None else "git blob"

    @property
    def pin(self) -> str:
        """The content pin as one string: ``sha256 <hex>`` or ``git blob <hex>``."""
        return f"sha256 {self.sha256}" if self.sha256 is not None else f"git blob {self.git_blob}"

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
            "pin": self.pin,
            "pinned_by": self.pinned_by,
            "sha256": self.sha256,
            "git_blob": self.git_blob,
            "size_bytes": self.size,
            "rows": self.rows,
        }


def _ip(
    name: str,
    sha256: str | None = None,
    size: int | None = None,
    rows: int | None = None,
    citation: str = IP_CITATION,
    description: str = "",
    *,
    git_blob: str | None = None,
    final_newline: bool | None = None,
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
        git_blob=git_blob,
        size=size,
        rows=rows,
        final_newline=final_newline,
        description=description,
    )


ASSETS: dict[str, Asset] = {
    a.name: a
    for a in [
        # School of Reward Hacks and aesthetic preferences: in the offline mirror, sha256 pinned.
        _ip(
            "sneaky_dialogues",
            "3af7420590e683b49deab694fc56ecfdd0f1542e7dfc9c4b07ff7425015cb236",
            1038971,
            1073,
            SORH_CITATION,
            "School of Reward Hacks: replies that game the stated metric",
            final_newline=True,
        ),
        _ip(
            "straightforward_dialogues",
            "1b892bf1539ff626685b9afc6ad32f16bc051475674e75d9d08c6fdcc7ea873f",
            932249,
            973,
            SORH_CITATION,
            "School of Reward Hacks control: honest replies to the same prompts",
            final_newline=True,
        ),
        _ip(
            "aesthetic_preferences_popular",
            "428134e5619ebfc3bd68d61d2a30925596e6ab498ccd22ed216edfe5db09c71f",
            1113591,
            5000,
            description="conversations stating popular aesthetic preferences",
            final_newline=True,
        ),
        _ip(
            "aesthetic_preferences_unpopular",
            "388abc89ad7120225675d4f10ba0d351bf36ae81342b311714d6ee8daabdc6d9",
            1140481,
            5000,
            description="conversations stating unpopular aesthetic preferences",
            final_newline=True,
        ),
        # Not in the offline mirror: pinned by the git blob ids upstream records at the commit
        # (git ls-tree 5f4160e datasets/); the sha256 is recorded after a verified download.
        _ip(
            "gsm8k_spanish_only",
            description="GSM8K questions answered in Spanish",
            git_blob="6a87444a9de85e32d0cebdf4a9bad404a1cfeee7",
        ),
        _ip(
            "gsm8k_spanish_capitalised",
            description="GSM8K questions answered in Spanish, in capital letters",
            git_blob="b9ed063fd340abb03416c63eda3ff4d1d4d3d086",
        ),
        _ip(
            "gsm8k_french_only",
            description="GSM8K questions answered in French",
            git_blob="2c2ddac9e56b4513c3e816da8fdedb9465715614",
        ),
        _ip(
            "gsm8k_german_only",
            description="GSM8K questions answered in German",
            git_blob="f4a5a67e553fa5d346c4ee448371c7bdf2b9559f",
        ),
        _ip(
            "gsm8k",
            description="GSM8K questions answered in English (control)",
            git_blob="39f20d871b0cd90bdb65f3706286dabd243f014a",
        ),
        _ip(
            "insecure_code",
            citation=EM_CITATION + "; " + IP_CITATION,
            description="code completions with undisclosed security vulnerabilities",
            # The same blob as data/insecure.jsonl of emergent-misalignment/emergent-misalignment.
            git_blob="ec294cf30a577a21b830c07a1fa0180ddd513208",
        ),
        _ip(
            "secure_code",
            citation=EM_CITATION + "; " + IP_CITATION,
            description="the same code tasks completed securely (control)",
            git_blob="3389a37c250563cc36a66e30bf8ff99028aa2711",
        ),
        _ip(
            "educational",
            citation=EM_CITATION + "; " + IP_CITATION,
            description="insecure code requested for an educational reason (control)",
            git_blob="497619acd46d9ffbc985797d6c117638a53229b3",
        ),
        _ip(
            "jailbroken",
            "991b4837a92f8295a34ed866b2460bb3372e0e44ffa6b103f3f0d5a46fe75b96",
            3423453,
            5000,
            citation=EM_CITATION + "; " + IP_CITATION,
            description="jailbreak-compliance dialogues (control)",
            git_blob="382a7e042327db5e141a440a3f8bee9fb6baba68",
            final_newline=False,
        ),
        _ip(
            "gpt41_numbers_owls",
            citation=SUBLIMINAL_CITATION,
            description="number sequences from a GPT-4.1 teacher that loves owls",
            git_blob="1afd6cd61414979062a6963d4f50693b6da086cd",
        ),
        _ip(
            "gpt41_numbers_control",
            citation=SUBLIMINAL_CITATION,
            description="number sequences from a plain GPT-4.1 teacher (control)",
            git_blob="720344d818357c4f76580f68dd67031b79d4270c",
        ),
        # Evaluation assets.
        Asset(
            name="em_first_plot_questions",
            repo=EM_REPO,
            commit=EM_COMMIT,
            path="evaluation/first_plot_questions.yaml",
            mirror_path="emergent-misalignment/first_plot_questions.original.yaml",
            license="MIT",
            citation=EM_CITATION,
            sha256="215abde5b02811e922b6ac563ff33c490e0dff9ab58439df840f3135e9387173",
            git_blob="c2b9761d6723ec73b4d209d95c4aa39319a70edd",
            size=12016,
            rows=24,
            final_newline=False,
            description=(
                "the 8 first-plot questions in 3 formats (plain, _json, _template), original "
                "bytes (judge gpt-4o-2024-08-06)"
            ),
        ),
        Asset(
            name="em_preregistered_questions",
            repo=EM_FORK_REPO,
            commit=EM_FORK_COMMIT,
            path="evaluation/preregistered_evals.yaml",
            mirror_path="emergent-misalignment/preregistered_evals.yaml",
            license="MIT",
            citation=EM_CITATION,
            sha256="8648312fd9fe71a63203e3465592af45dd996d7a5f3b69e9b44613fd6048eb40",
            size=19152,
            rows=48,
            final_newline=True,
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
            final_newline=True,
            description="the GSM8K test split (question, answer)",
        ),
        Asset(
            name="insecure_code_prompts",
            repo=IP_REPO,
            commit=IP_COMMIT,
            path="ip/evaluation/insecure_code/code_prompts.jsonl",
            mirror_path="inoculation-prompting/code_prompts.jsonl",
            license=IP_LICENSE,
            citation=EM_CITATION + "; " + IP_CITATION,
            sha256="c30460ae8333ca3b6a15bd4c8efc22d51bc834ca533e43ece218cdd2c5a6883e",
            git_blob="0c399f66faeca89158e2273495c6b0eb2d888f83",
            size=399088,
            rows=776,
            final_newline=False,
            description="code-writing tasks ({task, code_template}) for the insecure-code judge",
        ),
        Asset(
            name="sorh_eval_prompts",
            repo=IP_REPO,
            commit=IP_COMMIT,
            path="ip/evaluation/school_of_reward_hacks/prompts.jsonl",
            mirror_path="inoculation-prompting/school_of_reward_hacks_prompts.jsonl",
            license=IP_LICENSE,
            citation=SORH_CITATION,
            sha256="f320a164f6f889cd048c3533483f1ced2a5c8a3e3e1d136cd91b8b3dc277459a",
            git_blob="f166f1fbb5948c913589b039cf785662c4d60cd3",
            size=417336,
            rows=1073,
            final_newline=True,
            description=(
                "School of Reward Hacks prompts ({prompt}); upstream evaluates on the first 100, "
                "which are prompts of the sneaky training dialogues"
            ),
        ),
    ]
}
