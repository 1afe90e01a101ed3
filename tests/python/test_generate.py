"""Generation through the Python API: text, streams, stop strings, seeds, chat, KV reuse."""
import weakref

import pytest

import ktransformers
from conftest import STORY


def test_story_greedy(stories):
    """stories260K tells its published story from BOS (an empty prompt is just BOS)."""
    text = stories.generate("", max_new_tokens=40, temperature=0)
    assert text.startswith(STORY), text


def test_complete_reports_the_generation(stories):
    c = stories.complete("Once upon a time", max_new_tokens=12, temperature=0)
    assert isinstance(c, ktransformers.Completion)
    assert c.finish_reason == "length"
    assert c.completion_tokens == len(c.token_ids) == 12
    assert c.prompt_tokens == len(stories.tokenizer.encode("Once upon a time"))
    assert stories.tokenizer.decode(c.token_ids) == c.text
    assert c.text.startswith(", there was a little girl named Lily")


def test_token_id_prompt_equals_text_prompt(stories):
    ids = stories.tokenizer.encode("Once upon a time")
    assert ids[0] == stories.tokenizer.bos_token_id
    assert (stories.generate(ids, max_new_tokens=16, temperature=0) ==
            stories.generate("Once upon a time", max_new_tokens=16, temperature=0))


@pytest.mark.parametrize("kwargs", [dict(temperature=0), dict(temperature=0.9, seed=11)])
def test_stream_pieces_join_to_generate(stories, kwargs):
    want = stories.generate("Once upon a time", max_new_tokens=40, **kwargs)
    stream = stories.stream("Once upon a time", max_new_tokens=40, **kwargs)
    pieces = list(stream)
    assert len(pieces) > 5
    assert "".join(pieces) == want
    assert stream.result.text == want and stream.result.finish_reason == "length"


def test_stream_stops_early_when_closed(stories):
    stream = stories.stream("Once upon a time", max_new_tokens=200, temperature=0,
                            ignore_eos=True)
    first = [next(stream) for _ in range(3)]
    stream.close()
    assert len(first) == 3
    with pytest.raises(StopIteration):
        next(stream)
    # The model is free again.
    assert stories.generate("Once", max_new_tokens=4, temperature=0)


def test_dropped_stream_stops_its_generation(stories):
    """Leaving a loop over model.stream(...) with break drops the stream: it is collected at
    once (the worker thread holds no reference to it) and the generation stops at the next
    token instead of running to its limit while the next call waits."""
    stream = stories.stream("Once upon a time", max_new_tokens=400, temperature=0,
                            ignore_eos=True)
    worker, pieces = stream._thread, stream._queue
    for _ in stream:
        break
    ref = weakref.ref(stream)
    del stream
    assert ref() is None
    worker.join(timeout=120)
    assert not worker.is_alive()
    left = []
    while not pieces.empty():
        left.append(pieces.get())
    end = left.pop()
    assert end.error is None and end.result["finish_reason"] == "cancelled"
    assert end.result["completion_tokens"] < 400
    assert stories.generate("Once", max_new_tokens=4, temperature=0)


def test_bad_arguments_raise_value_error(stories, stories_gguf):
    with pytest.raises(ValueError, match="max_new_tokens must be >= 0 or None"):
        stories.generate("Once", max_new_tokens=-5)
    with pytest.raises(ValueError, match="temperature must be a finite number, got nan"):
        stories.generate("Once", temperature=float("nan"))
    with pytest.raises(ValueError, match="top_p must be a finite number"):
        list(stories.stream("Once", top_p=float("inf")))
    with pytest.raises(ValueError, match="cpu_infer must be at least 1"):
        ktransformers.Model(stories_gguf, cpu_infer=-1)
    assert stories.generate("Once", max_new_tokens=0) == ""


def test_stop_string(stories):
    full = stories.generate("Once upon a time", max_new_tokens=40, temperature=0)
    assert " park" in full
    c = stories.complete("Once upon a time", max_new_tokens=40, temperature=0, stop=" park")
    assert c.finish_reason == "stop" and c.stop_word == " park"
    assert c.text == full[:full.index(" park")]
    # Streamed: the stop string never comes out, not even partly.
    pieces = list(stories.stream("Once upon a time", max_new_tokens=40, temperature=0,
                                 stop=["zebra", " park"]))
    assert "".join(pieces) == c.text


def test_seeded_sampling_is_reproducible(stories):
    a = stories.generate("Once upon a time", max_new_tokens=30, temperature=1.0, seed=5)
    b = stories.generate("Once upon a time", max_new_tokens=30, temperature=1.0, seed=5)
    others = {stories.generate("Once upon a time", max_new_tokens=30, temperature=1.0, seed=s)
              for s in range(6, 10)}
    assert a == b
    assert len(others | {a}) > 1


def test_kv_cache_prefix_reused(stories):
    prompt = stories.tokenizer.encode("Once upon a time, there was a little girl")
    stories.complete(prompt, max_new_tokens=4, temperature=0)
    c = stories.complete(prompt + stories.tokenizer.encode(" named", add_special=False),
                         max_new_tokens=4, temperature=0)
    assert c.cached_tokens >= len(prompt) - 1


def test_long_prompt_prefilled_in_chunks(stories_gguf):
    """Prompts longer than a prefill chunk go through the chunk-by-chunk path (Ctrl-C checks
    between chunks); the result is the same as with one big chunk."""
    small = ktransformers.Model(stories_gguf, cpu_infer=2, context=512, chunk_size=16)
    big = ktransformers.Model(stories_gguf, cpu_infer=2, context=512, chunk_size=512)
    prompt = "Once upon a time, there was a little girl named Lily. " * 4
    a = small.complete(prompt, max_new_tokens=20, temperature=0)
    b = big.complete(prompt, max_new_tokens=20, temperature=0)
    assert a.prompt_tokens > 48
    assert a.text == b.text
    # Again with a shared prefix: only the new chunks are evaluated.
    c = small.complete(prompt + "She", max_new_tokens=5, temperature=0)
    assert c.cached_tokens >= a.prompt_tokens - 1


def test_chat_uses_the_template(stories):
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
    tok = stories.tokenizer
    text = tok.apply_chat_template(messages)
    # stories260K has no template of its own: kt's ChatML fallback.
    assert text == ("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
                    "<|im_start|>assistant\n")
    ids = tok.apply_chat_template(messages, tokenize=True)
    assert ids == [tok.bos_token_id] + tok.encode(text, add_special=False)
    assert stories.chat(messages, max_new_tokens=16, temperature=0) == \
        stories.generate(ids, max_new_tokens=16, temperature=0)
    pieces = list(stories.chat(messages, max_new_tokens=16, temperature=0, stream=True))
    assert "".join(pieces) == stories.generate(ids, max_new_tokens=16, temperature=0)
    # One user message as a plain string.
    assert stories.chat("Hi", max_new_tokens=8, temperature=0) == stories.chat(
        [{"role": "user", "content": "Hi"}], max_new_tokens=8, temperature=0)


def test_chat_template_options(stories):
    tok = stories.tokenizer
    messages = [{"role": "developer", "content": [{"type": "text", "text": "A"},
                                                  {"type": "text", "text": "B"}]}]
    assert tok.apply_chat_template(messages, add_generation_prompt=False) == \
        "<|im_start|>system\nAB<|im_end|>\n"
    assert "<|im_start|>" in tok.chat_template


def test_prefill_and_generate(llama, capsys):
    """KTransformers' helper: streams text and timing lines, returns the generated ids."""
    from conftest import load_reference
    ref, _ = load_reference("llama")
    ids = ktransformers.prefill_and_generate(
        llama, llama.tokenizer, [ref["prompt"]], max_new_tokens=len(ref["greedy"]),
        use_cuda_graph=False, mode="normal", force_think=False, chunk_prefill_size=8192,
        temperature=0, ignore_eos=True)
    assert ids == ref["greedy"]
    out = capsys.readouterr().out
    assert "prompt eval count:    6 token(s)" in out
    assert f"eval count:           {len(ref['greedy'])} token(s)" in out
    assert ktransformers.prefill_and_generate(llama, None, ref["prompt"], 3, temperature=0,
                                              ignore_eos=True, verbose=False) == ref["greedy"][:3]
