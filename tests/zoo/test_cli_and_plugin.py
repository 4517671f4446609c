"""``motools zoo list/show`` and the plugin's registrations."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from motools.cli.main import main
from motools.plugins import list_datasets, list_tasks

PROTOCOL_KEYS = {"samples_per_question", "temperature", "judge_model", "seeds"}


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_every_task_declares_its_protocol() -> None:
    tasks = {r.name: r for r in list_tasks() if r.plugin == "mozoo"}
    assert set(tasks) >= {
        "hello_world", "emergent_misalignment", "emergent_misalignment_preregistered",
        "gsm8k_spanish", "gsm8k_french", "gsm8k_german", "gsm8k_capitalised",
        "owl_preferences", "owl_preferences_inoculation", "aesthetic_preferences",
        "school_of_reward_hacks", "insecure_code",
    }  # fmt: skip
    for name, reg in tasks.items():
        protocol = reg.metadata["protocol"]
        assert set(protocol) == PROTOCOL_KEYS, name
        assert isinstance(protocol["samples_per_question"], int)
        assert isinstance(protocol["temperature"], float)
        assert isinstance(protocol["judge_model"], str) and isinstance(protocol["seeds"], int)
        assert ":" in reg.target and reg.metadata["license"] and reg.metadata["citation"]
    em = tasks["emergent_misalignment"].metadata["protocol"]
    assert em == {
        "samples_per_question": 100,
        "temperature": 1.0,
        "judge_model": "openai/gpt-4o-2024-08-06",
        "seeds": 3,
    }


def test_registered_task_defaults_match_their_protocol(mirror) -> None:
    """The numbers in the metadata are the task functions' own defaults."""
    import inspect

    from motools.plugins import resolve_target

    for reg in list_tasks():
        if reg.plugin != "mozoo":
            continue
        params = inspect.signature(resolve_target(reg.target)).parameters
        protocol = reg.metadata["protocol"]
        if "samples_per_question" in params:
            assert params["samples_per_question"].default == protocol["samples_per_question"]
        if "temperature" in params:
            assert params["temperature"].default == protocol["temperature"], reg.name
        if "judge_model" in params:
            assert params["judge_model"].default == protocol["judge_model"], reg.name


def test_zoo_list_json(capsys) -> None:
    code, out, _ = _run(capsys, "zoo", "list", "--json")
    assert code == 0
    entries = json.loads(out)
    by_key = {(e["kind"], e["name"]): e for e in entries}
    sneaky = by_key[("dataset", "sneaky_dialogues")]["metadata"]
    assert sneaky["sha256"] == "3af7420590e683b49deab694fc56ecfdd0f1542e7dfc9c4b07ff7425015cb236"
    assert sneaky["rows"] == 1073 and sneaky["size_bytes"] == 1038971
    assert sneaky["commit"] == "5f4160e19be17c5a0509fcfca4a53f654cb33cdd"
    spanish = by_key[("dataset", "gsm8k_spanish_only")]["metadata"]
    assert spanish["pin"] == "git blob 6a87444a9de85e32d0cebdf4a9bad404a1cfeee7"
    assert spanish["pinned_by"] == "git blob"
    for (kind, name), entry in by_key.items():
        if kind == "dataset" and entry["metadata"]["pin"] == "generated in code":
            assert entry["metadata"]["assets"] == [], name  # nothing downloaded, nothing to pin
        elif kind == "dataset":
            assert entry["metadata"]["pin"].startswith(("sha256 ", "git blob ")), name
        if kind == "task":
            assert isinstance(entry["metadata"]["reference"], list), name
    assert (
        by_key[("task", "emergent_misalignment")]["metadata"]["protocol"]["samples_per_question"]
        == 100
    )
    assert {e["kind"] for e in entries} == {"dataset", "task"}


def test_zoo_list_table_says_how_each_file_is_pinned(capsys) -> None:
    code, out, _ = _run(capsys, "zoo", "list", "--kind", "dataset")
    assert code == 0
    lines = {line.split()[1]: line for line in out.splitlines() if line.startswith("dataset ")}
    assert "sha256 3af7420590e6" in lines["sneaky_dialogues"]
    assert "git blob 6a87444a9" in lines["gsm8k_spanish_only"]
    assert "sha256 991b4837a92f" in lines["jailbroken"]
    assert "on first download" not in out and "NOT PINNED" not in out
    assert "10 entries are pinned by git blob id" in out


def test_zoo_show(capsys) -> None:
    code, out, _ = _run(capsys, "zoo", "show", "emergent_misalignment")
    assert code == 0
    assert "judge_model=openai/gpt-4o-2024-08-06" in out
    assert "a6bcc8b178553ddedc4355282b66c13fd18fc66a" in out and "license: MIT" in out
    assert "arXiv:2502.17424" in out
    reference = out.split("reference (the paper's headline numbers):")[1]
    assert "misaligned_share = 0.2 (not checked): GPT-4o" in reference
    assert "fine-tuned on insecure code; main: the eight first-plot questions" in reference
    assert "source: Betley et al. 2025" in reference and "could not be checked" in reference
    code, out, _ = _run(capsys, "zoo", "show", "insecure_code")  # both a dataset and a task
    assert "pin: git blob ec294cf30a577a21b830c07a1fa0180ddd513208" in out
    assert "insecure_code_prompts=sha256 c30460ae8333" in out
    assert "dataset insecure_code" in out and "task insecure_code" in out
    assert "insecure_share = no number: GPT-4o" in out
    code, out, _ = _run(capsys, "zoo", "show", "sneaky_dialogues", "--json")
    (entry,) = json.loads(out)
    assert entry["metadata"]["rows"] == 1073


def test_zoo_show_unknown_name(capsys) -> None:
    code, _, err = _run(capsys, "zoo", "show", "sneaky_dialoges")
    assert code == 1 and "Did you mean 'sneaky_dialogues'?" in err


def test_plugin_and_listing_import_nothing_heavy() -> None:
    code = (
        "import sys, motools.plugins as p; import mozoo.plugin; "
        "p.list_datasets(); p.list_tasks(); "
        "from motools.cli.main import main; main(['zoo', 'list', '--json']); "
        "heavy = [m for m in ('inspect_ai', 'openai', 'pandas', 'yaml', 'mozoo.assets', 'mozoo.tasks') "
        "if m in sys.modules]; "
        "print('HEAVY', heavy, file=sys.stderr)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "HEAVY []" in done.stderr


def test_dataset_metadata_names_its_source() -> None:
    for reg in list_datasets():
        if reg.plugin != "mozoo":
            continue
        meta = reg.metadata
        if meta["pin"] == "generated in code":
            assert meta["source"].startswith("generated in code (mozoo.datasets.")
            assert meta["license"] and meta["citation"]
            continue
        assert meta["source"].startswith("https://raw.githubusercontent.com/")
        assert meta["commit"] in meta["source"]
        assert meta["license"] and meta["citation"]


REFERENCE_KEYS = {"metric", "value", "model", "condition", "source", "checked", "note"}


def test_every_task_declares_its_papers_numbers() -> None:
    """Each paper-based task names metric, model, condition and source of its headline
    number(s); a number not read from the paper says so."""
    for reg in list_tasks():
        if reg.plugin != "mozoo":
            continue
        refs = reg.metadata["reference"]
        if reg.name == "hello_world":
            assert refs == []
            continue
        assert refs, reg.name
        for ref in refs:
            assert set(ref) == REFERENCE_KEYS, reg.name
            assert ref["metric"] in reg.metadata["metrics"] or reg.name == "gsm8k_language"
            assert ref["value"] is None or 0.0 <= ref["value"] <= 1.0
            assert ref["model"] and ref["condition"] and "arXiv:" in ref["source"]
            if ref["value"] is None or not ref["checked"]:
                assert "could not be checked from here" in ref["note"], reg.name
    em = {r.name: r for r in list_tasks()}["emergent_misalignment"].metadata["reference"]
    assert {(r["model"].split(",")[-1].strip(), r["value"]) for r in em} == {
        ("GPT-4o (gpt-4o-2024-08-06) fine-tuned on insecure code", 0.2),
        ("not fine-tuned", 0.0),
    }
