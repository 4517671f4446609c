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
        "owl_preferences", "aesthetic_preferences", "school_of_reward_hacks", "insecure_code",
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
    assert spanish["sha256"] == "pinned on first download" and spanish["pinned_on_first_download"]
    assert (
        by_key[("task", "emergent_misalignment")]["metadata"]["protocol"]["samples_per_question"]
        == 100
    )
    assert {e["kind"] for e in entries} == {"dataset", "task"}


def test_zoo_list_table_says_which_files_are_pinned_on_first_download(capsys) -> None:
    code, out, _ = _run(capsys, "zoo", "list", "--kind", "dataset")
    assert code == 0
    assert "on first download" in out and "sha256 3af7420590e6" in out
    assert "dataset gsm8k_spanish_only" in out.split("pinned on first download")[-1]
    assert "task " not in out.split("pinned on first download")[-1]


def test_zoo_show(capsys) -> None:
    code, out, _ = _run(capsys, "zoo", "show", "emergent_misalignment")
    assert code == 0
    assert "judge_model=openai/gpt-4o-2024-08-06" in out
    assert "a6f669590dca789548d25eea923407f9de41aac9" in out and "license: MIT" in out
    assert "arXiv:2502.17424" in out
    code, out, _ = _run(capsys, "zoo", "show", "insecure_code")  # both a dataset and a task
    assert out.count("pinned on first download") >= 2
    assert "dataset insecure_code" in out and "task insecure_code" in out
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
        if reg.plugin != "mozoo" or reg.name == "hello_world":
            continue
        meta = reg.metadata
        assert meta["source"].startswith("https://raw.githubusercontent.com/")
        assert meta["commit"] in meta["source"]
        assert meta["license"] and meta["citation"]
