"""The securities universe: the bundled default plus the user's ``symbols_file`` CSV.

The ``securities`` table is seeded from here (``rebalancer securities seed``; ingestion and the
demo seed it when it is empty). A user CSV adds symbols or overrides default rows with the same
symbol; it is validated line by line and a bad file fails with one line naming the line.
"""

from __future__ import annotations

import csv
import io
import re
from importlib import resources
from pathlib import Path

import pandas as pd

from rebalancer.config import Settings
from rebalancer.errors import ConfigError
from rebalancer.lake import Lake

ASSET_CLASSES = ("equity", "equity_etf", "bond_etf", "crypto", "cash")
CALENDARS = ("XNYS", "24/7", "none")
DEFAULT_CALENDAR = {
    "equity": "XNYS",
    "equity_etf": "XNYS",
    "bond_etf": "XNYS",
    "crypto": "24/7",
    "cash": "none",
}
COLUMNS = ["symbol", "name", "asset_class", "currency", "calendar", "active"]
REQUIRED = ("symbol", "name", "asset_class", "currency")
MAX_ROWS = 10_000
MAX_BYTES = 5_000_000
_SYMBOL = re.compile(r"^[A-Z0-9][A-Z0-9.\-=^]{0,19}$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_TRUE = {"true", "1", "yes", "y", "t"}
_FALSE = {"false", "0", "no", "n", "f"}


def _parse_csv(text: str, origin: str) -> pd.DataFrame:
    """Parse and validate universe CSV text; :class:`ConfigError` naming the first bad line."""
    reader = csv.reader(io.StringIO(text))
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        raise ConfigError(f"{origin}: empty file, expected a header {','.join(COLUMNS)}") from None
    except csv.Error as exc:
        raise ConfigError(f"{origin} line 1: {exc}") from None
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise ConfigError(f"{origin} line 1: missing column(s) {', '.join(missing)}")
    unknown = [c for c in header if c not in COLUMNS]
    if unknown:
        raise ConfigError(f"{origin} line 1: unknown column(s) {', '.join(unknown)}")
    if len(set(header)) != len(header):
        raise ConfigError(f"{origin} line 1: duplicate column names")
    rows: list[dict[str, object]] = []
    seen: dict[str, int] = {}
    try:
        for record in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in record):
                continue
            if len(rows) >= MAX_ROWS:
                raise ConfigError(f"{origin}: more than {MAX_ROWS} securities")
            if len(record) != len(header):
                raise ConfigError(
                    f"{origin} line {line}: expected {len(header)} fields, got {len(record)}"
                )
            raw = {h: cell.strip() for h, cell in zip(header, record, strict=True)}
            rows.append(_parse_row(raw, origin, line, seen))
    except csv.Error as exc:
        raise ConfigError(f"{origin} line {reader.line_num}: {exc}") from None
    return pd.DataFrame(rows, columns=COLUMNS)


def _parse_row(
    raw: dict[str, str], origin: str, line: int, seen: dict[str, int]
) -> dict[str, object]:
    where = f"{origin} line {line}"
    symbol = raw["symbol"].upper()
    if not _SYMBOL.fullmatch(symbol):
        raise ConfigError(f"{where}: invalid symbol {raw['symbol']!r}")
    if symbol in seen:
        raise ConfigError(f"{where}: duplicate symbol {symbol} (first on line {seen[symbol]})")
    seen[symbol] = line
    name = raw["name"]
    if not name or len(name) > 200:
        raise ConfigError(f"{where}: name must be 1 to 200 characters")
    asset_class = raw["asset_class"].lower()
    if asset_class not in ASSET_CLASSES:
        raise ConfigError(
            f"{where}: unknown asset_class {raw['asset_class']!r} "
            f"(expected one of {', '.join(ASSET_CLASSES)})"
        )
    currency = raw["currency"].upper()
    if not _CURRENCY.fullmatch(currency):
        raise ConfigError(f"{where}: currency must be a 3-letter ISO code, got {raw['currency']!r}")
    calendar = raw.get("calendar") or DEFAULT_CALENDAR[asset_class]
    if calendar not in CALENDARS:
        raise ConfigError(
            f"{where}: unknown calendar {calendar!r} (expected one of {', '.join(CALENDARS)})"
        )
    active_text = (raw.get("active") or "true").lower()
    if active_text not in _TRUE | _FALSE:
        raise ConfigError(f"{where}: active must be true or false, got {raw.get('active')!r}")
    return {
        "symbol": symbol,
        "name": name,
        "asset_class": asset_class,
        "currency": currency,
        "calendar": calendar,
        "active": active_text in _TRUE,
    }


def default_universe() -> pd.DataFrame:
    """The bundled default universe (US equities, equity and bond ETFs, crypto, cash)."""
    text = resources.files("rebalancer.market").joinpath("default_universe.csv").read_text()
    return _parse_csv(text, "default_universe.csv")


def read_symbols_file(path: str | Path) -> pd.DataFrame:
    """Read and validate a user CSV: ``symbol,name,asset_class,currency[,calendar,active]``."""
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"symbols file {file} does not exist")
    if file.stat().st_size > MAX_BYTES:
        raise ConfigError(f"symbols file {file} is larger than {MAX_BYTES:,} bytes")
    try:
        text = file.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise ConfigError(f"symbols file {file} is not UTF-8 text") from None
    if "\x00" in text:
        raise ConfigError(f"symbols file {file} is not a text file")
    return _parse_csv(text, str(file))


def universe(settings: Settings | None = None) -> pd.DataFrame:
    """Default universe plus ``settings.symbols_file`` (its rows win on the same symbol)."""
    frame = default_universe()
    if settings is not None and settings.symbols_file:
        extra = read_symbols_file(settings.symbols_file)
        frame = pd.concat([frame[~frame["symbol"].isin(extra["symbol"])], extra])
    return frame.sort_values("symbol", kind="stable").reset_index(drop=True)


def seed_securities(lake: Lake, settings: Settings | None = None, *, force: bool = False) -> int:
    """Write the universe to ``securities`` if that is empty (or ``force``); rows written."""
    if not force and lake.list_objects("securities"):
        return 0
    frame = universe(settings)
    lake.write("securities", frame)
    return len(frame)


def load_securities(
    lake: Lake, settings: Settings | None = None, *, seed_if_empty: bool = True
) -> pd.DataFrame:
    """The ``securities`` table, seeded from the universe first when it is empty."""
    if seed_if_empty:
        seed_securities(lake, settings)
    frame = lake.read("securities")
    return frame.sort_values("symbol", kind="stable").reset_index(drop=True)


def universe_of(lake: Lake, settings: Settings | None = None) -> pd.DataFrame:
    """The ``securities`` table, or the universe it would be seeded with: nothing written."""
    frame = load_securities(lake, settings, seed_if_empty=False)
    return frame if not frame.empty else universe(settings)


def asset_class_map(securities: pd.DataFrame) -> dict[str, str]:
    """``symbol -> asset_class``."""
    return dict(zip(securities["symbol"], securities["asset_class"], strict=True))
