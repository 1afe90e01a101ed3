#!/usr/bin/env python3
"""Reference token ids from Hugging Face `tokenizers` for kt's tokenizer tests.

Encodes a fixed, varied text set (prose, code, CJK, emoji, Arabic and other scripts, numbers of
many lengths, runs of spaces/newlines/tabs, special tokens inside text) with the three real
tokenizer.json files in shared/testdata/tokenizers and writes one JSON file per tokenizer to
tests/fixtures/tokenizer/. tests/models/test_tokenizer_hf_fixtures.cpp checks kt against them;
CI never runs this script, it only reads its committed output.

Run (from the repository root, with shared/ beside it):

    python3 -m venv /tmp/tokvenv && /tmp/tokvenv/bin/pip install tokenizers
    /tmp/tokvenv/bin/python scripts/gen_tokenizer_fixtures.py [--testdata ../shared/testdata]

Each fixture holds, per text: "ids" = encode(text, add_special_tokens=False) with special tokens
recognised in the text (the `tokenizers` default), and "ids_plain" = the same with
`encode_special_tokens = True` (special tokens treated as text; non-special added tokens such
as <think> are still recognised), which is kt's parse_special = false.
"""

import argparse
import json
import os
import sys

import tokenizers
from tokenizers import Tokenizer

TOKENIZERS = ["qwen3", "deepseek_v3", "llama3"]

# Special tokens of each model, mixed into text below.
SPECIALS = {
    "qwen3": ["<|im_start|>", "<|im_end|>", "<|endoftext|>", "<think>", "</think>",
              "<tool_call>"],
    "deepseek_v3": ["<\uff5cbegin\u2581of\u2581sentence\uff5c>",
                    "<\uff5cend\u2581of\u2581sentence\uff5c>", "<\uff5cUser\uff5c>",
                    "<\uff5cAssistant\uff5c>", "<\uff5ctool\u2581calls\u2581begin\uff5c>"],
    "llama3": ["<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>",
               "<|reserved_special_token_5|>"],
}

CODE_PY = '''def fibonacci(n: int) -> list[int]:
    """Return the first n Fibonacci numbers."""
    a, b = 0, 1
    out = []
    for _ in range(n):
        out.append(a)
        a, b = b, a + b
    return out


if __name__ == "__main__":
    print(fibonacci(20))  # [0, 1, 1, 2, 3, 5, ...]
'''

CODE_CPP = '''#include <vector>
template <class T>
struct Matrix {
  std::vector<T> data;  // row-major
  int rows = 0, cols = 0;
  T& operator()(int r, int c) { return data[r * cols + c]; }
};
int main(int argc, char** argv) {
\tMatrix<float> m{{1.f, 2.f, 3.f, 4.f}, 2, 2};
\treturn m(1, 1) > 3.5f ? 0 : 1;
}
'''

CODE_MISC = ('{"name": "kt", "version": [0, 1, 0], "tags": ["llm", "moe"], "ok": true, '
             '"nested": {"a": null, "b": -1.5e-3}}\n'
             '<html><body class="main"><p>Hello &amp; welcome!</p></body></html>\n'
             'SELECT id, name FROM users WHERE age >= 18 AND name LIKE \'%son\';\n'
             'git commit -m "fix: off-by-one in ring buffer (#1234)" && make -j8 2>&1 | tee log\n'
             'x += y ** 2; z = x // 3 if x != 0 else -~x; s = f"{x:08.3f}"\n')

PROSE = ("The quick brown fox jumps over the lazy dog. It's a pangram -- isn't it? "
         "DON'T SHOUT; I'M here, we'VE seen it, they'll go, she'd know. "
         "Mr. O'Neil paid $1,234.56 (about 1.2k EUR) on 2024-03-15 at 09:45:00Z.")

TEXTS = [
    "",
    " ",
    "a",
    "Hello world",
    " Hello world",
    "Hello World!",
    PROSE,
    CODE_PY,
    CODE_CPP,
    CODE_MISC,
    # CJK and other scripts
    "\u6211\u60f3\u5728apple\u5de5\u4f5c1314151\u5929\uff5e \u4eca\u5929\u5929\u6c14\u5f88\u597d\uff0c\u6211\u4eec\u53bb\u516c\u56ed\u6563\u6b65\u5427\u3002",
    "\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8\u3068\u30ab\u30bf\u30ab\u30ca\u3001\u3072\u3089\u304c\u306a\u3002\u6771\u4eac\u306f\u5927\u304d\u3044\u3067\u3059\u3002",
    "\ud55c\uad6d\uc5b4 \ud14d\uc2a4\ud2b8\uc785\ub2c8\ub2e4. \uc548\ub155\ud558\uc138\uc694!",
    "\u0645\u0631\u062d\u0628\u0627 \u0628\u0627\u0644\u0639\u0627\u0644\u0645! \u0647\u0630\u0627 \u0646\u0635 \u0639\u0631\u0628\u064a \u0645\u0639 \u0623\u0631\u0642\u0627\u0645 \u0661\u0662\u0663 \u0648 123.",
    "\u05e9\u05dc\u05d5\u05dd \u05e2\u05d5\u05dc\u05dd",
    "\u0928\u092e\u0938\u094d\u0924\u0947 \u0926\u0941\u0928\u093f\u092f\u093e, \u092f\u0939 \u0939\u093f\u0928\u094d\u0926\u0940 \u0939\u0948\u0964",
    "\u0e2a\u0e27\u0e31\u0e2a\u0e14\u0e35\u0e04\u0e23\u0e31\u0e1a \u0e20\u0e32\u0e29\u0e32\u0e44\u0e17\u0e22",
    "\u041f\u0440\u0438\u0432\u0435\u0442, \u043c\u0438\u0440! \u042d\u0442\u043e \u0442\u0435\u0441\u0442. \u0395\u03bb\u03bb\u03b7\u03bd\u03b9\u03ba\u03ac \u03ba\u03b5\u03af\u03bc\u03b5\u03bd\u03bf.",
    "Vi\u1ec7t Nam, C\u1eeda Vi\u1ec7t, F\u00fchrer, na\u00efve caf\u00e9, \u00e5ngstr\u00f6m, \u0141\u00f3d\u017a, \u0130stanbul",
    "\u1780\u17b6\u1793\u17cb\u178f\u17c2\u1796\u17b7\u179f\u17c1\u179f\u17a2\u17b6\u1785\u1781\u179b\u1785\u17c1\u1789",
    # emoji
    "\U0001f680 (normal) \U0001f636\u200d\U0001f32b\ufe0f (multiple emojis concatenated) \u2705 \U0001f999\U0001f999",
    "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466 family, \U0001f1fa\U0001f1f8 flag, \U0001f44d\U0001f3fd thumbs, \u2764\ufe0f heart",
    "emoji\U0001f600in\U0001f601the\U0001f602middle",
    # numbers of many lengths and formats
    " ".join("7" * k for k in range(1, 21)),
    " ".join(str(10 ** k + k) for k in range(0, 19)),
    "3.14159265358979 2.718281828 -0.0001 1e10 6.022e23 0x1F 0b1010 1_000_000",
    "Phone: +1 (555) 123-4567, IBAN DE89370400440532013000, ISBN 978-3-16-148410-0",
    "\uff11\uff12\uff13 \u00b2\u00b3 \u2162\u216b \u0661\u0662\u0663 \u0967\u0968\u0969",
    # whitespace
    "a b  c   d    e     f      g       h        i         j",
    " " * 17 + "x" + " " * 16,
    "\n", "\n\n", "\n\n\n", "\t", "\t\t\t", "\r\n", "\r\n\r\n",
    "line1\nline2\r\nline3\rline4\n\n\nline5\n",
    "  \n \t \n\n\t\t  x  \t\n",
    "trailing spaces   ",
    "    indented\n        more\n\tand tab\n",
    "\u3000\u3000full-width space\u00a0nbsp\u2003em",
    # punctuation runs and contractions
    "!!!!!! ?????? ...... ------======= '''''' ``````` \"\"\"\"\"\" ((()))[]{}",
    "I've been 'told he's there, 'RE you sure? 'M not sure I'll make it, 'D you like some tea? We'Ve a'lL",
    "can't won't shouldn't y'all O'Reilly rock'n'roll",
    "\u201cquoted\u201d \u2018single\u2019 \u00abguillemets\u00bb \u2014 dash \u2013 en \u2026",
    "\u2200x\u2208\u211d: x\u00b2 \u2265 0 \u2227 \u221a4 = 2, \u2211\u1d62 i = n(n+1)/2 \u2248 \u221e",
    "\u00a9 2024 \u00ae \u2122 \u00a7 \u00b6 \u20ac \u00a3 \u00a5 \u20b9 \u0e3f",
    "\ufffd replacement char, \u200b zero width, \u00ad soft hyphen, \ue000 private use",
    # special tokens in text are filled in per tokenizer
    "@SPECIALS@",
]


def special_texts(specials):
    a, b = specials[0], specials[1]
    return [
        a,
        f"{a}user\nHello!{b}\n{a}assistant\n",
        f"text{a}text",
        f" {a} spaced {b} ",
        f"{a}{b}{a}",
        a[:-1],  # a truncated special token is plain text
        f"{a[:-1]} {a}",
        " ".join(specials),
        f"<think>\nreasoning here\n</think>\n\nAnswer: 42{b}",
        "</think></think><think>",
    ]


def long_text():
    parts = [PROSE, CODE_PY, TEXTS[10], TEXTS[13], TEXTS[20], CODE_CPP, TEXTS[24], CODE_MISC]
    return "\n\n".join(parts * 3)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(here)
    ap.add_argument("--testdata", default=os.path.join(root, "..", "shared", "testdata"))
    ap.add_argument("--out", default=os.path.join(root, "tests", "fixtures", "tokenizer"))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)

    for name in TOKENIZERS:
        path = os.path.join(args.testdata, "tokenizers", name, "tokenizer.json")
        tok = Tokenizer.from_file(path)
        texts = []
        for t in TEXTS:
            if t == "@SPECIALS@":
                texts.extend(special_texts(SPECIALS[name]))
            else:
                texts.append(t)
        texts.append(long_text())
        cases = []
        for t in texts:
            tok.encode_special_tokens = False
            ids = tok.encode(t, add_special_tokens=False).ids
            tok.encode_special_tokens = True
            plain = tok.encode(t, add_special_tokens=False).ids
            cases.append({"text": t, "ids": ids, "ids_plain": plain})
        doc = {
            "tokenizer": name,
            "source": f"shared/testdata/tokenizers/{name}/tokenizer.json",
            "generator": "scripts/gen_tokenizer_fixtures.py",
            "tokenizers_version": tokenizers.__version__,
            "cases": cases,
        }
        out = os.path.join(args.out, f"{name}.json")
        with open(out, "w", encoding="utf-8") as f:
            json.dump(doc, f, ensure_ascii=False, indent=None, separators=(",", ":"))
            f.write("\n")
        print(f"{out}: {len(cases)} cases, {os.path.getsize(out)} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
