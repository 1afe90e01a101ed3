"""Model loading, logits against transformers, the tokenizer, errors and Ctrl-C."""
import os
import signal
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import ktransformers
from conftest import HF_CASES, HF_FIXTURES, THREADS, load_reference


def test_package_and_build_info():
    assert ktransformers.__version__ == "0.1.0"
    assert ktransformers._kt.__version__ == "0.1.0"
    assert isinstance(ktransformers.cuda_built, bool)
    assert ktransformers.cuda_device_count() >= 0
    assert Path(ktransformers._kt.__file__).parent == Path(ktransformers.__file__).parent


@pytest.mark.skipif(not os.environ.get("KT_PYTHON_INSTALLED"), reason="not the installed wheel")
def test_imported_from_the_installed_wheel():
    assert "site-packages" in Path(ktransformers.__file__).parts
    assert Path(sys.prefix) in Path(ktransformers.__file__).parents


def log_softmax(x):
    x = x.astype(np.float64)
    m = x.max(axis=-1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=-1, keepdims=True))


@pytest.mark.parametrize("case", HF_CASES)
def test_logits_and_greedy_match_transformers(case):
    ref, rows = load_reference(case)
    model = ktransformers.Model(model_path=HF_FIXTURES / case, cpu_infer=THREADS, context=64)
    logits = model.logits(ref["tokens"])
    assert logits.dtype == np.float32
    assert logits.shape == (len(ref["tokens"]), ref["vocab"]) == (len(ref["tokens"]),
                                                                  model.n_vocab)
    err = np.abs(log_softmax(logits) - np.array(rows)).max()
    assert err < 1e-3, (case, err)
    got = model.complete(ref["prompt"], max_new_tokens=len(ref["greedy"]), temperature=0,
                         ignore_eos=True)
    assert got.token_ids == ref["greedy"]


def test_logits_agree_with_generation(llama):
    """Greedy decoding picks the argmax of the logits that evaluating the same tokens gives."""
    ref, _ = load_reference("llama")
    out = llama.complete(ref["prompt"], max_new_tokens=8, temperature=0, ignore_eos=True)
    logits = llama.logits(ref["prompt"] + out.token_ids)
    n = len(ref["prompt"])
    assert logits[n - 1:-1].argmax(axis=-1).tolist() == out.token_ids
    # Chunked evaluation gives the same rows as one chunk.
    small = ktransformers.Model(model_path=HF_FIXTURES / "llama", cpu_infer=THREADS,
                                chunk_size=3)
    assert np.allclose(small.logits(ref["tokens"]), llama.logits(ref["tokens"]), atol=1e-4)


def test_model_properties(llama):
    assert llama.arch == "llama"
    assert llama.context == 256
    assert llama.cpu_infer == THREADS
    assert llama.rules  # the shipped rules in force
    assert "llama" in repr(llama)


def test_tokenizer_round_trip(stories):
    tok = stories.tokenizer
    text = "Once upon a time, Lily saw a ball."
    ids = tok.encode(text)
    assert ids[0] == tok.bos_token_id == 1
    assert tok.encode(text, add_special=False) == ids[1:]
    assert tok.encode(text, add_special_tokens=False) == ids[1:]
    assert tok.decode(ids[1:]) == text
    assert tok.decode(ids) == "<s>" + text
    assert tok.decode(ids, skip_special_tokens=True) == text
    assert tok.decode(np.array([ids[1:]])) == text  # a batch of one, as NumPy
    assert len(tok) == tok.vocab_size == 512
    assert tok.eos_token_id == 2
    pieces = tok.convert_ids_to_tokens(ids[1:4])
    assert tok.convert_tokens_to_ids(pieces) == ids[1:4]
    assert tok.convert_tokens_to_ids("no such token") is None


def test_tokenizer_outlives_model(stories_gguf):
    model = ktransformers.Model(stories_gguf, cpu_infer=1, context=32)
    tok = model.tokenizer
    del model
    assert tok.decode(tok.encode("Lily", add_special=False)) == "Lily"


def test_missing_file_is_named():
    with pytest.raises(ktransformers.KtError, match="/no/such/model.gguf: no such file"):
        ktransformers.Model(gguf_path="/no/such/model.gguf")
    assert issubclass(ktransformers.KtError, RuntimeError)
    with pytest.raises(ktransformers.KtError, match="give a model"):
        ktransformers.Model()


def test_bad_rule_file_is_reported(tmp_path):
    rules = tmp_path / "bad.yaml"
    rules.write_text("- match:\n    name: \"^lm_head$\"\n  replace:\n    class: NoSuchOperator\n")
    with pytest.raises(ktransformers.KtError, match=r"bad\.yaml:4: unknown replace class "
                                                     r"\"NoSuchOperator\""):
        ktransformers.Model(model_path=HF_FIXTURES / "llama", optimize_rule_path=rules)
    with pytest.raises(ktransformers.KtError, match="cannot read the rule file"):
        ktransformers.Model(model_path=HF_FIXTURES / "llama",
                            optimize_rule_path=tmp_path / "absent.yaml")


def test_bad_requests_raise(llama):
    with pytest.raises(ktransformers.KtError, match="token id 999 is outside the vocabulary"):
        llama.generate([1, 999])
    with pytest.raises(ktransformers.KtError, match="no tokens"):
        llama.generate([])
    with pytest.raises(ktransformers.KtError, match="does not fit the context"):
        llama.generate([1] * 300)
    with pytest.raises(ktransformers.KtError, match="token id 1000"):
        llama.tokenizer.decode([1000])
    with pytest.raises(ktransformers.KtError, match=r"messages\[0\]\.role 'robot'"):
        llama.chat([{"role": "robot", "content": "x"}])
    with pytest.raises(ktransformers.KtError, match="token id 999"):
        llama.logits([999])
    # The model still works after each error.
    assert llama.generate([1, 2, 3], max_new_tokens=2, temperature=0, ignore_eos=True) is not None


class SigintSoon:
    """Sends this process SIGINT after `delay` seconds, with a handler that raises
    KeyboardInterrupt (as Python's default does) only while the block runs."""

    def __init__(self, delay=0.3):
        self.delay = delay

    def __enter__(self):
        self.old = signal.signal(signal.SIGINT, signal.default_int_handler)
        self.timer = threading.Timer(self.delay, os.kill, (os.getpid(), signal.SIGINT))
        self.start = time.time()
        self.timer.start()
        return self

    def __exit__(self, *exc):
        self.elapsed = time.time() - self.start
        self.timer.join()
        signal.signal(signal.SIGINT, self.old)
        return False


def test_ctrl_c_interrupts_long_calls(stories_gguf):
    """Generation, streaming and logits notice Ctrl-C between tokens / chunks and raise
    KeyboardInterrupt; the model stays usable."""
    model = ktransformers.Model(stories_gguf, cpu_infer=THREADS, context=40000)
    calls = {
        # Each runs for far longer than the delay (40k positions of decode or prefill).
        "generate": lambda: model.generate("Once", max_new_tokens=None, ignore_eos=True),
        "stream": lambda: list(model.stream("Once", max_new_tokens=None, ignore_eos=True)),
        "prefill": lambda: model.generate([1] + [300] * 39000, max_new_tokens=1),
        "logits": lambda: model.logits([1] + [300] * 39000),
    }
    for name, call in calls.items():
        returned = False
        with pytest.raises(KeyboardInterrupt):
            with SigintSoon() as s:
                call()
                returned = True
        assert not returned, name
        assert s.elapsed < 30, (name, s.elapsed)
    assert model.generate("Once upon a time", max_new_tokens=8, temperature=0).startswith(
        ", there was")
