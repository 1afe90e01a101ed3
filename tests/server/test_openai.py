"""The OpenAI API of `kt serve`, driven by the official `openai` client and raw HTTP.

Text checks use stories260K, whose greedy story is published; log-prob checks use the tiny
Llama fixture, whose log-probs transformers wrote into reference.json.
"""

import openai
import pytest

from conftest import STORY, load_reference


def client(server):
    return openai.OpenAI(base_url=server.base_url + "/v1", api_key=server.api_key or "none",
                         max_retries=0, timeout=60)


def model_id(server):
    return client(server).models.list().data[0].id


# ---- models ----

def test_models_list(stories_server):
    models = client(stories_server).models.list().data
    assert len(models) == 1
    assert models[0].id == "stories260K"
    meta = models[0].model_extra["meta"]
    assert meta["n_vocab"] == 512 and meta["n_ctx"] == 512 and meta["n_params"] > 0


# ---- completions ----

def test_completion_greedy_tells_the_published_story(stories_server):
    r = client(stories_server).completions.create(model="stories260K", prompt="Once upon a time",
                                                  max_tokens=40, temperature=0)
    text = r.choices[0].text
    assert ("Once upon a time" + text).startswith(STORY[:80]), text
    assert r.choices[0].finish_reason == "length"
    assert r.usage.completion_tokens == 40
    assert r.usage.total_tokens == r.usage.prompt_tokens + 40


def test_completion_default_max_tokens_is_16(stories_server):
    r = client(stories_server).completions.create(model="stories260K", prompt="Once upon a time",
                                                  temperature=0)
    assert r.usage.completion_tokens == 16


def test_completion_stream_equals_whole_answer(stories_server):
    c = client(stories_server)
    whole = c.completions.create(model="stories260K", prompt="Once upon a time", max_tokens=30,
                                 temperature=0).choices[0].text
    pieces, finish, usage = [], None, None
    for chunk in c.completions.create(model="stories260K", prompt="Once upon a time",
                                      max_tokens=30, temperature=0, stream=True,
                                      stream_options={"include_usage": True}):
        if chunk.usage:
            usage = chunk.usage
        for ch in chunk.choices:
            pieces.append(ch.text)
            finish = ch.finish_reason or finish
    assert "".join(pieces) == whole
    assert len([p for p in pieces if p]) > 5, "the answer must arrive in pieces"
    assert finish == "length"
    assert usage.completion_tokens == 30


@pytest.mark.parametrize("stop", ["girl named", "ttle g", "y. She", ["zzz", "named"], "L"])
@pytest.mark.parametrize("stream", [False, True])
def test_stop_string_is_never_emitted(stories_server, stop, stream):
    """Stops spanning token boundaries; streamed pieces never show any part of the stop."""
    c = client(stories_server)
    first = stop if isinstance(stop, str) else "named"
    expected = STORY[len("Once upon a time"):STORY.index(first)]
    args = dict(model="stories260K", prompt="Once upon a time", max_tokens=60, temperature=0,
                stop=stop)
    if not stream:
        r = c.completions.create(**args)
        assert r.choices[0].text == expected
        assert r.choices[0].finish_reason == "stop"
        return
    pieces, finish = [], None
    for chunk in c.completions.create(stream=True, **args):
        for ch in chunk.choices:
            pieces.append(ch.text)
            finish = ch.finish_reason or finish
    assert "".join(pieces) == expected
    assert finish == "stop"


def test_chat_stop_across_chunks_streamed(stories_server):
    c = client(stories_server)
    msgs = [{"role": "user", "content": "Tell me a story"}]
    whole = c.chat.completions.create(model="stories260K", messages=msgs, max_tokens=40,
                                      temperature=0).choices[0].message.content
    assert len(whole) > 12
    stop = whole[5:9]  # four bytes from inside the answer
    cut = whole[:whole.index(stop)]
    text = "".join(ch.choices[0].delta.content or "" for ch in c.chat.completions.create(
        model="stories260K", messages=msgs, max_tokens=40, temperature=0, stop=[stop],
        stream=True) if ch.choices)
    assert text == cut


def test_seed_reproducibility(stories_server):
    c = client(stories_server)
    args = dict(model="stories260K", prompt="Once upon a time", max_tokens=40, temperature=1.0,
                top_p=1.0)
    a = c.completions.create(seed=1234, **args).choices[0].text
    b = c.completions.create(seed=1234, **args).choices[0].text
    others = {c.completions.create(seed=s, **args).choices[0].text for s in (1, 2, 3)}
    assert a == b
    assert len(others | {a}) > 1, "different seeds should give different samples"


def test_penalties_change_sampling(stories_server):
    c = client(stories_server)
    args = dict(model="stories260K", prompt="Once upon a time", max_tokens=60, temperature=0)
    plain = c.completions.create(**args).choices[0].text
    penalized = c.completions.create(frequency_penalty=2.0, presence_penalty=2.0,
                                     **args).choices[0].text
    assert plain != penalized



def test_echo_logprobs_match_transformers(llama_server):
    """lm-evaluation-harness's loglikelihood request: token ids, echo, logprobs, max_tokens 0."""
    ref, rows = load_reference("llama")
    tokens = ref["tokens"]
    r = client(llama_server).completions.create(model=model_id(llama_server), prompt=tokens,
                                                echo=True, logprobs=1, max_tokens=0,
                                                temperature=0)
    lp = r.choices[0].logprobs
    assert len(lp.token_logprobs) == len(tokens)
    assert lp.token_logprobs[0] is None and lp.top_logprobs[0] is None
    for i in range(1, len(tokens)):
        want = rows[i - 1][tokens[i]]
        assert abs(lp.token_logprobs[i] - want) < 1e-3, (i, lp.token_logprobs[i], want)
        best = max(rows[i - 1])
        assert abs(max(lp.top_logprobs[i].values()) - best) < 1e-3
    assert r.usage.completion_tokens == 0
    assert lp.text_offset == sorted(lp.text_offset)


def test_greedy_tokens_match_transformers(llama_server):
    ref, _ = load_reference("llama")
    _, body = llama_server.post("/v1/completions", {
        "prompt": ref["prompt"], "max_tokens": len(ref["greedy"]), "temperature": 0,
        "ignore_eos": True, "return_tokens": True})
    assert body["choices"][0]["tokens"] == ref["greedy"]


def test_generated_logprobs_agree_with_echo(llama_server):
    """The log-probs of sampled tokens equal what evaluating the same tokens gives."""
    ref, _ = load_reference("llama")
    _, gen = llama_server.post("/v1/completions", {
        "prompt": ref["prompt"], "max_tokens": 8, "temperature": 0.9, "seed": 7,
        "ignore_eos": True, "return_tokens": True, "logprobs": 2})
    out = gen["choices"][0]["tokens"]
    got = gen["choices"][0]["logprobs"]["token_logprobs"]
    assert len(got) == len(out) == 8
    _, echo = llama_server.post("/v1/completions", {
        "prompt": ref["prompt"] + out, "max_tokens": 0, "echo": True, "logprobs": 2})
    again = echo["choices"][0]["logprobs"]["token_logprobs"][len(ref["prompt"]):]
    for a, b in zip(got, again):
        assert abs(a - b) < 1e-4


def test_chat_logprobs(stories_server):
    r = client(stories_server).chat.completions.create(
        model="stories260K", messages=[{"role": "user", "content": "Hi"}], max_tokens=8,
        temperature=0, logprobs=True, top_logprobs=3)
    content = r.choices[0].logprobs.content
    assert len(content) == r.usage.completion_tokens
    for entry in content:
        assert len(entry.top_logprobs) == 3
        assert entry.token == entry.top_logprobs[0].token  # greedy picks the best
        assert entry.logprob == pytest.approx(entry.top_logprobs[0].logprob)
        assert bytes(entry.bytes).decode("utf-8", "replace") == entry.token
        assert entry.logprob <= 0


# ---- chat ----

def test_chat_answer_and_usage(stories_server):
    r = client(stories_server).chat.completions.create(
        model="stories260K", messages=[{"role": "system", "content": "Be brief."},
                                       {"role": "user", "content": "Hello"}],
        max_tokens=12, temperature=0)
    assert r.object == "chat.completion"
    assert r.choices[0].message.role == "assistant"
    assert r.choices[0].finish_reason in ("stop", "length")
    assert r.usage.prompt_tokens > 5
    assert r.model_extra["timings"]["predicted_n"] == r.usage.completion_tokens


def test_chat_stream_chunks(stories_server):
    chunks = list(client(stories_server).chat.completions.create(
        model="stories260K", messages=[{"role": "user", "content": "Hello"}], max_tokens=12,
        temperature=0, stream=True, stream_options={"include_usage": True}))
    assert chunks[0].choices[0].delta.role == "assistant"
    finals = [c for c in chunks if c.choices and c.choices[0].finish_reason]
    assert len(finals) == 1
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens > 0
    assert all(c.object == "chat.completion.chunk" for c in chunks)


def test_chat_multi_turn_reuses_the_cache(stories_server):
    c = client(stories_server)
    msgs = [{"role": "user", "content": "Once upon a time"}]
    first = c.chat.completions.create(model="stories260K", messages=msgs, max_tokens=10,
                                      temperature=0)
    msgs += [{"role": "assistant", "content": first.choices[0].message.content},
             {"role": "user", "content": "And then?"}]
    second = c.chat.completions.create(model="stories260K", messages=msgs, max_tokens=10,
                                       temperature=0)
    assert second.usage.prompt_tokens_details.cached_tokens > 0


# ---- tools ----

TOOLS = [{"type": "function", "function": {
    "name": "get_weather", "description": "Weather of a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                   "required": ["city"]}}}]


def test_tools_reach_the_template(qwen_template_server):
    s = qwen_template_server
    msgs = [{"role": "user", "content": "Weather in Paris?"}]
    _, with_tools = s.post("/apply-template", {"messages": msgs, "tools": TOOLS})
    _, without = s.post("/apply-template", {"messages": msgs})
    assert "get_weather" in with_tools["prompt"] and "<tools>" in with_tools["prompt"]
    assert "get_weather" not in without["prompt"]
    c = client(s)
    a = c.chat.completions.create(model=model_id(s), messages=msgs, tools=TOOLS, max_tokens=4)
    b = c.chat.completions.create(model=model_id(s), messages=msgs, max_tokens=4)
    assert a.usage.prompt_tokens > b.usage.prompt_tokens
    assert a.choices[0].finish_reason in ("stop", "length", "tool_calls")


def test_tool_call_history_renders(qwen_template_server):
    """An assistant tool call and the tool's answer go back through the template."""
    s = qwen_template_server
    msgs = [{"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": None, "tool_calls": [{
                "id": "call_1", "type": "function",
                "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "sunny, 21 C"}]
    _, body = s.post("/apply-template", {"messages": msgs, "tools": TOOLS})
    assert "<tool_call>" in body["prompt"] and "sunny, 21 C" in body["prompt"]
    r = client(s).chat.completions.create(model=model_id(s), messages=msgs, tools=TOOLS,
                                          max_tokens=4)
    assert r.choices[0].message.role == "assistant"


def test_show_reports_tools_capability(qwen_template_server):
    _, body = qwen_template_server.post("/api/show", {"model": model_id(qwen_template_server)})
    assert "tools" in body["capabilities"]
