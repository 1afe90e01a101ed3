"""``python -m ktransformers.local_chat``: KTransformers' terminal chat, run as ``kt chat``.

    python -m ktransformers.local_chat --model_path HF_DIR --gguf_path MODEL.gguf \\
        [--optimize_rule_path RULES] [--max_new_tokens N] [--cpu_infer N] [--force_think]

``-h`` lists every option (they are ``kt chat``'s).
"""
from ._commands import chat_main

if __name__ == "__main__":
    chat_main()
