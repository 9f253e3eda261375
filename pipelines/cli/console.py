"""What the CLI writes: result lines to stdout (`out`), log lines to stderr (`setup_logging`)."""

from __future__ import annotations

import json
import logging
import os
import sys


def out(text: str = "") -> None:
    sys.stdout.write(text + "\n")


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for log shippers."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


class _CurrentStderr:
    """Whatever `sys.stderr` is at the time of writing: the live progress display swaps it
    for a proxy that prints log lines above the bars."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


class _Handler(logging.StreamHandler):  # type: ignore[type-arg]
    """labsync's one stderr handler. dlt reuses a handler it finds on its logger and sets its
    own formatter on it: the formatter is fixed here so dlt's lines come out as ours."""

    def __init__(self, formatter: logging.Formatter) -> None:
        super().__init__(_CurrentStderr())  # type: ignore[arg-type]
        self.formatter = formatter

    def setFormatter(self, fmt: logging.Formatter | None) -> None:
        pass


class _RepeatsOnce(logging.Filter):
    """dlt warns once per table and load that a Parquet lake appends instead of merging
    (expected: the lake views keep each row's latest version); say it once a process."""

    said = False

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith("dlt") and str(record.msg).startswith("Falling back to"):
            if self.said:
                return False
            self.said = True
        return True


class _NoTraces(logging.Filter):
    """dlt logs some failures with their exception trace, attached or inside the message (a
    load job that hit a full disk); labsync reports each failure in one line, so below DEBUG
    a trace is cut down to its last line, the exception."""

    TRACE = "Traceback (most recent call last):"

    def filter(self, record: logging.LogRecord) -> bool:
        record.exc_info, record.exc_text, record.stack_info = None, None, None
        message = record.getMessage()
        if self.TRACE in message:
            head, trace = message.split(self.TRACE, 1)
            lines = [line for line in trace.splitlines() if line.strip()]
            record.msg, record.args = head + (lines[-1].strip() if lines else ""), None
        return True


def setup_logging(level: str, log_format: str = "text") -> None:
    """One handler for labsync's, dlt's (which stops propagation) and Python warnings' lines;
    with json also the root logger's, so urllib3's and other libraries' lines are JSON too."""
    os.environ.setdefault("RUNTIME__LOG_LEVEL", "WARNING")  # dlt's own chatter
    formatter = (
        JsonFormatter()
        if log_format == "json"
        else logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S")
    )
    handler = _Handler(formatter)
    handler.addFilter(_RepeatsOnce())
    if level.upper() != "DEBUG":
        handler.addFilter(_NoTraces())
    logging.captureWarnings(True)
    for name in ("labsync", "dlt", "py.warnings", *([""] if log_format == "json" else [])):
        log = logging.getLogger(name)
        log.handlers[:] = [h for h in log.handlers if not isinstance(h, _Handler)]
        log.addHandler(handler)
        log.propagate = name == ""
    labsync = logging.getLogger("labsync")
    labsync.handlers[:] = [handler]
    labsync.setLevel(level.upper())
    logging.getLogger("urllib3").setLevel(logging.DEBUG if level == "DEBUG" else logging.WARNING)
