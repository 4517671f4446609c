"""``import motools`` and ``motools --help`` must not import heavy libraries."""

from __future__ import annotations

import subprocess
import sys

HEAVY = (
    "openai",
    "inspect_ai",
    "tinker",
    "pandas",
    "transformers",
    "torch",
    "pydantic",
    "tiktoken",
)


def imported_heavy(code: str) -> list[str]:
    probe = code + f"\nimport sys\nprint(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    return [m for m in (lines[-1] if lines else "").split(",") if m]


def test_import_motools_is_light() -> None:
    assert imported_heavy("import motools") == []


def test_help_is_light() -> None:
    code = (
        "import contextlib, io\n"
        "from motools.cli.main import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try:\n"
        "        main(['--help'])\n"
        "    except SystemExit:\n"
        "        pass\n"
    )
    assert imported_heavy(code) == []


def test_plugin_discovery_is_light() -> None:
    # Listing backends loads every installed plugin's entry point, which must import no SDK.
    assert (
        imported_heavy(
            "import motools; motools.list_training_backends(); motools.list_eval_backends()"
        )
        == []
    )
