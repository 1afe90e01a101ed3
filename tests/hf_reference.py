"""transformers' reference for the tiny Hugging Face fixtures (tests/fixtures/hf/<case>), shared by
the Python suites (tests/server, tests/python). scripts/gen_hf_fixtures.py wrote them."""
import base64
import json
import struct
from pathlib import Path

HF_FIXTURES = Path(__file__).resolve().parent / "fixtures" / "hf"


def load_reference(case):
    """(reference dict, rows): rows[i] are transformers' log-softmax values after tokens[:i+1]."""
    ref = json.loads((HF_FIXTURES / case / "reference.json").read_text())
    raw = base64.b64decode(ref["logprobs_f32_b64"])
    vocab = ref["vocab"]
    flat = struct.unpack(f"<{len(raw) // 4}f", raw)
    rows = [flat[i * vocab:(i + 1) * vocab] for i in range(len(ref["tokens"]))]
    return ref, rows
