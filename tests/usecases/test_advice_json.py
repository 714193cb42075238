"""The model's reasons are stored as JSON text exactly as ``json.dumps`` writes them."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from rebalancer.usecases._advice import _json_strings


@given(st.lists(st.text()))
def test_reasons_json_is_json_dumps(texts: list[str]) -> None:
    assert _json_strings(texts) == json.dumps(texts, ensure_ascii=False)
    assert json.loads(_json_strings(texts)) == texts
