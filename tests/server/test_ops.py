"""Operations: health, Prometheus metrics, tokenize/detokenize, CORS, the UI's files."""
import re


def test_health(stories_server):
    status, data = stories_server.get("/health")
    assert status == 200 and b'"ok"' in data


def test_tokenize_roundtrip(stories_server):
    text = "Once upon a time, there was a little girl."
    _, tok = stories_server.post("/tokenize", {"content": text})
    ids = tok["tokens"]
    assert ids and all(isinstance(i, int) for i in ids)
    _, detok = stories_server.post("/detokenize", {"tokens": ids})
    assert detok["content"].strip() == text
    _, pieces = stories_server.post("/tokenize", {"content": text, "with_pieces": True})
    assert [p["id"] for p in pieces["tokens"]] == ids
    assert "".join(p["piece"] for p in pieces["tokens"]).strip() == text
    status, err = stories_server.post("/detokenize", {"tokens": [1, 10 ** 6]})
    assert status == 400 and "tokens" in err["error"]["message"]


def metrics(server):
    _, data = server.get("/metrics")
    values = {}
    for line in data.decode().splitlines():
        if line and not line.startswith("#"):
            name, value = line.split()
            values[name] = float(value)
    return data.decode(), values


def test_metrics_count_tokens(stories_server):
    _, before = metrics(stories_server)
    stories_server.post("/v1/completions", {"prompt": "Once upon a time", "max_tokens": 7,
                                            "temperature": 0})
    text, after = metrics(stories_server)
    assert after["kt_tokens_predicted_total"] - before["kt_tokens_predicted_total"] == 7
    assert after["kt_prompt_tokens_total"] > before["kt_prompt_tokens_total"]
    assert after["kt_requests_total"] > before["kt_requests_total"]
    for name in ("kt_requests_deferred", "kt_requests_processing", "kt_predicted_tokens_seconds"):
        assert re.search(rf"^# TYPE {name} gauge$", text, re.M), name
    assert after["kt_predicted_tokens_seconds"] > 0


def test_cors_header_on_answers(stories_server):
    _, headers, _ = stories_server.request("GET", "/v1/models")
    assert headers["Access-Control-Allow-Origin"] == "*"


def test_web_ui_files(stories_server):
    status, headers, data = stories_server.request("GET", "/web/index.html")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert data.lower().startswith(b"<!doctype html")
    status, headers, _ = stories_server.request("GET", "/web/app.js")
    assert status == 200 and "javascript" in headers["Content-Type"]
    assert stories_server.request("GET", "/web/nope.js")[0] == 404
