"""``python -m ktransformers SUBCOMMAND ...``: the ``kt`` command (serve, chat, convert, gguf,
tokenize, perplexity, plan, bench, synth) in this process."""
from ._commands import kt_main

if __name__ == "__main__":
    kt_main()
