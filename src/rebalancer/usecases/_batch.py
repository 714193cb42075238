"""The streaming batch: a stored run over a sharded book, one household shard at a time.

Memory follows the shard, not the book: each shard's tables are read (its objects alone, see
:mod:`rebalancer.book._shards`), rebalanced and staged, then dropped. A run has three steps,
each idempotent, so the same functions serve the local loop and a distributed run (one worker
per shard, a final step):

1. :func:`run_key` names the run's staging prefix from its inputs alone (book version, as-of,
   policy, scope, engine, model, prices): ``_runs/<run_key>/``.
2. :func:`stage_shard` rebalances one shard and puts ``shard=NNNN/{trades,accounts,rejected}
   .parquet`` there, then ``shard=NNNN/done.json`` (the shard's digest parts and totals) last:
   the shard's commit marker. A shard whose marker exists is done (a re-run skips it).
3. :func:`finish_run` checks every shard is done, derives the ``run_id`` from the markers (the
   same id :func:`~rebalancer.usecases._digest.run_id_for` gives the whole-book run: its
   digest is a sum of row hashes and a count per part, both additive over shards), streams
   the staged trades, one row group per shard, into the run's one table object
   ``recommendations/dt=D/run-<run_id>.parquet`` and deletes the staging.

That object is written last and whole (a temp file renamed locally, a multipart upload completed
on S3; streamed a shard at a time, so memory holds one shard's trades), so a reader of
``recommendations`` (SQL views, Athena, ``Lake.read``) sees a run complete or not at all; a
killed run leaves only its staging, which no table reads, and re-running finishes it.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import queue
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import IO, TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from rebalancer.book._shards import (
    read_shard,
    shard_key,
    shard_name,
    shard_symbols,
)
from rebalancer.book._tables import BookTables
from rebalancer.engine import CHUNK_SIZE, ENGINE_VERSION, Policy, prepare_book, recommend_book
from rebalancer.errors import ConfigError, ConflictError, InvalidAccountError
from rebalancer.lake import Lake, TableSchema, get_schema
from rebalancer.lake._base import split_by_partition
from rebalancer.lake._manifest import BlobStore, BookManifest
from rebalancer.usecases._advice import (
    action_counts,
    advise,
    explain_trades,
    feature_bars,
    gated_accounts,
    model_predictor,
    pinned_sleeves,
)
from rebalancer.usecases._digest import DIGEST_COLUMNS, digest_parts, run_id_from_parts

if TYPE_CHECKING:  # XGBoost is imported only when a model is used
    from rebalancer.model._predict import Predictor

RUNS_PREFIX = "_runs"
ShardProgress = Callable[[int, int], None]


def _blobs(lake: Lake) -> BlobStore:
    blobs = getattr(lake, "blobs", None)
    if blobs is None:
        raise ConfigError(f"{lake!r} has no object store: a sharded run needs one")
    return blobs


def run_key(
    manifest: BookManifest,
    prices: pd.Series,
    as_of: pd.Timestamp,
    policy: Policy,
    model_version: str | None,
) -> str:
    """The staging name of a run: a hash of its inputs (the book version included)."""
    head = {
        "book": manifest.version,
        "shards": manifest.shards,
        "as_of": as_of.isoformat(),
        "policy": policy.to_json(),
        "engine": ENGINE_VERSION,
        "model": model_version,
    }
    digest = hashlib.sha256(json.dumps(head, sort_keys=True).encode())
    digest.update(prices.sort_index().to_json().encode())
    return digest.hexdigest()[:20]


def _stage_prefix(key: str, shard: int) -> str:
    return f"{RUNS_PREFIX}/{key}/{shard_name(shard)}/"


def _parquet(frame: pd.DataFrame | pa.Table) -> bytes:
    table = (
        frame if isinstance(frame, pa.Table) else pa.Table.from_pandas(frame, preserve_index=False)
    )
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd")
    return bytes(sink.getvalue().to_pybytes())


def _read_parquet(blobs: BlobStore, key: str) -> pa.Table:
    data = blobs.get(key)
    if data is None:
        raise ConflictError(f"staged object {blobs.uri(key)} vanished; re-run to complete the run")
    return pq.read_table(io.BytesIO(data))


def sharded_symbols(lake: Lake, manifest: BookManifest) -> set[str]:
    """Every symbol the sharded book holds or targets, read shard by shard (one column)."""
    blobs = _blobs(lake)
    held: set[str] = set()
    models: set[str] = set()
    for shard in range(manifest.shards):
        held |= shard_symbols(lake, shard, manifest)
        data = blobs.get(shard_key(manifest.version, "accounts", shard))
        column = pq.read_table(io.BytesIO(data or b""), columns=["model_id"])["model_id"]
        models |= {str(m) for m in column.unique().to_pylist() if m is not None}
    frame = lake.read("model_portfolios")
    used = frame[frame["model_id"].astype(str).isin(models)]
    return held | {str(s) for s in used["symbol"].dropna()}


@dataclass(frozen=True)
class RunContext:
    """What every shard of one run shares."""

    manifest: BookManifest
    prices: pd.Series
    as_of: pd.Timestamp
    policy: Policy
    model_version: str | None
    chunk_size: int = CHUNK_SIZE

    @property
    def key(self) -> str:
        """The run's staging name."""
        return run_key(self.manifest, self.prices, self.as_of, self.policy, self.model_version)


def _context_key(key: str) -> str:
    return f"{RUNS_PREFIX}/{key}/context.json"


def save_context(lake: Lake, ctx: RunContext) -> str:
    """Save a run's shared inputs under its staging prefix; returns the run key (what a
    distributed run passes to its workers)."""
    body = {
        "book": ctx.manifest.version,
        "as_of": ctx.as_of.isoformat(),
        "policy": ctx.policy.to_json(),
        "model_version": ctx.model_version,
        "chunk_size": ctx.chunk_size,
        "prices": {str(k): float(v) for k, v in ctx.prices.sort_index().items()},
    }
    _blobs(lake).put(_context_key(ctx.key), json.dumps(body, sort_keys=True).encode())
    if ctx.policy.model != "off":
        _stage_model_inputs(lake, ctx)
    return ctx.key


def _model_input_key(key: str, name: str) -> str:
    return f"{RUNS_PREFIX}/{key}/model-inputs/{name}"


def _stage_model_inputs(lake: Lake, ctx: RunContext) -> None:
    """What every shard's features read, staged once by the planner: the run's daily bars
    (one lake query, and every shard sees the same history) and the features query as DuckDB
    runs it (parsing it costs each worker ~0.3 s). A worker without them makes its own."""
    from rebalancer.model._features import features_duckdb_sql

    blobs = _blobs(lake)
    bars = _run_bars(lake, ctx)
    blobs.put(_model_input_key(ctx.key, "bars.parquet"), _parquet(bars))
    sql = features_duckdb_sql(ctx.as_of, min_trade_value=ctx.policy.min_trade_value)
    blobs.put(_model_input_key(ctx.key, "features.duckdb.sql"), sql.encode())


def _use_staged_features_sql(lake: Lake, ctx: RunContext) -> None:
    """The planner's features query (see :func:`_stage_model_inputs`) for this process."""
    from rebalancer.model._features import remember_features_sql

    raw = _blobs(lake).get(_model_input_key(ctx.key, "features.duckdb.sql"))
    if raw is not None:
        remember_features_sql(ctx.as_of, raw.decode(), min_trade_value=ctx.policy.min_trade_value)


def load_context(lake: Lake, key: str) -> RunContext:
    """A saved run's inputs; :class:`ConflictError` if the book was republished since (the
    run would mix versions) or the run is unknown."""
    from rebalancer.lake._manifest import read_manifest

    blobs = _blobs(lake)
    raw = blobs.get(_context_key(key))
    if raw is None:
        raise ConflictError(f"run {key} has no saved context (finished, or never planned)")
    body = json.loads(raw)
    manifest = read_manifest(blobs)
    if manifest is None or manifest.version != body["book"]:
        raise ConflictError(
            f"run {key} was planned on book version {body['book']}, which is no longer the "
            "published one; plan the run again"
        )
    ctx = RunContext(
        manifest,
        pd.Series(body["prices"], dtype=float),
        pd.Timestamp(body["as_of"]),
        Policy.from_json(body["policy"]),
        body["model_version"],
        int(body["chunk_size"]),
    )
    if ctx.key != key:
        raise ConflictError(f"run {key}: its saved context does not hash to its key")
    return ctx


def shard_done(lake: Lake, ctx: RunContext, shard: int) -> dict[str, Any] | None:
    """The shard's commit marker, if it was staged."""
    raw = _blobs(lake).get(f"{_stage_prefix(ctx.key, shard)}done.json")
    return None if raw is None else dict(json.loads(raw))


def stage_shard(lake: Lake, ctx: RunContext, shard: int, *, strict: bool = False) -> dict[str, Any]:
    """Rebalance one shard and stage its result (idempotent: same inputs, same objects).

    Returns the shard's marker (digest parts, row counts, turnover and account value).
    ``strict`` fails on the first invalid account instead of staging the shard.
    """
    from rebalancer.usecases._recommend import recommendation_rows

    done = shard_done(lake, ctx, shard)
    if done is not None:
        return done
    book = read_shard(lake, shard, ctx.manifest)
    prepared = prepare_book(book, ctx.prices, ctx.policy, as_of=ctx.as_of)
    gated = gated_accounts(book, prepared, ctx.policy, chunk_size=ctx.chunk_size)
    advice, predictor = _shard_advice(lake, ctx, book if gated is None else book.select(gated))
    rec = recommend_book(
        book, ctx.prices, ctx.policy, as_of=ctx.as_of, chunk_size=ctx.chunk_size,
        pinned=pinned_sleeves(advice, ctx.policy), prepared=prepared,
    )  # fmt: skip
    del book
    advice = explain_trades(advice, rec.trades, predictor)  # reasons only where a row shows them
    if advice is not None:
        rec = replace(rec, advice=advice, model_version=ctx.model_version)
    if strict and len(rec.rejected):
        first = rec.rejected.iloc[0]
        raise InvalidAccountError(f"account {first['account_id']}: {first['reason']}")
    rows = recommendation_rows(rec, "", ctx.as_of, ctx.policy, ctx.model_version)
    blobs = _blobs(lake)
    prefix = _stage_prefix(ctx.key, shard)
    blobs.put(f"{prefix}trades.parquet", _parquet(get_schema("recommendations").validate(rows)))
    blobs.put(f"{prefix}accounts.parquet", _parquet(rec.accounts))
    blobs.put(f"{prefix}rejected.parquet", _parquet(rec.rejected))
    marker: dict[str, Any] = {
        "shard": shard,
        "parts": digest_parts(rec),
        "turnover": float(rec.trades["value"].sum()) if len(rec.trades) else 0.0,
        "value": float(rec.accounts["account_value"].clip(lower=0).sum()),
        "traded": int((rec.accounts["trades"] > 0).sum()),
    }
    if advice is not None:
        marker["model"] = action_counts(advice, ctx.policy)
    blobs.put(f"{prefix}done.json", json.dumps(marker, sort_keys=True).encode())
    return marker


def _shard_advice(
    lake: Lake, ctx: RunContext, book: BookTables
) -> tuple[pd.DataFrame | None, Predictor | None]:
    """The model's advice on one shard (one predictor call, no reasons yet) and its
    predictor, or Nones for ``model=off``. The model must still be the one the run was
    planned with."""
    predictor = model_predictor(lake, ctx.policy)
    if predictor is None:
        return None, None
    if predictor.version != ctx.model_version:
        raise ConflictError(
            f"run {ctx.key} was planned with model {ctx.model_version}, the current model is "
            f"{predictor.version}; plan the run again"
        )
    bars = _run_bars(lake, ctx)
    return advise(book, bars, ctx.as_of, ctx.policy, predictor, reasons=False), predictor


#: The daily bars the features read, for the one run this process stages shards of (its
#: key, its lake, the bars): every shard of a run reads the same ones (a query of ~0.07 s a
#: shard), and so sees the same history.
_RUN_BARS: list[tuple[str, Lake, pd.DataFrame]] = []


def _run_bars(lake: Lake, ctx: RunContext) -> pd.DataFrame:
    """:func:`feature_bars` at the run's as-of, read once per run and lake in this process
    (:func:`run_shards` forgets them when its run is done): the planner's staged copy if
    there is one (:func:`_stage_model_inputs`), else a query."""
    for key, read_from, bars in _RUN_BARS:
        if key == ctx.key and read_from is lake:
            return bars
    staged = _blobs(lake).get(_model_input_key(ctx.key, "bars.parquet"))
    if staged is not None:
        bars = pq.read_table(io.BytesIO(staged)).to_pandas()
        _use_staged_features_sql(lake, ctx)
    else:
        bars = feature_bars(lake, ctx.as_of)
    _RUN_BARS[:] = [(ctx.key, lake, bars)]
    return bars


@dataclass(frozen=True)
class FinishedRun:
    """What :func:`finish_run` published."""

    run_id: str
    keys: list[str]
    trades: pd.DataFrame | None
    accounts: pd.DataFrame  # empty unless collected
    rejected: pd.DataFrame
    totals: dict[str, float | int]
    #: Sleeves the model scored per action and the gate pinned, over every shard.
    model_counts: dict[str, int] = field(default_factory=dict)


def finish_run(
    lake: Lake, ctx: RunContext, *, write: bool = True, collect: bool = True
) -> FinishedRun:
    """Derive the run id from every shard's marker, write the run's one table object (last),
    delete the staging. ``collect`` returns the trades too (else only totals)."""
    blobs = _blobs(lake)
    found = [shard_done(lake, ctx, s) for s in range(ctx.manifest.shards)]
    missing = [s for s, m in enumerate(found) if m is None]
    markers = [m for m in found if m is not None]
    if missing:
        raise ConflictError(
            f"{len(missing)} shard(s) of run {ctx.key} are not done (first: {missing[0]}); "
            "re-run to complete it"
        )
    parts = {name: [0, 0] for name in DIGEST_COLUMNS}
    for marker in markers:
        for name, (rows, total) in marker["parts"].items():
            parts[name][0] += int(rows)
            parts[name][1] = (parts[name][1] + int(total)) % 2**64
    run_id = run_id_from_parts(parts, ctx.prices, ctx.as_of, ctx.policy, "all", ctx.model_version)
    schema = get_schema("recommendations")
    collected: list[pd.DataFrame] = []
    accounts: list[pd.DataFrame] = []
    rejected: list[pd.DataFrame] = []
    keys: list[str] = []
    with contextlib.ExitStack() as stack:
        writer: pq.ParquetWriter | None = None
        for shard in _read_staged(blobs, ctx, run_id, schema, trades=write or collect):
            rejected.append(shard.rejected.to_pandas())
            if shard.trades is None:
                continue
            if collect:
                accounts.append(_read_parquet(blobs, f"{shard.prefix}accounts.parquet").to_pandas())
                collected.append(shard.trades.to_pandas())
            if not write or not shard.trades.num_rows:
                continue
            if writer is None:  # the first trades name the run's partition (its as-of's day)
                dt = split_by_partition(schema, shard.trades.slice(0, 1))[0][0]
                key = f"{schema.name}/dt={dt}/run-{run_id}.parquet"
                stream = stack.enter_context(blobs.open_write(key))
                writer = stack.enter_context(
                    pq.ParquetWriter(stream, schema.arrow_schema(), compression="zstd")
                )
                keys.append(blobs.uri(key))
            writer.write_table(shard.trades)
    blobs.delete(blobs.list_keys(f"{RUNS_PREFIX}/{ctx.key}/"))
    totals: dict[str, float | int] = {
        "accounts": parts["accounts"][0],
        "trades": parts["trades"][0],
        "rejected": parts["rejected"][0],
        "turnover": float(sum(float(m["turnover"]) for m in markers)),
        "value": float(sum(float(m["value"]) for m in markers)),
        "traded": int(sum(int(m["traded"]) for m in markers)),
    }
    return FinishedRun(
        run_id=run_id,
        keys=keys,
        trades=pd.concat(collected, ignore_index=True) if collect else None,
        accounts=pd.concat(accounts, ignore_index=True) if accounts else pd.DataFrame(),
        rejected=pd.concat(rejected, ignore_index=True),
        totals=totals,
        model_counts=_sum_counts(m.get("model", {}) for m in markers),
    )


@dataclass(frozen=True)
class _Staged:
    """One shard's staged objects as the final step reads them."""

    prefix: str
    rejected: pa.Table
    trades: pa.Table | None


def _read_staged(
    blobs: BlobStore, ctx: RunContext, run_id: str, schema: TableSchema, *, trades: bool
) -> Iterator[_Staged]:
    """Every shard's staged rejections (and trades, as the run stores them), in shard order,
    the next shard read on a thread while the caller writes this one: Arrow's reads and
    writes release the GIL, so reading (an S3 GET on AWS) and compressing overlap. It reads
    one shard ahead, no more."""

    def read(shard: int) -> _Staged:
        prefix = _stage_prefix(ctx.key, shard)
        rejected = _read_parquet(blobs, f"{prefix}rejected.parquet")
        rows = _run_trades(blobs, prefix, run_id, schema.arrow_schema()) if trades else None
        return _Staged(prefix, rejected, rows)

    shards = ctx.manifest.shards
    if not shards:
        return
    current = read(0)  # on this thread: a store's lazily made client is made here, not racing
    with ThreadPoolExecutor(1, thread_name_prefix="finish-read") as pool:
        for shard in range(shards):
            ahead = pool.submit(read, shard + 1) if shard + 1 < shards else None
            yield current
            if ahead is not None:
                current = ahead.result()


def _run_trades(blobs: BlobStore, prefix: str, run_id: str, schema: pa.Schema) -> pa.Table:
    """One shard's staged trades as the run stores them: its ``run_id``, the table's schema."""
    trades = _read_parquet(blobs, f"{prefix}trades.parquet")
    at = trades.schema.get_field_index("run_id")
    ids = pa.array([run_id] * trades.num_rows, type=pa.string())
    return trades.set_column(at, "run_id", ids).cast(schema)


def _sum_counts(parts: Iterable[dict[str, int]]) -> dict[str, int]:
    """Per-key sums of the shards' model counts (empty when no shard had a model)."""
    out: dict[str, int] = {}
    for part in parts:
        for name, count in part.items():
            out[name] = out.get(name, 0) + int(count)
    return out


#: Worker processes a local run uses by default: one per core, at most this many (each holds
#: one shard's tables and arrays, a few hundred MiB at 10,000 accounts a shard).
MAX_DEFAULT_WORKERS = 2
#: Books smaller than this run in this process by default (a worker interpreter takes a
#: second or two to start: less than a 50,000-account run saves by it).
MIN_WORKER_ACCOUNTS = 50_000


def default_workers(accounts: int) -> int:
    """Worker processes for a local sharded run of ``accounts``: the cores this process may
    use, capped at :data:`MAX_DEFAULT_WORKERS`; 1 below :data:`MIN_WORKER_ACCOUNTS`."""
    if accounts < MIN_WORKER_ACCOUNTS:
        return 1
    return max(1, min(_cores(), MAX_DEFAULT_WORKERS))


def run_shards(
    lake: Lake,
    ctx: RunContext,
    *,
    write: bool = True,
    strict: bool = False,
    collect: bool = True,
    progress: ShardProgress | None = None,
    workers: int | None = None,
) -> FinishedRun:
    """Stage every shard (done ones are skipped), then finish the run.

    ``workers`` > 1 stages the shards of a local lake in that many worker processes first
    (``python -m rebalancer.usecases._batch``, each loading the saved run context, see
    :func:`save_context`); ``None``: :func:`default_workers` of the book's size. The loop
    in this process then stages whatever is left (nothing, unless a worker failed: its
    error is raised here, in shard order, as without workers). The staged objects, the run
    id and the run's object do not depend on ``workers``: each shard's objects are a
    function of its inputs, and :func:`finish_run` reads them in shard order.
    """
    shards = ctx.manifest.shards
    workers = default_workers(ctx.manifest.accounts) if workers is None else workers
    if workers < 1:
        raise ConfigError(f"workers must be at least 1, got {workers}")
    root = _local_root(lake)
    done = 0
    if workers > 1 and shards > 1 and root is not None:
        done = _stage_in_workers(lake, root, ctx, min(workers, shards), strict, progress)
    try:
        if done < shards:
            for shard in range(shards):
                stage_shard(lake, ctx, shard, strict=strict)
                if progress:
                    progress(shard + 1, shards)
    finally:
        _RUN_BARS.clear()  # a later run with the same key reads the bars again
    return finish_run(lake, ctx, write=write, collect=collect)


def _local_root(lake: Lake) -> str | None:
    """The root of a plain local lake (what a worker process reopens), else None."""
    from rebalancer.lake import LocalLake

    return lake.root if type(lake) is LocalLake else None


def _cores() -> int:
    """The cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def worker_environment(workers: int) -> dict[str, str]:
    """A shard worker's environment: this one, its thread pools sized to its share of the
    cores (``OMP_NUM_THREADS``: XGBoost's OpenMP and Arrow's CPU pool read it at start; the
    worker sets DuckDB's from it). Without it each of two workers on two cores ran Arrow,
    DuckDB and XGBoost on both, and waited on the other's threads."""
    share = max(1, _cores() // max(1, workers))
    given = os.environ.get("OMP_NUM_THREADS", "")
    if given.isdigit() and int(given) > 0:
        share = min(share, int(given))  # the operator's own limit stands
    return {**os.environ, "OMP_NUM_THREADS": str(share)}


def use_thread_share() -> None:
    """In a shard worker: DuckDB's threads as ``OMP_NUM_THREADS`` says (the other pools read
    it themselves)."""
    threads = os.environ.get("OMP_NUM_THREADS", "")
    if threads.isdigit() and int(threads) > 0:
        from rebalancer.lake import _local

        _local.DUCKDB_THREADS = int(threads)


def _stage_in_workers(
    lake: Lake,
    root: str,
    ctx: RunContext,
    workers: int,
    strict: bool,
    progress: ShardProgress | None,
) -> int:
    """Stage the shards in ``workers`` fresh interpreters (worker ``i`` takes shards ``i``,
    ``i + workers``, ...); returns how many shards they staged. A worker that fails stops
    (its error is for the caller's loop to raise in order)."""
    key = save_context(lake, ctx)
    shards = ctx.manifest.shards
    env = worker_environment(workers)
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "rebalancer.usecases._batch",
                root,
                key,
                str(i),
                str(workers),
                str(os.getpid()),
                "strict" if strict else "lenient",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env,
        )
        for i in range(workers)
    ]
    lines: queue.Queue[str | None] = queue.Queue()

    def pump(stream: IO[str]) -> None:
        for line in stream:
            lines.put(line)
        lines.put(None)

    threads = [threading.Thread(target=pump, args=(p.stdout,), daemon=True) for p in procs]
    for thread in threads:
        thread.start()
    done, open_streams = 0, len(procs)
    try:
        while open_streams:
            line = lines.get()
            if line is None:
                open_streams -= 1
            elif line.startswith("staged "):
                done += 1
                if progress:
                    progress(done, shards)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
    return done


def _worker_main(argv: list[str]) -> None:
    """A worker process: stage shards ``index, index + step, ...`` of a saved run; it stops
    when its parent is gone (a killed run's workers do not run on)."""
    from rebalancer.engine import tune_allocator
    from rebalancer.lake import LocalLake

    root, key, index, step, parent = argv[0], argv[1], int(argv[2]), int(argv[3]), int(argv[4])
    strict = argv[5] == "strict"  # a strict worker stops at its first invalid account
    tune_allocator()
    use_thread_share()
    lake = LocalLake(root)
    ctx = load_context(lake, key)
    if ctx.policy.model != "off":  # XGBoost's import overlaps the first shard's read; this
        from rebalancer.model._predict import prefetch_xgboost  # process only scores: no sklearn

        prefetch_xgboost(scoring_only=True)
    for shard in range(index, ctx.manifest.shards, step):
        if os.getppid() != parent:
            return
        stage_shard(lake, ctx, shard, strict=strict)
        print(f"staged {shard}", flush=True)


if __name__ == "__main__":
    _worker_main(sys.argv[1:])
