"""The Python payment API (okclink.Terminal over okc_pay_*) on GP tom against
`okc sim-terminal --gptom` (a process; its control API under /_sim/ over urllib)."""

from __future__ import annotations

import base64
import json
import urllib.request

import pytest

import okclink

BASIC_PAIR = "py-client:py-secret"
BASIC_B64 = base64.b64encode(BASIC_PAIR.encode()).decode()
PASSWORD = "py-gptom-secret"


class GptomSim:
    def __init__(self, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}"

    def terminal(self, tid: str = "999888", **kw) -> okclink.Terminal:
        kw.setdefault("gptom_in_progress_limit_ms", 1500)
        return okclink.Terminal(
            f"gptom+{self.base}?tid={tid}", username="py-shop", password=PASSWORD, basic=BASIC_PAIR, **kw
        )

    def control(self, method: str, path: str):
        req = urllib.request.Request(f"{self.base}/_sim/{path}", method=method, data=b"" if method == "POST" else None)
        with urllib.request.urlopen(req, timeout=5) as r:
            return json.loads(r.read())


@pytest.fixture
def gptom_factory(okc_server):
    def make(*args: str) -> GptomSim:
        return GptomSim(
            okc_server(["sim-terminal", "--gptom"], "--client-basic", BASIC_B64, "--task-ms", "100", *args)
        )

    yield make


def test_sale_reverse_and_batch_close(gptom_factory):
    sim = gptom_factory()
    with sim.terminal() as t:
        r = t.pay(1250, "CZK", reference="PY1")
        assert r["approved"] is True and r["amount"] == 1250 and r["currency"] == "CZK", r
        assert r["transactionId"], r
        assert t.pay(1250, "CZK", reference="PY1")["transactionId"] == r["transactionId"]
        rev = t.reverse_last()
        assert rev["kind"] == "reversal" and rev["approved"] is True and rev["amount"] == 1250, rev
        b = t.batch_close()
        assert b["type"] == "BATCH", b
        with pytest.raises(okclink.InvalidArgumentError):
            t.pay(100, "CZK", reference="order-17")  # GP tom references: letters, digits, spaces
    # One sale and one VOID were created; the bad reference never left.
    creates = [q for q in sim.control("GET", "requests") if q["path"] == "/v1/tasks/TRANSACTION"]
    assert len(creates) == 2, creates
    assert all(PASSWORD not in json.dumps(q) for q in creates)


def test_decline(gptom_factory):
    with gptom_factory("--outcome", "decline").terminal() as t:
        r = t.pay(999, "CZK", reference="PYDECL")
        assert r["approved"] is False and "declined" in (r["reason"] or "").lower(), r


def test_stuck_is_outcome_unknown_then_status(gptom_factory):
    sim = gptom_factory("--outcome", "stuck")
    with sim.terminal() as t:
        with pytest.raises(okclink.OutcomeUnknownError):
            t.pay(500, "CZK", reference="PYSTUCK")
        tasks = sim.control("GET", "tasks")
        assert len(tasks) == 1, tasks
        assert sim.control("POST", f"tasks/{tasks[0]['id']}/finish?outcome=approve")["ok"] is True
        r = t.status("PYSTUCK")
        assert r["approved"] is True and r["amount"] == 500, r
    assert len(sim.control("GET", "tasks")) == 1  # never resubmitted
