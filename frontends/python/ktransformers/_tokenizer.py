"""The model's tokenizer and chat template, with Hugging Face-like method names."""
import json


def _token_ids(ids):
    """A flat list of ints from a list, tuple, NumPy array or torch tensor (one row allowed)."""
    if hasattr(ids, "tolist"):  # numpy.ndarray, torch.Tensor
        ids = ids.tolist()
    ids = list(ids)
    if len(ids) == 1 and isinstance(ids[0], (list, tuple)):  # a batch of one: [[1, 2, 3]]
        ids = list(ids[0])
    return [int(i) for i in ids]


class Tokenizer:
    """Text to token ids and back, exactly as the engine tokenizes (see the README's Tokenizers).

    Obtained from :attr:`ktransformers.Model.tokenizer`; it stays valid after the model is gone.
    """

    def __init__(self, handle):
        self._t = handle

    def encode(self, text, add_special=True, parse_special=True, *, add_special_tokens=None):
        """Token ids of ``text``.

        add_special (or Hugging Face's ``add_special_tokens``): put BOS (and EOS) where the model
        asks for them. parse_special: text such as ``<|im_start|>`` becomes that special token.
        """
        if add_special_tokens is not None:
            add_special = add_special_tokens
        return self._t.encode(str(text), bool(add_special), bool(parse_special))

    def decode(self, ids, skip_special_tokens=False):
        """Text of ``ids``; special tokens are written out unless ``skip_special_tokens``."""
        return self._t.decode(_token_ids(ids), not skip_special_tokens)

    def convert_ids_to_tokens(self, ids):
        """Vocabulary entries as stored ("Ġhello", "▁Hello"); one id gives one string."""
        if isinstance(ids, int):
            return self._t.token_text(ids)
        return [self._t.token_text(i) for i in _token_ids(ids)]

    def convert_tokens_to_ids(self, tokens):
        """Ids of vocabulary entries (None for an entry the vocabulary lacks)."""
        if isinstance(tokens, str):
            return self._t.find_token(tokens)
        return [self._t.find_token(t) for t in tokens]

    def apply_chat_template(self, messages, add_generation_prompt=True, tokenize=False, tools=None,
                            **template_vars):
        """Renders a conversation with the model's chat template (byte-identical to
        transformers' ``apply_chat_template``).

        messages: ``[{"role": "user", "content": "Hi"}, ...]`` (OpenAI-style; content may also
        be a list of ``{"type": "text", "text": ...}`` parts). tools: tool definitions given to
        the template. Extra keyword arguments become template variables
        (``enable_thinking=False``). With ``tokenize=True`` the prompt's token ids are returned,
        tokenized as the server does (special tokens parsed, BOS added only when the template
        did not write it).
        """
        args = (json.dumps(list(messages)), "" if tools is None else json.dumps(list(tools)),
                bool(add_generation_prompt), json.dumps(template_vars) if template_vars else "")
        return self._t.chat_ids(*args) if tokenize else self._t.render_chat(*args)

    @property
    def vocab_size(self):
        return self._t.vocab_size

    def __len__(self):
        return self._t.vocab_size

    @property
    def bos_token_id(self):
        return self._t.bos_id

    @property
    def eos_token_id(self):
        return self._t.eos_id

    @property
    def pad_token_id(self):
        return self._t.pad_id

    @property
    def chat_template(self):
        """The chat template's Jinja source (None when the model has none)."""
        return self._t.chat_template

    def __repr__(self):
        return f"<ktransformers.Tokenizer {self._t.vocab_size} tokens from {self._t.source!r}>"
