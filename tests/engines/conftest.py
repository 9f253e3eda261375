"""One PostgreSQL server and one Spark session for the engine tests (one xdist worker runs
them all: they share the `engines` xdist group)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.engines import pgserver


@pytest.fixture(scope="session")
def pg_server() -> Iterator[pgserver.Server]:
    with pgserver.running() as server:
        yield server


@pytest.fixture(scope="session")
def spark_session() -> Iterator[object]:
    from pipelines import spark

    session = spark.session()
    yield session
    session.stop()
