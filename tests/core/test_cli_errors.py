"""Every error of the ``motools`` command is one line, with the right exit code (issue 12).

The contract: an error is ``motools: error: ...`` (or ``motools <command>: error: ...`` for a
usage error) on one line of stderr, naming the file, line or option and what to do; the
exit code is 2 when the command line itself is wrong (an option's value, a file argument
that is missing or not a file) and 1 when the input's content or the run fails. Nothing
prints a traceback unless ``--debug`` (or ``MOTOOLS_DEBUG=1``) asks for one.

``test_every_command_and_option_has_an_error_case`` walks the real parser, so a new command
or option without a case here fails the suite.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import motools
from motools.cli.main import build_parser, main

SAMPLE = {"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}
CONFIG = (
    "prepare_dataset: {dataset: 'motools.demo:hello_world_dataset', sample_size: 4}\n"
    "submit_training: {backend: dummy, model: base}\n"
    "evaluate_model: {backend: dummy, tasks: [t]}\n"
)
SWEEP = (
    "name: errors-sweep\n"
    "workflow: train_and_evaluate\n"
    "base_config:\n"
    "  prepare_dataset: {dataset: 'motools.demo:hello_world_dataset', sample_size: 4}\n"
    "  submit_training: {backend: dummy, model: base}\n"
    "  evaluate_model: {backend: dummy, tasks: [t], limit: 4}\n"
    "grid:\n"
    "  seed: [0, 1]\n"
    "  submit_training.hyperparameters.learning_rate: [0.1, 0.2]\n"
)

TRAIN = ["--backend", "dummy", "--model", "base", "--dataset", "{data}"]
EVAL = ["--backend", "dummy", "--model", "dummy/x", "--task", "t"]
PLOT = ["--metric", "accuracy", "--x", "learning_rate", "--out", "{tmp}/p.png"]


def _training(prefix: list[str]) -> list[tuple[list[str], int, str]]:
    return [
        ([*prefix, "--backend", "dummy", "--model", "b", "--dataset", "{missing}.jsonl"], 2,
         "no such file"),
        ([*prefix, "--backend", "dummy", "--model", "b", "--dataset", "{dir}"], 2,
         "is a directory"),
        ([*prefix, "--backend", "dummy", "--model", "b", "--dataset", "{latin}.jsonl"], 1,
         "not valid UTF-8"),
        ([*prefix, "--backend", "dummy", "--model", "b", "--dataset", "123invalid:f"], 1,
         "is not a module path"),
        ([*prefix, "--backend", "dumy", "--model", "b", "--dataset", "{data}"], 1,
         "Did you mean 'dummy'?"),
        ([*prefix, *TRAIN, "--hp", "n_epochs"], 2, "--hp 'n_epochs': expected KEY=VALUE"),
        ([*prefix, *TRAIN, "--hp", "n_epochs=abc"], 1, "n_epochs"),
        ([*prefix, *TRAIN, "--seed", "abc"], 2, "argument --seed"),
        ([*prefix, *TRAIN, "--backend-option", "duraton=1"], 1, "Did you mean 'duration'?"),
        ([*prefix, *TRAIN, "--backend-option", "duration=abc"], 1, "duration='abc'"),
        ([*prefix, *TRAIN, "--suffix"], 2, "argument --suffix: expected one argument"),
        ([*prefix, "--backend", "dummy", "--dataset", "{data}"], 2, "--model"),
    ]  # fmt: skip


def _evaluation(prefix: list[str]) -> list[tuple[list[str], int, str]]:
    return [
        ([*prefix, "--backend", "dumy", "--model", "dummy/x", "--task", "t"], 1,
         "Did you mean 'dummy'?"),
        ([*prefix, *EVAL, "--limit", "0"], 2, "argument --limit: must be at least 1"),
        ([*prefix, *EVAL, "--option", "temperature"], 2, "--option 'temperature'"),
        ([*prefix, *EVAL, "--backend-option", "sample=3"], 1, "Did you mean 'samples'?"),
        ([*prefix, "--backend", "dummy", "--model", "dummy/x", "--task", "{missing}.py@t"], 2,
         "no such file"),
        ([*prefix, "--backend", "dummy", "--model", "dummy/x", "--task", "{dir}/"], 2,
         "is a directory"),
        ([*prefix, "--backend", "dummy", "--model", "dummy/x", "--task", "123invalid:f"], 1,
         "is not a module path"),
        ([*prefix, "--backend", "dummy", "--task", "t"], 2, "--model"),
    ]  # fmt: skip


def _sweep_file(command: str) -> list[tuple[list[str], int, str]]:
    extra = PLOT if command == "plot" else []
    return [
        (["sweep", command, "{missing}.yaml", *extra], 2, "no such file"),
        (["sweep", command, "{dir}", *extra], 2, "is a directory"),
        (["sweep", command, "{latin}.yaml", *extra], 1, "not UTF-8 text"),
    ]


#: (argv, exit code, text the one error line must contain). ``{data}`` is a valid dataset,
#: ``{config}`` a valid workflow config, ``{sweep}`` a valid sweep file, ``{missing}`` a path
#: that does not exist, ``{dir}`` a folder, ``{latin}`` a Latin-1 (non-UTF-8) file.
CASES: list[tuple[list[str], int, str]] = [
    (["--bogus"], 2, "unrecognized arguments"),
    (["plugins", "--bogus"], 2, "unrecognized arguments"),
    (["backends", "--bogus"], 2, "unrecognized arguments"),
    (["demo", "--bogus"], 2, "unrecognized arguments"),
    (["dataset", "validate", "{missing}.jsonl"], 2, "no such file"),
    (["dataset", "validate", "{dir}"], 2, "is a directory"),
    (["dataset", "validate", "{data}", "--purpose", "bogus"], 2, "argument --purpose"),
    (["dataset", "validate", "{data}", "--backend", "dumy"], 1, "Did you mean 'dummy'?"),
    (["dataset", "validate", "{data}", "--backend", "dummy", "--model", "b", "--hp", "x"], 2,
     "--hp 'x'"),
    (["dataset", "validate", "{data}", "--model"], 2, "argument --model"),
    (["dataset", "stats", "{missing}.jsonl"], 2, "no such file"),
    (["dataset", "stats", "{dir}"], 2, "is a directory"),
    (["dataset", "stats", "{latin}.jsonl"], 1, "line 1: not valid UTF-8"),
    *_training(["train"]),
    *_training(["cache", "explain", "train"]),
    (["train", *TRAIN, "--detach", "x"], 2, "unrecognized arguments"),
    *_evaluation(["eval"]),
    *_evaluation(["cache", "explain", "eval"]),
    (["cache", "ls", "--limit", "-1"], 2, "argument --limit: must be at least 0"),
    (["cache", "ls", "--offset", "x"], 2, "argument --offset: expected a whole number"),
    (["cache", "ls", "--since", "yesterday-ish"], 1, "--since"),
    (["runs", "--limit", "-3"], 2, "argument --limit: must be at least 0"),
    (["runs", "--offset", "-1"], 2, "argument --offset: must be at least 0"),
    (["runs", "--since", "soon"], 1, "--since"),
    (["runs", "--status", "runing"], 2, "argument --status: unknown status 'runing'"),
    (["cache", "ls", "--status", "done"], 2, "argument --status: unknown status 'done'"),
    (["cache", "ls", "--kind", "bogus"], 2, "argument --kind: invalid choice"),
    (["cache", "show", "nosuchkey"], 1, "no cache entry or run matches 'nosuchkey'"),
    (["cache", "gc", "--older-than-days", "-1"], 2, "argument --older-than-days"),
    (["cache", "gc", "--older-than-days", "abc"], 2, "argument --older-than-days"),
    (["cache", "verify", "--bogus"], 2, "unrecognized arguments"),
    (["store", "info", "--bogus"], 2, "unrecognized arguments"),
    (["cache", "ls", "--project", "my project"], 2, "argument --project: expected a project"),
    (["runs", "--project", ""], 2, "argument --project: expected a project"),
    (["store", "use", "mysql://x"], 1, "'mysql://x' is not a store URL"),
    (["store", "use", "postgresql://u:pw@h/db"], 1, "the URL holds a password"),
    (["store", "use", "sqlite", "--blobs", "ftp://x"], 1, "unknown kind of blob store"),
    (["store", "init", "mysql://x"], 1, "'mysql://x' is not a store URL"),
    (["store", "init", "sqlite", "--blobs", "ftp://x"], 1, "unknown kind of blob store"),
    (["store", "push", "mysql://x"], 1, "'mysql://x' is not a store URL"),
    (["store", "push", "sqlite", "--blobs", "ftp://x"], 1, "unknown kind of blob store"),
    (["store", "pull", "mysql://x"], 1, "'mysql://x' is not a store URL"),
    (["store", "pull", "sqlite", "--blobs", "ftp://x"], 1, "unknown kind of blob store"),
    (["cache", "forget", "nosuchkey"], 1, "no cache entry or run matches 'nosuchkey'"),
    (["runs", "--bogus"], 2, "unrecognized arguments"),
    (["runs", "wait", "nosuchrun"], 1, "no cache entry or run matches 'nosuchrun'"),
    (["runs", "cancel", "nosuchrun"], 1, "no cache entry or run matches 'nosuchrun'"),
    (["runs", "events", "nosuchrun"], 1, "no cache entry or run matches 'nosuchrun'"),
    (["provenance", "nosuchartifact"], 1, "no artifact matches 'nosuchartifact'"),
    (["zoo", "list", "--kind", "bogus"], 2, "argument --kind: invalid choice"),
    (["zoo", "show", "nosuchname"], 1, "No dataset or task named 'nosuchname'"),
    (["zoo", "show", "hello_world", "--kind", "bogus"], 2, "argument --kind"),
    (["workflow", "list", "--bogus"], 2, "unrecognized arguments"),
    (["workflow", "validate", "nosuch", "--config", "{config}"], 1, "Unknown workflow"),
    (["workflow", "validate", "train_and_evaluate", "--config", "{missing}.yaml"], 2,
     "--config {missing}.yaml: no such file"),
    (["workflow", "validate", "train_and_evaluate", "--config", "{dir}"], 2, "is a directory"),
    (["workflow", "validate", "train_and_evaluate", "--config", "{latin}.yaml"], 1,
     "line 1, column 4: not UTF-8 text (byte 0xe9)"),
    (["workflow", "run", "train_and_evaluate", "--config", "{missing}.yaml"], 2, "no such file"),
    (["workflow", "run", "train_and_evaluate", "--config", "{dir}"], 2, "is a directory"),
    (["workflow", "run", "train_and_evaluate", "--config", "{latin}.yaml"], 1, "not UTF-8"),
    (["workflow", "run", "train_and_evaluate", "--config", "{config}", "--max-parallel", "0"],
     2, "argument --max-parallel: must be at least 1, got 0"),
    (["workflow", "run", "train_and_evaluate", "--config", "{config}", "--force-rerun",
      "submit_trainin"], 1, "no step 'submit_trainin'; did you mean 'submit_training'?"),
    *_sweep_file("run"),
    (["sweep", "run", "{sweep}", "--max-parallel", "0"], 2, "argument --max-parallel"),
    *_sweep_file("status"),
    *_sweep_file("results"),
    (["sweep", "results", "{sweep}", "--confidence", "1.5"], 2,
     "argument --confidence: must be strictly between 0 and 1"),
    (["sweep", "results", "{sweep}", "--ci", "bogus"], 2, "argument --ci: invalid choice"),
    (["sweep", "results", "{sweep}", "--out", "{missing}/rows.csv"], 2,
     "--out {missing}/rows.csv: folder {missing} does not exist"),
    *_sweep_file("plot"),
    (["sweep", "plot", "{sweep}", *PLOT, "--confidence", "0"], 2, "argument --confidence"),
    (["sweep", "plot", "{sweep}", "--metric", "accuracy", "--x", "learning_rate", "--out",
      "{missing}/p.png"], 2, "folder {missing} does not exist"),
    (["sweep", "plot", "{sweep}", *PLOT, "--html", "{missing}/p.html"], 2, "--html"),
    (["sweep", "plot", "{sweep}", *PLOT, "--xscale", "bogus"], 2, "argument --xscale"),
    (["sweep", "plot", "{sweep}", *PLOT, "--ci", "bogus"], 2, "argument --ci"),
    (["sweep", "plot", "{sweep}", *PLOT, "--dpi", "0"], 2, "argument --dpi: must be at least 1"),
    (["sweep", "plot", "{sweep}", *PLOT, "--facet", "colour"], 2, "argument --facet"),
    (["sweep", "plot", "{sweep}", "--x", "learning_rate", "--out", "{tmp}/p.png"], 2,
     "--metric"),
]  # fmt: skip

#: Cases that need the sweep to have run (``ran_sweep``): the values exist only in its results.
AFTER_SWEEP: list[tuple[list[str], int, str]] = [
    (["sweep", "plot", "{sweep}", "--metric", "nosuch", "--x", "learning_rate", "--out",
      "{tmp}/p.png"], 1, "no metric 'nosuch'"),
    (["sweep", "plot", "{sweep}", "--metric", "accuracy", "--x", "nosuch", "--out",
      "{tmp}/p.png"], 1, "x 'nosuch' is not a column"),
    (["sweep", "plot", "{sweep}", *PLOT, "--group", "nosuch"], 1, "group 'nosuch'"),
    (["sweep", "plot", "{sweep}", *PLOT, "--task", "nosuch"], 1, "no task 'nosuch'"),
    (["sweep", "plot", "{sweep}", *PLOT, "--scorer", "nosuch"], 1, "no scorer 'nosuch'"),
]  # fmt: skip

#: A dataset's problems are ``validate``'s output (stdout, exit 1), not an error.
PROBLEMS_ON_STDOUT = [["dataset", "validate", "{latin}.jsonl"]]

#: Options whose every value is valid input (free text the dummy backends accept as is).
FREE_TEXT = {"--model", "--suffix", "--json", "--name"}


@pytest.fixture
def paths(tmp_path: Path) -> dict[str, str]:
    data = tmp_path / "data.jsonl"
    data.write_text(json.dumps(SAMPLE) + "\n")
    (tmp_path / "folder").mkdir()
    (tmp_path / "latin.jsonl").write_bytes(b'{"messages": "caf\xe9"}\n')
    (tmp_path / "latin.yaml").write_bytes(b"caf\xe9: 1\n")
    (tmp_path / "config.yaml").write_text(CONFIG)
    (tmp_path / "sweep.yaml").write_text(SWEEP)
    return {
        "tmp": str(tmp_path),
        "data": str(data),
        "config": str(tmp_path / "config.yaml"),
        "sweep": str(tmp_path / "sweep.yaml"),
        "missing": str(tmp_path / "missing"),
        "dir": str(tmp_path / "folder"),
        "latin": str(tmp_path / "latin"),
    }


def run_case(
    capsys: pytest.CaptureFixture[str],
    paths: dict[str, str],
    argv: list[str],
    code: int,
    needle: str,
) -> None:
    filled = [a.format(**paths) for a in argv]
    got = main(filled)
    out, err = capsys.readouterr()
    lines = [line for line in err.splitlines() if line.strip()]
    where = f"motools {' '.join(filled)}\nstdout: {out[-400:]}\nstderr: {err[-800:]}"
    assert "Traceback" not in err + out, where
    assert got == code, where
    assert len(lines) == 1, where
    assert lines[0].startswith("motools") and ": error: " in lines[0], where
    assert needle.format(**paths) in lines[0], where
    assert len(lines[0]) <= 600, where


@pytest.mark.parametrize(
    ("argv", "code", "needle"), CASES, ids=[" ".join(c[0])[:70] for c in CASES]
)
def test_error_is_one_line_with_the_right_exit_code(
    capsys: pytest.CaptureFixture[str],
    paths: dict[str, str],
    argv: list[str],
    code: int,
    needle: str,
) -> None:
    run_case(capsys, paths, argv, code, needle)


def test_errors_about_a_sweeps_results(
    capsys: pytest.CaptureFixture[str], paths: dict[str, str]
) -> None:
    assert main(["sweep", "run", paths["sweep"], "--quiet"]) == 0
    capsys.readouterr()
    for argv, code, needle in AFTER_SWEEP:
        run_case(capsys, paths, argv, code, needle)


def test_dataset_validate_reports_a_non_utf8_file_as_a_problem(
    capsys: pytest.CaptureFixture[str], paths: dict[str, str]
) -> None:
    assert main([a.format(**paths) for a in PROBLEMS_ON_STDOUT[0]]) == 1
    out, err = capsys.readouterr()
    assert f"{paths['latin']}.jsonl:line 1: not valid UTF-8: byte 0xe9" in out
    assert "Traceback" not in out + err


def _leaves(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> dict[tuple[str, ...], argparse.ArgumentParser]:
    """Every runnable command: ``{("sweep", "plot"): its parser, ...}``."""
    out: dict[tuple[str, ...], argparse.ArgumentParser] = {}
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs or not subs[0].required:
        out[path] = parser
    for action in subs:
        for name, child in action.choices.items():
            out.update(_leaves(child, (*path, name)))
    return out


def _command_of(argv: list[str]) -> tuple[str, ...]:
    parser, path = build_parser(), ()
    for token in argv:
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not subs or token not in subs[0].choices:
            break
        parser, path = subs[0].choices[token], (*path, token)
    return path


def test_every_command_and_option_has_an_error_case() -> None:
    leaves = _leaves(build_parser())
    covered: dict[tuple[str, ...], list[list[str]]] = {}
    for argv in [c[0] for c in CASES + AFTER_SWEEP] + PROBLEMS_ON_STDOUT:
        covered.setdefault(_command_of(argv), []).append(argv)
    missing_commands = sorted(" ".join(p) for p in leaves if p not in covered)
    assert not missing_commands, f"commands without an error case: {missing_commands}"
    gaps = []
    for path, parser in leaves.items():
        cases = covered[path]
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction) or not action.option_strings:
                continue
            if action.nargs == 0 or set(action.option_strings) & FREE_TEXT:
                continue  # flags and free text have no invalid value
            if not any(set(action.option_strings) & set(argv) for argv in cases):
                gaps.append(f"{' '.join(path)} {action.option_strings[0]}")
        files = [a for a in parser._actions if a.dest in ("file", "config", "dataset")]
        for action in files:
            for kind in ("{missing}", "{dir}", "{latin}"):
                if not any(any(kind in a for a in argv) for argv in cases):
                    gaps.append(f"{' '.join(path)} {action.dest}: no {kind} case")
    assert not gaps, "options without an invalid-value case:\n" + "\n".join(gaps)


def _motools() -> str:
    exe = shutil.which("motools", path=str(Path(sys.executable).parent))
    assert exe, "the motools console script is not installed"
    return exe


def test_debug_shows_the_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["dataset", "stats", str(tmp_path / "missing.jsonl")]
    assert main([*argv, "--debug"]) == 2
    assert "Traceback (most recent call last)" in capsys.readouterr().err
    env = {**os.environ, "MOTOOLS_DEBUG": "1"}
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(b"\xff\xfe: 1\n")
    out = subprocess.run(
        [_motools(), "workflow", "validate", "train_and_evaluate", "--config", str(bad)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert out.returncode == 1
    assert "Traceback (most recent call last)" in out.stderr
    assert out.stderr.rstrip().splitlines()[-1].startswith(f"motools: error: {bad}: line 1")


def test_an_unexpected_exception_is_one_line_too(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug (here: an injected KeyError) is still one line, pointing at --debug."""

    def broken(*args: object, **kwargs: object) -> None:
        raise KeyError("surprise")

    monkeypatch.setattr("motools.cache.store.Store.iter_records", broken)
    assert main(["cache", "ls"]) == 1
    err = capsys.readouterr().err
    assert err == (
        "motools: error: KeyError: 'surprise' (run again with --debug for the traceback)\n"
    )


def test_a_closed_pipe_exits_quietly(tmp_path: Path) -> None:
    """``motools ... | head -1``: the reader goes away; no BrokenPipeError traceback."""
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"messages": [{"role": "user", "content": "a"}]}\n' * 3000)
    proc = subprocess.Popen(
        [_motools(), "dataset", "validate", str(bad)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    first = proc.stdout.readline()
    proc.stdout.close()  # more than a pipe buffer is still to come
    err = proc.stderr.read()
    assert proc.wait(timeout=120) == 0
    assert b"line 1" in first
    assert err == b""


def test_zoo_list_never_cuts_names(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    long_name = "a_dataset_name_much_longer_than_nineteen_characters_" + "x" * 20
    description = "a description long enough that it has to be wrapped " * 4

    class Zoo:
        @motools.hookimpl
        def register_datasets(self, register: object) -> None:
            register(long_name, "motools.demo:hello_world_dataset", description=description)  # type: ignore[operator]

    monkeypatch.setenv("COLUMNS", "80")
    motools.register_plugin(Zoo(), name="long-names")
    assert main(["zoo", "list", "--kind", "dataset"]) == 0
    out = capsys.readouterr().out
    assert long_name in out.split()  # whole, as one word
    assert "…" not in "".join(line for line in out.splitlines() if long_name in line)
    words = [w for line in out.splitlines() for w in line.split()]
    for word in description.split():
        assert word in words  # wrapped onto more lines, not cut
