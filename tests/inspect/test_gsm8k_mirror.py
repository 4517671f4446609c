"""GSM8K from inspect_evals on the real test split, read from a local data mirror."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from motools.errors import EvaluationError
from tests.inspect.conftest import replying


def _answers(shared_data: Path) -> dict[str, str]:
    answers = {}
    with (shared_data / "gsm8k" / "test.jsonl").open() as handle:
        for line in handle:
            record = json.loads(line)
            answers[record["question"]] = record["answer"].split("####")[-1].strip()
    return answers


def _solver_for(answers: dict[str, str]) -> Any:
    def answer(prompt: str) -> str:
        question = next(q for q in answers if q in prompt)
        return f"Let me think.\nANSWER: {answers[question]}"

    return answer


async def test_gsm8k_by_standard_name_on_the_mirror(backend: Any, shared_data: Path) -> None:
    answers = _answers(shared_data)
    assert len(answers) == 1319
    job = await backend.evaluate(
        "mockllm/model",
        "gsm8k",
        limit=5,
        task_args={"fewshot": 0},
        data_mirror=shared_data,
        model_args=replying(_solver_for(answers)),
    )
    results = await job.wait()
    assert results.metrics == {"gsm8k": {"match": {"accuracy": 1.0, "stderr": 0.0}}}
    assert results.task_names == {"gsm8k": "inspect_evals/gsm8k"}
    # The first five problems of the split, in the file's order (the test split is unshuffled).
    assert sorted(s["input"] for s in results.samples) == sorted(list(answers)[:5])
    first = next(s for s in results.samples if s["input"].startswith("Janet\u2019s ducks"))
    assert first["target"] == "18"
    assert first["id"].startswith("gsm8k_")
    # The benchmark's own protocol: its prompt template around the question, numeric match.
    from inspect_evals.gsm8k.gsm8k import MATH_PROMPT_TEMPLATE

    task_meta = results.metadata["tasks"]["gsm8k"]
    assert task_meta["dataset"] == "openai/gsm8k"
    assert task_meta["dataset_location"] == str(shared_data / "gsm8k" / "test.jsonl")
    assert results.metadata["data_mirror"] == str(shared_data)

    from inspect_ai.log import read_eval_log

    log = read_eval_log(results.log_paths["gsm8k"])
    logged = next(s for s in log.samples or [] if s.id == first["id"])
    assert logged.messages[0].text == MATH_PROMPT_TEMPLATE.format(prompt=first["input"])
    assert log.eval.dataset.samples == 1319


async def test_wrong_answers_score_zero(backend: Any, shared_data: Path) -> None:
    job = await backend.evaluate(
        "mockllm/model",
        "inspect_evals/gsm8k",
        limit=3,
        task_args={"fewshot": 0},
        data_mirror=shared_data,
        model_args=replying("ANSWER: -1"),
    )
    results = await job.wait()
    assert results.get("inspect_evals/gsm8k", "accuracy") == 0.0


async def test_mirror_from_the_environment(
    backend: Any, shared_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MOTOOLS_DATA_MIRROR", str(shared_data))
    job = await backend.evaluate("dummy/m", "gsm8k", limit=2, task_args={"fewshot": 0})
    results = await job.wait()
    assert len(results.samples) == 2


async def test_fewshot_needs_the_train_split(backend: Any, shared_data: Path) -> None:
    # The shared mirror holds only the test split; gsm8k's default takes 10 train examples.
    with pytest.raises(EvaluationError, match=r"no 'gsm8k/train.jsonl'.*fewshot': 0"):
        await backend.evaluate("dummy/m", "gsm8k", limit=1, data_mirror=shared_data)


async def test_fewshot_examples_follow_the_hub_shuffle(
    backend: Any, shared_data: Path, tmp_path: Path
) -> None:
    mirror = tmp_path / "mirror"
    (mirror / "gsm8k").mkdir(parents=True)
    shutil.copy(shared_data / "gsm8k" / "test.jsonl", mirror / "gsm8k" / "test.jsonl")
    # A stand-in train split (the first 50 test problems): enough to check the selection.
    lines = (shared_data / "gsm8k" / "test.jsonl").read_text().splitlines()[:50]
    (mirror / "gsm8k" / "train.jsonl").write_text("\n".join(lines) + "\n")

    job = await backend.evaluate(
        "dummy/m", "gsm8k", limit=1, task_args={"fewshot": 3}, data_mirror=mirror
    )
    results = await job.wait()
    from inspect_ai.log import read_eval_log

    log = read_eval_log(results.log_paths["gsm8k"])
    system = log.samples[0].messages[0]
    assert system.role == "system"

    # Which three: what datasets.Dataset.shuffle(seed=42) picks, as on the hub.
    import datasets

    order = datasets.Dataset.from_dict({"i": list(range(50))}).shuffle(seed=42)["i"][:3]
    questions = [json.loads(lines[i])["question"] for i in order]
    shots = system.text.split("\n\n")
    found = [q for q in questions if q in system.text]
    assert found == questions
    assert system.text.index(questions[0]) < system.text.index(questions[1])
    assert len([s for s in shots if re.match(r"ANSWER: ", s)]) == 3


async def test_active_mirror_never_downloads_unmirrored_data(
    shared_data: Path,
) -> None:
    from inspect_evals.utils.huggingface import hf_dataset as original  # noqa: F401

    from motools_inspect.mirror import data_mirror, load_mirrored_split

    with data_mirror(shared_data) as folder:
        assert folder == shared_data
        with pytest.raises(EvaluationError, match="has no entry for Hugging Face dataset"):
            load_mirrored_split(folder, "openai/other", split="test")


def test_missing_mirror_folder_is_an_error(tmp_path: Path) -> None:
    from motools_inspect.mirror import resolve_mirror

    with pytest.raises(EvaluationError, match="not a folder"):
        resolve_mirror(tmp_path / "nowhere")
