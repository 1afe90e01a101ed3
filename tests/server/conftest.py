"""Fixtures for the server suite: the real `kt serve` on real model files.

Models:
  * stories260K (Karpathy's TinyStories model from ../shared/testdata, converted to GGUF with
    `kt convert`): a trained model whose greedy text is known, for text-level checks.
  * tests/fixtures/hf/llama: a tiny random Llama with transformers' log-probs in
    reference.json, for log-prob checks.

Environment: KT_BIN (the kt binary; default build/kt), KT_TESTDATA_DIR (default
../shared/testdata beside the checkout). Each test's files go under pytest's tmp_path.
"""
import json
import os
import socket
import sys
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
KT_BIN = Path(os.environ.get("KT_BIN", ROOT / "build" / "kt"))
TESTDATA = Path(os.environ.get("KT_TESTDATA_DIR", ROOT.parent / "shared" / "testdata"))
STORIES_DIR = TESTDATA / "stories260K"
sys.path.insert(0, str(ROOT / "tests"))
from hf_reference import HF_FIXTURES, load_reference  # noqa: E402,F401  (shared with tests/python)
# From ../shared/testdata/README.md: greedy decoding from BOS.
STORY = ("Once upon a time, there was a little girl named Lily. She loved to play outside in "
         "the park. One day, she saw a big, red ball.")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class KtServer:
    """A running `kt serve`; stopped by stop() (the fixtures do it)."""

    def __init__(self, model_args, extra_args, log_path, api_key=None):
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.api_key = api_key
        args = [str(KT_BIN), "serve", *model_args, "--port", str(self.port), "--cpu_infer", "2",
                *extra_args]
        if api_key:
            args += ["--api_key", api_key]
        self.log_path = log_path
        self._log = open(log_path, "w")
        self.proc = subprocess.Popen(args, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.time() + 120
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"kt serve exited with {self.proc.returncode}:\n{self.log()}")
            try:
                with urllib.request.urlopen(self.base_url + "/health", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"kt serve did not answer /health in time:\n{self.log()}")

    def log(self):
        return Path(self.log_path).read_text(errors="replace")

    def headers(self):
        h = {"Content-Type": "application/json"}
        if self.api_key:
            h["Authorization"] = f"Bearer {self.api_key}"
        return h

    def request(self, method, path, body=None, headers=None, raw=None, timeout=60):
        """(status, headers, bytes). body: JSON-encoded; raw: bytes sent as is."""
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        req = urllib.request.Request(self.base_url + path, data=data, method=method,
                                     headers=headers if headers is not None else self.headers())
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, dict(r.headers), r.read()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read()

    def post(self, path, body, **kw):
        status, _, data = self.request("POST", path, body, **kw)
        return status, json.loads(data) if data else None

    def get(self, path, **kw):
        status, _, data = self.request("GET", path, **kw)
        return status, data

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


def require(path):
    if not Path(path).exists():
        pytest.skip(f"{path} is absent")


@pytest.fixture(scope="session")
def kt_bin():
    require(KT_BIN)
    return KT_BIN


@pytest.fixture(scope="session")
def stories_gguf(kt_bin, tmp_path_factory):
    require(STORIES_DIR / "stories260K.bin")
    out = tmp_path_factory.mktemp("stories") / "stories260K.gguf"
    subprocess.run([str(kt_bin), "convert", str(STORIES_DIR / "stories260K.bin"), "--tokenizer",
                    str(STORIES_DIR / "tok512.bin"), "-o", str(out), "-t", "f32"], check=True,
                   capture_output=True)
    return out


@pytest.fixture(scope="session")
def start_server(kt_bin, tmp_path_factory):
    """start_server(model_args, extra_args=(), api_key=None) -> KtServer, stopped at the end."""
    servers = []

    def start(model_args, extra_args=(), api_key=None):
        log = tmp_path_factory.mktemp("server") / "kt-serve.log"
        s = KtServer(list(model_args), list(extra_args), log, api_key)
        servers.append(s)
        return s

    yield start
    for s in servers:
        s.stop()


@pytest.fixture(scope="session")
def stories_server(start_server, stories_gguf):
    """stories260K behind `kt serve` (no API key), context 512."""
    return start_server(["-m", str(stories_gguf)], ["--cache_lens", "512"])


@pytest.fixture(scope="session")
def llama_server(start_server):
    """The tiny random Llama fixture (HF folder) behind `kt serve`."""
    require(HF_FIXTURES / "llama" / "reference.json")
    return start_server(["-m", str(HF_FIXTURES / "llama")], ["--cache_lens", "256"])


@pytest.fixture(scope="session")
def qwen_template_server(start_server, stories_gguf):
    """stories260K with Qwen3's real chat template (tools, <tool_call> markers)."""
    template = TESTDATA / "templates" / "Qwen-Qwen3-0.6B.jinja"
    require(template)
    return start_server(["-m", str(stories_gguf)],
                        ["--cache_lens", "1024", "--chat_template", str(template),
                         "--model_name", "stories-qwen"])
