"""The payment journal through Python: a second Terminal on the same journal file (a restart)
returns the recorded result without a second charge, offers unconfirmed results again and
never sends an operation that is in doubt again (`okc sim-terminal --gptom` / `--nexo`)."""

from __future__ import annotations

import pytest

import okclink

from test_gptom import GptomSim, gptom_factory  # noqa: F401  (fixture)


def creates(sim: GptomSim) -> int:
    return sum(
        1 for r in sim.control("GET", "requests") if r["method"] == "POST" and r["path"] == "/v1/tasks/TRANSACTION"
    )


def test_restart_recorded_pending_confirm(gptom_factory, tmp_path):  # noqa: F811
    sim = gptom_factory()
    journal = str(tmp_path / "pay.sqlite")
    with sim.terminal(journal=journal) as t:
        a = t.pay(500, "CZK", reference="PJ1")
        b = t.pay(600, "CZK", reference="PJ2")
        assert a["approved"] and b["approved"]
        t.confirm("PJ1")
        with pytest.raises(okclink.InvalidArgumentError):
            t.confirm("nope")
    with sim.terminal(journal=journal) as t:
        pending = t.pending()
        assert [(p["reference"], p["state"]) for p in pending] == [("PJ2", "answered")]
        assert pending[0]["result"]["transactionId"] == b["transactionId"]
        assert t.pay(500, "CZK", reference="PJ1") == a  # recorded: no second task
        t.confirm("PJ2")
        assert t.pending() == []
    assert creates(sim) == 2


def test_in_doubt_is_never_sent_again(gptom_factory, tmp_path):  # noqa: F811
    sim = gptom_factory("--outcome", "stuck")
    journal = str(tmp_path / "pay.sqlite")
    with sim.terminal(journal=journal, gptom_in_progress_limit_ms=400) as t:
        with pytest.raises(okclink.OutcomeUnknownError):
            t.pay(700, "CZK", reference="PJ3")
    with sim.terminal(journal=journal, gptom_in_progress_limit_ms=400) as t:
        assert [p["state"] for p in t.pending()] == ["in_doubt"]
        with pytest.raises(okclink.OutcomeUnknownError):
            t.pay(700, "CZK", reference="PJ3")
    assert creates(sim) == 1
    task = next(x for x in sim.control("GET", "tasks") if x["request"]["originReferenceNum"] == "PJ3")
    assert sim.control("POST", f"tasks/{task['id']}/finish?outcome=approve")["ok"]
    with sim.terminal(journal=journal) as t:
        p = t.pending()
        assert [(x["reference"], x["state"]) for x in p] == [("PJ3", "answered")]
        assert t.pay(700, "CZK", reference="PJ3")["approved"]
    assert creates(sim) == 1


def test_journal_off_and_bad_journal(okc_server, tmp_path):
    port = okc_server(["sim-terminal", "--nexo"], "--payment-ms", "50", "--busy-ms", "100")
    url = f"nexo+http://127.0.0.1:{port}?poiid=PY-POS"
    with okclink.Terminal(url, journal="off") as t:
        assert t.pending() == []
        t.confirm("anything")  # nothing to confirm without a journal
    bad = tmp_path / "not-a-journal.sqlite"
    bad.write_bytes(b"Z" * 8192)
    with pytest.raises(okclink.OkcError) as e:
        okclink.Terminal(url, journal=str(bad))
    assert "move the file" in str(e.value)
