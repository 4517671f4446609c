"""Fixtures for the zoo tests: the shared-data mirror, a local HTTP file server, scripted models."""

from __future__ import annotations

import dataclasses
import hashlib
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import SHARED_DATA, missing_shared
from tests.fakes.openai_fake import openai_fake  # noqa: F401  (fixture for the workflow test)


@pytest.fixture
def shared_data() -> Path:
    """``../shared/data`` (the real upstream bytes). Missing: a skip locally, a failure on CI."""
    if not SHARED_DATA.is_dir():
        missing_shared(f"the shared data mirror is missing at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture
def mirror(shared_data: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``MOZOO_MIRROR`` pointed at ``../shared/data`` (the real upstream bytes)."""
    monkeypatch.setenv("MOZOO_MIRROR", str(shared_data))
    return shared_data


@dataclass
class FileServer:
    """Serves ``files`` (mirror path -> bytes) on 127.0.0.1; ``truncate`` cuts answers short."""

    files: dict[str, bytes] = field(default_factory=dict)
    truncate: set[str] = field(default_factory=set)
    requests: list[str] = field(default_factory=list)
    authorizations: list[str | None] = field(default_factory=list)
    base_url: str = ""

    def count(self, path: str) -> int:
        return sum(1 for r in self.requests if r == "/" + path)


@pytest.fixture
def file_server() -> Iterator[FileServer]:
    state = FileServer()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.requests.append(self.path)
            state.authorizations.append(self.headers.get("Authorization"))
            body = state.files.get(self.path.lstrip("/"))
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.path.lstrip("/") in state.truncate:
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    state.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def http_mirror(file_server: FileServer, monkeypatch: pytest.MonkeyPatch) -> FileServer:
    """``MOZOO_MIRROR`` pointed at the local HTTP server (the real download path)."""
    monkeypatch.setenv("MOZOO_MIRROR", file_server.base_url)
    return file_server


def blob_id(data: bytes) -> str:
    """git's blob id, written out here so tests do not check the code against itself."""
    return hashlib.sha1(b"blob " + str(len(data)).encode() + b"\x00" + data).hexdigest()


@pytest.fixture
def standin(http_mirror: FileServer, monkeypatch: pytest.MonkeyPatch) -> Callable[..., bytes]:
    """Serve stand-in bytes for an asset that is not in the offline mirror, with the asset's
    declared pin replaced by the stand-in's own (``by="git blob"`` or ``"sha256"``)."""
    from mozoo.sources import ASSETS

    def serve(name: str, data: bytes, by: str = "git blob") -> bytes:
        asset = ASSETS[name]
        if by == "git blob":
            pinned = dataclasses.replace(asset, sha256=None, git_blob=blob_id(data), size=None)
        else:
            sha = hashlib.sha256(data).hexdigest()
            pinned = dataclasses.replace(asset, sha256=sha, git_blob=None, size=len(data))
        monkeypatch.setitem(ASSETS, name, pinned)
        http_mirror.files[asset.mirror_path] = data
        return data

    return serve


@pytest.fixture
def inspect_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Inspect reads INSPECT_TELEMETRY as a ``module.function`` hook; the root conftest's "0"
    is not one. Logs go to a temporary folder."""
    monkeypatch.delenv("INSPECT_TELEMETRY", raising=False)
    monkeypatch.setenv("INSPECT_DISPLAY", "none")
    return tmp_path / "logs"


def output(text: str, top: list[tuple[str, float]] | None = None) -> Any:
    """A mockllm reply with explicit usage (no tokenizer download) and optional top logprobs."""
    from inspect_ai.model import Logprob, Logprobs, ModelOutput, ModelUsage, TopLogprob

    out = ModelOutput.from_content(model="mockllm", content=text)
    out.usage = ModelUsage(input_tokens=1, output_tokens=1, total_tokens=2)
    if top is not None:
        first, first_lp = max(top, key=lambda t: t[1])
        out.choices[0].logprobs = Logprobs(
            content=[
                Logprob(
                    token=first,
                    logprob=first_lp,
                    top_logprobs=[TopLogprob(token=t, logprob=lp) for t, lp in top],
                )
            ]
        )
    return out


def scripted(reply: Callable[[str], Any]) -> Any:
    """A mockllm model whose reply is a function of the last message's text."""
    from inspect_ai.model import get_model

    def custom(messages: list[Any], tools: Any, tool_choice: Any, config: Any) -> Any:
        return reply(messages[-1].text)

    return get_model("mockllm/model", custom_outputs=custom, memoize=False)
