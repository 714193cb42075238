"""Household shards: the hash agrees in Python, DuckDB and Athena SQL; the sharded layout keeps
households whole, sorted and skippable; whole-book, SQL, symlink and household reads work on it
and on unsharded versions."""

from __future__ import annotations

import hashlib
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rebalancer.book import BookChunk, BookTables, generate_book, write_book
from rebalancer.book._shards import (
    ACCOUNT_INDEX,
    ACCOUNTS_PER_SHARD,
    MAX_SHARDS,
    MIN_SHARDED_ACCOUNTS,
    ROW_GROUP_ROWS,
    SHARDED_TABLES,
    read_household,
    read_shard,
    shard_key,
    shard_of,
    shard_sql,
    shards_for,
    stable_hash,
)
from rebalancer.errors import ConfigError, NotFoundError
from rebalancer.lake import LocalLake, athena_to_duckdb
from rebalancer.lake._manifest import SYMLINK_NAME, SYMLINK_PREFIX, read_manifest
from tests.book.book_checks import book_problems

SHARDS = 5


@pytest.fixture(scope="module")
def chunks(panel: pd.DataFrame) -> list[BookChunk]:
    return list(generate_book(1_200, seed=21, prices=panel, chunk_size=400))


@pytest.fixture
def sharded(lake: LocalLake, chunks: list[BookChunk]) -> LocalLake:
    write_book(lake, iter(chunks), shards=SHARDS)
    return lake


@pytest.fixture(scope="module")
def unsharded(tmp_path_factory: pytest.TempPathFactory, chunks: list[BookChunk]) -> LocalLake:
    """The same book published unsharded (the reference a sharded read must equal)."""
    lake = LocalLake(tmp_path_factory.mktemp("unsharded"))
    write_book(lake, iter(chunks), shards=0)
    return lake


def _generated(chunks: list[BookChunk], table: str) -> pd.DataFrame:
    return pd.concat([c.tables[table] for c in chunks if table in c.tables], ignore_index=True)


def _same_rows(a: pd.DataFrame, b: pd.DataFrame) -> None:
    """Equal as sets of rows (order aside), values compared as text (dtypes aside)."""

    def canon(frame: pd.DataFrame) -> list[tuple[str, ...]]:
        text = frame.astype(object).where(frame.notna(), None).astype(str)
        return sorted(map(tuple, text[sorted(frame.columns)].to_numpy()))

    assert len(a) == len(b)
    assert canon(a) == canon(b)


# ---------------------------------------------------------------------------- the hash
def test_size_rule() -> None:
    assert shards_for(1) == 0 and shards_for(MIN_SHARDED_ACCOUNTS - 1) == 0
    assert shards_for(MIN_SHARDED_ACCOUNTS) == 2
    assert shards_for(100_000) == 10 and shards_for(1_000_000) == 100
    assert shards_for(10_000_000) == 1_000 and shards_for(10**9) == MAX_SHARDS
    assert shards_for(25_001) == -(-25_001 // ACCOUNTS_PER_SHARD)


def test_python_hash_is_the_documented_md5_prefix() -> None:
    assert stable_hash("H00000001") == int("ff8db922", 16)
    assert shard_of("H00000001", 7) == int("ff8db922", 16) % 7


KEYS = st.text(
    alphabet=st.characters(exclude_categories=["Cs"], exclude_characters="\x00"),
    min_size=1,
    max_size=30,
)


@settings(max_examples=60, deadline=None)
@given(keys=st.lists(KEYS, min_size=1, max_size=20), shards=st.integers(1, MAX_SHARDS))
def test_python_duckdb_and_athena_sql_agree(keys: list[str], shards: int) -> None:
    """The same Athena expression, transpiled, on DuckDB == the DuckDB spelling == Python."""
    expected = [shard_of(k, shards) for k in keys]
    athena = f"SELECT k, {shard_sql('k', shards)} AS s FROM t"
    frame = pd.DataFrame({"k": keys, "i": range(len(keys))})  # noqa: F841 (read by DuckDB)
    con = duckdb.connect()
    try:
        got = con.execute(athena_to_duckdb(athena).replace("FROM t", "FROM frame")).df()["s"]
        duck = con.execute(
            f"SELECT CAST('0x' || substr(md5(k), 1, 8) AS BIGINT) % {shards} AS s FROM frame"
        ).df()["s"]
    finally:
        con.close()
    assert [int(v) for v in got] == expected
    assert [int(v) for v in duck] == expected


def test_the_lake_query_computes_the_shard_through_a_parameter(lake: LocalLake) -> None:
    """Through ``Lake.query`` (sqlglot Athena -> DuckDB), values as parameters."""
    from tests.conftest import sample_frame

    lake.write("securities", sample_frame("securities", 1))
    for key in ["H00000001", "O'Brien", "Zoë 日本", "-- x; DROP", "\\"]:
        row = lake.query(f"SELECT {shard_sql(':key', 97)} AS s FROM securities", {"key": key})
        assert int(row["s"].iloc[0]) == shard_of(key, 97)
        assert shard_of(key, 97) == int(hashlib.md5(key.encode()).hexdigest()[:8], 16) % 97


# ---------------------------------------------------------------------------- the layout
def test_layout_households_whole_sorted_small_row_groups(
    sharded: LocalLake, chunks: list[BookChunk]
) -> None:
    manifest = read_manifest(sharded.blobs)
    assert manifest is not None and manifest.shards == SHARDS
    root = Path(sharded.root)
    for table in SHARDED_TABLES:
        keys = manifest.tables[table]
        assert keys == [shard_key(manifest.version, table, s) for s in range(SHARDS)]
        seen: dict[str, int] = {}
        rows = 0
        for shard, key in enumerate(keys):
            assert f"/{table}/shard={shard:04d}/part-00000.parquet" in key
            meta = pq.ParquetFile(root / key).metadata
            assert all(
                meta.row_group(g).num_rows <= ROW_GROUP_ROWS for g in range(meta.num_row_groups)
            )
            frame = pd.read_parquet(root / key)
            rows += len(frame)
            if "household_id" in frame.columns:
                hh = frame["household_id"].astype(str).tolist()
                assert hh == sorted(hh)  # sorted by household within the shard
                for h in set(hh):
                    assert shard_of(h, SHARDS) == shard
                    assert seen.setdefault(h, shard) == shard  # never straddles
        assert rows == len(_generated(chunks, table)) == manifest.rows[table]
    # Accounts keyed by account only (lots, restrictions) sit with their household's accounts.
    accounts = _generated(chunks, "accounts").set_index("account_id")["household_id"]
    for shard in range(SHARDS):
        lots = pd.read_parquet(root / shard_key(manifest.version, "tax_lots", shard))
        assert {shard_of(h, SHARDS) for h in accounts.loc[lots["account_id"]]} <= {shard}
    # The static tables keep their chunk layout; the account index names every account once.
    assert len(manifest.tables["model_portfolios"]) == 1
    index = pd.concat(
        pd.read_parquet(root / shard_key(manifest.version, ACCOUNT_INDEX, s)) for s in range(SHARDS)
    )
    assert sorted(index["account_id"]) == sorted(accounts.index)
    assert (index["shard"] == [shard_of(h, SHARDS) for h in index["household_id"]]).all()
    assert not sharded.blobs.list_keys(f"_book/versions/{manifest.version}/_staging/")


def test_whole_book_sql_and_symlinks_read_a_sharded_book(
    sharded: LocalLake, unsharded: LocalLake, chunks: list[BookChunk]
) -> None:
    for table in SHARDED_TABLES:
        _same_rows(sharded.read(table), unsharded.read(table))
        symlink = Path(sharded.root) / SYMLINK_PREFIX / table / SYMLINK_NAME
        assert symlink.read_text().splitlines() == sharded.list_objects(table)
    assert book_problems(sharded) == []
    n = sharded.query("SELECT count(*) AS n FROM holdings h JOIN accounts a USING (account_id)")
    assert int(n["n"].iloc[0]) == len(_generated(chunks, "holdings"))
    by_shard = sharded.query(
        f"SELECT {shard_sql('household_id', SHARDS)} AS s, count(*) AS n FROM accounts "
        "GROUP BY 1 ORDER BY 1"
    )
    manifest = read_manifest(sharded.blobs)
    assert manifest is not None
    for row in by_shard.itertuples():
        key = shard_key(manifest.version, "accounts", int(row.s))
        assert int(row.n) == len(pd.read_parquet(Path(sharded.root) / key))


def test_same_seed_same_bytes_sharded(tmp_path: Path, chunks: list[BookChunk]) -> None:
    digests = []
    for name in ("a", "b"):
        lake = LocalLake(tmp_path / name)
        write_book(lake, iter(chunks), shards=3)
        manifest = read_manifest(lake.blobs)
        assert manifest is not None
        digests.append(
            {
                k.split("/", 3)[3]: hashlib.sha256((Path(lake.root) / k).read_bytes()).hexdigest()
                for keys in manifest.tables.values()
                for k in keys
            }
        )
    assert digests[0] == digests[1]


def test_a_failing_sharded_write_keeps_the_old_book(
    sharded: LocalLake, chunks: list[BookChunk]
) -> None:
    old = read_manifest(sharded.blobs)

    def dies() -> object:
        yield from chunks[:2]
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError, match="killed"):
        write_book(sharded, dies(), shards=SHARDS)  # type: ignore[arg-type]
    assert read_manifest(sharded.blobs) == old
    assert old is not None
    versions = {k.split("/")[2] for k in sharded.blobs.list_keys("_book/versions/")}
    assert versions == {old.version}  # its staging went with it
    assert len(sharded.read("accounts")) == 1_200


def test_shard_counts_are_checked(lake: LocalLake, chunks: list[BookChunk]) -> None:
    for bad in (-1, MAX_SHARDS + 1):
        with pytest.raises(ConfigError, match="shards must be between"):
            write_book(lake, iter(chunks), shards=bad)
    summary = write_book(lake, iter(chunks), total_accounts=1_200)  # small: the size rule
    assert summary.shards == 0
    manifest = read_manifest(lake.blobs)
    assert manifest is not None and manifest.shards == 0


# ---------------------------------------------------------------------------- reading
def test_read_shard_is_one_shard_of_the_book(sharded: LocalLake, unsharded: LocalLake) -> None:
    parts = [read_shard(sharded, s) for s in range(SHARDS)]
    whole = BookTables.from_lake(unsharded)
    for table in ("accounts", "holdings", "tax_lots", "restrictions", "transactions"):
        _same_rows(pd.concat([getattr(p, table) for p in parts]), getattr(whole, table))
    households = [set(p.accounts["household_id"].astype(str)) for p in parts]
    assert sum(len(h) for h in households) == len(set().union(*households))
    with pytest.raises(ConfigError, match="shard must be between"):
        read_shard(sharded, SHARDS)


class _CountingBlobs:
    """Wraps a lake's blobs and records every key read."""

    def __init__(self, inner: object) -> None:
        self.inner = inner
        self.got: list[str] = []

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    def get(self, key: str) -> bytes | None:
        self.got.append(key)
        return self.inner.get(key)  # type: ignore[attr-defined]


def test_a_household_reads_its_shard_objects_only(
    sharded: LocalLake, chunks: list[BookChunk]
) -> None:
    whole = BookTables.from_lake(sharded)
    rng = np.random.default_rng(0)
    counting = _CountingBlobs(sharded.blobs)
    sharded.blobs = counting  # type: ignore[assignment]
    manifest = read_manifest(counting.inner)  # type: ignore[arg-type]
    assert manifest is not None
    for account in rng.choice(whole.accounts["account_id"].astype(str), 12, replace=False):
        counting.got.clear()
        one = read_household(sharded, account)
        ref = whole.household_of(account)
        for table in BookTables.TABLES:
            _same_rows(getattr(one, table), getattr(ref, table))
        household = str(ref.accounts["household_id"].iloc[0])
        shard = shard_of(household, SHARDS)
        book_reads = [k for k in counting.got if k.startswith("_book/versions/")]
        assert sorted(book_reads) == sorted(
            [shard_key(manifest.version, ACCOUNT_INDEX, shard_of(account, SHARDS))]
            + [shard_key(manifest.version, t, shard) for t in SHARDED_TABLES if t != "clients"]
        )
    with pytest.raises(NotFoundError, match="not found"):
        read_household(sharded, "A99999999")


def test_household_reads_of_unsharded_and_legacy_books(
    lake: LocalLake, chunks: list[BookChunk]
) -> None:
    for table, frame in chunks[0].tables.items():  # the flat layout, before any manifest
        lake.write(table, frame, name="part-00000")
    first = str(chunks[0].tables["accounts"]["account_id"].iloc[3])
    legacy = read_household(lake, first)
    assert first in set(legacy.accounts["account_id"])
    write_book(lake, iter(chunks), shards=0)
    _same_rows(read_household(lake, first).holdings, legacy.holdings)
    write_book(lake, iter(chunks), shards=2)
    _same_rows(read_household(lake, first).holdings, legacy.holdings)
    write_book(lake, iter(chunks), shards=0)  # back to unsharded: still reads
    _same_rows(read_household(lake, first).holdings, legacy.holdings)
    assert book_problems(lake) == []


def test_from_lake_household_of_prunes_to_the_shard(sharded: LocalLake) -> None:
    """BookTables.from_lake(household_of=) on a sharded book: its shard's objects, no SQL."""
    counting = _CountingBlobs(sharded.blobs)
    sharded.blobs = counting  # type: ignore[assignment]
    manifest = read_manifest(counting.inner)  # type: ignore[arg-type]
    assert manifest is not None

    def no_sql(*_: object, **__: object) -> None:
        raise AssertionError("a sharded household read ran SQL")

    sharded.query = no_sql  # type: ignore[method-assign]
    family = BookTables.from_lake(sharded, household_of="A00000002")
    assert "A00000002" in set(family.accounts["account_id"])
    household = str(family.accounts["household_id"].iloc[0])
    assert set(family.accounts["household_id"].astype(str)) == {household}
    shards = {k.split("/shard=")[1][:4] for k in counting.got if "/shard=" in k}
    assert shards <= {f"{shard_of(household, SHARDS):04d}", f"{shard_of('A00000002', SHARDS):04d}"}
    with pytest.raises(NotFoundError):
        BookTables.from_lake(sharded, household_of="nobody")


def test_athena_shard_partitions_list_each_shards_objects(
    sharded: LocalLake, chunks: list[BookChunk]
) -> None:
    """Glue's ``shard`` projection reads ``_book/athena/<table>/shard=NNNN/``: each list names
    that shard's object alone; a republish with fewer shards (or none) drops the stale lists."""
    from rebalancer.book._publish import SHARD_PARTITIONED

    assert SHARD_PARTITIONED == SHARDED_TABLES
    root = Path(sharded.root)
    manifest = read_manifest(sharded.blobs)
    assert manifest is not None
    for table in SHARDED_TABLES:
        lists = sorted((root / SYMLINK_PREFIX / table).glob(f"shard=*/{SYMLINK_NAME}"))
        assert [p.parent.name for p in lists] == [f"shard={s:04d}" for s in range(SHARDS)]
        for shard, listing in enumerate(lists):
            uri = sharded.blobs.uri(shard_key(manifest.version, table, shard))
            assert listing.read_text().splitlines() == [uri]
    assert not list((root / SYMLINK_PREFIX / "model_portfolios").glob("shard=*"))

    write_book(sharded, iter(chunks), shards=2)
    lists = sorted((root / SYMLINK_PREFIX / "holdings").glob(f"shard=*/{SYMLINK_NAME}"))
    assert [p.parent.name for p in lists] == ["shard=0000", "shard=0001"]
    write_book(sharded, iter(chunks), shards=0)
    lists = sorted((root / SYMLINK_PREFIX / "holdings").glob(f"shard=*/{SYMLINK_NAME}"))
    assert [p.parent.name for p in lists] == ["shard=0000"]
    assert lists[0].read_text().splitlines() == sharded.list_objects("holdings")


# ---------------------------------------------------------------------------- cached reads
def _dataset_read(
    path: str, table: str, filters: list[tuple[str, str, object]] | None
) -> pd.DataFrame:
    """What a shard object read gave before footers were cached: the dataset reader."""
    from rebalancer.lake import get_schema

    schema = get_schema(table).arrow_schema()
    return pq.read_table(path, filters=filters, schema=schema).to_pandas()


@pytest.mark.parametrize("through_bytes", [False, True])
def test_object_reads_equal_the_dataset_reader(sharded: LocalLake, through_bytes: bool) -> None:
    """Row groups picked by the cached statistics, then rows filtered: the same rows, order
    and dtypes as ``pq.read_table(filters=...)``, from a file or from fetched bytes (S3)."""
    from rebalancer.book import _shards

    manifest = read_manifest(sharded.blobs)
    assert manifest is not None
    blobs = _CountingBlobs(sharded.blobs) if through_bytes else sharded.blobs
    accounts = read_shard(sharded, 2).accounts
    some = sorted(accounts["account_id"].astype(str))
    household = str(accounts["household_id"].iloc[len(accounts) // 2])
    cases: list[list[tuple[str, str, object]] | None] = [
        None,
        [("account_id", "in", some[:3] + some[-2:])],
        [("account_id", "in", ["A99999999"])],  # nothing
        [("account_id", "=", some[7])],
    ]
    for table in ("accounts", "holdings", "tax_lots", "restrictions", "transactions"):
        key = shard_key(manifest.version, table, 2)
        for filters in [*cases, [("household_id", "=", household)]]:
            if (
                filters
                and filters[0][0] == "household_id"
                and table not in ("accounts", "transactions")
            ):
                continue
            for _ in range(2):  # cold footer, then cached
                got = _shards._read_object(blobs, key, table, filters)  # type: ignore[arg-type]
                want = _dataset_read(sharded.blobs.uri(key), table, filters)
                pd.testing.assert_frame_equal(got, want)


@pytest.mark.parametrize("through_bytes", [False, True])
def test_a_footer_is_parsed_once_and_a_replaced_object_is_read_anew(
    sharded: LocalLake, monkeypatch: pytest.MonkeyPatch, through_bytes: bool
) -> None:
    """The footer cache is keyed on the object (file identity and mtime locally, the fetched
    footer bytes on S3): a warm read parses nothing, an object replaced at the same key (new
    rows) is read with its own footer."""
    from rebalancer.book import _shards

    monkeypatch.setattr(_shards, "_footers", _shards._FooterCache())
    parsed: list[object] = []
    real = _shards.pq.read_metadata
    monkeypatch.setattr(
        _shards.pq, "read_metadata", lambda src, **kw: parsed.append(src) or real(src, **kw)
    )
    manifest = read_manifest(sharded.blobs)
    assert manifest is not None
    blobs = _CountingBlobs(sharded.blobs) if through_bytes else sharded.blobs
    key = shard_key(manifest.version, "holdings", 1)
    first = _shards._read_object(blobs, key, "holdings")  # type: ignore[arg-type]
    again = _shards._read_object(blobs, key, "holdings")  # type: ignore[arg-type]
    pd.testing.assert_frame_equal(first, again)
    assert len(parsed) == 1
    other = shard_key(manifest.version, "holdings", 3)
    sharded.blobs.put(key, sharded.blobs.get(other) or b"")  # same key, other rows
    replaced = _shards._read_object(blobs, key, "holdings")  # type: ignore[arg-type]
    pd.testing.assert_frame_equal(
        replaced, _dataset_read(sharded.blobs.uri(other), "holdings", None)
    )
    assert len(parsed) == 2


def test_a_batch_shard_read_keeps_no_footer_and_the_cache_is_bounded(
    sharded: LocalLake, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch reads each shard once, so it keeps no footer (a 10M book's worker kept 2,048 of
    them, ~400 MiB); household reads keep at most :data:`MAX_FOOTERS` footers and
    :data:`MAX_FOOTER_BYTES` of them, the least recently used dropped first."""
    from rebalancer.book import _shards

    monkeypatch.setattr(_shards, "_footers", _shards._FooterCache())
    read_shard(sharded, 1)
    assert len(_shards._footers) == 0
    monkeypatch.setattr(_shards, "MAX_FOOTERS", 2)
    manifest = read_manifest(sharded.blobs)
    assert manifest is not None
    keys = [shard_key(manifest.version, "holdings", s) for s in (0, 1, 2)]
    _shards._read_object(sharded.blobs, keys[0], "holdings")
    _shards._read_object(sharded.blobs, keys[1], "holdings")
    _shards._read_object(sharded.blobs, keys[0], "holdings")  # 0 is now the most recent
    _shards._read_object(sharded.blobs, keys[2], "holdings")
    assert list(_shards._footers) == [sharded.blobs.uri(keys[0]), sharded.blobs.uri(keys[2])]
    sizes = [footer.metadata.serialized_size for _, footer in _shards._footers.values()]
    assert _shards._footers.bytes == sum(sizes) > 0
    # a byte bound below two footers keeps only the newest one
    monkeypatch.setattr(_shards, "MAX_FOOTERS", 100)
    monkeypatch.setattr(_shards, "MAX_FOOTER_BYTES", max(sizes) + 1)
    _shards._read_object(sharded.blobs, keys[1], "holdings")
    assert list(_shards._footers) == [sharded.blobs.uri(keys[1])]
    assert (
        _shards._footers.bytes
        == _shards._footers[sharded.blobs.uri(keys[1])][1].metadata.serialized_size
    )


def test_select_of_a_whole_household_is_the_book_itself(sharded: LocalLake) -> None:
    """A household read from its shard is already what ``household_of`` selects: the same
    object back (no row filters, no re-validation); a real subset is still filtered."""
    whole = read_shard(sharded, 0)
    account = str(whole.accounts["account_id"].iloc[5])
    family = read_household(sharded, account)
    assert family.household_of(account) is family
    assert family.select(family.accounts["account_id"]) is family
    ref = whole.household_of(account)
    for table in BookTables.TABLES:
        _same_rows(getattr(family, table), getattr(ref, table))
    if len(family.accounts) > 1:
        one = family.select([account])
        assert list(one.accounts["account_id"]) == [account]
        assert set(one.holdings["account_id"]) <= {account}
        assert one.holdings.index.equals(pd.RangeIndex(len(one.holdings)))


def test_a_household_read_answers_household_of_for_its_accounts_only(
    sharded: LocalLake,
) -> None:
    """``one_household`` marks a household read: its own accounts come back as the book, any
    other account is still looked up (and not found)."""
    whole = read_shard(sharded, 0)
    account = str(whole.accounts["account_id"].iloc[3])
    family = read_household(sharded, account)
    for member in family.accounts["account_id"]:
        assert family.household_of(str(member)) is family
    with pytest.raises(NotFoundError):
        family.household_of("NO-SUCH-ACCOUNT")
    unmarked = BookTables.from_frames(**family.frames())
    assert unmarked.household_of(account) is not family
    for table in BookTables.TABLES:
        _same_rows(getattr(unmarked.household_of(account), table), getattr(family, table))
