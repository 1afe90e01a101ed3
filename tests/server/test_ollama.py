"""Ollama's API, driven by the official `ollama` Python client and raw NDJSON."""
import json

import ollama
import pytest

from conftest import STORY


def oc(server):
    return ollama.Client(host=server.base_url, timeout=60)


def test_version_tags_ps(stories_server):
    status, data = stories_server.get("/api/version")
    assert status == 200 and json.loads(data)["version"]
    tags = oc(stories_server).list()
    assert len(tags.models) == 1
    m = tags.models[0]
    assert m.model == "stories260K:latest"
    assert m.details.family == "llama" and m.details.format == "gguf"
    assert m.details.quantization_level == "F32"
    assert m.size > 0 and len(m.digest) == 64
    ps = oc(stories_server).ps()
    assert ps.models[0].model == "stories260K:latest"


def test_show_has_real_details(stories_server):
    info = oc(stories_server).show("stories260K")
    assert info.details.family == "llama"
    assert info.details.parameter_size == "260K"
    assert info.modelinfo["general.architecture"] == "llama"
    assert info.modelinfo["llama.context_length"] == 512
    assert info.modelinfo["general.parameter_count"] == 260032
    assert "completion" in info.capabilities
    assert info.template is not None


def test_generate_greedy(stories_server):
    r = oc(stories_server).generate(model="stories260K", prompt="Once upon a time", raw=True,
                                    options={"temperature": 0, "num_predict": 30})
    assert ("Once upon a time" + r.response).startswith(STORY[:60])
    assert r.done and r.done_reason == "length"
    assert r.eval_count == 30
    assert r.prompt_eval_count > 0
    for field in ("total_duration", "prompt_eval_duration", "eval_duration"):
        assert isinstance(getattr(r, field), int) and getattr(r, field) > 0
    assert r.total_duration >= r.eval_duration
    _, tok = stories_server.post("/tokenize", {"content": "Once upon a time", "add_special": True})
    assert r.context == tok["tokens"] + r.context[len(tok["tokens"]):]
    assert len(r.context) == len(tok["tokens"]) + 30


def test_generate_stream_matches(stories_server):
    c = oc(stories_server)
    args = dict(model="stories260K", prompt="Once upon a time", raw=True,
                options={"temperature": 0, "num_predict": 25, "stop": ["Lily"]})
    whole = c.generate(**args)
    parts = list(c.generate(stream=True, **args))
    assert "".join(p.response for p in parts) == whole.response
    assert whole.response.endswith("named ")
    assert parts[-1].done and parts[-1].done_reason == "stop"
    assert all(not p.done for p in parts[:-1])


def test_generate_context_continues(stories_server):
    c = oc(stories_server)
    first = c.generate(model="stories260K", prompt="Once upon a time", raw=True,
                       options={"temperature": 0, "num_predict": 10})
    second = c.generate(model="stories260K", prompt=" and", raw=True, context=first.context,
                        options={"temperature": 0, "num_predict": 5})
    assert second.context[:len(first.context)] == first.context


def test_chat_stream_and_whole(stories_server):
    c = oc(stories_server)
    msgs = [{"role": "user", "content": "Tell me a story"}]
    opts = {"temperature": 0, "num_predict": 20, "seed": 3}
    whole = c.chat(model="stories260K:latest", messages=msgs, options=opts)
    assert whole.message.role == "assistant"
    parts = list(c.chat(model="stories260K", messages=msgs, options=opts, stream=True))
    assert "".join(p.message.content for p in parts) == whole.message.content
    assert parts[-1].done and parts[-1].eval_count == whole.eval_count


def test_raw_ndjson_stream(stories_server):
    status, headers, data = stories_server.request("POST", "/api/generate", {
        "model": "stories260K", "prompt": "Once", "raw": True, "options": {"num_predict": 5}})
    assert status == 200
    assert headers["Content-Type"].startswith("application/x-ndjson")
    lines = [json.loads(l) for l in data.decode().splitlines()]
    assert all(not l["done"] for l in lines[:-1]) and lines[-1]["done"]
    assert lines[-1]["created_at"].endswith("Z")


def test_empty_prompt_loads(stories_server):
    status, body = stories_server.post("/api/generate", {"model": "stories260K", "stream": False})
    assert status == 200 and body["done_reason"] == "load"


def test_errors_in_ollama_dialect(stories_server):
    with pytest.raises(ollama.ResponseError) as e:
        oc(stories_server).chat(model="nope", messages=[{"role": "user", "content": "x"}])
    assert e.value.status_code == 404
    status, body = stories_server.post("/api/chat", {"model": "stories260K", "messages": 3})
    assert status == 400 and "messages" in body["error"]
    status, body = stories_server.post("/api/generate", {
        "model": "stories260K", "prompt": "x", "options": {"temperature": "warm"}})
    assert status == 400 and "temperature" in body["error"]
    status, body = stories_server.post("/api/generate", {
        "model": "stories260K", "prompt": "x", "images": ["aGk="]})
    assert status == 400 and "images" in body["error"]
