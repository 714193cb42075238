"""Invariants of a generated book (2,000 accounts): what the engine and the API rely on."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rebalancer.book import CASH, CRYPTO_SYMBOLS, DEFAULT_MODELS, MAX_ACCOUNTS, generate_book
from rebalancer.errors import ConfigError, MarketDataError
from tests.book.conftest import BOOK_ACCOUNTS


def _as_of(panel: pd.DataFrame) -> pd.Timestamp:
    weekdays = panel.index[panel.index.day_of_week < 5]
    return pd.Timestamp(weekdays[-1])


def _close_on(panel: pd.DataFrame, days: pd.Series, symbols: pd.Series) -> np.ndarray:
    """Forward-filled weekday close of each (day, symbol) pair, looked up independently."""
    dense = panel.ffill()
    dense = dense[dense.index.day_of_week < 5]
    rows = dense.index.get_indexer(pd.DatetimeIndex(days))
    cols = dense.columns.get_indexer(symbols)
    assert (rows >= 0).all() and (cols >= 0).all()
    return dense.to_numpy()[rows, cols]


def _holding_values(book: dict[str, pd.DataFrame], panel: pd.DataFrame) -> pd.Series:
    h = book["holdings"]
    days = pd.Series([_as_of(panel)] * len(h))
    value = h["quantity"].to_numpy() * _close_on(panel, days, h["symbol"])
    return pd.Series(value).groupby(h["account_id"].to_numpy()).sum()


def test_every_table_is_there_with_ids_unique(book: dict[str, pd.DataFrame]) -> None:
    assert len(book["accounts"]) == BOOK_ACCOUNTS
    assert book["accounts"]["account_id"].is_unique
    assert book["accounts"]["account_id"].iloc[0] == "A00000001"
    assert book["accounts"]["account_id"].iloc[-1] == f"A{BOOK_ACCOUNTS:08d}"
    assert book["clients"]["client_id"].is_unique
    assert book["advisors"]["advisor_id"].is_unique
    assert book["tax_lots"]["lot_id"].is_unique
    assert book["transactions"]["transaction_id"].is_unique
    assert not book["holdings"].duplicated(["account_id", "symbol"]).any()


def test_lot_quantities_sum_to_holdings(book: dict[str, pd.DataFrame]) -> None:
    lots = book["tax_lots"].groupby(["account_id", "symbol"])["quantity"].sum()
    held = book["holdings"].set_index(["account_id", "symbol"])["quantity"]
    assert set(lots.index) == set(held.index)
    np.testing.assert_allclose(lots.loc[held.index].to_numpy(), held.to_numpy(), rtol=1e-12)


def test_no_negative_quantities_or_cash(book: dict[str, pd.DataFrame]) -> None:
    assert (book["holdings"]["quantity"] > 0).all()
    assert (book["tax_lots"]["quantity"] > 0).all()
    assert (book["tax_lots"]["cost_basis"] > 0).all()
    assert (book["accounts"]["cash"] >= 0).all()
    assert (book["transactions"]["quantity"] > 0).all()


def test_withdrawals_never_exceed_the_account(
    book: dict[str, pd.DataFrame], panel: pd.DataFrame
) -> None:
    accounts = book["accounts"].set_index("account_id")
    value = accounts["cash"] + _holding_values(book, panel).reindex(accounts.index, fill_value=0)
    flows = accounts["pending_cash_flow"]
    assert (flows < 0).any() and (flows > 0).any()
    assert (-flows <= value + 1e-6).all()


def test_models_sum_to_one_and_every_account_model_exists(book: dict[str, pd.DataFrame]) -> None:
    models = book["model_portfolios"]
    sums = models.groupby("model_id")["target_weight"].sum()
    np.testing.assert_allclose(sums.to_numpy(), 1.0, rtol=0, atol=1e-12)
    assert (models["target_weight"] > 0).all()
    assert set(book["accounts"]["model_id"]) <= set(sums.index)
    assert set(models.loc[models["symbol"] == CASH, "model_id"]) == set(sums.index)
    assert book["accounts"]["model_id"].nunique() >= 8  # the lineup is used, not one model


def test_holdings_are_priced_and_cash_is_not_a_position(
    book: dict[str, pd.DataFrame], panel: pd.DataFrame
) -> None:
    symbols = set(book["holdings"]["symbol"])
    assert CASH not in symbols and CASH not in set(book["tax_lots"]["symbol"])
    assert symbols <= {c for c in panel.columns if panel[c].notna().any()}
    # asset classes: equities, bond ETFs, crypto all held
    assert {"AGG", "SPY", "BTC-USD"} <= symbols


def test_whole_shares_except_fractional_accounts_and_crypto(
    book: dict[str, pd.DataFrame],
) -> None:
    h = book["holdings"].merge(book["accounts"][["account_id", "fractional_shares"]])
    whole = h[~h["fractional_shares"] & ~h["symbol"].isin(CRYPTO_SYMBOLS)]
    assert (whole["quantity"] == np.round(whole["quantity"])).all()
    frac = h[h["fractional_shares"] & ~h["symbol"].isin(CRYPTO_SYMBOLS)]
    assert (frac["quantity"] != np.round(frac["quantity"])).mean() > 0.5
    crypto = h[h["symbol"].isin(CRYPTO_SYMBOLS)]
    assert len(crypto) and (crypto["quantity"] != np.round(crypto["quantity"])).any()


def test_tax_lots_cost_basis_comes_from_the_price_history(
    book: dict[str, pd.DataFrame], panel: pd.DataFrame
) -> None:
    lots = book["tax_lots"]
    close = _close_on(panel, lots["acquired"], lots["symbol"])
    np.testing.assert_allclose(lots["cost_basis"], lots["quantity"] * close, rtol=1e-12)
    as_of = _as_of(panel)
    acquired = pd.to_datetime(lots["acquired"])
    assert (acquired < as_of).all()
    opened = lots.merge(book["accounts"][["account_id", "opened"]])["opened"]
    assert (acquired.to_numpy() >= pd.to_datetime(opened).to_numpy()).all()
    long_term = acquired < as_of - pd.DateOffset(years=1)
    assert 0.2 < long_term.mean() < 0.95  # both long- and short-term lots, in bulk
    now = _close_on(panel, pd.Series([as_of] * len(lots)), lots["symbol"])
    gain = lots["quantity"] * now - lots["cost_basis"]
    assert (gain > 0).any() and (gain < 0).any()
    assert ((gain < 0) & long_term).any() and ((gain < 0) & ~long_term).any()


def test_account_types_and_values_are_realistic(
    book: dict[str, pd.DataFrame], panel: pd.DataFrame
) -> None:
    shares = book["accounts"]["account_type"].value_counts(normalize=True)
    assert set(shares.index) == {"taxable", "ira", "roth"}
    assert 0.44 < shares["taxable"] < 0.56
    assert 0.29 < shares["ira"] < 0.41
    assert 0.10 < shares["roth"] < 0.20
    accounts = book["accounts"].set_index("account_id")
    value = accounts["cash"] + _holding_values(book, panel).reindex(accounts.index, fill_value=0)
    assert 60_000 < value.median() < 400_000
    assert value.max() > 10 * value.median()  # a long right tail, not uniform


def test_households_clients_and_advisors_hang_together(book: dict[str, pd.DataFrame]) -> None:
    accounts, clients = book["accounts"], book["clients"]
    sizes = accounts.groupby("household_id").size()
    assert sizes.max() <= 4 and (sizes >= 2).mean() > 0.4
    assert (accounts.groupby("household_id")["advisor_id"].nunique() == 1).all()
    owner = accounts.merge(clients, on="client_id", suffixes=("", "_client"))
    assert len(owner) == len(accounts)
    assert (owner["household_id"] == owner["household_id_client"]).all()
    assert set(accounts["advisor_id"]) <= set(book["advisors"]["advisor_id"])
    households_per_advisor = accounts.groupby("advisor_id")["household_id"].nunique()
    assert households_per_advisor.median() > 20
    assert set(clients["risk_profile"]) == {
        "conservative", "moderate", "balanced", "growth", "aggressive"
    }  # fmt: skip
    profile_of_model = {m.model_id: m.risk_profile for m in DEFAULT_MODELS.models}
    joined = accounts.merge(clients[["client_id", "risk_profile"]], on="client_id")
    assert (joined["model_id"].map(profile_of_model) == joined["risk_profile"]).all()


def test_transactions_are_recent_priced_and_include_losses(
    book: dict[str, pd.DataFrame], panel: pd.DataFrame
) -> None:
    tx = book["transactions"]
    as_of = _as_of(panel)
    days = pd.to_datetime(tx["trade_date"])
    assert (days <= as_of).all() and (days >= as_of - pd.Timedelta(days=60)).all()
    np.testing.assert_allclose(tx["price"], _close_on(panel, tx["trade_date"], tx["symbol"]))
    assert set(tx["side"]) == {"BUY", "SELL"}
    sells, buys = tx[tx["side"] == "SELL"], tx[tx["side"] == "BUY"]
    assert sells["realized_gain"].notna().all() and buys["realized_gain"].isna().all()
    assert (sells["realized_gain"] < 0).any() and (sells["realized_gain"] > 0).any()
    active = tx["account_id"].nunique() / len(book["accounts"])
    assert 0.1 < active < 0.9  # a subset of accounts traded recently
    household = tx.merge(book["accounts"][["account_id", "household_id"]], on="account_id")
    assert (household["household_id_x"] == household["household_id_y"]).all()


def test_recent_buys_are_the_recent_lots(
    book: dict[str, pd.DataFrame], panel: pd.DataFrame
) -> None:
    window = _as_of(panel) - pd.Timedelta(days=60)
    lots = book["tax_lots"]
    recent = lots[pd.to_datetime(lots["acquired"]) >= window]
    buys = book["transactions"][book["transactions"]["side"] == "BUY"]
    key = ["account_id", "symbol", "quantity"]
    merged = recent[[*key, "acquired"]].merge(
        buys[[*key, "trade_date"]], on=key, how="left", indicator=True
    )
    assert len(recent) == len(buys) > 0
    assert (merged["_merge"] == "both").all()


def test_restrictions_reference_held_or_model_symbols(book: dict[str, pd.DataFrame]) -> None:
    r = book["restrictions"]
    assert 0 < len(r) < len(book["accounts"])
    assert set(r["restriction"]) == {"restricted", "do_not_trade"}
    held = set(zip(book["holdings"]["account_id"], book["holdings"]["symbol"], strict=True))
    model_of = book["accounts"].set_index("account_id")["model_id"]
    mp = book["model_portfolios"]
    in_model = set(zip(mp["model_id"], mp["symbol"], strict=True))
    for account, symbol in zip(r["account_id"], r["symbol"], strict=True):
        assert (account, symbol) in held or (model_of[account], symbol) in in_model
    assert CASH not in set(r["symbol"])


def test_holdings_have_drifted_from_target(
    book: dict[str, pd.DataFrame], panel: pd.DataFrame
) -> None:
    h = book["holdings"]
    as_of = pd.Series([_as_of(panel)] * len(h))
    h = h.assign(value=h["quantity"] * _close_on(panel, as_of, h["symbol"]))
    accounts = book["accounts"].set_index("account_id")
    total = h.groupby("account_id")["value"].sum() + accounts["cash"]
    h = h.assign(weight=h["value"] / h["account_id"].map(total))
    targets = book["model_portfolios"].rename(columns={"target_weight": "target"})
    invested = accounts[accounts["last_rebalanced"].notna()].reset_index()
    per_account = invested[["account_id", "model_id"]].merge(targets, on="model_id")
    both = h[["account_id", "symbol", "weight"]].merge(
        per_account[["account_id", "symbol", "target"]], on=["account_id", "symbol"], how="outer"
    )
    both = both.fillna({"weight": 0.0, "target": 0.0})
    both = both[both["symbol"] != CASH]
    drift = (both["weight"] - both["target"]).abs().groupby(both["account_id"]).sum() / 2
    assert (drift > 0.01).mean() > 0.5
    assert drift.median() < 0.25  # drifted, not random
    legacy = both[both["target"] == 0]
    assert len(legacy)  # legacy holdings outside the model exist
    missing = both[both["weight"].eq(0) & both["target"].gt(0)]
    assert len(missing)  # and missing model positions


def test_new_accounts_are_cash_only_and_never_rebalanced(
    book: dict[str, pd.DataFrame], panel: pd.DataFrame
) -> None:
    accounts = book["accounts"]
    new = accounts[accounts["last_rebalanced"].isna()]
    assert 0 < len(new) < 0.1 * len(accounts)
    assert not set(new["account_id"]) & set(book["holdings"]["account_id"])
    assert (new["cash"] + new["pending_cash_flow"] > 0).all()
    old = accounts[accounts["last_rebalanced"].notna()]
    assert (pd.to_datetime(old["opened"]) < pd.to_datetime(old["last_rebalanced"])).all()
    days = (_as_of(panel) - pd.to_datetime(old["last_rebalanced"])).dt.days
    assert days.min() >= 28 and days.max() <= 18 * 31  # last rebalance 1-18 months ago


@pytest.mark.parametrize("n", [0, -5, MAX_ACCOUNTS + 1])
def test_bad_account_counts_are_rejected(n: int, panel: pd.DataFrame) -> None:
    with pytest.raises(ConfigError, match="accounts"):
        generate_book(n, seed=1, prices=panel)


@pytest.mark.parametrize("chunk", [0, -1, 10**9])
def test_bad_chunk_sizes_are_rejected(chunk: int, panel: pd.DataFrame) -> None:
    with pytest.raises(ConfigError, match="chunk-size"):
        generate_book(10, seed=1, prices=panel, chunk_size=chunk)


def test_missing_model_prices_fail_before_any_chunk(panel: pd.DataFrame) -> None:
    with pytest.raises(MarketDataError, match=r"AGG, BND.*backfill"):
        generate_book(10, seed=1, prices=panel.drop(columns=["AGG", "BND"]))


def test_negative_seed_is_rejected(panel: pd.DataFrame) -> None:
    with pytest.raises(ConfigError, match="seed"):
        generate_book(10, seed=-1, prices=panel)


def test_tiny_chunks_still_make_a_valid_book(panel: pd.DataFrame) -> None:
    chunks = list(generate_book(5, seed=3, prices=panel, chunk_size=1))
    assert [c.start for c in chunks] == [0, 1, 2, 3, 4]
    accounts = pd.concat([c.tables["accounts"] for c in chunks], ignore_index=True)
    assert accounts["account_id"].tolist() == [f"A{i:08d}" for i in range(1, 6)]
    assert accounts["household_id"].tolist() == [f"H{i:08d}" for i in range(1, 6)]
    assert set(chunks[0].tables) == {
        "advisors", "model_portfolios", "clients", "accounts", "holdings", "tax_lots",
        "restrictions", "transactions",
    }  # fmt: skip
    assert "advisors" not in chunks[1].tables
