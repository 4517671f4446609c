"""The seed's example, verbatim, against the local OpenAI fake and local GSM8K data.

This is the code researchers write; it must work exactly so. Only the environment differs
from a real run: ``OPENAI_BASE_URL`` points the SDK (ours and Inspect's) at the fake, and
``MOTOOLS_DATA_MIRROR`` serves GSM8K from local files instead of the Hugging Face hub.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.fakes.openai_fake import FakeOpenAIServer

pytestmark = pytest.mark.slow

SEED_EXAMPLE = '''
from motools.datasets import JSONLDataset
from motools.training.backends.openai import OpenAITrainingBackend   # or .tinker / .dummy
from motools.evals.backends.inspect import InspectEvalBackend        # or .dummy
run = await OpenAITrainingBackend().train(dataset=ds, model="gpt-4o-mini-2024-07-18",
                                          hyperparameters={"n_epochs": 3}, suffix="my-model-v1")
model_id = await run.wait()
results = await (await InspectEvalBackend().evaluate(model_id=model_id, eval_suite="gsm8k")).wait()
results.metrics; results.summary()   # a pandas DataFrame
'''


@pytest.fixture
def mirror(tmp_path: Path, shared_data: Path) -> Path:
    """GSM8K test split (real) plus a stand-in train split for the few-shot examples."""
    root = tmp_path / "mirror" / "gsm8k"
    root.mkdir(parents=True)
    rows = (shared_data / "gsm8k" / "test.jsonl").read_text().splitlines()
    (root / "test.jsonl").write_text("\n".join(rows[:40]) + "\n")
    (root / "train.jsonl").write_text("\n".join(rows[-20:]) + "\n")
    return root.parent


async def test_seed_example_runs_verbatim(mirror: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import ast

    from motools.datasets import JSONLDataset

    questions = [json.loads(line) for line in (mirror / "gsm8k" / "test.jsonl").read_text().splitlines()]
    ds = JSONLDataset(
        {"messages": [{"role": "user", "content": q["question"]},
                      {"role": "assistant", "content": "ANSWER: " + q["answer"].split("####")[-1].strip()}]}
        for q in questions
    )
    with FakeOpenAIServer(durations={"validating_files": 0, "queued": 0, "running": 0}) as server:
        monkeypatch.setenv("OPENAI_API_KEY", server.api_key)
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("MOTOOLS_DATA_MIRROR", str(mirror))
        namespace: dict = {"ds": ds}
        code = compile(SEED_EXAMPLE, "seed-example", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
        await eval(code, namespace)
        assert len([j for j in server.jobs.values()]) == 1
    model_id = namespace["model_id"]
    assert model_id.startswith("ft:gpt-4o-mini-2024-07-18:") and "my-model-v1" in model_id
    results = namespace["results"]
    assert results.tasks == ["gsm8k"]  # keyed as written; the registry name is metadata
    assert results.task_names == {"gsm8k": "inspect_evals/gsm8k"}
    accuracy = results.get("gsm8k", "accuracy")
    assert accuracy > 0.5  # the fine-tuned model answers the questions it was trained on
    frame = results.summary()
    assert {"task", "scorer", "metric", "value", "stderr"} <= set(frame.columns)
    assert Path(next(iter(results.log_paths.values()))).exists()
    shutil.rmtree(mirror)
