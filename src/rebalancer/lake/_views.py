"""Named analyst views: ``sql/views/<name>.sql``, Athena dialect, one SELECT each."""

from __future__ import annotations

from rebalancer.resources import sql_dir


def view_definitions() -> dict[str, str]:
    """View name -> Athena SQL body, sorted by name."""
    directory = sql_dir() / "views"
    if not directory.is_dir():
        return {}
    return {
        path.stem: path.read_text().strip().rstrip(";").strip()
        for path in sorted(directory.glob("*.sql"))
    }
