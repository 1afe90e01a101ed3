"""prefill_and_generate: KTransformers' generation helper, kept under its name and signature."""
import sys

from ._tokenizer import _token_ids

# Sampling settings prefill_and_generate passes on to Model.complete; KTransformers' other
# keyword arguments (use_cuda_graph, mode, chunk_prefill_size, use_flashinfer_mla, num_heads,
# ...) tune its PyTorch path and mean nothing here: kt decides them itself.
_SAMPLING = {"temperature", "top_p", "top_k", "min_p", "repeat_penalty", "frequency_penalty",
             "presence_penalty", "seed", "stop", "ignore_eos"}


def prefill_and_generate(model, tokenizer, inputs, max_new_tokens=10000, use_cuda_graph=True,
                         mode="normal", force_think=False, chunk_prefill_size=16384,
                         verbose=True, **kwargs):
    """Evaluates ``inputs`` and generates up to ``max_new_tokens`` tokens, streaming the text to
    stdout and then KTransformers' timing lines; returns the generated token ids (a list).

    model: a :class:`ktransformers.Model`. tokenizer: accepted for compatibility and unused (the
    model's own tokenizer decodes). inputs: token ids, as a list, a NumPy array or a torch
    tensor of shape (1, n). Sampling keyword arguments (temperature, top_p, top_k, seed, stop,
    ...) go to :meth:`ktransformers.Model.complete`; KTransformers' tuning arguments are
    accepted and ignored. verbose=False prints nothing. Unlike KTransformers' list, the
    returned ids do not include the end-of-generation token.
    """
    del tokenizer, use_cuda_graph, mode, chunk_prefill_size  # kt decides these itself
    ids = _token_ids(inputs)
    opts = {k: v for k, v in kwargs.items() if k in _SAMPLING}
    if not verbose:
        return model.complete(ids, max_new_tokens=max_new_tokens, **opts).token_ids
    if force_think:
        print("<think>")
    stream = model.stream(ids, max_new_tokens=max_new_tokens, **opts)
    for piece in stream:
        sys.stdout.write(piece)
        sys.stdout.flush()
    res = stream.result
    print("")
    prefill = max(res.prefill_seconds, 1e-9)
    decode = max(res.decode_seconds, 1e-9)
    print(f"prompt eval count:    {res.prompt_tokens} token(s)")
    print(f"prompt eval duration: {res.prefill_seconds}s")
    print(f"prompt eval rate:     {res.prompt_tokens / prefill} tokens/s")
    print(f"eval count:           {res.completion_tokens} token(s)")
    print(f"eval duration:        {res.decode_seconds}s")
    print(f"eval rate:            {res.completion_tokens / decode} tokens/s")
    return list(res.token_ids)
