"""The package's commands: `python -m ktransformers.local_chat` (kt chat), the `ktransformers`
server command (kt serve) and `python -m ktransformers` (any kt subcommand), run as a user
would, from outside the source tree."""
import json
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from ktransformers._commands import translate_args
from conftest import STORY


def run_python(args, cwd, **kw):
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120, **kw)


def test_local_chat_help(tmp_path):
    r = run_python(["-m", "ktransformers.local_chat", "-h"], tmp_path)
    assert r.returncode == 0, r.stderr
    for option in ("--model_path", "--gguf_path", "--optimize_rule_path", "--max_new_tokens",
                   "--cpu_infer"):
        assert option in r.stdout


def test_local_chat_answers(tmp_path, stories_gguf):
    """KTransformers' spellings: --cpu_infer=2, --use_cuda_graph True (ignored), --force_think
    False."""
    r = run_python(["-m", "ktransformers.local_chat", "--gguf_path", str(stories_gguf),
                    "--cpu_infer=2", "--use_cuda_graph", "True", "--force_think", "False",
                    "--max_new_tokens", "30", "--temperature", "0", "--completion", "-p",
                    "Once upon a time"], tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("Once upon a time, there was a little girl named Lily")
    assert "ignoring --use_cuda_graph" in r.stderr


def test_local_chat_error_exit(tmp_path):
    r = run_python(["-m", "ktransformers.local_chat", "--gguf_path", "/no/such.gguf", "-p", "x"],
                   tmp_path)
    assert r.returncode == 1
    assert "/no/such.gguf: no such file" in r.stderr


def test_kt_subcommands(tmp_path, stories_gguf):
    r = run_python(["-m", "ktransformers", "tokenize", "-m", str(stories_gguf), "--ids-only",
                    "Lily"], tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split()[0] == "1"
    r = run_python(["-m", "ktransformers", "--version"], tmp_path)
    assert r.returncode == 0 and "0.1.0" in r.stdout


def test_translate_args():
    assert translate_args(["--optimize_config_path=r.yaml", "--chunk_prefill_size", "64",
                           "--model_dir", "M"]) == [
        "--optimize_rule_path=r.yaml", "--chunk_size", "64", "--model_path", "M"]
    assert translate_args(["--model_path", "A", "--model_dir", "B"]) == ["--model_path", "A"]
    chat = dict(ignored={"--mode", "--use_cuda_graph"}, flags={"--force_think"})
    assert translate_args(["--mode", "normal", "--use_cuda_graph=False", "-p", "x"],
                          **chat) == ["-p", "x"]
    assert translate_args(["--force_think", "True", "--cpu_infer", "4"], **chat) == [
        "--force_think", "--cpu_infer", "4"]
    assert translate_args(["--force_think=false"], **chat) == []
    assert translate_args(["--force_think", "-p", "x"], **chat) == ["--force_think", "-p", "x"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_command():
    """The installed `ktransformers` console script, or its module form in a source tree."""
    script = Path(sys.executable).parent / "ktransformers"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from ktransformers._commands import serve_main; serve_main()"]


def test_server_command_help(tmp_path):
    r = subprocess.run([*server_command(), "-h"], cwd=tmp_path, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    assert "--gguf_path" in r.stdout and "--port" in r.stdout


def test_server_command_serves(tmp_path, stories_gguf):
    """`ktransformers --gguf_path ... --port P --web True` is kt serve: it answers the OpenAI API
    and stops cleanly on Ctrl-C (SIGINT)."""
    port = free_port()
    log = open(tmp_path / "server.log", "w")
    proc = subprocess.Popen([*server_command(), "--gguf_path", str(stories_gguf), "--port",
                             str(port), "--web", "True", "--cpu_infer", "2", "--backend_type",
                             "balance_serve"], cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.time() + 60
        while True:
            assert proc.poll() is None, (tmp_path / "server.log").read_text()
            try:
                with urllib.request.urlopen(base + "/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            assert time.time() < deadline, (tmp_path / "server.log").read_text()
            time.sleep(0.1)
        body = json.dumps({"prompt": "", "max_tokens": 40, "temperature": 0}).encode()
        req = urllib.request.Request(base + "/v1/completions", data=body,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=60) as r:
            text = json.loads(r.read())["choices"][0]["text"]
        assert text.startswith(STORY)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
    assert "ignoring --backend_type" in (tmp_path / "server.log").read_text()
