"""dlt's DuckDB destination with a delete-insert merge that fits the memory cap.

The delete.

dlt deletes the destination rows a merge replaces with
`WHERE EXISTS (SELECT 1 FROM staging s WHERE <primary key> OR <merge key>)`. For a child table
(merge key `run_id`, primary key `run_id, _position`) DuckDB plans that OR as a join of every
staged row with every key pair: 43M rows for the 10M `run_params` rows of a 1M-run full
refresh, out of memory under the 256MB cap ("failed to pin block"), 2.9 GB RSS under a 3GB
one. A row matching the primary key also matches a merge key that is part of it, so the merge
key alone selects the same rows, and its distinct staged values (1M run ids, not 10M rows)
make a small semi join: 0.8 CPU-s and within a 128MB cap on the same table.

The insert. dlt deduplicates the staged rows by primary key (`ROW_NUMBER()`, which DuckDB
runs as a hash aggregate over every staged key): 9.5 CPU-s and ~+270 MiB for 10M run params,
against 2 CPU-s and ~+120 MiB for a plain insert. Staging holds a key twice only if a resource
emitted it twice in one sync, or if a copy job ran twice (a kill after its insert, before dlt
marked it done). Tables whose resource emits each key at most once carry `ONCE_PER_KEY`; their
copy jobs record what they applied in the same transaction as their rows and skip a file
applied before, so their staging holds each key once and the merge inserts without the dedup.
Other destinations (Postgres) ignore the hint and keep dlt's dedup.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import dlt
from dlt.common.destination.client import FollowupJobRequest, PreparedTableSchema
from dlt.common.storages.load_storage import ParsedLoadJobFileName
from dlt.destinations.impl.duckdb.duck import DuckDbClient, DuckDbCopyJob
from dlt.destinations.sql_client import SqlClientBase
from dlt.destinations.sql_jobs import SqlMergeFollowupJob

# table hint: the table's resource emits each primary key at most once per sync
ONCE_PER_KEY = "x-labsync-once-per-key"
# in the staging dataset: the copy jobs of `ONCE_PER_KEY` tables applied, per load
APPLIED_JOBS = "_labsync_applied_jobs"


def delete_keys(primary_keys: Sequence[str], merge_keys: Sequence[str]) -> list[str] | None:
    """The keys whose staged values select the destination rows a merge replaces.

    None when only the OR of both keys does (a merge key that is not part of the primary key).
    """
    if not merge_keys:
        return list(primary_keys)
    if set(merge_keys) <= set(primary_keys) or not primary_keys:
        return list(merge_keys)
    return None


class KeyedMergeJob(SqlMergeFollowupJob):
    """delete-insert that deletes by the distinct staged values of one set of keys."""

    @classmethod
    def gen_key_table_clauses(
        cls,
        root_table_name: str,
        staging_root_table_name: str,
        primary_keys: Sequence[str],
        merge_keys: Sequence[str],
        for_delete: bool,
        source_filter: str | None = None,
    ) -> list[str]:
        keys = delete_keys(primary_keys, merge_keys)
        if not for_delete or source_filter or not keys:  # dlt's own clause (none of ours)
            return super().gen_key_table_clauses(
                root_table_name,
                staging_root_table_name,
                primary_keys,
                merge_keys,
                for_delete,
                **({"source_filter": source_filter} if source_filter else {}),
            )
        # keys are escaped identifiers already
        matches = " AND ".join(f"d.{key} = s.{key}" for key in keys)
        staged = f"SELECT DISTINCT {', '.join(keys)} FROM {staging_root_table_name}"
        return [
            f"FROM {root_table_name} as d"
            f" WHERE EXISTS (SELECT 1 FROM ({staged}) as s WHERE {matches})"
        ]

    @classmethod
    def gen_merge_sql(
        cls, table_chain: Sequence[PreparedTableSchema], sql_client: SqlClientBase[Any]
    ) -> list[str]:
        root = table_chain[0]
        if root.get(ONCE_PER_KEY) and len(table_chain) == 1:  # see `_OnceCopyJob`
            root = {**root, "x-stage-data-deduplicated": True}  # type: ignore[typeddict-unknown-key]
        return super().gen_merge_sql([root, *table_chain[1:]], sql_client)


class _OnceCopyJob(DuckDbCopyJob):
    """Copies a file into its staging table once per load, even when the job runs again.

    The record of the file commits with its rows; `_DuckDbClient.initialize_storage` creates
    the record table and forgets a table's records when dlt truncates the table (no DDL or
    delete here: copy jobs run in parallel transactions, whose appends do not conflict).
    """

    def run(self) -> None:
        sql = self._job_client.sql_client
        if sql.dataset_name != sql.staging_dataset_name:  # straight into the table: dlt's job
            super().run()
            return
        applied = sql.make_qualified_table_name(APPLIED_JOBS)
        job = ParsedLoadJobFileName.parse(self._file_path).job_id()  # without the retry count
        with sql.begin_transaction():
            done = sql.execute_sql(
                f"SELECT 1 FROM {applied} WHERE load_id = %s AND job = %s", self._load_id, job
            )
            if done:
                return
            super().run()
            sql.execute_sql(
                f"INSERT INTO {applied} VALUES (%s, %s, %s)",
                self._load_id,
                self.load_table_name,
                job,
            )


class _DuckDbClient(DuckDbClient):
    def create_load_job(
        self, table: PreparedTableSchema, file_path: str, load_id: str, restore: bool = False
    ) -> Any:
        job = super().create_load_job(table, file_path, load_id, restore)
        if type(job) is DuckDbCopyJob and table.get(ONCE_PER_KEY):
            return _OnceCopyJob(file_path)
        return job

    def initialize_storage(self, truncate_tables: Iterable[str] | None = None) -> None:
        super().initialize_storage(truncate_tables)
        sql = self.sql_client
        if sql.dataset_name != sql.staging_dataset_name:
            return
        applied = sql.make_qualified_table_name(APPLIED_JOBS)
        sql.execute_sql(
            f"CREATE TABLE IF NOT EXISTS {applied}"
            " (load_id VARCHAR, table_name VARCHAR, job VARCHAR)"
        )
        if truncate_tables:  # a truncated table holds none of the files it recorded
            names = list(truncate_tables)
            marks = ", ".join(["%s"] * len(names))
            sql.execute_sql(f"DELETE FROM {applied} WHERE table_name IN ({marks})", *names)

    def _create_merge_followup_jobs(
        self, table_chain: Sequence[PreparedTableSchema]
    ) -> list[FollowupJobRequest]:
        return [KeyedMergeJob.from_table_chain(table_chain, self.sql_client)]


class duckdb(dlt.destinations.duckdb):  # named like dlt's factories
    """dlt's DuckDB destination, merging with `KeyedMergeJob`.

    Its type stays dlt's: pipeline state and pending packages name the destination by type.
    """

    @property
    def client_class(self) -> type[DuckDbClient]:
        return _DuckDbClient

    @property
    def destination_type(self) -> str:
        return "dlt.destinations.duckdb"


def merge_sql(client: Any, table: str) -> list[str]:
    """The statements of `table`'s merge from staging (for tests and benchmarks)."""
    sql_client: SqlClientBase[Any] = client.sql_client
    return KeyedMergeJob.gen_merge_sql([client.prepare_load_table(table)], sql_client)
