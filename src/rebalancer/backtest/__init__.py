"""Backtests: rebalancing policies replayed over real history through the real engine.

=======================  ==========================================================
object                   what it is
=======================  ==========================================================
``Backtest``             one account, one trigger, daily closes -> ``result_``
``BaseTrigger``          when the engine is called (and with which ``Policy``)
``Never`` ...            the rules: calendar, threshold, hybrid, calendar+threshold,
                         Daryanani, Vanguard 200/175, 5/25
``LearnedTrigger``       "now or wait" (XGBoost on counterfactual labels, walk-forward)
``evaluate_learned``     per fold: the learned trigger vs the rule picked in sample
``metrics``              the metrics of a ``BacktestResult``
``render_html``          the HTML report (plotly charts and the metrics table)
``sizing="bt"``          bt's conventions (period starts, floored shares) for checks
=======================  ==========================================================
"""

from __future__ import annotations

from rebalancer.backtest._base import BaseTrigger, Window, every_n_days, period_starts
from rebalancer.backtest._calendar import Calendar
from rebalancer.backtest._calendar_threshold import CalendarThreshold
from rebalancer.backtest._daryanani import Daryanani
from rebalancer.backtest._five_twenty_five import FiveTwentyFive
from rebalancer.backtest._learned import (
    FEATURES,
    LearnedTrigger,
    Split,
    best_rule,
    evaluate_learned,
    training_set,
    walk_forward_splits,
)
from rebalancer.backtest._metrics import METRICS, metrics
from rebalancer.backtest._never import Never
from rebalancer.backtest._registry import POLICIES, make_trigger, rule_grid
from rebalancer.backtest._report import metrics_table, render_html
from rebalancer.backtest._simulate import Backtest, BacktestResult, check_weights, one_account_book
from rebalancer.backtest._threshold import Threshold
from rebalancer.backtest._vanguard import Vanguard

__all__ = [
    "FEATURES",
    "METRICS",
    "POLICIES",
    "Backtest",
    "BacktestResult",
    "BaseTrigger",
    "Calendar",
    "CalendarThreshold",
    "Daryanani",
    "FiveTwentyFive",
    "LearnedTrigger",
    "Never",
    "Split",
    "Threshold",
    "Vanguard",
    "Window",
    "best_rule",
    "check_weights",
    "evaluate_learned",
    "every_n_days",
    "make_trigger",
    "metrics",
    "metrics_table",
    "one_account_book",
    "period_starts",
    "render_html",
    "rule_grid",
    "training_set",
    "walk_forward_splits",
]
