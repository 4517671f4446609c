"""A fake Tinker HTTP server on 127.0.0.1 that the real ``tinker`` SDK talks to.

Targets **tinker 0.38.0** (the version pinned in ``uv.lock``): the endpoints, request bodies
and reply shapes below were read from that SDK's source. ``forward_backward`` arrives as a
protobuf ``ForwardBackwardRequest`` and its result, like ``sample``'s, is returned from
``/api/v1/retrieve_future`` as protobuf (``Accept: application/x-protobuf``); everything else
is JSON. Requests are answered asynchronously the way Tinker does: a POST returns a future
(``{"request_id": ...}``) and the client polls ``retrieve_future`` for the result.

The client config it serves turns off JWT exchange (so a ``tml-`` API key is used directly),
the pyqwest transport, zstd request compression and the session-wide futures poller. Every
request sleeps ``latency`` seconds first (the benchmark's injected network latency) and
counts in ``requests``. ``hold_optim_after = n`` makes every later optimizer step hang (a
stalled connection) until ``release()``, to freeze a client mid-run. ``fail_requests`` makes the ``n``-th result of an operation a
server-side failure (``RequestFailedError`` in the SDK) to exercise retries.

Run alone: ``python -m tests.fakes.tinker_server`` (prints the base URL).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.fakes.tinker_world import FakeServiceError, FakeTinkerWorld

TARGET_TINKER_VERSION = "0.38.0"
API_KEY_PREFIX = "tml-"

CLIENT_CONFIG = {
    "pjwt_auth_enabled": False,
    "credential_default_source": "api_key",
    "use_pyqwest_transport": False,
    "proto_compress_fwdbwd": False,
    "parallel_fwdbwd_chunks": True,
    "sample_use_retrieve_futures": False,
    "sample_join_sampling_session": False,
    "sample_enable_stuck_detection": False,
    "custom_loss_server_side": False,
}


def _forward_backward_reply(logprobs: list[list[float]]) -> bytes:
    import numpy as np
    from tinker.proto import tinker_public_pb2 as pb

    out = pb.ForwardBackwardOutput()
    out.loss_fn_output_type = "ArrayRecord"
    record = out.loss_fn_outputs.add()
    record.num_datums = len(logprobs)
    tensor = record.fields["logprobs"]
    tensor.dtype = pb.DTYPE_FLOAT32
    arrays = [np.asarray(lp, dtype=np.float32) for lp in logprobs]
    offsets = np.cumsum([0] + [a.nbytes for a in arrays]).astype(np.int64)
    tensor.data = b"".join(a.tobytes() for a in arrays)
    tensor.offsets = offsets.tobytes()
    total = -float(sum(a.sum() for a in arrays))
    out.metrics["loss:sum"] = total
    return out.SerializeToString()


def _sample_reply(sequences: list[tuple[list[int], str]]) -> bytes:
    import numpy as np
    from tinker.proto import tinker_public_pb2 as pb

    out = pb.SampleResponse()
    for tokens, reason in sequences:
        seq = out.sequences.add()
        seq.tokens = np.asarray(tokens, dtype=np.int32).tobytes()
        seq.logprobs = np.full(len(tokens), -0.5, dtype=np.float32).tobytes()
        seq.stop_reason = pb.STOP_REASON_LENGTH if reason == "length" else pb.STOP_REASON_STOP
    return out.SerializeToString()


def _parse_forward_backward(
    body: bytes,
) -> tuple[str, list[tuple[list[int], list[int], list[float]]]]:
    import numpy as np
    from tinker.proto import tinker_public_pb2 as pb

    request = pb.ForwardBackwardRequest()
    request.ParseFromString(body)
    datums = []
    for datum in request.data:
        tokens: list[int] = []
        for chunk in datum.model_input:
            tokens.extend(np.frombuffer(chunk.encoded_text.tokens, dtype=np.int32).tolist())
        targets = np.frombuffer(datum.loss_fn_inputs["target_tokens"].dense, dtype=np.int64)
        weights = np.frombuffer(datum.loss_fn_inputs["weights"].dense, dtype=np.float32)
        datums.append((tokens, targets.tolist(), weights.tolist()))
    return request.model_id, datums


class FakeTinkerServer:
    """Serve ``world`` over HTTP on 127.0.0.1 (a random free port) in a background thread."""

    def __init__(
        self,
        world: FakeTinkerWorld | None = None,
        *,
        latency: float = 0.0,
        api_key_prefix: str = API_KEY_PREFIX,
    ) -> None:
        self.world = world or FakeTinkerWorld()
        self.latency = latency
        self.api_key_prefix = api_key_prefix
        self.requests: dict[str, int] = {}
        self.seen_api_keys: set[str] = set()
        self.fail_requests: dict[str, set[int]] = {}
        self._futures: dict[str, tuple[str, Any]] = {}
        #: Optimizer-step POSTs after the ``hold_optim_after``-th hang until ``release()``.
        self.hold_optim_after: int | None = None
        self.optim_posts = 0
        self.held = threading.Event()
        self._release = threading.Event()
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        assert self._httpd is not None, "server not started"
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeTinkerServer:
        server = self

        class Handler(_Handler):
            fake = server

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def release(self) -> None:
        """Stop holding optimizer steps; requests held so far fail with 503."""
        self.hold_optim_after = None
        self._release.set()

    def stop(self) -> None:
        self._release.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> FakeTinkerServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- futures ------------------------------------------------------------------------------
    def _future(self, op: str, compute: Any) -> dict[str, Any]:
        """Run ``compute`` now (requests are applied in submission order) and park its
        result for ``retrieve_future``."""
        request_id = uuid.uuid4().hex
        with self._lock:
            n = self.requests.get(f"result:{op}", 0) + 1
            self.requests[f"result:{op}"] = n
            failing = n in self.fail_requests.get(op, set())
        if failing:
            result: tuple[str, Any] = (
                "json",
                {"error": f"injected server failure ({op} #{n})", "category": "server"},
            )
        else:
            try:
                self.world.count(op)
                result = compute()
            except FakeServiceError as exc:
                category = "user" if 400 <= exc.status_code < 500 else "server"
                result = ("json", {"error": str(exc), "category": category})
        with self._lock:
            self._futures[request_id] = result
        return {"request_id": request_id}

    def handle(self, method: str, path: str, body: bytes) -> tuple[int, str, bytes]:
        """Route one request: ``(status, content type, body)``."""
        op = path.rsplit("/api/v1/", 1)[-1]
        with self._lock:
            self.requests[op] = self.requests.get(op, 0) + 1
        if op == "forward_backward":
            model_id, datums = _parse_forward_backward(body)
            reply = self._future(
                "forward_backward",
                lambda: (
                    "proto",
                    _forward_backward_reply(self.world.forward_backward(model_id, datums)),
                ),
            )
            return _json(reply)
        data = json.loads(body) if body else {}
        world = self.world
        if op == "client/config":
            return _json(CLIENT_CONFIG)
        if op == "client/dynamic_config":
            return _json({"refresh_interval_sec": 3600})
        if op == "create_session":
            return _json(
                {"type": "create_session", "session_id": f"session-{uuid.uuid4().hex[:8]}"}
            )
        if op == "session_heartbeat":
            return _json({"type": "session_heartbeat"})
        if op.startswith("sessions/") and op.endswith("/finish"):
            return _json(None)
        if op == "get_server_capabilities":
            return _json({"supported_models": world.supported_models})
        if op == "healthz":
            return _json({"status": "ok"})
        if op == "create_model":
            rank = (data.get("lora_config") or {}).get("rank", 32)
            return _json(
                self._future(
                    "create_model",
                    lambda: (
                        "json",
                        {
                            "type": "create_model",
                            "model_id": world.create_model(data["base_model"], rank),
                        },
                    ),
                )
            )
        if op == "load_weights":
            model_id = f"{data['session_id']}:train:{data['model_seq_id']}"

            def load() -> tuple[str, Any]:
                new_id = world.load_state(data["path"], bool(data.get("optimizer")))
                with world.lock:  # the SDK addresses the model by its derived id
                    world.models[model_id] = world.models.pop(new_id)
                    world.models[model_id].model_id = model_id
                return "json", {"type": "load_weights", "path": data["path"], "model_id": model_id}

            return _json(self._future("load_state", load))
        if op == "get_info":
            model = world.models.get(data["model_id"])
            return _json(
                {
                    "type": "get_info",
                    "model_id": data["model_id"],
                    "model_data": {"model_name": model.base_model if model else None},
                    "is_lora": True,
                    "lora_rank": model.rank if model else None,
                    "model_name": model.base_model if model else None,
                }
            )
        if op == "optim_step":
            with self._lock:
                self.optim_posts += 1
                hold = (
                    self.hold_optim_after is not None and self.optim_posts > self.hold_optim_after
                )
            if hold:  # a hung request: answered (with an error) only once released
                self.held.set()
                self._release.wait()
                return _json({"detail": "released after hold"}, 503)
            params = (
                data.get("adam_params") or data.get("optimizer_params") or data.get("optim_params")
            )
            lr = float(params["learning_rate"])
            return _json(
                self._future(
                    "optim_step",
                    lambda: ("json", world.optim_step(data["model_id"], lr) or {"metrics": {}}),
                )
            )
        if op == "save_weights":
            return _json(
                self._future(
                    "save_state",
                    lambda: (
                        "json",
                        {
                            "type": "save_weights",
                            "path": world.save_state(data["model_id"], data["path"]),
                        },
                    ),
                )
            )
        if op == "save_weights_for_sampler":
            return _json(
                self._future(
                    "save_weights_for_sampler",
                    lambda: (
                        "json",
                        {
                            "type": "save_weights_for_sampler",
                            "path": world.save_for_sampler(data["model_id"], data["path"]),
                        },
                    ),
                )
            )
        if op == "create_sampling_session":
            try:
                sampler = world.create_sampler(data.get("model_path"), data.get("base_model"))
            except FakeServiceError as exc:
                return _json({"detail": str(exc)}, exc.status_code)
            return _json({"type": "create_sampling_session", "sampling_session_id": sampler})
        if op.startswith("samplers/"):
            sampler_id = op.split("/", 1)[1]
            info = world.samplers.get(sampler_id)
            if info is None:
                return _json({"detail": "unknown sampler"}, 404)
            return _json({"sampler_id": sampler_id, **info})
        if op == "asample":
            prompt: list[int] = []
            for chunk in data["prompt"]["chunks"]:
                prompt.extend(chunk["tokens"])
            n = int(data.get("num_samples", 1))
            reply = self._future(
                "sample",
                lambda: (
                    "proto",
                    _sample_reply(
                        world.sample(
                            data["sampling_session_id"], prompt, data["sampling_params"], n
                        )
                    ),
                ),
            )
            reply["sample_sequence_ids"] = [f"seq-{uuid.uuid4().hex[:8]}" for _ in range(n)]
            return _json(reply)
        if op == "retrieve_future":
            with self._lock:
                result = self._futures.pop(data["request_id"], None)
            if result is None:
                return _json({"detail": "unknown or expired request"}, 410)
            kind, payload = result
            if kind == "proto":
                return 200, "application/x-protobuf", payload
            return _json(payload)
        if op == "telemetry":
            return _json({"status": "accepted"})
        return _json({"detail": f"fake tinker: no route {method} {path}"}, 404)


def _json(payload: Any, status: int = 200) -> tuple[int, str, bytes]:
    return status, "application/json", json.dumps(payload).encode()


class _Handler(BaseHTTPRequestHandler):
    fake: FakeTinkerServer
    protocol_version = "HTTP/1.1"
    # Headers and body in one send, no Nagle: otherwise delayed ACKs add ~40 ms per request.
    disable_nagle_algorithm = True
    wbufsize = 1 << 16

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return None

    def _serve(self, method: str) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        fake = self.fake
        if fake.latency:
            time.sleep(fake.latency)
        key = self.headers.get("x-api-key") or ""
        if not key.startswith(fake.api_key_prefix):
            status, ctype, payload = _json({"detail": "invalid API key"}, 401)
        else:
            with fake._lock:
                fake.seen_api_keys.add(key)
            try:
                status, ctype, payload = fake.handle(method, self.path, body)
            except Exception as exc:  # a bug in the fake: make it visible to the test
                status, ctype, payload = _json({"detail": f"fake error: {exc!r}"}, 500)
        self.send_response(status)
        self.send_header("content-type", ctype)
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_POST(self) -> None:
        self._serve("POST")

    def do_GET(self) -> None:
        self._serve("GET")


if __name__ == "__main__":
    with FakeTinkerServer() as server:
        print(server.base_url, flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
