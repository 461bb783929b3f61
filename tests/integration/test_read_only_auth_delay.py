"""Found by a review: a service on a SQLite file opened read-only (`Store.read_only`) checks the
admin secret with the same `AdminAuth`; a wrong secret's failure cannot be recorded there.
Must: each wrong try still refused as wrong and still slowed (the delay after failed tries
is what stands between a guesser and a lock's end)."""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from fsm_risk.adapters.auth import AdminAuth
from fsm_risk.adapters.store import Store
from fsm_risk.errors import AuthError


def test_wrong_secrets_on_a_read_only_database_are_still_refused_and_slowed(
    tmp_path: Path,
) -> None:
    if shutil.which("chattr") is None:
        pytest.skip("no chattr command: the file cannot be made unwritable for root")
    db = tmp_path / "state.db"
    store = Store(db)
    AdminAuth(store, lambda: datetime.now(UTC)).set_secret("correct horse battery staple")
    store.close()
    subprocess.run(["chattr", "+i", str(db)], check=True)
    try:
        ro = Store(db)
        assert ro.read_only is not None
        waits: list[float] = []
        auth = AdminAuth(ro, lambda: datetime.now(UTC), pause=waits.append)
        outcomes = []
        for _ in range(6):
            try:
                auth.check("guess", "trader")
                outcomes.append("accepted")
            except AuthError as exc:
                outcomes.append(f"AuthError: {exc}")
            except Exception as exc:
                outcomes.append(f"{type(exc).__name__}: {str(exc)[:80]}")
        ro.close()
        assert all(o.startswith("AuthError: wrong admin secret") for o in outcomes), outcomes
        assert sum(waits) > 0, "six wrong secrets in a row, no delay at all"
    finally:
        subprocess.run(["chattr", "-i", str(db)], check=False)
