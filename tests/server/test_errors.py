"""Every error path answers a clear message with the right status, in the right dialect, and
the server keeps serving afterwards."""
import json

import openai
import pytest

from test_openai import client


def error_of(server, path, body=None, raw=None, headers=None, method="POST"):
    status, hdrs, data = server.request(method, path, body, raw=raw, headers=headers)
    return status, hdrs, json.loads(data)


@pytest.mark.parametrize("raw", [b"{", b"not json", b'{"prompt": "a",}', b"\xff\xfe", b""])
def test_malformed_json(stories_server, raw):
    status, _, body = error_of(stories_server, "/v1/completions", raw=raw)
    assert status == 400
    assert body["error"]["type"] == "invalid_request_error"
    assert "JSON" in body["error"]["message"]


@pytest.mark.parametrize("body,field", [
    ({"prompt": "a", "temperature": "hot"}, "temperature"),
    ({"prompt": "a", "temperature": -1}, "temperature"),
    ({"prompt": "a", "max_tokens": "ten"}, "max_tokens"),
    ({"prompt": "a", "max_tokens": 1.5}, "max_tokens"),
    ({"prompt": "a", "max_tokens": -3}, "max_tokens"),
    ({"prompt": "a", "top_p": 2}, "top_p"),
    ({"prompt": "a", "stop": 5}, "stop"),
    ({"prompt": "a", "stop": ["x", 1]}, "stop"),
    ({"prompt": "a", "stream": "yes"}, "stream"),
    ({"prompt": "a", "seed": "x"}, "seed"),
    ({"prompt": "a", "logprobs": 99}, "logprobs"),
    ({"prompt": 5}, "prompt"),
    ({"prompt": [1, "a"]}, "prompt"),
    ({"prompt": [1, 99999]}, "prompt"),
    ({"prompt": ["a", "b"]}, "prompt"),
    ({}, "prompt"),
    ({"prompt": "a", "n": 2}, "n"),
    ({"prompt": "a", "logit_bias": {"1": 5}}, "logit_bias"),
])
def test_wrong_fields_are_named(stories_server, body, field):
    status, _, out = error_of(stories_server, "/v1/completions", body)
    assert status == 400, out
    assert field in out["error"]["message"]
    assert out["error"]["param"] == field


@pytest.mark.parametrize("body,needle", [
    ({}, "messages"),
    ({"messages": "hi"}, "messages"),
    ({"messages": []}, "messages"),
    ({"messages": [{"content": "x"}]}, "role"),
    ({"messages": [{"role": "wizard", "content": "x"}]}, "wizard"),
    ({"messages": [{"role": "user", "content": 5}]}, "content"),
    ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]},
     "image_url"),
    ({"messages": [{"role": "user", "content": "x"}], "top_logprobs": 2}, "logprobs"),
    ({"messages": [{"role": "user", "content": "x"}], "tools": {}}, "tools"),
    ({"messages": [{"role": "user", "content": "x"}], "response_format": {"type": "json_object"}},
     "response_format"),
])
def test_chat_request_errors(stories_server, body, needle):
    status, _, out = error_of(stories_server, "/v1/chat/completions", body)
    assert status == 400, out
    assert needle in out["error"]["message"]


def test_body_not_an_object(stories_server):
    status, _, out = error_of(stories_server, "/v1/chat/completions", [1, 2])
    assert status == 400 and "object" in out["error"]["message"]


def test_unknown_model_404(stories_server):
    with pytest.raises(openai.NotFoundError) as e:
        client(stories_server).chat.completions.create(
            model="gpt-17", messages=[{"role": "user", "content": "x"}])
    assert "gpt-17" in str(e.value)
    status, _, out = error_of(stories_server, "/api/chat",
                              {"model": "gpt-17", "messages": [{"role": "user", "content": "x"}]})
    assert status == 404 and "gpt-17" in out["error"]  # Ollama's dialect: a string


def test_prompt_longer_than_the_context(stories_server):
    status, _, out = error_of(stories_server, "/v1/completions",
                              {"prompt": [5] * 600, "max_tokens": 1})
    assert status == 400
    assert out["error"]["type"] == "exceed_context_size_error"
    assert "600" in out["error"]["message"]


def test_unknown_route_is_json_404(stories_server):
    status, _, out = error_of(stories_server, "/v1/nothing-here", {"a": 1})
    assert status == 404 and "/v1/nothing-here" in out["error"]["message"]


def test_oversized_body_413(start_server, stories_gguf):
    s = start_server(["-m", str(stories_gguf)], ["--max_body_mb", "0.01"])
    big = {"prompt": "x" * 20000}
    status, _, out = error_of(s, "/v1/completions", big)
    assert status == 413
    assert "larger than" in out["error"]["message"]
    status, _ = s.post("/v1/completions", {"prompt": "Once", "max_tokens": 2})
    assert status == 200


def test_api_key(start_server, stories_gguf):
    s = start_server(["-m", str(stories_gguf)], [], api_key="sekret")
    # /health and the UI are public; the APIs are not.
    assert s.request("GET", "/health", headers={})[0] == 200
    assert s.request("GET", "/web/index.html", headers={})[0] == 200
    for path in ("/v1/models", "/api/tags", "/metrics"):
        status, hdrs, data = s.request("GET", path, headers={})
        assert status == 401, path
        assert "Invalid API Key" in data.decode()
    status, _, _ = s.request("GET", "/v1/models", headers={"Authorization": "Bearer wrong"})
    assert status == 401
    status, _, _ = s.request("GET", "/v1/models", headers={"X-Api-Key": "sekret"})
    assert status == 200
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=s.base_url + "/v1", api_key="wrong", max_retries=0).models.list()
    ok = openai.OpenAI(base_url=s.base_url + "/v1", api_key="sekret", max_retries=0)
    assert ok.completions.create(model="stories260K", prompt="Once", max_tokens=2).usage
    # CORS preflight needs no key.
    status, hdrs, _ = s.request("OPTIONS", "/v1/chat/completions", headers={
        "Origin": "http://example.com", "Access-Control-Request-Method": "POST"})
    assert status == 204 and hdrs["Access-Control-Allow-Origin"] == "*"


def test_server_still_serves_after_errors(stories_server):
    for raw in (b"{", b"[]", b'{"prompt": null}'):
        stories_server.request("POST", "/v1/completions", raw=raw)
    status, body = stories_server.post("/v1/completions", {"prompt": "Once", "max_tokens": 3})
    assert status == 200 and body["usage"]["completion_tokens"] == 3


def test_bad_command_line_is_a_clear_error(kt_bin, tmp_path):
    import subprocess
    r = subprocess.run([str(kt_bin), "serve", "-m", str(tmp_path / "missing.gguf")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "missing.gguf" in r.stderr
    r = subprocess.run([str(kt_bin), "serve", "-m", "x", "--web", "maybe"], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode != 0 and "--web" in r.stderr


@pytest.mark.parametrize("raw", [b"[" * 100000 + b"]" * 100000,
                                 b'{"prompt": "' + "é".encode() * 1000 + b'\xff"}',
                                 b'{"messages": [{"role": "user", "content": "\\ud800"}]}'])
def test_hostile_bodies(stories_server, raw):
    """Deep nesting, invalid UTF-8 and lone surrogates: a 400, never a crash."""
    status, _, data = stories_server.request("POST", "/v1/chat/completions", raw=raw)
    assert status == 400, data[:200]
    assert stories_server.get("/health")[0] == 200
