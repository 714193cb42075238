"""Hand-worked examples, one per rule; the expected numbers are worked out in the comments."""

from __future__ import annotations

import pandas as pd
import pytest

from rebalancer.engine import Policy, Recommendation, band_width, recommend_account, recommend_book
from tests.engine.books import AS_OF, SECURITIES, account, book, holdings, lots, model

PRICES = {"VTI": 100.0, "BND": 100.0, "VXUS": 50.0, "AAPL": 333.33, "BTC-USD": 60_000.0}
NO_COSTS = {"spread_bps": 0.0, "fee_per_trade": 0.0}


def run(
    acct: dict, held: pd.DataFrame, mdl: pd.DataFrame | None = None, **kw: object
) -> Recommendation:
    policy = kw.pop("policy", Policy(**NO_COSTS))
    prices = kw.pop("prices", PRICES)
    tables = book(acct, held, mdl, securities=SECURITIES, **kw)  # type: ignore[arg-type]
    return recommend_account(
        tables,
        prices,
        policy,
        account_id=acct["account_id"],
        as_of=AS_OF,  # type: ignore[arg-type]
    )


def trades(rec: Recommendation) -> dict[tuple[str, str], float]:
    return {(r.symbol, r.side): r.quantity for r in rec.trades.itertuples()}


def test_hybrid_bands_follow_the_target_with_a_floor() -> None:
    # 20% of a 60% sleeve is 12 points; 20% of a 5% sleeve is 1 point, lifted to the 2-point floor.
    widths = band_width(pd.Series([0.60, 0.05]).to_numpy(), Policy())
    assert widths.tolist() == pytest.approx([0.12, 0.02])
    assert band_width(
        pd.Series([0.6]).to_numpy(), Policy(band="relative")
    ).tolist() == pytest.approx([0.12])
    assert band_width(
        pd.Series([0.6]).to_numpy(), Policy(band="absolute", absolute_band=0.05)
    ).tolist() == [0.05]


def test_halfway_trim() -> None:
    # 75/25 against 60/40: bands 12 and 8 points, deviations +15/-15, both outside.
    # Worst ratio band/deviation = 8/15; halfway shrinks every deviation by 0.5 * 8/15 = 4/15:
    # VTI to 60 + 15 * 4/15 = 64%, BND to 36% (halfway between its edge 32% and target 40%).
    # On $100,000: sell 110 VTI, buy 110 BND.
    rec = run(
        account(), holdings(VTI=750, BND=250), policy=Policy(rebalance_to="halfway", **NO_COSTS)
    )
    assert trades(rec) == {("VTI", "SELL"): 110.0, ("BND", "BUY"): 110.0}
    assert set(rec.trades["reason"]) == {"DRIFT_SELL", "DRIFT_BUY"}
    assert rec.accounts.loc[0, "drift_before"] == pytest.approx(0.15)
    assert rec.accounts.loc[0, "drift_after"] == pytest.approx(0.04)


@pytest.mark.parametrize(("mode", "units"), [("target", 150.0), ("band_edge", 70.0)])
def test_rebalance_to_target_or_band_edge(mode: str, units: float) -> None:
    # target: back to 60/40 (150 units each way); band edge: BND to 32% (its edge), VTI to 68%.
    rec = run(account(), holdings(VTI=750, BND=250), policy=Policy(rebalance_to=mode, **NO_COSTS))  # type: ignore[arg-type]
    assert trades(rec) == {("VTI", "SELL"): units, ("BND", "BUY"): units}


def test_inside_bands_no_trades() -> None:
    # 66/34: VTI +6 (band 12), BND -6 (band 8): inside, nothing to do.
    rec = run(account(), holdings(VTI=660, BND=340))
    assert rec.trades.empty
    assert rec.accounts.loc[0, "status"] == ""


def test_deposit_fixes_drift_without_selling() -> None:
    # 65k VTI, 35k BND and a 10k deposit: V = 110k, targets 66k / 44k. BND (31.8%) and cash
    # (9.1%) are out of band. Cash first: the 10k fills the deficits 1k VTI + 9k BND exactly.
    rec = run(account(pending_cash_flow=10_000.0), holdings(VTI=650, BND=350))
    assert trades(rec) == {("VTI", "BUY"): 10.0, ("BND", "BUY"): 90.0}
    assert set(rec.trades["reason"]) == {"CASH_DEPLOY"}
    assert rec.accounts.loc[0, "cash_after"] == pytest.approx(0.0)


def test_same_drift_without_deposit_needs_a_sale() -> None:
    rec = run(account(), holdings(VTI=720, BND=280))
    assert ("VTI", "SELL") in trades(rec)


def test_withdrawal_sells_the_overweight_first() -> None:
    # 70k VTI, 30k BND, no cash, 10k withdrawal: V = 90k, targets 54k / 36k. The cash need is
    # raised from VTI's 16k surplus only: sell 100 VTI; then 60k/30k is inside the bands.
    rec = run(account(pending_cash_flow=-10_000.0), holdings(VTI=700, BND=300))
    assert trades(rec) == {("VTI", "SELL"): 100.0}
    assert rec.trades.loc[0, "reason"] == "WITHDRAWAL"
    assert rec.accounts.loc[0, "cash_after"] == pytest.approx(0.0)


def test_withdrawal_larger_than_the_account_is_a_reported_shortfall() -> None:
    rec = run(account(pending_cash_flow=-50_000.0), holdings(VTI=100, BND=100))
    assert trades(rec) == {("VTI", "SELL"): 100.0, ("BND", "SELL"): 100.0}
    assert "WITHDRAWAL_SHORTFALL" in rec.accounts.loc[0, "status"]


TAXABLE = account(account_type="taxable")
VTI_LOTS = lots(
    [
        ("A1", "VTI", "L1-old-cheap", 40, 50.0, "2020-01-02"),  # long-term, +50/unit
        ("A1", "VTI", "L2-old-dear", 30, 90.0, "2021-01-04"),  # long-term, +10/unit
        ("A1", "VTI", "L3-new-dear", 30, 95.0, "2024-10-01"),  # short-term, +5/unit
    ]
)


@pytest.mark.parametrize(
    ("method", "lot", "gain", "tax"),
    [
        ("tax_aware", "L2-old-dear", 300.0, 45.0),  # long-term before short-term, highest cost
        ("hifo", "L3-new-dear", 150.0, 52.5),  # highest cost: a short-term gain at 35%
        ("fifo", "L1-old-cheap", 1500.0, 225.0),  # oldest: the biggest gain
    ],
)
def test_lot_selection(method: str, lot: str, gain: float, tax: float) -> None:
    # 100 VTI, model 70/30 VTI/BND, to target: sell 30 VTI, buy 30 BND.
    mdl = model(VTI=0.7, BND=0.3)
    policy = Policy(rebalance_to="target", lot_method=method, **NO_COSTS)  # type: ignore[arg-type]
    rec = run(TAXABLE, holdings(VTI=100), mdl, tax_lots=VTI_LOTS, policy=policy)
    sell = rec.trades[rec.trades["side"] == "SELL"].iloc[0]
    assert (sell["quantity"], sell["lots"]) == (30.0, f"{lot}:30.0")
    assert sell["realized_gain"] == pytest.approx(gain)
    assert sell["est_tax"] == pytest.approx(tax)


def test_losses_are_harvested_first() -> None:
    # A 20/unit short-term loss lot goes before a long-term gain lot: est_tax is a saving.
    book_lots = lots(
        [
            ("A1", "VTI", "gain", 50, 50.0, "2020-01-02"),
            ("A1", "VTI", "loss", 50, 120.0, "2024-06-03"),
        ]
    )
    rec = run(TAXABLE, holdings(VTI=100), model(VTI=0.7, BND=0.3), tax_lots=book_lots,
              policy=Policy(rebalance_to="target", **NO_COSTS))  # fmt: skip
    sell = rec.trades[rec.trades["side"] == "SELL"].iloc[0]
    assert sell["lots"] == "loss:30.0"
    assert sell["est_tax"] == pytest.approx(-0.35 * 20 * 30)


def test_tax_exempt_accounts_pay_no_tax() -> None:
    rec = run(account(account_type="roth"), holdings(VTI=100), model(VTI=0.7, BND=0.3),
              tax_lots=VTI_LOTS.assign(account_id="A1"), policy=Policy(rebalance_to="target", **NO_COSTS))  # fmt: skip
    sell = rec.trades[rec.trades["side"] == "SELL"].iloc[0]
    assert (sell["est_tax"], sell["lots"]) == (0.0, "")


def _tx(symbol: str, side: str, days_ago: int, gain: float | None) -> pd.DataFrame:
    day = (pd.Timestamp(AS_OF) - pd.Timedelta(days=days_ago)).date()
    return pd.DataFrame([{"transaction_id": "T1", "account_id": "A9", "household_id": "H1",
                          "symbol": symbol, "side": side, "quantity": 10.0, "price": 100.0,
                          "trade_date": day, "realized_gain": gain}])  # fmt: skip


def test_wash_sale_blocks_a_buy_after_a_household_loss_sale() -> None:
    # Another account of household H1 sold BND at a loss 10 days ago: no BND buy here. BND
    # is pinned at 25%, the rest of the model scales to 75%: VTI already is, so no trade at all.
    rec = run(account(), holdings(VTI=750, BND=250), transactions=_tx("BND", "SELL", 10, -500.0))
    assert rec.trades.empty
    assert "BLOCKED_WASH_SALE" in rec.accounts.loc[0, "status"]
    # Outside the 30-day window the buy goes through.
    later = run(account(), holdings(VTI=750, BND=250), transactions=_tx("BND", "SELL", 31, -500.0))
    assert ("BND", "BUY") in trades(later)
    # A gain sale does not block.
    gain = run(account(), holdings(VTI=750, BND=250), transactions=_tx("BND", "SELL", 10, 500.0))
    assert ("BND", "BUY") in trades(gain)


def test_wash_sale_blocks_a_loss_sale_after_a_household_buy() -> None:
    loss_lots = lots(
        [
            ("A1", "VTI", "dear", 750, 120.0, "2024-01-02"),
            ("A1", "BND", "b", 250, 100.0, "2024-01-02"),
        ]
    )
    rec = run(
        TAXABLE,
        holdings(VTI=750, BND=250),
        tax_lots=loss_lots,
        transactions=_tx("VTI", "BUY", 5, None),
    )
    assert ("VTI", "SELL") not in trades(rec)
    free = run(TAXABLE, holdings(VTI=750, BND=250), tax_lots=loss_lots)
    assert trades(free)[("VTI", "SELL")] == 110.0


def test_restricted_security_is_never_bought() -> None:
    restrictions = pd.DataFrame(
        [{"account_id": "A1", "symbol": "BND", "restriction": "restricted", "reason": "client"}]
    )
    rec = run(account(), holdings(VTI=750, BND=250), restrictions=restrictions)
    assert ("BND", "BUY") not in trades(rec)
    assert rec.trades.empty  # BND pinned at 25%: VTI's target becomes 75%, where it is
    assert "BLOCKED_RESTRICTED" in rec.accounts.loc[0, "status"]


def test_do_not_trade_is_neither_bought_nor_sold() -> None:
    # VTI frozen at 75%: the BND sleeve cannot be funded (no cash), so nothing trades.
    restrictions = pd.DataFrame(
        [{"account_id": "A1", "symbol": "VTI", "restriction": "do_not_trade", "reason": None}]
    )
    rec = run(account(), holdings(VTI=750, BND=250), restrictions=restrictions)
    assert rec.trades.empty


def test_cost_benefit_skips_a_trade_not_worth_its_fee() -> None:
    # Absolute 1-point bands, 61.5/38.5: to target means 15 units ($1,500) each way. Benefit at
    # 50 bps of the misallocation fixed is $7.50 < the $20 fee: skipped. Without the fee it goes.
    tight = {"band": "absolute", "absolute_band": 0.01, "rebalance_to": "target", "spread_bps": 0.0}
    rec = run(account(), holdings(VTI=615, BND=385), policy=Policy(fee_per_trade=20.0, **tight))  # type: ignore[arg-type]
    assert rec.trades.empty
    assert "SKIPPED_SMALL_OR_COSTLY" in rec.accounts.loc[0, "status"]
    free = run(account(), holdings(VTI=615, BND=385), policy=Policy(fee_per_trade=0.0, **tight))  # type: ignore[arg-type]
    assert trades(free) == {("VTI", "SELL"): 15.0, ("BND", "BUY"): 15.0}


def test_costs_are_paid_from_cash() -> None:
    # $1 fee + 10 bps: the BND buy of 90 x $100 costs 1 + 9 = $10, the VTI buy 1 + 1 = $2.
    policy = Policy(fee_per_trade=1.0, spread_bps=10.0)
    rec = run(account(pending_cash_flow=10_000.0), holdings(VTI=650, BND=350), policy=policy)
    got = rec.trades.set_index("symbol")
    assert got.loc["BND", "cost"] == pytest.approx(1 + 0.001 * got.loc["BND", "value"])
    spent = (got["value"] + got["cost"]).sum()
    assert rec.accounts.loc[0, "cash_after"] == pytest.approx(10_000.0 - spent)
    assert rec.accounts.loc[0, "cash_after"] >= 0


def test_whole_share_rounding_and_fractional_accounts() -> None:
    # $1,000 into a 100% AAPL model at $333.33: 3 whole shares ($999.99); a fractional account
    # buys 1000 / 333.33 = 3.00003 shares.
    mdl = model("MA", AAPL=1.0)
    whole = run(account(model_id="MA", pending_cash_flow=1000.0), holdings(), mdl)
    assert trades(whole) == {("AAPL", "BUY"): 3.0}
    frac = run(
        account(model_id="MA", pending_cash_flow=1000.0, fractional_shares=True), holdings(), mdl
    )
    assert trades(frac)[("AAPL", "BUY")] == pytest.approx(1000 / 333.33)


def test_crypto_trades_fractionally_in_a_whole_share_account() -> None:
    mdl = model("MC", **{"BTC-USD": 0.5, "VTI": 0.5})
    rec = run(account(model_id="MC", pending_cash_flow=1000.0), holdings(), mdl)
    assert trades(rec) == {("BTC-USD", "BUY"): pytest.approx(500 / 60_000), ("VTI", "BUY"): 5.0}


def test_cash_reserve_is_kept() -> None:
    # A 5% reserve lifts the cash target: 60/40 becomes 57/38/5 of $110,000.
    rec = run(account(pending_cash_flow=10_000.0), holdings(VTI=600, BND=400),
              policy=Policy(cash_reserve=0.05, rebalance_to="target", **NO_COSTS))  # fmt: skip
    assert rec.accounts.loc[0, "cash_after"] >= 0.05 * 110_000 - 1e-6
    assert trades(rec) == {("VTI", "BUY"): 27.0, ("BND", "BUY"): 18.0}


def test_minimum_trade_value() -> None:
    # A $5 deposit cannot be spent in a trade of at least $10.
    rec = run(account(model_id="MA", pending_cash_flow=5.0, fractional_shares=True), holdings(), model("MA", AAPL=1.0),
              policy=Policy(band="absolute", absolute_band=0.0, **NO_COSTS))  # fmt: skip
    assert rec.trades.empty


@pytest.mark.parametrize(
    ("trigger", "days_ago", "trades_expected"),
    [("calendar", 100, True), ("calendar", 30, False), ("calendar_threshold", 100, False),
     ("threshold", 100, False)],
)  # fmt: skip
def test_calendar_triggers(trigger: str, days_ago: int, trades_expected: bool) -> None:
    # 66/34 is inside the bands: only a pure calendar rule rebalances it, and only when due.
    last = (pd.Timestamp(AS_OF) - pd.Timedelta(days=days_ago)).date()
    policy = Policy(trigger=trigger, calendar_days=90, rebalance_to="target", **NO_COSTS)  # type: ignore[arg-type]
    rec = run(account(last_rebalanced=last), holdings(VTI=660, BND=340), policy=policy)
    assert (not rec.trades.empty) == trades_expected


def test_calendar_threshold_acts_when_due_and_out_of_band() -> None:
    last = (pd.Timestamp(AS_OF) - pd.Timedelta(days=100)).date()
    policy = Policy(trigger="calendar_threshold", rebalance_to="target", **NO_COSTS)
    rec = run(account(last_rebalanced=last), holdings(VTI=750, BND=250), policy=policy)
    assert trades(rec) == {("VTI", "SELL"): 150.0, ("BND", "BUY"): 150.0}


def test_total_drift_trigger() -> None:
    # Betterment-style: only total drift matters. 63/37 is 3 points of total drift (not > 3%).
    betterment = Policy(
        band="absolute", absolute_band=1.0, max_total_drift=0.03, rebalance_to="target", **NO_COSTS
    )
    assert run(account(), holdings(VTI=630, BND=370), policy=betterment).trades.empty
    assert trades(run(account(), holdings(VTI=640, BND=360), policy=betterment)) == {
        ("VTI", "SELL"): 40.0, ("BND", "BUY"): 40.0,
    }  # fmt: skip


def test_non_model_holding_is_sold_entirely() -> None:
    # VXUS is not in the model (target 0, band 2 points floor): a 10% position is sold off.
    rec = run(
        account(),
        holdings(VTI=540, BND=360, VXUS=200),
        policy=Policy(rebalance_to="target", **NO_COSTS),
    )
    assert trades(rec)[("VXUS", "SELL")] == 200.0


def test_batch_reports_and_skips_invalid_accounts() -> None:
    accts = pd.DataFrame([account("A1"), account("A2"), account("A3", model_id="NOPE")])
    held = pd.concat([holdings("A1", VTI=750, BND=250), holdings("A2", VTI=-1, BND=10)])
    rec = recommend_book(book(accts, held, securities=SECURITIES), PRICES, as_of=AS_OF)
    assert set(rec.accounts["account_id"]) == {"A1"}
    reasons = dict(zip(rec.rejected["account_id"], rec.rejected["reason"], strict=True))
    assert reasons["A2"].startswith("negative or missing quantity of VTI")
    assert reasons["A3"] == "unknown model NOPE"
