"""Fixtures for the Python package's suite (tests/python): the installed `ktransformers` package
on real model files.

Models:
  * stories260K (Karpathy's TinyStories model from ../shared/testdata), converted to GGUF with
    `kt convert` run through the package (ktransformers._commands.run_cli): a trained model
    whose greedy text is known.
  * tests/fixtures/hf/<arch>: tiny random Hugging Face checkpoints with transformers'
    log-probs in reference.json.

`make test-python` installs the wheel into a fresh venv and runs pytest from outside the source
tree, so that the installed package is imported (KT_PYTHON_INSTALLED=1 makes the suite check
that). Environment: KT_TESTDATA_DIR (default ../shared/testdata beside the checkout).
"""
import os
import sys
from pathlib import Path

import pytest

import ktransformers
from ktransformers import _commands

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
from hf_reference import HF_FIXTURES, load_reference  # noqa: E402,F401  (shared with tests/server)

TESTDATA = Path(os.environ.get("KT_TESTDATA_DIR", ROOT.parent / "shared" / "testdata"))
STORIES_DIR = TESTDATA / "stories260K"
HF_CASES = sorted(p.name for p in HF_FIXTURES.iterdir() if (p / "reference.json").exists())
# From ../shared/testdata/README.md: greedy decoding from BOS.
STORY = ("Once upon a time, there was a little girl named Lily. She loved to play outside in "
         "the park.")
THREADS = 2


def require(path):
    if not Path(path).exists():
        pytest.skip(f"{path} is absent")




@pytest.fixture(scope="session")
def stories_gguf(tmp_path_factory):
    require(STORIES_DIR / "stories260K.bin")
    out = tmp_path_factory.mktemp("stories") / "stories260K.gguf"
    rc = _commands.run_cli(["kt", "convert", STORIES_DIR / "stories260K.bin", "--tokenizer",
                            STORIES_DIR / "tok512.bin", "-o", out, "-t", "f32"])
    assert rc == 0 and out.exists()
    return out


@pytest.fixture(scope="session")
def stories(stories_gguf):
    """stories260K loaded once for the session, context 512."""
    return ktransformers.Model(stories_gguf, cpu_infer=THREADS, context=512)


@pytest.fixture(scope="session")
def llama():
    """The tiny random Llama fixture (an HF folder: weights, tokenizer.json)."""
    require(HF_FIXTURES / "llama" / "reference.json")
    return ktransformers.Model(model_path=HF_FIXTURES / "llama", cpu_infer=THREADS, context=256)
