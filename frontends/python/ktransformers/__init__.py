"""kt's inference engine from Python: KTransformers' entry points over a native C++ engine.

    import ktransformers
    model = ktransformers.Model(gguf_path="DeepSeek-V2-Lite-Chat-Q4_K_M.gguf",
                                model_path="DeepSeek-V2-Lite-Chat/")   # tokenizer + template
    print(model.chat([{"role": "user", "content": "Hello"}], max_new_tokens=64))
    for piece in model.stream("Once upon a time", temperature=0):
        print(piece, end="", flush=True)

Commands: ``python -m ktransformers.local_chat`` (``kt chat``), the ``ktransformers`` server
command (``kt serve``), and ``python -m ktransformers SUBCOMMAND ...`` (any ``kt`` subcommand).
Engine errors (a missing file, a bad rule file) raise :class:`KtError` (a RuntimeError) with
the engine's message.
"""
from . import _kt
from ._kt import KtError
from ._model import Completion, Model, TextStream
from ._tokenizer import Tokenizer
from ._generate import prefill_and_generate

__version__ = "0.1.0"
KtError.__module__ = __name__  # shown as ktransformers.KtError in tracebacks

#: True when the extension was compiled with the CUDA backend (nvcc was found at build time).
cuda_built = bool(_kt.cuda_built)


def cuda_device_count():
    """CUDA devices this process can use (0 in a CPU-only build or without a GPU)."""
    return _kt.cuda_device_count()


__all__ = [
    "Completion",
    "KtError",
    "Model",
    "TextStream",
    "Tokenizer",
    "cuda_built",
    "cuda_device_count",
    "prefill_and_generate",
    "__version__",
]
