"""The :class:`Emulator`: data stores + vendor APIs + control API behind one loopback server."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from datetime import datetime
from types import TracebackType

from .auth import DatadogKeyAuth
from .control import register_control
from .faults import FaultInjector
from .llm_obs.api import LLMObsApi
from .llm_obs.control import register_llm_obs_control
from .llm_obs.data import LLMObsStore
from .llm_obs.generator import LLMObsSizes
from .model_lab.api import ModelLabApi
from .model_lab.control import register_model_lab_control
from .model_lab.data import ModelLabStore
from .posthog.api import RATE_LIMIT_NAME as POSTHOG_RATE_LIMIT_NAME
from .posthog.api import PostHogApi
from .posthog.control import register_posthog_control
from .posthog.data import PostHogStore
from .ratelimit import RateLimiter, RateLimitSpec, parse_rate_limit
from .router import Router
from .server import Dispatcher, EmulatorHTTPServer, RequestLog, RequestRecord

logger = logging.getLogger(__name__)


class Emulator:
    """A vendor-API emulator serving on loopback.

    Args:
        seed: Data generator seed (same seed + sizes = byte-identical responses).
        projects: Number of generated Model Lab projects.
        runs: Number of generated Model Lab runs.
        faults: Random-fault spec (see :mod:`emulator.faults`) or None.
        rate_limit: ``(n_requests, period_seconds)``, ``"N/SECONDS"`` or None.
        api_key: Expected ``DD-API-KEY`` (None = any non-empty value).
        app_key: Expected ``DD-APPLICATION-KEY`` (None = any non-empty value).
        port: TCP port (0 = pick a free one).
        host: Bind address (loopback by default).
        llm_obs_projects, llm_obs_datasets, llm_obs_records, llm_obs_experiments, llm_obs_spans,
            llm_obs_queues, llm_obs_interactions: generated LLM Observability sizes (see
            :class:`~emulator.llm_obs.generator.LLMObsSizes`; datasets and experiments are per
            project, records per dataset, spans per experiment, interactions per queue).
        posthog_project_id: The emulated PostHog project / environment id.
        posthog_api_key: Expected PostHog personal API key (None = any non-empty Bearer key).
        posthog_scopes: The key's scopes (``("*",)`` = all; None = legacy key without scopes).
        posthog_datasets, posthog_items_per_dataset, posthog_evaluations,
            posthog_evaluation_events, posthog_event_days: generated PostHog sizes (items: a
            count or an inclusive ``(low, high)`` range per dataset).
        posthog_now: PostHog generation anchor (default: the current UTC hour).
        posthog_rate_limit: PostHog per-key REST throttle, e.g. ``"480/60,4800/3600"``.
        posthog_query_rate_limit: PostHog Query API throttle, e.g. ``"240/60,2400/3600"``.
        posthog_query_concurrency: PostHog queries running at once (None = unlimited).

    Example::

        with Emulator(seed=1, projects=4, runs=300) as emu:
            requests.get(f"{emu.base_url}/api/v2/model-lab-api/runs", headers=...)
    """

    def __init__(
        self,
        seed: int = 1,
        projects: int = 4,
        runs: int = 300,
        faults: str | None = None,
        rate_limit: RateLimitSpec | str | None = None,
        api_key: str | None = None,
        app_key: str | None = None,
        port: int = 0,
        host: str = "127.0.0.1",
        llm_obs_projects: int = 2,
        llm_obs_datasets: int = 3,
        llm_obs_records: int = 24,
        llm_obs_experiments: int = 4,
        llm_obs_spans: int = 20,
        llm_obs_queues: int = 2,
        llm_obs_interactions: int = 6,
        posthog_project_id: int = 1,
        posthog_api_key: str | None = None,
        posthog_scopes: Iterable[str] | None = ("*",),
        posthog_datasets: int = 3,
        posthog_items_per_dataset: int | tuple[int, int] = (10, 40),
        posthog_evaluations: int = 4,
        posthog_evaluation_events: int = 300,
        posthog_event_days: int = 14,
        posthog_now: datetime | str | None = None,
        posthog_rate_limit: str | RateLimitSpec | None = None,
        posthog_query_rate_limit: str | RateLimitSpec | None = None,
        posthog_query_concurrency: int | None = None,
    ) -> None:
        self.seed = seed
        self.host = host
        self._requested_port = port
        self.model_lab = ModelLabStore(seed=seed, projects=projects, runs=runs)
        self.llm_obs = LLMObsStore(
            seed=seed,
            sizes=LLMObsSizes(
                projects=llm_obs_projects,
                datasets=llm_obs_datasets,
                records=llm_obs_records,
                experiments=llm_obs_experiments,
                spans=llm_obs_spans,
                queues=llm_obs_queues,
                interactions=llm_obs_interactions,
            ),
        )
        self.posthog = PostHogStore(
            seed=seed,
            project_id=posthog_project_id,
            datasets=posthog_datasets,
            items_per_dataset=posthog_items_per_dataset,
            evaluations=posthog_evaluations,
            evaluation_events=posthog_evaluation_events,
            event_days=posthog_event_days,
            now=posthog_now,
            api_key=posthog_api_key,
            scopes=posthog_scopes,
            rate_limit=posthog_rate_limit,
            query_rate_limit=posthog_query_rate_limit,
            query_concurrency=posthog_query_concurrency,
        )
        self.faults = FaultInjector(faults)
        self._limiter = RateLimiter(parse_rate_limit(rate_limit))
        # PostHog throttles itself (its own 429 body, no X-RateLimit headers)
        self._limiter.exempt(POSTHOG_RATE_LIMIT_NAME)
        self._log = RequestLog()
        self.router = Router()
        ModelLabApi(self.model_lab, DatadogKeyAuth(api_key, app_key)).register(self.router)
        LLMObsApi(self.llm_obs, DatadogKeyAuth(api_key, app_key)).register(self.router)
        PostHogApi(self.posthog).register(self.router)
        register_control(self.router, self)
        register_model_lab_control(self.router, self.model_lab)
        register_llm_obs_control(self.router, self.llm_obs)
        register_posthog_control(self.router, self.posthog)
        self._dispatcher = Dispatcher(self.router, self.faults, self._limiter, self._log)
        self._server: EmulatorHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # lifecycle ----------------------------------------------------------------------------

    def start(self) -> Emulator:
        """Bind and serve in a daemon thread; returns self."""
        if self._server is not None:
            return self
        self._server = EmulatorHTTPServer((self.host, self._requested_port), self._dispatcher)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=f"emulator-{self._server.port}",
            daemon=True,
        )
        self._thread.start()
        logger.info("emulator serving on %s", self.base_url)
        return self

    def serve_forever(self) -> None:
        """Serve in the calling thread until interrupted (used by the CLI)."""
        if self._server is None:
            self._server = EmulatorHTTPServer((self.host, self._requested_port), self._dispatcher)
        logger.info("emulator serving on %s", self.base_url)
        try:
            self._server.serve_forever(poll_interval=0.2)
        finally:
            self._server.close_connections()
            self._server.server_close()
            self._server = None

    def stop(self) -> None:
        """Stop serving and close every open connection."""
        server, thread = self._server, self._thread
        self._server, self._thread = None, None
        if server is None:
            return
        server.shutdown()
        server.close_connections()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # properties ---------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """True while the server is bound."""
        return self._server is not None

    @property
    def port(self) -> int:
        """The bound port (RuntimeError before :meth:`start`)."""
        if self._server is None:
            raise RuntimeError("emulator is not started")
        return int(self._server.port)

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://{self.host}:{self.port}"

    @property
    def rate_limit(self) -> RateLimitSpec | None:
        """Current ``(n_requests, period_seconds)`` or None; assignable at runtime."""
        return self._limiter.spec

    @rate_limit.setter
    def rate_limit(self, value: RateLimitSpec | str | None) -> None:
        self._limiter.configure(parse_rate_limit(value))

    # request log ----------------------------------------------------------------------------

    @property
    def requests(self) -> list[RequestRecord]:
        """Snapshot of the API request log (control requests are not logged)."""
        return self._log.snapshot()

    def clear_requests(self) -> None:
        """Empty the request log."""
        self._log.clear()

    def on_request(self, callback: Callable[[RequestRecord], None] | None) -> None:
        """Call ``callback(record)`` before serving each API request (None removes it)."""
        self._dispatcher.callback = callback
