#!/usr/bin/env python3
"""Generate chat-template fixtures: expected renderings by Python jinja2, as transformers runs it.

Usage (from the repository root):

    python3 -m venv /tmp/jvenv && /tmp/jvenv/bin/pip install jinja2
    /tmp/jvenv/bin/python scripts/gen_chat_template_fixtures.py \
        [--testdata ../shared/testdata] [--out tests/fixtures/chat_template]

Every template in TESTDATA/templates/*.jinja and the chat_template of
TESTDATA/tokenizers/{qwen3,deepseek_v3,llama3}/tokenizer_config.json is rendered for each
conversation in CONVERSATIONS. The output folder gets conversations.json (the inputs) and one
JSON file per template with, per conversation, either the expected text or the error the
template raised ({"type": exception class, "message": str(exception)}).
tests/models/test_chat_template_fixtures.cpp renders the same inputs with kt's engine and
compares byte for byte.

The environment mirrors transformers' _compile_jinja_template: ImmutableSandboxedEnvironment
with trim_blocks, lstrip_blocks, the loopcontrols extension and a {% generation %} tag;
tojson overridden by json.dumps(ensure_ascii=False, sort_keys=False); globals raise_exception
and strftime_now (here with a fixed clock, 2024-07-26 12:00:00, so outputs are stable). Render
arguments follow apply_chat_template: messages, tools (None when absent), documents=None,
add_generation_prompt, the tokenizer's special tokens, then per-conversation extra variables.
Templates are referenced by their path relative to the repository root, never copied.
"""

import argparse
import hashlib
import json
import os
import sys
from datetime import datetime

import jinja2
from jinja2 import nodes
from jinja2.ext import Extension, loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment

FIXED_NOW = datetime(2024, 7, 26, 12, 0, 0)

# Special tokens for the standalone .jinja files (they come without a tokenizer_config).
JINJA_SPECIAL_TOKENS = {
    "Qwen-Qwen2.5-7B-Instruct.jinja": {"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>"},
    "Qwen-Qwen3-0.6B.jinja": {"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>"},
    "deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja": {
        "bos_token": "<｜begin▁of▁sentence｜>", "eos_token": "<｜end▁of▁sentence｜>"},
    "deepseek-ai-DeepSeek-V3.1.jinja": {
        "bos_token": "<｜begin▁of▁sentence｜>", "eos_token": "<｜end▁of▁sentence｜>"},
    "google-gemma-2-2b-it.jinja": {"bos_token": "<bos>", "eos_token": "<eos>", "pad_token": "<pad>"},
    "llama-cpp-deepseek-r1.jinja": {
        "bos_token": "<｜begin▁of▁sentence｜>", "eos_token": "<｜end▁of▁sentence｜>"},
    "meta-llama-Llama-3.1-8B-Instruct.jinja": {
        "bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>"},
    "meta-llama-Llama-3.2-3B-Instruct.jinja": {
        "bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>"},
    "microsoft-Phi-3.5-mini-instruct.jinja": {
        "bos_token": "<s>", "eos_token": "<|endoftext|>", "unk_token": "<unk>"},
    "mistralai-Mistral-Nemo-Instruct-2407.jinja": {
        "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"},
    "moonshotai-Kimi-K2.jinja": {"bos_token": "[BOS]", "eos_token": "[EOS]"},
}
DEFAULT_SPECIAL_TOKENS = {"bos_token": "<s>", "eos_token": "</s>"}

TOKENIZER_CONFIGS = ["qwen3", "deepseek_v3", "llama3"]

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a city (température, «vent»).",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "description": "City name, e.g. \"Paris\""},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                "days": {"type": "integer", "minimum": 1, "maximum": 7},
                "threshold": {"type": "number", "default": 1e-05},
            },
            "required": ["city"],
        },
    },
}
SEARCH_TOOL = {
    "type": "function",
    "function": {
        "name": "search",
        "description": "Search the web.",
        "parameters": {"type": "object", "properties": {"query": {"type": "string"}},
                       "required": ["query"]},
        "return": {"type": "string"},
    },
}

SYSTEM = {"role": "system", "content": "You are a helpful assistant."}


def tool_call(call_id, name, arguments):
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


CONVERSATIONS = [
    {"name": "system_user", "add_generation_prompt": True,
     "messages": [SYSTEM, {"role": "user", "content": "Hello! Who are you?"}]},
    {"name": "system_user_no_generation_prompt", "add_generation_prompt": False,
     "messages": [SYSTEM, {"role": "user", "content": "Hello! Who are you?"}]},
    {"name": "user_only", "add_generation_prompt": True,
     "messages": [{"role": "user", "content": "What is 2+2?"}]},
    {"name": "multi_turn", "add_generation_prompt": True,
     "messages": [SYSTEM,
                  {"role": "user", "content": "Hi"},
                  {"role": "assistant", "content": "Hello! How can I help you today?"},
                  {"role": "user", "content": "Tell me a joke."}]},
    {"name": "multi_turn_ends_with_assistant", "add_generation_prompt": False,
     "messages": [{"role": "user", "content": "Hi"},
                  {"role": "assistant", "content": "Hello!"},
                  {"role": "user", "content": "Bye"},
                  {"role": "assistant", "content": "Goodbye!"}]},
    {"name": "unicode_and_whitespace", "add_generation_prompt": True,
     "messages": [{"role": "system", "content": "  Réponds en français.\n"},
                  {"role": "user", "content": "\t«Bonjour» — 你好 👋 'quotes' \"double\" \\ back\n\n"}]},
    {"name": "reasoning_content", "add_generation_prompt": True,
     "messages": [{"role": "user", "content": "What is 3*7?"},
                  {"role": "assistant", "content": "21",
                   "reasoning_content": "3 times 7 is 21."},
                  {"role": "user", "content": "And 3*8?"}]},
    {"name": "reasoning_content_last_assistant", "add_generation_prompt": False,
     "messages": [{"role": "user", "content": "What is 3*7?"},
                  {"role": "assistant", "content": "\n\n21",
                   "reasoning_content": "\n3 times 7 is 21.\n"}]},
    {"name": "think_in_content", "add_generation_prompt": False,
     "messages": [SYSTEM,
                  {"role": "user", "content": "Say hi."},
                  {"role": "assistant", "content": "<think>\nThe user wants a greeting.\n</think>\n\nHi there!"},
                  {"role": "user", "content": "Again."},
                  {"role": "assistant", "content": "<think>\nAgain.\n</think>\n\nHi again!"}]},
    {"name": "enable_thinking_false", "add_generation_prompt": True,
     "extra": {"enable_thinking": False},
     "messages": [{"role": "user", "content": "Quick answer: capital of France?"}]},
    {"name": "thinking_true", "add_generation_prompt": True,
     "extra": {"thinking": True, "enable_thinking": True},
     "messages": [SYSTEM, {"role": "user", "content": "Think about it."}]},
    {"name": "tools_with_call", "add_generation_prompt": True,
     "tools": [WEATHER_TOOL, SEARCH_TOOL],
     "messages": [SYSTEM,
                  {"role": "user", "content": "What's the weather in Paris?"},
                  {"role": "assistant", "content": None,
                   "tool_calls": [tool_call("call00001", "get_weather",
                                            {"city": "Paris", "unit": "celsius", "days": 2,
                                             "ratio": 0.5})]},
                  {"role": "tool", "tool_call_id": "call00001", "name": "get_weather",
                   "content": "{\"temperature\": 22, \"sky\": \"clear\"}"},
                  ]},
    {"name": "tools_call_with_content_string_args", "add_generation_prompt": False,
     "tools": [WEATHER_TOOL],
     "messages": [{"role": "user", "content": "Weather in Tokyo and Oslo?"},
                  {"role": "assistant", "content": "Let me check.",
                   "tool_calls": [tool_call("call00002", "get_weather", "{\"city\": \"Tokyo\"}")]},
                  {"role": "tool", "tool_call_id": "call00002", "content": "sunny"},
                  {"role": "assistant", "content": "It is sunny in Tokyo."}]},
    {"name": "tools_call_none_content_string_args", "add_generation_prompt": True,
     "tools": [WEATHER_TOOL],
     "messages": [SYSTEM,
                  {"role": "user", "content": "Weather in Lima?"},
                  {"role": "assistant", "content": None,
                   "tool_calls": [tool_call("call00005", "get_weather", "{\"city\": \"Lima\"}")]},
                  {"role": "tool", "tool_call_id": "call00005", "content": "foggy"},
                  {"role": "assistant", "content": "It is foggy in Lima."},
                  {"role": "user", "content": "Thanks"}]},
    {"name": "tools_two_calls", "add_generation_prompt": True,
     "tools": [WEATHER_TOOL],
     "messages": [{"role": "user", "content": "Weather in Tokyo and Oslo?"},
                  {"role": "assistant", "content": "",
                   "tool_calls": [tool_call("call00003", "get_weather", {"city": "Tokyo"}),
                                  tool_call("call00004", "get_weather", {"city": "Oslo"})]},
                  {"role": "tool", "tool_call_id": "call00003", "content": "sunny"},
                  {"role": "tool", "tool_call_id": "call00004", "content": "rain"}]},
    {"name": "tools_defined_no_call", "add_generation_prompt": True,
     "tools": [SEARCH_TOOL],
     "messages": [SYSTEM, {"role": "user", "content": "Search for jinja2."}]},
    {"name": "content_parts", "add_generation_prompt": True,
     "messages": [{"role": "user", "content": [{"type": "text", "text": "Describe this."},
                                               {"type": "image", "image": "cat.png"}]}]},
    {"name": "empty_messages", "add_generation_prompt": True, "messages": []},
]


class GenerationTag(Extension):
    """transformers' AssistantTracker {% generation %}: renders its body in place."""

    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        return nodes.CallBlock(self.call_method("_render"), [], [], body).set_lineno(lineno)

    def _render(self, caller):
        return caller()


def make_env():
    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators,
                          sort_keys=sort_keys)

    def strftime_now(format):
        return FIXED_NOW.strftime(format)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[GenerationTag, loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


def special_tokens_from_config(cfg):
    """transformers' special_tokens_map: set special tokens only, AddedToken -> content."""
    out = {}
    for key in ["bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token",
                "mask_token"]:
        v = cfg.get(key)
        if isinstance(v, dict):
            v = v.get("content")
        if isinstance(v, str):
            out[key] = v
    extra = cfg.get("additional_special_tokens")
    if extra:
        out["additional_special_tokens"] = [t["content"] if isinstance(t, dict) else t
                                            for t in extra]
    return out


def render_cases(env, source, variables):
    template = env.from_string(source)
    cases = []
    for conv in CONVERSATIONS:
        kwargs = dict(variables)
        kwargs.update(conv.get("extra", {}))
        case = {"conversation": conv["name"]}
        try:
            case["expected"] = template.render(
                messages=json.loads(json.dumps(conv["messages"])),
                tools=json.loads(json.dumps(conv.get("tools"))),
                documents=None,
                add_generation_prompt=conv["add_generation_prompt"],
                **kwargs)
        except Exception as e:  # the template refused this conversation: record why
            case["error"] = {"type": type(e).__name__, "message": str(e)}
        cases.append(case)
    return cases


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--testdata", default=os.path.join(root, "..", "shared", "testdata"))
    ap.add_argument("--out", default=os.path.join(root, "tests", "fixtures", "chat_template"))
    args = ap.parse_args()

    env = make_env()
    os.makedirs(args.out, exist_ok=True)
    sources = []  # (fixture name, path relative to the repo root, source, special tokens)
    tdir = os.path.join(args.testdata, "templates")
    for fn in sorted(os.listdir(tdir)):
        if fn.endswith(".jinja"):
            path = os.path.join(tdir, fn)
            with open(path, encoding="utf-8", newline="") as f:
                src = f.read()
            sources.append((fn[:-len(".jinja")], path, src,
                            JINJA_SPECIAL_TOKENS.get(fn, DEFAULT_SPECIAL_TOKENS)))
    for name in TOKENIZER_CONFIGS:
        path = os.path.join(args.testdata, "tokenizers", name, "tokenizer_config.json")
        with open(path, encoding="utf-8") as f:
            cfg = json.load(f)
        sources.append(("tokenizer_config_" + name, path, cfg["chat_template"],
                        special_tokens_from_config(cfg)))

    with open(os.path.join(args.out, "conversations.json"), "w", encoding="utf-8") as f:
        json.dump(CONVERSATIONS, f, ensure_ascii=False, indent=1)
        f.write("\n")
    total = errors = 0
    for name, path, src, variables in sources:
        cases = render_cases(env, src, variables)
        total += len(cases)
        errors += sum("error" in c for c in cases)
        fixture = {
            "template": os.path.relpath(os.path.abspath(path), root),
            "source_sha256": hashlib.sha256(src.encode("utf-8")).hexdigest(),
            "jinja2_version": jinja2.__version__,
            "now": FIXED_NOW.isoformat(),
            "variables": variables,
            "cases": cases,
        }
        with open(os.path.join(args.out, name + ".json"), "w", encoding="utf-8") as f:
            json.dump(fixture, f, ensure_ascii=False, indent=1)
            f.write("\n")
    print(f"{len(sources)} templates x {len(CONVERSATIONS)} conversations = {total} cases "
          f"({errors} expected errors) -> {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
