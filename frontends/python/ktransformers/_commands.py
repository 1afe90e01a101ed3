"""The package's commands: each runs a `kt` subcommand in this process (ktransformers._kt.run_cli),
after translating KTransformers' spellings of its arguments.

  ktransformers --model_path M --gguf_path G --port 10002 --web True    ->  kt serve ...
  python -m ktransformers.local_chat --model_path M --gguf_path G       ->  kt chat ...
  python -m ktransformers SUBCOMMAND ...                                ->  kt SUBCOMMAND ...
"""
import signal
import sys

from . import _kt

# KTransformers' names for options kt has under another name.
_RENAMES = {
    "--optimize_config_path": "--optimize_rule_path",
    "--chunk_prefill_size": "--chunk_size",
    "--model_dir": "--model_path",
}
_BOOL_WORDS = {"true", "false", "1", "0", "yes", "no", "on", "off"}

# KTransformers' local_chat arguments that tune its PyTorch path; kt decides these itself.
_CHAT_IGNORED = {"--use_cuda_graph", "--mode", "--use_flashinfer_mla"}
_CHAT_FLAGS = {"--force_think"}  # kt flags KTransformers writes as `--force_think True`

# KTransformers' server arguments kt serve has no use for (its other engines, scheduler,
# database, logging and UI settings).
_SERVE_IGNORED = {
    "--device", "--architectures", "--q4_gguf_path", "--draft_model_path", "--draft_gguf_path",
    "--backend_type", "--tp", "--max_batch_size", "--json_mode", "--healing", "--ban_strings",
    "--gpu_split", "--length", "--rope_scale", "--rope_alpha", "--no_flash_attn", "--low_mem",
    "--experts_per_token", "--load_q4", "--fast_safetensors", "--draft_model_dir",
    "--no_draft_scale", "--modes", "--mode", "--username", "--botname", "--system_prompt",
    "--temperature", "--smoothing_factor", "--dynamic_temperature", "--top_k", "--top_p",
    "--top_a", "--skew", "--typical", "--repetition_penalty", "--frequency_penalty",
    "--presence_penalty", "--response_chunk", "--no_code_formatting", "--cache_8bit",
    "--cache_q4", "--ngram_decoding", "--print_timings", "--amnesia", "--batch_size",
    "--kvc2_config_dir", "--log_dir", "--log_file", "--log_level", "--backup_count", "--db_type",
    "--db_host", "--db_port", "--db_name", "--db_pool_size", "--db_database",
    "--user_secret_key", "--user_algorithm", "--force_think", "--no-force_think",
    "--use_cuda_graph", "--no-use_cuda_graph", "--web_cross_domain", "--file_upload_dir",
    "--assistant_store_dir", "--prompt_file", "--sched_strategy", "--page_size",
    "--memory_gpu_only", "--utilization_percentage", "--cpu_memory_size_GB", "--max_chunk_size",
}


def translate_args(args, ignored=(), flags=()):
    """KTransformers-style arguments to kt's: renamed options renamed,
    ignored options dropped with their value (a note on stderr), and kt flags given a boolean
    value (``--force_think True``) written as the bare flag or left out."""
    out, notes = [], []
    has_model_path = any(a.split("=", 1)[0] == "--model_path" for a in args)
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if not arg.startswith("--"):
            out.append(arg)
            continue
        name, eq, value = arg.partition("=")
        next_is_value = not eq and i < len(args) and not args[i].startswith("--")
        # KTransformers takes --model_path over --model_dir when both are given.
        if name in ignored or (name == "--model_dir" and has_model_path):
            if next_is_value:
                i += 1
            notes.append(name)
            continue
        name = _RENAMES.get(name, name)
        if name in flags:
            if not eq and next_is_value and args[i].lower() in _BOOL_WORDS:
                value, i = args[i], i + 1
            if not value or value.lower() in ("true", "1", "yes", "on"):
                out.append(name)
        else:
            out.append(f"{name}={value}" if eq else name)
    if notes:
        print("ktransformers: ignoring " + ", ".join(notes) + " (kt decides these itself)",
              file=sys.stderr)
    return out


def run_cli(argv):
    """Runs ``kt`` with ``argv`` (``["kt", "serve", ...]``) in this process; returns its exit
    status. Python's buffered output is flushed first so that both streams stay in order."""
    sys.stdout.flush()
    sys.stderr.flush()
    return _kt.run_cli([str(a) for a in argv])


def _main(subcommand_args):
    # Ctrl-C ends the process as it ends `kt` (kt serve waits for the signal itself).
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    sys.exit(run_cli(["kt", *subcommand_args]))


def serve_main(argv=None):
    """The ``ktransformers`` command: KTransformers' server arguments, run as ``kt serve``."""
    args = sys.argv[1:] if argv is None else list(argv)
    _main(["serve", *translate_args(args, ignored=_SERVE_IGNORED)])


def chat_main(argv=None):
    """``python -m ktransformers.local_chat``: KTransformers' local_chat arguments, run as
    ``kt chat``."""
    args = sys.argv[1:] if argv is None else list(argv)
    _main(["chat", *translate_args(args, ignored=_CHAT_IGNORED, flags=_CHAT_FLAGS)])


def kt_main(argv=None):
    """``python -m ktransformers SUBCOMMAND ...``: any ``kt`` subcommand, arguments as they are."""
    args = sys.argv[1:] if argv is None else list(argv)
    _main(args)
