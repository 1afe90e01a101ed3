"""ktransformers.Model: load a model, generate (whole or streamed), chat, and read logits."""
import dataclasses
import math
import os
import queue
import random
import threading
import warnings

from . import _kt
from ._kt import KtError
from ._tokenizer import Tokenizer, _token_ids


@dataclasses.dataclass
class Completion:
    """One generation's result.

    finish_reason: "stop" (an end-of-generation token or a stop string), "length" (the token
    limit or the context's end) or "cancelled". token_ids: the generated tokens (those of a
    matched stop string included; the end token excluded).
    """

    text: str
    token_ids: list
    finish_reason: str
    stop_word: str
    prompt_tokens: int
    cached_tokens: int  # of prompt_tokens, reused from the KV cache of the previous call
    completion_tokens: int
    prefill_seconds: float
    decode_seconds: float


class _End:
    """The worker's last queue item: the generate() result or the exception it raised."""

    def __init__(self, result=None, error=None):
        self.result, self.error = result, error


def _stream_worker(handle, ids, kwargs, pieces, stop):
    # Holds no reference to its TextStream, so that a stream the caller drops is collected at
    # once and its __del__ stops this generation.
    def on_text(piece):
        if stop.is_set():
            return False
        pieces.put(piece)
        return True

    try:
        pieces.put(_End(result=handle.generate(ids, on_text=on_text, **kwargs)))
    except BaseException as e:  # handed to the consumer, raised there
        pieces.put(_End(error=e))


class TextStream:
    """Text pieces of a generation as they become final (iterate over it).

    The generation runs in a worker thread; :attr:`result` holds the :class:`Completion` once
    the stream is exhausted. Calling :meth:`close`, an exception or Ctrl-C while waiting for a
    piece, or dropping the stream (``for piece in model.stream(...): break``) stops the
    generation at the next token.
    """

    def __init__(self, handle, ids, kwargs):
        self.result = None
        self._queue = queue.Queue()
        self._stop = threading.Event()
        self._done = False
        self._thread = threading.Thread(target=_stream_worker,
                                        args=(handle, ids, kwargs, self._queue, self._stop),
                                        name="ktransformers-generate", daemon=True)
        self._thread.start()

    def __iter__(self):
        return self

    def __next__(self):
        if self._done:
            raise StopIteration
        try:
            item = self._queue.get()
        except BaseException:  # Ctrl-C while waiting: stop the generation too
            self.close()
            raise
        if not isinstance(item, _End):
            return item
        self._done = True
        self._thread.join()
        if item.error is not None:
            raise item.error
        self.result = Completion(**item.result)
        raise StopIteration

    def close(self):
        """Stops the generation (at the next token) and waits for the worker."""
        self._done = True
        self._stop.set()
        self._thread.join()

    def __del__(self):  # dropped without being read to the end: stop computing
        self._stop.set()


def _path(p):
    return "" if p is None else os.fspath(p)


class Model:
    """A model loaded by kt's engine, as ``kt chat`` loads it.

    gguf_path: a GGUF file, any split of a split model, or a folder holding one. model_path: a
    Hugging Face folder; with gguf_path it supplies the tokenizer and chat template
    (KTransformers' --model_path), without it the weights too (config.json + safetensors).
    optimize_rule_path: a KTransformers YAML rule file or the name of a shipped one
    (default: the shipped rules for the architecture; GPU rules when a CUDA GPU is present).
    cpu_infer: CPU threads (default: physical cores minus 2). context: KV-cache positions.
    chunk_size: prefill chunk in tokens.

    Raises :class:`ktransformers.KtError` naming the file and fault when loading fails.
    One generation runs at a time; calls from several threads wait for each other.
    """

    def __init__(self, gguf_path=None, model_path=None, optimize_rule_path=None, cpu_infer=None,
                 context=4096, chunk_size=512, *, optimize_config_path=None):
        gguf_path, model_path = _path(gguf_path), _path(model_path)
        rules = _path(optimize_rule_path if optimize_rule_path is not None
                      else optimize_config_path)  # KTransformers' older name
        weights = gguf_path or model_path
        tokenizer_dir = model_path if gguf_path and model_path else ""
        if cpu_infer is not None and int(cpu_infer) < 1:
            raise ValueError(f"cpu_infer must be at least 1 thread (or None: the default), "
                             f"got {cpu_infer}")
        self._m = _kt.Model(weights, tokenizer_dir, rules, int(cpu_infer or 0), int(context),
                            int(chunk_size))
        for w in self._m.warnings:
            warnings.warn(w, RuntimeWarning, stacklevel=2)
        tok = self._m.tokenizer
        self._tokenizer = Tokenizer(tok) if tok is not None else None

    # ---- properties ----

    @property
    def tokenizer(self):
        """The model's :class:`Tokenizer` (None when the files carry none)."""
        return self._tokenizer

    @property
    def n_vocab(self):
        return self._m.n_vocab

    @property
    def context(self):
        """KV-cache positions (prompt plus generated tokens)."""
        return self._m.n_ctx

    @property
    def cpu_infer(self):
        return self._m.threads

    @property
    def arch(self):
        """The architecture (GGUF general.architecture: "llama", "deepseek2", ...)."""
        return self._m.arch

    @property
    def rules(self):
        """Where the placement rules in force came from (a file or a shipped rule's name)."""
        return self._m.rules

    def __repr__(self):
        return (f"<ktransformers.Model {self._m.name or self._m.arch!r} ({self._m.arch}, "
                f"{self._m.n_layer} layers, context {self._m.n_ctx}, {self._m.threads} threads)>")

    # ---- generation ----

    def _prompt_ids(self, prompt):
        if isinstance(prompt, str):
            return self._require_tokenizer().encode(prompt, add_special=True)
        return _token_ids(prompt)

    def _require_tokenizer(self):
        if self._tokenizer is None:
            raise KtError("the model has no tokenizer: give model_path (a folder with "
                          "tokenizer.json)")
        return self._tokenizer

    @staticmethod
    def _options(max_new_tokens, temperature, top_p, top_k, min_p, repeat_penalty,
                 frequency_penalty, presence_penalty, seed, stop, ignore_eos):
        if max_new_tokens is not None and int(max_new_tokens) < 0:
            raise ValueError(f"max_new_tokens must be >= 0 or None (no limit), "
                             f"got {max_new_tokens}")
        for name, value in (("temperature", temperature), ("top_p", top_p), ("min_p", min_p),
                            ("repeat_penalty", repeat_penalty),
                            ("frequency_penalty", frequency_penalty),
                            ("presence_penalty", presence_penalty)):
            if not math.isfinite(float(value)):
                raise ValueError(f"{name} must be a finite number, got {value}")
        if isinstance(stop, str):
            stop = [stop]
        if seed is None:
            seed = random.getrandbits(64)
        return dict(max_new_tokens=-1 if max_new_tokens is None else int(max_new_tokens),
                    temperature=float(temperature), top_p=float(top_p), top_k=int(top_k),
                    min_p=float(min_p), repeat_penalty=float(repeat_penalty),
                    frequency_penalty=float(frequency_penalty),
                    presence_penalty=float(presence_penalty), seed=int(seed) % (1 << 64),
                    stop=list(stop or []), ignore_eos=bool(ignore_eos))

    def complete(self, prompt, max_new_tokens=256, temperature=0.8, top_p=0.95, top_k=40,
                 min_p=0.05, repeat_penalty=1.0, frequency_penalty=0.0, presence_penalty=0.0,
                 seed=None, stop=None, ignore_eos=False):
        """Generates a continuation of ``prompt`` and returns a :class:`Completion`.

        prompt: text (tokenized with BOS) or a list of token ids (used as is). max_new_tokens:
        the most tokens to generate (None: until the context is full). temperature 0 is greedy;
        top_p/top_k/min_p/penalties as in llama.cpp (1.0 / 0 / 0.0 switch them off). seed: for
        sampling (None: a random one). stop: a string or strings that end the generation (not
        included in the text). ignore_eos: go on past end-of-generation tokens.
        The KV cache of the prefix shared with the previous call is reused. Ctrl-C stops the
        generation and raises KeyboardInterrupt.
        """
        opts = self._options(max_new_tokens, temperature, top_p, top_k, min_p, repeat_penalty,
                             frequency_penalty, presence_penalty, seed, stop, ignore_eos)
        return Completion(**self._m.generate(self._prompt_ids(prompt), **opts))

    def generate(self, prompt, max_new_tokens=256, temperature=0.8, top_p=0.95, top_k=40,
                 min_p=0.05, repeat_penalty=1.0, frequency_penalty=0.0, presence_penalty=0.0,
                 seed=None, stop=None, ignore_eos=False):
        """The generated text (arguments as :meth:`complete`)."""
        return self.complete(prompt, max_new_tokens, temperature, top_p, top_k, min_p,
                             repeat_penalty, frequency_penalty, presence_penalty, seed, stop,
                             ignore_eos).text

    def stream(self, prompt, max_new_tokens=256, temperature=0.8, top_p=0.95, top_k=40,
               min_p=0.05, repeat_penalty=1.0, frequency_penalty=0.0, presence_penalty=0.0,
               seed=None, stop=None, ignore_eos=False):
        """A :class:`TextStream` of text pieces as they are generated (arguments as
        :meth:`complete`); joined, they equal :meth:`generate`'s text."""
        opts = self._options(max_new_tokens, temperature, top_p, top_k, min_p, repeat_penalty,
                             frequency_penalty, presence_penalty, seed, stop, ignore_eos)
        return TextStream(self._m, self._prompt_ids(prompt), opts)

    def chat(self, messages, *, stream=False, tools=None, chat_template_kwargs=None, **kwargs):
        """The assistant's reply to a conversation, through the model's chat template.

        messages: ``[{"role": "system"|"user"|"assistant", "content": ...}, ...]``, or one user
        message as a string. stream: return a :class:`TextStream` instead of the text. tools:
        tool definitions for the template. chat_template_kwargs: template variables
        (``{"enable_thinking": False}``). Other keyword arguments as :meth:`complete`.
        """
        if isinstance(messages, str):
            messages = [{"role": "user", "content": messages}]
        ids = self._require_tokenizer().apply_chat_template(
            messages, add_generation_prompt=True, tokenize=True, tools=tools,
            **(chat_template_kwargs or {}))
        return self.stream(ids, **kwargs) if stream else self.generate(ids, **kwargs)

    # ---- evaluation ----

    def logits(self, ids):
        """Raw logits after every token: a float32 NumPy array of shape (len(ids), n_vocab).

        ids: token ids, or text (tokenized with BOS). Evaluated on a fresh KV cache, in chunks;
        Ctrl-C is noticed between chunks.
        """
        return self._m.logits(self._prompt_ids(ids))

