"""One force path: the offline ``fsm-risk transition`` and the running service both apply an
admin's override through `core.admin.force`, so the same override on the same state writes
the same audit rows and answers with the same words."""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path

from click.testing import CliRunner
from freezegun import freeze_time

from fsm_risk import bootstrap
from fsm_risk.cli import main
from fsm_risk.core import admin
from fsm_risk.core.effects import RecordTransition
from fsm_risk.core.events import AdminCommand, Side
from fsm_risk.core.states import State
from tests.factories import ES, MNQ, T0, account, fill, position, quote

SETTINGS = """
[general]
database = state.db
log_file = fsm.log
[admin]
failure_delay_seconds = 0
max_failures = 3
[rule.daily_loss_limit]
limit = 1000
"""
SECRET = "correct horse battery staple"


def _commit(home: Path, engine_events: list[object], now: datetime) -> None:
    settings = bootstrap.load_settings(str(home / "settings.ini"))
    store = bootstrap.open_store(settings)
    engine = bootstrap.build_engine(settings)
    effects = []
    for ev in engine_events:
        effects.extend(engine.handle(ev, now))  # type: ignore[arg-type]
    audit = [e.entry for e in effects if isinstance(e, RecordTransition)]
    store.commit(engine.take_changes(), audit, engine.marks)
    store.close()


def _audit(home: Path) -> list[tuple[object, ...]]:
    settings = bootstrap.load_settings(str(home / "settings.ini"))
    store = bootstrap.open_store(settings)
    try:
        return [
            (e.at, e.contract_id, e.from_state, e.to_state, e.trigger, e.rule_id, e.reason, e.actor)
            for e in store.audit(1001)
        ]
    finally:
        store.close()


def test_offline_and_the_shared_force_path_audit_and_answer_alike(tmp_path: Path) -> None:
    home, twin = tmp_path / "home", tmp_path / "twin"
    home.mkdir()
    (home / "settings.ini").write_text(SETTINGS)
    with freeze_time(T0):  # both sides at the same instant: times must agree to the second
        _commit(
            home,
            [
                account(),
                fill(ES, Side.BUY, 1, "6000"),
                fill(ES, Side.SELL, 1, "5919.75", pnl="-1003.12"),
                position(ES, 0, "0"),
                position(MNQ, 2, "21000"),
                quote(MNQ, "20990"),
            ],
            T0,
        )
        secret_file = home / "secret"
        secret_file.write_text(SECRET)
        runner = CliRunner()
        ini = ["--settings", str(home / "settings.ini")]
        r = runner.invoke(main, ["admin", "set-secret", "--secret-file", str(secret_file), *ini])
        assert r.exit_code == 0, r.output
        shutil.copytree(home, twin)
        # offline, as a person types it
        typed = ["transition", "1001", "--to", "Trading", "--reason", "desk ok", "--admin", "ops"]
        r = runner.invoke(
            main, [*typed, "--secret-file", str(secret_file), *ini], catch_exceptions=False
        )
        assert r.exit_code == 0, r.output
        offline = r.output
        # the path the service's consumer takes, on the twin of the same state
        settings = bootstrap.load_settings(str(twin / "settings.ini"))
        store = bootstrap.open_store(settings)
        engine, effects = bootstrap.restored_engine(settings, store, T0)
        forced = admin.force(engine, AdminCommand(1001, State.Trading, "desk ok", "ops"), T0)
        effects.extend(forced.effects)
        store.commit(
            engine.take_changes(), [e.entry for e in effects if isinstance(e, RecordTransition)]
        )
        store.close()
    assert offline.startswith(forced.text + "\n"), (offline, forced.text)
    assert "LockedDaily -> Trading (forced by admin:ops: desk ok)" in forced.text
    assert "waived RULE-003 daily_loss_limit until" in forced.text
    assert _audit(home) == _audit(twin)
    assert _audit(home)[-1][4] == "force"
