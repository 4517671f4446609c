"""What the command line says while it waits, and when Ctrl-C stops a wait.

:func:`reported` installs a :mod:`motools.polling` reporter for one command: every heartbeat
and every retry of a wait (training jobs, evaluations, calls to a service) becomes one line on
stderr, so a command never sits silent for minutes. It also remembers which training runs are
being waited for, so that :func:`interrupted` can say, after Ctrl-C, that the job keeps running
at its provider and how to re-attach to it or cancel it.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator, Mapping
from typing import Any

from motools.polling import WaitEvent, heartbeat_interval, reporting

#: Training runs waited for in this process, by job id, until their wait ends normally.
_watched: dict[str, Mapping[str, Any]] = {}


class StderrReporter:
    """Prints heartbeats and retries on stderr (not heartbeats when ``quiet``)."""

    def __init__(self, quiet: bool = False) -> None:
        self.quiet = quiet

    def __call__(self, event: WaitEvent) -> None:
        if event.run is not None:
            job_id = str(event.run.get("job_id"))
            if event.kind == "start":
                _watched[job_id] = event.run
            elif event.kind == "done":
                _watched.pop(job_id, None)
        if event.kind == "retry" or (event.kind == "beat" and not self.quiet):
            print(f"motools: {event.message}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def reported(quiet: bool = False) -> Iterator[None]:
    """Show this command's waits on stderr (see the module docstring)."""
    heartbeat_interval()  # a bad $MOTOOLS_HEARTBEAT fails now, before anything is paid for
    with reporting(StderrReporter(quiet=quiet)):
        yield


def interrupted() -> int:
    """After Ctrl-C: say what keeps running and how to get back to it; return 130."""
    lines = ["motools: interrupted."]
    for job_id, run in _watched.items():
        backend = run.get("backend", "?")
        if run.get("runs_remotely", True):
            lines.append(
                f"The {backend} job {job_id} keeps running at the provider (stopping this "
                "command did not cancel it)."
            )
        else:
            lines.append(
                f"The {backend} job {job_id} is driven by this process: it stops here and "
                "keeps its last checkpoint; re-attaching continues it from there."
            )
        lines.append(f"  re-attach and wait:  motools runs wait {job_id}")
        lines.append(f"  cancel it:           motools runs cancel {job_id}")
    _watched.clear()
    print("\n".join(lines), file=sys.stderr, flush=True)
    return 130
