"""The HTTP API through FastAPI's test client: answers, 4xx with clear messages, feedback that
is durable before the reply (committed, or journaled while another program holds the file)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import pytest

pytest.importorskip("fastapi", reason="the `serve` extra is not installed")
from fastapi.testclient import TestClient

import recsys_kit
from recsys_kit.serving.feedback import now_utc
from recsys_kit.serving.http import create_app
from recsys_kit.store import ResultStore
from tests.serving.conftest import Trained


@pytest.fixture(scope="module")
def store(sasrec_run: Trained) -> ResultStore:
    store = ResultStore(sasrec_run.results, write_wait_s=0.2)
    store.migrate()
    return store


@pytest.fixture(scope="module")
def client(sasrec_run: Trained, store: ResultStore) -> Iterator[TestClient]:
    run = recsys_kit.load_run(sasrec_run.run_id, results=sasrec_run.results, device="cpu")
    with TestClient(create_app(run, store)) as test_client:
        yield test_client


def test_health_and_openapi_describe_the_served_run(client: TestClient,
                                                    sasrec_run: Trained) -> None:
    health = client.get("/health").json()
    assert health == {"status": "ok", "run_id": sasrec_run.run_id, "name": "tiny", "users": 120,
                      "items": 60, "explain_method": "occlusion", "accepts_new_items": False,
                      "feedback": True}
    spec = client.get("/openapi.json").json()
    assert {"/recommend", "/feedback", "/health"} <= set(spec["paths"])
    assert "user_id" in spec["components"]["schemas"]["RecommendRequest"]["properties"]
    assert client.get("/docs").status_code == 200


def test_recommend_answers_with_canonical_column_names(client: TestClient) -> None:
    reply = client.post("/recommend", json={"user_id": "1", "k": 3})
    assert reply.status_code == 200
    body = reply.json()
    assert body["user_id"] == "1" and len(body["items"]) == 3
    assert set(body["items"][0]) == {"rank", "item_id", "score", "title", "explanation"}
    fresh = client.post("/recommend", json={"history": ["1", "2"], "k": 2}).json()
    assert fresh["user_id"] is None and fresh["history_length"] == 2


@pytest.mark.parametrize(("body", "status", "says"), [
    ({"user_id": "nobody"}, 404, "does not know user 'nobody'"),
    ({"history": []}, 422, "history is empty"),
    ({}, 422, "history is empty"),
    ({"history": ["1", "zzz"]}, 422, "not in run"),
    ({"user_id": "1", "k": 0}, 422, "k: Input should be greater than or equal to 1"),
    ({"user_id": "1", "k": 5000}, 422, "k: Input should be less than or equal to 1000"),
    ({"user_id": "1", "k": 61}, 422, "k must be a whole number from 1 to 60"),
    ({"user_id": "1", "colour": "red"}, 422, "colour: unknown field"),
    ({"user_id": "1", "history": "1,2"}, 422, "history: Input should be a valid list"),
])
def test_bad_recommend_requests_get_a_clear_4xx(client: TestClient, body: dict, status: int,
                                                says: str) -> None:
    reply = client.post("/recommend", json=body)
    assert reply.status_code == status, reply.text
    assert says in reply.json()["detail"]


def test_malformed_json_is_a_400(client: TestClient) -> None:
    reply = client.post("/recommend", content=b'{"user_id": ',
                        headers={"content-type": "application/json"})
    assert reply.status_code == 400
    assert "not valid JSON" in reply.json()["detail"]


def test_feedback_is_stored_once_per_event_id(client: TestClient, store: ResultStore,
                                              sasrec_run: Trained) -> None:
    one = client.post("/feedback", json={"user_id": "1", "item_id": "5", "kind": "click",
                                         "event_id": "http-1"})
    assert one.status_code == 201 and one.json()["durable"] == "committed"
    batch = [{"user_id": "2", "item_id": "6", "kind": "rating", "value": 4,
              "ts": "2024-01-01T10:00:00+02:00"},
             {"user_id": "1", "item_id": "5", "kind": "click", "event_id": "http-1"}]
    reply = client.post("/feedback", json=batch).json()
    assert reply["event_ids"][1] == "http-1" and reply["run_id"] == sasrec_run.run_id
    _, rows = store.query("SELECT user_id, item_id, kind, value, ts, source FROM feedback "
                          "WHERE event_id IN (?, ?) ORDER BY user_id",
                          ["http-1", reply["event_ids"][0]])
    assert [r[:4] + r[5:] for r in rows] == [("1", "5", "click", None, "http"),
                                             ("2", "6", "rating", 4.0, "http")]
    assert abs((rows[0][4] - now_utc()).total_seconds()) < 600  # received now (UTC)
    assert rows[1][4] == datetime(2024, 1, 1, 8)  # given in UTC+2


@pytest.mark.parametrize(("body", "says"), [
    ({"user_id": "1", "item_id": "5", "kind": "rating"}, "a rating needs its value"),
    ({"user_id": "1", "item_id": "5", "kind": "like"}, "kind: Input should be 'click'"),
    ([{"user_id": "1", "kind": "click"}], "0.item_id: Field required"),
    ({"user_id": "1", "item_id": "5", "kind": "click", "value": "high"}, "value:"),
    ([], "list of feedback events is empty"),
])
def test_bad_feedback_is_refused_and_nothing_is_stored(client: TestClient, store: ResultStore,
                                                       body: object, says: str) -> None:
    before = store.query("SELECT count(*) FROM feedback")[1]
    reply = client.post("/feedback", json=body)
    assert reply.status_code == 422 and says in reply.json()["detail"], reply.text
    assert store.query("SELECT count(*) FROM feedback")[1] == before


def test_feedback_waits_in_the_journal_while_another_program_holds_the_file(
        client: TestClient, store: ResultStore) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys; con = duckdb.connect(sys.argv[1]); "
         "print('holding', flush=True); sys.stdin.read()", str(store.path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "holding"
        reply = client.post("/feedback", json={"user_id": "3", "item_id": "9", "kind": "purchase",
                                               "event_id": "while-held"})
        assert reply.status_code == 201 and reply.json()["durable"] == "journaled"
        assert store.journal.entries()
    finally:
        holder.communicate("")
    store.merge_pending()
    assert not store.journal.entries()
    _, rows = store.query("SELECT kind FROM feedback WHERE event_id = 'while-held'")
    assert rows == [("purchase",)]


def test_a_server_without_a_results_file_refuses_feedback(sasrec_run: Trained) -> None:
    run = recsys_kit.load_run(sasrec_run.folder, device="cpu")
    assert run.files.results == sasrec_run.results  # found next to the run folder
    with TestClient(create_app(run, None)) as bare:
        reply = bare.post("/feedback", json={"user_id": "1", "item_id": "5", "kind": "click"})
    assert reply.status_code == 503 and "--results" in reply.json()["detail"]


def test_concurrent_feedback_requests_each_store_their_event(client: TestClient,
                                                             store: ResultStore) -> None:
    """The app answers feedback on a thread pool: concurrent writers in one process must not
    lose or duplicate events."""
    def send(i: int) -> int:
        return client.post("/feedback", json={"user_id": "4", "item_id": str(i % 7 + 1),
                                              "kind": "click", "event_id": f"many-{i}"}
                           ).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        codes = list(pool.map(send, range(40)))
    assert codes == [201] * 40
    _, rows = store.query("SELECT count(*), count(DISTINCT event_id) FROM feedback "
                          "WHERE event_id LIKE 'many-%'")
    assert rows == [(40, 40)]
