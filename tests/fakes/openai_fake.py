"""A stateful local fake of the OpenAI REST API, for the real ``openai`` SDK to talk to.

``FakeOpenAIServer`` runs a stdlib HTTP server on 127.0.0.1 in a thread and serves, under
``/v1``: files (upload, list, retrieve, content), fine-tuning jobs (create, list with cursor
pagination and metadata filters, retrieve, cancel, events, checkpoints), models, and chat
completions. Shapes follow ``shared/specs/openai-openapi.yaml`` (``tests/openai/
test_spec_conformance.py`` checks them).

Time is a fake clock: ``advance(seconds)`` moves it, ``auto_advance`` moves it on every job
retrieval, ``speed`` lets it follow the wall clock faster than real time. Jobs go
``validating_files -> queued -> running -> succeeded`` after ``durations`` fake seconds.

Failures on demand: ``fail_next(method, path, status=429|500, retry_after=...)``,
``stall_next(method, path, seconds)`` (a slow answer, for client timeouts),
``drop_next(method, path)`` (the connection closes without an answer),
``fail_next_job(code, message)`` (a job that ends ``failed`` with that error object),
``fail_next_file(details)`` (an upload that ends in ``status="error"``), and training files
that are not valid JSONL make their job fail with ``invalid_training_file``.

Chat completions: a fine-tuned model (or one of its checkpoints) answers with the assistant
reply of the training example whose prompt is closest to the request's; a base model answers
``base_reply``; ``script_chat(model, replies)`` overrides either, and a scripted reply may
carry ``top_logprobs`` for its first token.
"""

from __future__ import annotations

import contextlib
import difflib
import email.parser
import email.policy
import json
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

PHASES = ("validating_files", "queued", "running")
TERMINAL = ("succeeded", "failed", "cancelled")
FINE_TUNABLE = ("gpt-4o-mini", "gpt-4o", "gpt-4.1", "gpt-3.5-turbo", "davinci-002", "babbage-002")
ORG = "org-fake"
ORG_SLUG = "motools-fake"


@dataclass
class Exchange:
    """One request the fake received and what it answered (``status`` 0: connection dropped)."""

    method: str
    path: str
    query: list[tuple[str, str]]
    body: Any
    status: int = 0
    response: Any = None
    at: float = 0.0  # the fake clock's time when it arrived


@dataclass
class _Rule:
    method: str | None
    path: str
    times: int
    status: int = 0  # 0: drop the connection
    after_processing: bool = False  # drop only after the request took effect
    stall: float = 0.0  # answer normally, but only after this many (real) seconds
    retry_after: float | None = None
    body: dict[str, Any] | None = None


class HTTPError(Exception):
    def __init__(self, status: int, message: str, *, type_: str = "invalid_request_error",
                 code: str | None = None, param: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.body = {"error": {"message": message, "type": type_, "param": param, "code": code}}
        self.headers = headers or {}


def _new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:24]}"


def _tokens(text: str) -> list[str]:
    """Word-ish pieces with their leading whitespace: the fake's stand-in for BPE tokens."""
    return re.findall(r"\s*\S+|\s+", text) or [""]


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def _last_user_text(messages: list[dict[str, Any]]) -> str:
    for msg in reversed(messages):
        if isinstance(msg, dict) and msg.get("role") == "user":
            return _text(msg.get("content"))
    return _text(messages[-1].get("content")) if messages else ""


class FakeOpenAIServer:
    """The fake OpenAI API. Use as a context manager; ``base_url`` ends in ``/v1``."""

    def __init__(
        self,
        *,
        api_key: str | None = None,
        auto_advance: float = 1.0,
        durations: dict[str, float] | None = None,
        speed: float = 0.0,
        base_reply: str = "I am a helpful assistant.",
        start_time: float = 1_750_000_000.0,
    ) -> None:
        self.api_key = api_key or f"sk-fake-{uuid.uuid4().hex}"
        self.auto_advance = auto_advance
        self.durations = {"validating_files": 1.0, "queued": 1.0, "running": 2.0, **(durations or {})}
        self.speed = speed
        self.base_reply = base_reply
        self.exchanges: list[Exchange] = []
        self.files: dict[str, dict[str, Any]] = {}
        self.file_contents: dict[str, bytes] = {}
        self.jobs: dict[str, dict[str, Any]] = {}
        self.file_processing_seconds = 0.0
        self._events: dict[str, list[dict[str, Any]]] = {}
        self._checkpoints: dict[str, list[dict[str, Any]]] = {}
        self._rules: list[_Rule] = []
        self._job_failures: list[dict[str, Any]] = []
        self._file_failures: list[str] = []
        self._scripts: dict[str, Callable[[dict[str, Any]], Any] | list[Any]] = {}
        self._seq = 0
        self._lock = threading.RLock()
        self._start = start_time
        self._offset = 0.0
        self._t0 = time.monotonic()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> FakeOpenAIServer:
        fake = self

        class Handler(_Handler):
            server_fake = fake

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-openai", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        assert self._server is not None, "server not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    # -- clock -----------------------------------------------------------------------------------
    def now(self) -> float:
        return self._start + self._offset + (time.monotonic() - self._t0) * self.speed

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._offset += seconds

    # -- what was received ---------------------------------------------------------------------
    @property
    def requests(self) -> list[tuple[str, str, Any]]:
        """``(method, path, json body)`` of every request received, in order."""
        return [(e.method, e.path, e.body) for e in self.exchanges]

    def requests_to(self, method: str, path: str, *, exact: bool = False) -> list[Exchange]:
        """Requests with this method whose path starts with (or, ``exact``, equals) ``path``."""
        return [
            e for e in self.exchanges
            if e.method == method and (e.path == path if exact else e.path.startswith(path))
        ]

    # -- failure injection ----------------------------------------------------------------------
    def fail_next(self, method: str | None, path: str, *, status: int = 500, times: int = 1,
                  retry_after: float | None = None, body: dict[str, Any] | None = None) -> None:
        """Answer the next ``times`` matching requests with ``status`` (429s carry ``Retry-After``)."""
        self._rules.append(_Rule(method, path, times, status, retry_after, body))

    def drop_next(self, method: str | None, path: str, *, times: int = 1,
                  after_processing: bool = False) -> None:
        """Close the connection of the next ``times`` matching requests without answering
        (``after_processing``: the request takes effect first, only its answer is lost)."""
        self._rules.append(_Rule(method, path, times, 0, after_processing=after_processing))

    def stall_next(self, method: str | None, path: str, seconds: float, *, times: int = 1) -> None:
        """Hold the next ``times`` matching requests for ``seconds`` before answering (client timeouts)."""
        self._rules.append(_Rule(method, path, times, 200, stall=seconds))

    def fail_next_job(self, code: str = "training_error", message: str = "The job failed.",
                      param: str | None = None) -> None:
        """The next job created fails while running, with this error object."""
        self._job_failures.append({"code": code, "message": message, "param": param})

    def fail_next_file(self, status_details: str = "Invalid file format.") -> None:
        """The next file uploaded ends in ``status="error"`` with these details."""
        self._file_failures.append(status_details)

    def script_chat(self, model: str, replies: Callable[[dict[str, Any]], Any] | list[Any]) -> None:
        """Script ``model``'s chat replies: a function of the request body, or a list used in turn
        (the last one repeats). A reply is a string or ``{"content": ..., "top_logprobs":
        [{"token": ..., "logprob": ...}, ...]}`` (the first token's alternatives)."""
        self._scripts[model] = replies if callable(replies) else list(replies)

    def _take_rule(self, method: str, path: str) -> _Rule | None:
        with self._lock:
            for rule in self._rules:
                if rule.times > 0 and rule.method in (None, method) and path.startswith(rule.path):
                    rule.times -= 1
                    return rule
        return None

    # -- dispatch -----------------------------------------------------------------------------------
    def handle(self, method: str, path: str, query: list[tuple[str, str]], headers: Any,
               raw: bytes) -> tuple[int, Any, dict[str, str]] | None:
        """Answer one request: ``(status, json, headers)``, or None to drop the connection."""
        body: Any = None
        content_type = headers.get("Content-Type", "")
        if raw and content_type.startswith("multipart/form-data"):
            body = _parse_multipart(content_type, raw)
        elif raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw.decode("utf-8", "replace")
        recorded = body
        if isinstance(body, dict) and isinstance(body.get("file"), tuple):
            recorded = {**body, "file": f"<{len(body['file'][1])} bytes: {body['file'][0]}>"}
        exchange = Exchange(method, path, query, recorded, at=self.now())
        with self._lock:
            self.exchanges.append(exchange)
        try:
            if headers.get("Authorization") != f"Bearer {self.api_key}":
                given = (headers.get("Authorization") or "").removeprefix("Bearer ")
                masked = f"{given[:3]}*****{given[-4:]}" if len(given) > 8 else "(none)"
                raise HTTPError(401, f"Incorrect API key provided: {masked}. You can find your API key "
                                "at https://platform.openai.com/account/api-keys.", code="invalid_api_key")
            rule = self._take_rule(method, path)
            if rule is not None and rule.stall:
                time.sleep(rule.stall)
                rule = None
            if rule is not None:
                if rule.status == 0 and rule.after_processing:
                    with self._lock:
                        status, payload = self._route(method, path, query, body)
                    exchange.status, exchange.response = 0, payload
                    return None
                if rule.status == 0:
                    return None
                extra = {} if rule.retry_after is None else {"Retry-After": f"{rule.retry_after:g}"}
                kind = "requests" if rule.status == 429 else "server_error"
                error = HTTPError(rule.status, (rule.body and rule.body["error"]["message"])
                                  or ("Rate limit reached." if rule.status == 429 else "The server had an error."),
                                  type_=kind, code="rate_limit_exceeded" if rule.status == 429 else None,
                                  headers=extra)
                if rule.body:
                    error.body = rule.body
                raise error
            with self._lock:
                status, payload = self._route(method, path, query, body)
            exchange.status, exchange.response = status, payload
            return status, payload, {}
        except HTTPError as err:
            exchange.status, exchange.response = err.status, err.body
            return err.status, err.body, err.headers

    def _route(self, method: str, path: str, query: list[tuple[str, str]], body: Any) -> tuple[int, Any]:
        parts = path.strip("/").split("/")
        if parts[:1] != ["v1"]:
            raise HTTPError(404, f"Unknown path {path}")
        parts = parts[1:]
        q = dict(query)
        if parts == ["files"]:
            if method == "POST":
                return 200, self._create_file(body)
            if method == "GET":
                return 200, self._list_files(q)
        if len(parts) == 2 and parts[0] == "files" and method == "GET":
            return 200, self._file(parts[1])
        if len(parts) == 3 and parts[0] == "files" and parts[2] == "content" and method == "GET":
            self._file(parts[1])
            return 200, self.file_contents[parts[1]].decode()
        if parts == ["fine_tuning", "jobs"]:
            if method == "POST":
                return 200, self._create_job(body)
            if method == "GET":
                return 200, self._list_jobs(query)
        if len(parts) >= 3 and parts[:2] == ["fine_tuning", "jobs"]:
            job = self._job(parts[2])
            rest = parts[3:]
            if not rest and method == "GET":
                self._offset += self.auto_advance
                return 200, self._public_job(job)
            if rest == ["cancel"] and method == "POST":
                return 200, self._cancel(job)
            if rest == ["events"] and method == "GET":
                self._advance(job)
                return 200, self._page(list(reversed(self._events[job["id"]])), q, cursor_ids=False)
            if rest == ["checkpoints"] and method == "GET":
                self._advance(job)
                return 200, self._page(list(reversed(self._checkpoints[job["id"]])), q, cursor_ids=True)
        if parts == ["models"] and method == "GET":
            return 200, self._models()
        if parts == ["chat", "completions"] and method == "POST":
            return 200, self._chat(body)
        raise HTTPError(404, f"Invalid URL ({method} {path})")

    # -- files -------------------------------------------------------------------------------------
    def _create_file(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict) or not isinstance(body.get("file"), tuple):
            raise HTTPError(400, "'file' is a required property", param="file")
        purpose = body.get("purpose")
        if purpose not in ("assistants", "batch", "fine-tune", "vision", "user_data", "evals"):
            raise HTTPError(400, f"'{purpose}' is not one of the allowed purposes", param="purpose")
        filename, data = body["file"]
        self._seq += 1
        file_id = _new_id("file")
        record: dict[str, Any] = {
            "id": file_id, "object": "file", "bytes": len(data), "created_at": int(self.now()),
            "filename": filename, "purpose": purpose, "status": "uploaded", "status_details": None,
            "_seq": self._seq, "_error": self._file_failures.pop(0) if self._file_failures else None,
        }
        self.files[file_id] = record
        self.file_contents[file_id] = data
        return self._public_file(record)

    def _public_file(self, record: dict[str, Any]) -> dict[str, Any]:
        if record["status"] == "uploaded" and self.now() - record["created_at"] >= self.file_processing_seconds:
            if record["_error"]:
                record["status"], record["status_details"] = "error", record["_error"]
            else:
                record["status"] = "processed"
        out = {k: v for k, v in record.items() if not k.startswith("_")}
        if out["status_details"] is None:
            del out["status_details"]
        return out

    def _file(self, file_id: str) -> dict[str, Any]:
        if file_id not in self.files:
            raise HTTPError(404, f"No such File object: {file_id}", param="id")
        return self._public_file(self.files[file_id])

    def _list_files(self, q: dict[str, str]) -> dict[str, Any]:
        items = [self._public_file(f) for f in sorted(self.files.values(), key=lambda f: -f["_seq"])]
        if q.get("order") == "asc":
            items.reverse()
        if q.get("purpose"):
            items = [f for f in items if f["purpose"] == q["purpose"]]
        page = self._page(items, q, cursor_ids=True, default_limit=10000)
        return page

    # -- jobs ----------------------------------------------------------------------------------------
    def _job(self, job_id: str) -> dict[str, Any]:
        if job_id not in self.jobs:
            raise HTTPError(404, f"Could not find fine-tune: {job_id}", code="fine_tune_not_found", param="id")
        return self.jobs[job_id]

    def _create_job(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise HTTPError(400, "We could not parse the JSON body of your request.")
        allowed = {"model", "training_file", "hyperparameters", "suffix", "validation_file",
                   "integrations", "seed", "method", "metadata"}
        for key in body:
            if key not in allowed:
                raise HTTPError(400, f"Unrecognized request argument supplied: {key}", param=key)
        model = body.get("model")
        if not isinstance(model, str):
            raise HTTPError(400, "Missing required parameter: 'model'.", param="model")
        base = model.split(":")[1] if model.startswith("ft:") else model
        if not base.startswith(FINE_TUNABLE):
            raise HTTPError(400, f"Model {model} is not available for fine-tuning or does not exist.",
                            code="model_not_available", param="model")
        files = {}
        for key in ("training_file", "validation_file"):
            file_id = body.get(key)
            if file_id is None and key == "validation_file":
                continue
            if file_id not in self.files:
                raise HTTPError(400, f"invalid {key}: {file_id}", code="invalid_file", param=key)
            record = self.files[file_id]
            if record["purpose"] != "fine-tune":
                raise HTTPError(400, f"File {file_id} has purpose {record['purpose']!r}, not 'fine-tune'",
                                code="invalid_file", param=key)
            if self._public_file(record)["status"] == "error":
                raise HTTPError(400, f"File {file_id} could not be processed.", code="invalid_file", param=key)
            files[key] = file_id
        method = body.get("method") or {"type": "supervised", "supervised": {}}
        mtype = method.get("type")
        if mtype not in ("supervised", "dpo"):
            raise HTTPError(400, f"Invalid method type: {mtype!r}", param="method.type")
        hp = dict(((method.get(mtype) or {}).get("hyperparameters")) or body.get("hyperparameters") or {})
        bounds = {"n_epochs": (1, 50), "batch_size": (1, 256), "learning_rate_multiplier": (0, None),
                  "beta": (0, 2)}
        for key, value in hp.items():
            if key not in bounds or (key == "beta" and mtype != "dpo"):
                raise HTTPError(400, f"Unknown hyperparameter: {key}", param=f"method.{mtype}.hyperparameters.{key}")
            low, high = bounds[key]
            if value == "auto":
                continue
            if key in ("n_epochs", "batch_size"):
                ok = type(value) is int and low <= value <= high
            else:
                ok = type(value) in (int, float) and value > low and (high is None or value <= high)
            if not ok:
                raise HTTPError(400, f"Invalid value for {key}: {value!r}", param=f"method.{mtype}.hyperparameters.{key}")
        suffix = body.get("suffix")
        if suffix is not None and (not isinstance(suffix, str) or not 1 <= len(suffix) <= 64):
            raise HTTPError(400, "suffix must be between 1 and 64 characters", param="suffix")
        metadata = body.get("metadata")
        if metadata is not None and (not isinstance(metadata, dict) or len(metadata) > 16):
            raise HTTPError(400, "metadata must be an object of at most 16 pairs", param="metadata")
        self._seq += 1
        job_id = _new_id("ftjob")
        job: dict[str, Any] = {
            "id": job_id, "object": "fine_tuning.job", "created_at": int(self.now()),
            "error": None, "finished_at": None, "fine_tuned_model": None,
            "hyperparameters": {"batch_size": hp.get("batch_size", "auto"),
                                "learning_rate_multiplier": hp.get("learning_rate_multiplier", "auto"),
                                "n_epochs": hp.get("n_epochs", "auto")},
            "model": model, "organization_id": ORG, "result_files": [], "status": "validating_files",
            "trained_tokens": None, "training_file": files["training_file"],
            "validation_file": files.get("validation_file"), "integrations": None,
            "seed": body.get("seed") if body.get("seed") is not None else 42 + self._seq,
            "estimated_finish": None, "metadata": metadata, "_suffix": suffix,
            "method": {"type": mtype, mtype: {"hyperparameters": {
                **({"beta": hp.get("beta", "auto")} if mtype == "dpo" else {}),
                **{k: hp.get(k, "auto") for k in ("batch_size", "learning_rate_multiplier", "n_epochs")}}}},
            "_seq": self._seq, "_t": self.now(), "_phase_index": 0,
            "_fail": self._job_failures.pop(0) if self._job_failures else None,
        }
        samples, problem = _parse_training(self.file_contents[files["training_file"]], mtype)
        job["_samples"] = samples
        if problem:
            job["_invalid"] = problem
        self.jobs[job_id] = job
        self._events[job_id] = []
        self._checkpoints[job_id] = []
        self._event(job, "info", f"Validating training file: {files['training_file']}", at=job["created_at"])
        self._event(job, "info", "Created fine-tuning job: " + job_id, at=job["created_at"])
        return self._public_job(job)

    def _event(self, job: dict[str, Any], level: str, message: str, *, at: float,
               data: dict[str, Any] | None = None) -> None:
        event = {"object": "fine_tuning.job.event", "id": _new_id("ftevent"), "created_at": int(at),
                 "level": level, "message": message, "type": "metrics" if data else "message",
                 "data": data or {}}
        self._events[job["id"]].append(event)

    def _advance(self, job: dict[str, Any]) -> None:
        """Move ``job`` along its phases up to the fake clock's now, recording events."""
        now = self.now()
        while job["status"] not in TERMINAL:
            phase = job["status"]
            ends = job["_t"] + self.durations[phase]
            if now < ends:
                return
            if phase == "validating_files":
                if job.get("_invalid"):
                    self._finish(job, "failed", ends, {"code": "invalid_training_file",
                                                       "message": job["_invalid"], "param": "training_file"})
                    continue
                self._event(job, "info", "Files validated, moving job to queued state", at=ends)
                job["status"], job["_t"] = "queued", ends
            elif phase == "queued":
                self._resolve_hyperparameters(job)
                self._event(job, "info", "Fine-tuning job started", at=ends)
                job["status"], job["_t"] = "running", ends
                job["estimated_finish"] = int(ends + self.durations["running"])
            elif phase == "running":
                self._metrics(job, ends)
                if job["_fail"]:
                    self._finish(job, "failed", ends, job["_fail"])
                else:
                    self._succeed(job, ends)

    def _resolve_hyperparameters(self, job: dict[str, Any]) -> None:
        n = max(len(job["_samples"]), 1)
        resolved = {"n_epochs": 3, "batch_size": 1, "learning_rate_multiplier": 1.8}
        mtype = job["method"]["type"]
        for target in (job["hyperparameters"], job["method"][mtype]["hyperparameters"]):
            for key, value in resolved.items():
                if target.get(key) == "auto":
                    target[key] = value
            if target.get("beta") == "auto":
                target["beta"] = 0.1
        job["_steps"] = int(job["hyperparameters"]["n_epochs"]) * -(-n // int(job["hyperparameters"]["batch_size"]))

    def _metrics(self, job: dict[str, Any], at: float) -> None:
        total = job.get("_steps", 1)
        for i in range(1, min(total, 10) + 1):
            step = max(1, round(i * total / min(total, 10)))
            loss = round(2.0 / (1 + step), 4)
            self._event(job, "info", f"Step {step}/{total}: training loss={loss}", at=at,
                        data={"step": step, "train_loss": loss, "total_steps": total,
                              "train_mean_token_accuracy": round(1 - loss / 2, 4)})

    def _succeed(self, job: dict[str, Any], at: float) -> None:
        suffix = job["_suffix"] or ""
        short = job["id"].split("-")[1][:8]
        model = f"ft:{job['model']}:{ORG_SLUG}:{suffix}:{short}"
        epochs = int(job["hyperparameters"]["n_epochs"])
        per_epoch = max(job.get("_steps", epochs) // epochs, 1)
        for epoch in range(max(1, epochs - 2), epochs + 1):
            step = epoch * per_epoch
            name = model if epoch == epochs else f"{model}:ckpt-step-{step}"
            self._checkpoints[job["id"]].append({
                "object": "fine_tuning.job.checkpoint", "id": _new_id("ftckpt"), "created_at": int(at),
                "fine_tuned_model_checkpoint": name, "fine_tuning_job_id": job["id"], "step_number": step,
                "metrics": {"step": float(step), "train_loss": round(2.0 / (1 + step), 4),
                            "train_mean_token_accuracy": 0.9, "valid_loss": 0.5,
                            "valid_mean_token_accuracy": 0.85, "full_valid_loss": 0.5,
                            "full_valid_mean_token_accuracy": 0.85},
            })
        job["fine_tuned_model"] = model
        job["trained_tokens"] = sum(len(_tokens(json.dumps(s))) for s in job["_samples"]) * epochs
        job["result_files"] = [_new_id("file")]
        self._event(job, "info", f"New fine-tuned model created: {model}", at=at)
        self._event(job, "info", "The job has successfully completed", at=at)
        job["status"], job["finished_at"] = "succeeded", int(at)

    def _finish(self, job: dict[str, Any], status: str, at: float, error: dict[str, Any] | None) -> None:
        job["status"], job["finished_at"] = status, int(at)
        job["estimated_finish"] = None
        if error:
            job["error"] = {"code": error["code"], "message": error["message"], "param": error.get("param")}
            self._event(job, "error", error["message"], at=at)
        else:
            self._event(job, "info", "Fine-tuning job cancelled", at=at)

    def _cancel(self, job: dict[str, Any]) -> dict[str, Any]:
        self._advance(job)
        if job["status"] in TERMINAL:
            raise HTTPError(400, f"Job has already completed: {job['id']}", code="invalid_state")
        self._finish(job, "cancelled", self.now(), None)
        return self._public_job(job)

    def _public_job(self, job: dict[str, Any]) -> dict[str, Any]:
        self._advance(job)
        return json.loads(json.dumps({k: v for k, v in job.items() if not k.startswith("_")}))

    def _list_jobs(self, query: list[tuple[str, str]]) -> dict[str, Any]:
        q = dict(query)
        wanted = {k[len("metadata["):-1]: v for k, v in query if k.startswith("metadata[") and k.endswith("]")}
        items = []
        for job in sorted(self.jobs.values(), key=lambda j: -j["_seq"]):
            meta = job.get("metadata") or {}
            if all(meta.get(k) == v for k, v in wanted.items()):
                items.append(self._public_job(job))
        page = self._page(items, q, cursor_ids=False)
        return page

    def _page(self, items: list[dict[str, Any]], q: dict[str, str], *, cursor_ids: bool,
              default_limit: int = 20) -> dict[str, Any]:
        after = q.get("after")
        if after:
            ids = [i["id"] for i in items]
            if after not in ids:
                raise HTTPError(400, f"Invalid 'after' cursor: {after}", param="after")
            items = items[ids.index(after) + 1:]
        try:
            limit = int(q.get("limit", default_limit))
        except ValueError as exc:
            raise HTTPError(400, f"Invalid limit {q.get('limit')!r}", param="limit") from exc
        if not 1 <= limit <= 10000:
            raise HTTPError(400, f"limit must be between 1 and 10000, got {limit}", param="limit")
        page = items[:limit]
        out: dict[str, Any] = {"object": "list", "data": page, "has_more": len(items) > limit}
        if cursor_ids:
            out["first_id"] = page[0]["id"] if page else None
            out["last_id"] = page[-1]["id"] if page else None
        return out

    # -- models and chat -------------------------------------------------------------------------------
    def _models(self) -> dict[str, Any]:
        names = ["gpt-4o-mini-2024-07-18", "gpt-4o-2024-08-06", "gpt-4.1-nano-2025-04-14"]
        data = [{"id": n, "object": "model", "created": 1_700_000_000, "owned_by": "system"} for n in names]
        for job in self.jobs.values():
            self._advance(job)
            if job["fine_tuned_model"]:
                data.append({"id": job["fine_tuned_model"], "object": "model",
                             "created": job["finished_at"], "owned_by": ORG_SLUG})
        return {"object": "list", "data": data}

    def _trained_samples(self, model: str) -> list[tuple[str, str]] | None:
        for job in self.jobs.values():
            self._advance(job)
            names = {job["fine_tuned_model"]} | {
                c["fine_tuned_model_checkpoint"] for c in self._checkpoints[job["id"]]}
            if job["fine_tuned_model"] and model in names:
                return job["_samples"]
        return None

    def _chat(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise HTTPError(400, "We could not parse the JSON body of your request.")
        model, messages = body.get("model"), body.get("messages")
        if not isinstance(model, str):
            raise HTTPError(400, "you must provide a model parameter", param="model")
        if not isinstance(messages, list) or not messages:
            raise HTTPError(400, "'messages' must be a non-empty array", param="messages")
        for i, msg in enumerate(messages):
            if not isinstance(msg, dict) or msg.get("role") not in ("system", "developer", "user", "assistant", "tool"):
                raise HTTPError(400, f"Invalid value for 'messages[{i}].role'", param=f"messages[{i}].role")
        if body.get("stream"):
            raise HTTPError(400, "the fake OpenAI server does not stream", param="stream")
        logprobs = bool(body.get("logprobs"))
        top = body.get("top_logprobs")
        if top is not None and (not logprobs or not isinstance(top, int) or not 0 <= top <= 20):
            raise HTTPError(400, "top_logprobs needs logprobs=true and must be 0-20", param="top_logprobs")
        n = body.get("n") or 1
        choices = []
        for index in range(n):
            reply = self._reply(model, messages, body)
            content, alternatives, finish = reply["content"], reply.get("top_logprobs"), "stop"
            limit = body.get("max_completion_tokens") or body.get("max_tokens")
            pieces = _tokens(content)
            if isinstance(limit, int) and len(pieces) > limit:
                pieces, finish = pieces[:limit], "length"
                content = "".join(pieces)
            choice: dict[str, Any] = {
                "index": index, "finish_reason": finish, "logprobs": None,
                "message": {"role": "assistant", "content": content, "refusal": None, "annotations": []},
            }
            if logprobs:
                choice["logprobs"] = {"content": reply.get("logprobs") or _logprobs(pieces, top or 0, alternatives),
                                      "refusal": None}
            choices.append(choice)
        prompt_tokens = sum(len(_tokens(_text(m.get("content")))) + 3 for m in messages) + 3
        completion_tokens = sum(len(_tokens(c["message"]["content"])) for c in choices)
        return {
            "id": _new_id("chatcmpl"), "object": "chat.completion", "created": int(self.now()),
            "model": model, "choices": choices, "service_tier": "default", "system_fingerprint": "fp_fake",
            "usage": {
                "prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
                "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                                              "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0},
            },
        }

    def _reply(self, model: str, messages: list[dict[str, Any]], body: dict[str, Any]) -> dict[str, Any]:
        script = self._scripts.get(model)
        if script is not None:
            reply = script(body) if callable(script) else (script.pop(0) if len(script) > 1 else script[0])
            return {"content": reply} if isinstance(reply, str) else dict(reply)
        if model.startswith("ft:"):
            samples = self._trained_samples(model)
            if samples is None:
                raise HTTPError(404, f"The model `{model}` does not exist or you do not have access to it.",
                                code="model_not_found", param="model")
            asked = _last_user_text(messages)
            best = max(samples, key=lambda s: difflib.SequenceMatcher(None, s[0], asked).ratio())
            return {"content": best[1]}
        return {"content": self.base_reply}


def _logprobs(pieces: list[str], top: int, alternatives: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    out = []
    for i, piece in enumerate(pieces):
        if i == 0 and alternatives:
            alts = [{"token": a["token"], "logprob": float(a["logprob"]),
                     "bytes": list(a["token"].encode())} for a in alternatives][: max(top, 1)]
            chosen = next((a["logprob"] for a in alts if a["token"] == piece), max(a["logprob"] for a in alts))
        else:
            alts = [{"token": piece, "logprob": -0.01, "bytes": list(piece.encode())}]
            alts += [{"token": f"{piece}{k}", "logprob": -5.0 - k, "bytes": list(f"{piece}{k}".encode())}
                     for k in range(1, top)]
            alts, chosen = alts[:top], -0.01
        out.append({"token": piece, "logprob": chosen, "bytes": list(piece.encode()), "top_logprobs": alts[:top]})
    return out


def _parse_training(data: bytes, method: str) -> tuple[list[tuple[str, str]], str | None]:
    """``(prompt, reply)`` pairs of a training file, or why OpenAI would reject it."""
    samples: list[tuple[str, str]] = []
    for line_no, line in enumerate(data.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError:
            return [], f"Invalid file format. Line {line_no} is not valid JSON."
        if method == "dpo":
            ok = isinstance(row, dict) and isinstance(row.get("input"), dict) and row.get("preferred_output")
            if not ok:
                return [], f"Invalid file format. Line {line_no}: expected input, preferred_output and non_preferred_output."
            prompt = _last_user_text(row["input"].get("messages") or [])
            samples.append((prompt, _text(row["preferred_output"][-1].get("content"))))
            continue
        messages = row.get("messages") if isinstance(row, dict) else None
        if not isinstance(messages, list) or not messages or messages[-1].get("role") != "assistant":
            return [], f"Invalid file format. Line {line_no}, key \"messages\": the last message must be from the assistant."
        samples.append((_last_user_text(messages[:-1]), _text(messages[-1].get("content"))))
    if len(samples) < 10:
        return samples, f"Training file has {len(samples)} example(s), but must have at least 10 examples"
    return samples, None


def _parse_multipart(content_type: str, raw: bytes) -> dict[str, Any]:
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + raw
    )
    out: dict[str, Any] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True) or b""
        filename = part.get_filename()
        out[str(name)] = (filename, payload) if filename is not None else payload.decode()
    return out


class _Handler(BaseHTTPRequestHandler):
    server_fake: FakeOpenAIServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _serve(self) -> None:
        raw = self._read_body()
        url = urlsplit(self.path)
        query = parse_qsl(url.query, keep_blank_values=True)
        answer = self.server_fake.handle(self.command, url.path, query, self.headers, raw)
        if answer is None:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        status, payload, headers = answer
        data = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json" if not isinstance(payload, str) else "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-request-id", f"req_{uuid.uuid4().hex[:16]}")
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_DELETE = _serve


@pytest.fixture
def openai_fake() -> Iterator[FakeOpenAIServer]:
    """A started ``FakeOpenAIServer`` (jobs finish after a few status polls)."""
    with FakeOpenAIServer() as server:
        yield server


__all__ = ["Exchange", "FakeOpenAIServer", "openai_fake"]
