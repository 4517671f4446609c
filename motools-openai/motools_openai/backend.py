"""``OpenAITrainingBackend``: supervised and DPO fine-tuning through the OpenAI API.

``train()`` checks everything locally first (dataset format and OpenAI's own rules,
hyperparameters, suffix, seed, metadata) and only then uploads the file, waits a bounded time
for it to be processed and creates the job. Job creation is made idempotent: each submission
carries a ``motools_submission`` metadata tag, and after a transient failure the backend looks
the tag up before trying again, so a dropped connection never pays for two jobs.

The API key comes from ``api_key=`` or ``OPENAI_API_KEY``. It is held only by the SDK client
and never enters state, reprs, logs or error messages. The SDK is imported on first use.
"""

from __future__ import annotations

import functools
import logging
import os
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from motools.datasets import DatasetValidationError, JSONLDataset
from motools.errors import TrainingError, ValidationError
from motools.polling import Backoff, retry_async
from motools.training.base import TrainingBackend
from motools_openai.errors import (
    AUTH_HINT,
    OpenAIAuthenticationError,
    is_transient,
    retry_after,
    translate,
)
from motools_openai.run import NAME, OpenAITrainingRun

if TYPE_CHECKING:
    from openai import AsyncOpenAI

    from motools.datasets import Problem

log = logging.getLogger("motools_openai")
T = TypeVar("T")

SUBMISSION_KEY = "motools_submission"
TRAIN_OPTIONS = ("method", "seed", "validation_dataset", "metadata", "submission")


class _Secret:
    """Holds the API key; prints as ``***`` wherever it ends up."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "'***'"

    __str__ = __repr__


class OpenAITrainingBackend(TrainingBackend):
    """Fine-tune OpenAI models.

    ``api_key`` (default ``$OPENAI_API_KEY``), ``base_url`` (default the SDK's, or
    ``$OPENAI_BASE_URL``), ``organization`` and ``client`` (an ``openai.AsyncOpenAI`` to use
    as is) say where jobs go. ``poll_backoff`` overrides how runs poll
    (``{"initial": s, "maximum": s, "factor": f}``); ``retry_backoff`` and ``retry_attempts``
    how transient failures are retried around each call; ``file_wait_timeout`` bounds the wait
    for an uploaded file to be processed.
    """

    name = NAME
    cache_version = "1"
    #: Every job carries a ``motools_submission`` metadata tag: a job can be found by it.
    supports_submission_lookup = True

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        client: AsyncOpenAI | None = None,
        organization: str | None = None,
        *,
        max_retries: int = 2,
        timeout: float = 60.0,
        poll_backoff: Mapping[str, float] | None = None,
        retry_backoff: Mapping[str, float] | None = None,
        retry_attempts: int = 6,
        file_wait_timeout: float = 300.0,
        file_poll_interval: float = 2.0,
    ) -> None:
        key = api_key or os.environ.get("OPENAI_API_KEY") or None
        self._api_key = _Secret(key) if key else None
        self.base_url = base_url
        self.organization = organization
        self.max_retries = max_retries
        self.timeout = timeout
        self.poll_backoff = dict(poll_backoff) if poll_backoff else None
        self.retry_backoff = dict(retry_backoff or {"initial": 1.0, "maximum": 30.0, "factor": 2.0})
        self.retry_attempts = retry_attempts
        self.file_wait_timeout = file_wait_timeout
        self.file_poll_interval = file_poll_interval
        self._client = client

    def __repr__(self) -> str:
        key = "set" if self._api_key or self._client else "missing"
        return f"OpenAITrainingBackend(base_url={self.base_url!r}, api_key=<{key}>)"

    # -- plumbing ------------------------------------------------------------------------------
    @property
    def client(self) -> AsyncOpenAI:
        """The SDK client, made on first use (raises if no key is configured)."""
        if self._client is None:
            if self._api_key is None:
                raise OpenAIAuthenticationError(f"No OpenAI API key configured. {AUTH_HINT}")
            from openai import AsyncOpenAI

            self._client = AsyncOpenAI(
                api_key=self._api_key.get(),
                base_url=self.base_url,
                organization=self.organization,
                max_retries=self.max_retries,
                timeout=self.timeout,
            )
        return self._client

    @property
    def _secret(self) -> str | None:
        return self._api_key.get() if self._api_key else None

    async def call(self, action: str, func: Callable[[], Awaitable[T]], *, job_id: str | None = None) -> T:
        """Run one SDK call, retrying transient failures; raise a motools error otherwise."""
        try:
            return await retry_async(
                func,
                is_transient=is_transient,
                attempts=self.retry_attempts,
                backoff=Backoff(
                    initial=self.retry_backoff.get("initial", 1.0),
                    maximum=self.retry_backoff.get("maximum", 30.0),
                    factor=self.retry_backoff.get("factor", 2.0),
                    minimum=0.0,
                ),
                retry_after=retry_after,
                describe=lambda exc: self._retry_reason(exc, action),
            )
        except OpenAIAuthenticationError:
            raise
        except Exception as exc:
            import openai

            if not isinstance(exc, openai.OpenAIError):
                raise
            error = translate(
                exc,
                action=action,
                secret=self._secret,
                job_id=job_id,
                url=self._public_url(),
                attempts=self.retry_attempts,
            )
            if isinstance(error, OpenAIAuthenticationError):
                raise error from None  # the server's text echoes part of the key
            raise error from exc

    def _public_url(self) -> str:
        """Where requests go, without credentials: for messages."""
        from motools.polling import public_url

        return public_url(str(self._client.base_url if self._client else self.base_url or ""))

    def _retry_reason(self, exc: BaseException, action: str) -> str:
        """What went wrong, for the line a retry prints (never the key)."""
        import openai

        if isinstance(exc, openai.APITimeoutError):
            return f"OpenAI at {self._public_url()} timed out trying to {action}"
        if isinstance(exc, openai.APIConnectionError):
            return f"cannot reach OpenAI at {self._public_url()} to {action}"
        if isinstance(exc, openai.APIStatusError):
            return f"OpenAI answered HTTP {exc.status_code} trying to {action}"
        return f"OpenAI failed to {action} ({type(exc).__name__})"

    # -- local checks ---------------------------------------------------------------------------
    def normalize_hyperparameters(
        self, hyperparameters: Mapping[str, Any] | None, method: str | None = None, **options: Any
    ) -> dict[str, Any]:
        from motools_openai import hyperparameters as hp

        if method is None:
            method = "dpo" if hyperparameters and "beta" in hyperparameters else "supervised"
        return hp.normalise(hyperparameters, method)

    def check_dataset(
        self, dataset: JSONLDataset, model: str | None = None, method: str | None = None
    ) -> list[Problem]:
        """Every reason OpenAI would reject ``dataset`` (format, size, token limits)."""
        from motools_openai.checks import check_dataset

        return check_dataset(dataset, model, method)

    def estimate_cost(
        self, dataset: JSONLDataset, model: str, hyperparameters: Mapping[str, Any] | None = None,
        method: str | None = None,
    ) -> dict[str, Any]:
        """Training tokens x epochs x the model's price (tokens counted offline with tiktoken)."""
        from motools_openai import hyperparameters as hp
        from motools_openai.checks import detect_method
        from motools_openai.pricing import PRICES_CHECKED, default_epochs, model_info
        from motools_openai.tokens import (
            count_example_tokens,
            encoding_name_for_model,
            get_encoding,
        )

        method = method or detect_method(dataset)
        checked = hp.validate(hyperparameters, method)
        info = model_info(model)
        encoding = get_encoding(encoding_name_for_model(model))
        limit = info.max_tokens_per_example if info else None
        tokens = 0
        for sample in dataset:
            n = count_example_tokens(sample, encoding)
            tokens += min(n, limit) if limit else n
        epochs = checked.get("n_epochs") or default_epochs(len(dataset))
        billed = tokens * epochs
        price = info.usd_per_million_training_tokens if info else None
        return {
            "model": model,
            "method": method,
            "examples": len(dataset),
            "tokens_per_epoch": tokens,
            "n_epochs": epochs if "n_epochs" in checked else f"{epochs} (auto)",
            "billed_tokens": billed,
            "usd_per_1m_tokens": price,
            "estimated_usd": None if price is None else round(billed * price / 1e6, 4),
            "prices_as_of": PRICES_CHECKED if price is not None else "unknown model: no price",
        }

    def _validate_request(
        self, dataset: JSONLDataset, model: str, hyperparameters: Mapping[str, Any] | None,
        suffix: str | None, kwargs: Mapping[str, Any],
    ) -> tuple[str, dict[str, Any]]:
        from motools_openai import hyperparameters as hp
        from motools_openai.checks import detect_method, purpose_for

        unknown = sorted(set(kwargs) - set(TRAIN_OPTIONS))
        if unknown:
            raise ValidationError(
                f"openai backend: unknown train() options {unknown} (accepted: {', '.join(TRAIN_OPTIONS)})"
            )
        if not isinstance(model, str) or not model.strip():
            raise ValidationError("openai backend: model must be a non-empty string such as 'gpt-4o-mini-2024-07-18'")
        method = kwargs.get("method") or detect_method(dataset)
        checked = hp.validate(hyperparameters, method)
        if suffix is not None and (not isinstance(suffix, str) or not 1 <= len(suffix) <= 64):
            raise ValidationError(f"openai backend: suffix must be 1 to 64 characters, got {suffix!r}")
        seed = kwargs.get("seed")
        if seed is not None and (type(seed) is not int or not 0 <= seed <= 2_147_483_647):
            raise ValidationError(f"openai backend: seed must be an integer in [0, 2147483647], got {seed!r}")
        metadata = kwargs.get("metadata")
        if metadata is not None:
            if not isinstance(metadata, Mapping) or len(metadata) > 15:
                raise ValidationError("openai backend: metadata must be a mapping of at most 15 string pairs")
            for key, value in metadata.items():
                if not (isinstance(key, str) and isinstance(value, str) and len(key) <= 64 and len(value) <= 512):
                    raise ValidationError(
                        f"openai backend: metadata[{key!r}] must map a string (<= 64 chars) to a string (<= 512 chars)"
                    )
        problems = self.check_dataset(dataset, model, method)
        if problems:
            raise DatasetValidationError(dataset.source or "training dataset", problems)
        validation = kwargs.get("validation_dataset")
        if validation is not None:
            if not isinstance(validation, JSONLDataset):
                raise ValidationError("openai backend: validation_dataset must be a JSONLDataset")
            vproblems = validation.problems(purpose_for(method))
            if vproblems:
                raise DatasetValidationError(validation.source or "validation dataset", vproblems)
        return method, checked

    # -- submission --------------------------------------------------------------------------------
    async def _upload(self, dataset: JSONLDataset, role: str) -> str:
        client = self.client
        data = dataset.to_jsonl_bytes()
        filename = f"motools-{role}-{dataset.content_hash[:12]}.jsonl"
        uploaded = await self.call(
            f"upload the {role} file",
            lambda: client.files.create(file=(filename, data, "application/jsonl"), purpose="fine-tune"),
        )
        await self._wait_for_file(uploaded, role)
        return str(uploaded.id)

    async def _wait_for_file(self, uploaded: Any, role: str) -> None:
        """Wait (bounded) until the file is processed; a file in ``error`` raises.

        The API marks a file's ``status`` as deprecated: job creation validates the file
        itself, so once ``file_wait_timeout`` passes the job is created anyway.
        """
        client = self.client
        deadline = time.monotonic() + self.file_wait_timeout
        backoff = Backoff(initial=self.file_poll_interval, maximum=max(self.file_poll_interval, 10.0))
        current = uploaded
        while True:
            status = getattr(current, "status", None)
            if status == "error":
                details = getattr(current, "status_details", None) or "no details given"
                raise TrainingError(
                    f"OpenAI could not process the {role} file {current.id}: {details}",
                    code="file_processing_error",
                )
            if status != "uploaded":  # processed, or a server that no longer reports it
                return
            if time.monotonic() >= deadline:
                log.warning("file %s still %s after %ss; creating the job anyway", current.id, status,
                            self.file_wait_timeout)
                return
            await backoff.sleep()
            current = await self.call(
                f"check the {role} file", functools.partial(client.files.retrieve, current.id)
            )

    async def _create_job(self, body: dict[str, Any], submission: str) -> Any:
        client = self.client
        once = client.with_options(max_retries=0)  # retried below, after checking it did not land

        async def attempt() -> Any:
            try:
                return await once.fine_tuning.jobs.create(**body)
            except Exception as exc:
                if is_transient(exc):
                    page = await once.fine_tuning.jobs.list(metadata={SUBMISSION_KEY: submission}, limit=1)
                    if page.data:
                        log.info("job %s was created despite the error; not submitting again", page.data[0].id)
                        return page.data[0]
                raise

        return await self.call(f"create a fine-tuning job on {body['model']}", attempt)

    async def train(
        self,
        dataset: JSONLDataset,
        model: str,
        hyperparameters: Mapping[str, Any] | None = None,
        suffix: str | None = None,
        **kwargs: Any,
    ) -> OpenAITrainingRun:
        """Check, upload and submit; return the run without waiting for it.

        Options: ``method`` (``"supervised"`` or ``"dpo"``; default from the dataset's shape),
        ``seed``, ``validation_dataset`` (a ``JSONLDataset``) and ``metadata`` (string pairs).
        """
        method, checked = self._validate_request(dataset, model, hyperparameters, suffix, kwargs)
        _ = self.client  # fail on a missing key before uploading anything
        training_file = await self._upload(dataset, "training")
        validation_file = None
        if kwargs.get("validation_dataset") is not None:
            validation_file = await self._upload(kwargs["validation_dataset"], "validation")
        submission = str(kwargs.get("submission") or uuid.uuid4().hex)
        body: dict[str, Any] = {
            "model": model,
            "training_file": training_file,
            "method": {"type": method, method: {"hyperparameters": checked}},
            "metadata": {**(kwargs.get("metadata") or {}), SUBMISSION_KEY: submission},
        }
        if suffix is not None:
            body["suffix"] = suffix
        if kwargs.get("seed") is not None:
            body["seed"] = kwargs["seed"]
        if validation_file is not None:
            body["validation_file"] = validation_file
        job = await self._create_job(body, submission)
        log.info("created OpenAI fine-tuning job %s (%s on %s)", job.id, method, model)
        run = OpenAITrainingRun(
            self,
            {"backend": NAME, "job_id": job.id, "base_model": model, "method": method,
             "training_file": training_file, "validation_file": validation_file},
        )
        run.update_from_job(job)
        return run

    async def find_submitted(self, submission: str) -> OpenAITrainingRun | None:
        """The job created with this ``motools_submission`` tag, or None if there is none."""
        client = self.client
        page = await self.call(
            "look up a submitted job",
            lambda: client.fine_tuning.jobs.list(metadata={SUBMISSION_KEY: submission}, limit=1),
        )
        if not page.data:
            return None
        job = page.data[0]
        run = OpenAITrainingRun(
            self,
            {"backend": NAME, "job_id": job.id, "base_model": job.model,
             "method": _job_method(job), "training_file": job.training_file,
             "validation_file": job.validation_file},
        )
        run.update_from_job(job)
        return run

    async def resume(self, state: Mapping[str, Any]) -> OpenAITrainingRun:
        """Re-attach to the job in ``state`` (from ``run.to_state()``) and refresh it."""
        run = OpenAITrainingRun(self, state)
        await run.refresh()
        return run

    async def list_jobs(self, *, limit: int | None = None) -> list[dict[str, Any]]:
        """Fine-tuning jobs of this account, newest first (follows pagination)."""
        client = self.client

        async def fetch() -> list[dict[str, Any]]:
            out: list[dict[str, Any]] = []
            async for job in client.fine_tuning.jobs.list(limit=min(limit or 100, 100)):
                out.append(job.model_dump(mode="json"))
                if limit is not None and len(out) >= limit:
                    break
            return out

        return await self.call("list fine-tuning jobs", fetch)


def _job_method(job: Any) -> str:
    method = getattr(job, "method", None)
    kind = getattr(method, "type", None)
    return str(kind) if kind else "supervised"
