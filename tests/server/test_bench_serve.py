"""`kt bench serve` (the client-side serving benchmark) against the real `kt serve`."""
import json
import socket
import subprocess


def run_bench(kt_bin, *args, timeout=300):
    return subprocess.run([str(kt_bin), "bench", "serve", *args], capture_output=True, text=True,
                          timeout=timeout)


def closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when the socket is


def check_summary(doc, key):
    s = doc[key]
    assert s["mean"] > 0, (key, s)
    assert 0 <= s["p50"] <= s["p99"], (key, s)


def test_bench_serve_completions(kt_bin, stories_server):
    r = run_bench(kt_bin, "--url", stories_server.base_url, "-n", "4", "-c", "2", "--input_len",
                  "16", "--output_len", "8", "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["url"] == stories_server.base_url
    assert doc["endpoint"] == "completions"
    assert (doc["concurrency"], doc["num_prompts"], doc["input_len"], doc["output_len"]) == (
        2, 4, 16, 8)
    assert doc["model"]
    assert doc["completed"] == 4, doc.get("first_error")
    assert doc["failed"] == 0
    assert "first_error" not in doc
    assert doc["total_input_tokens"] == 64
    assert doc["total_output_tokens"] == 32
    assert doc["duration_s"] > 0
    for key in ("request_throughput", "output_throughput", "total_token_throughput"):
        assert doc[key] > 0, key
    assert doc["total_token_throughput"] > doc["output_throughput"]
    for key in ("ttft_ms", "tpot_ms", "itl_ms", "e2el_ms"):
        check_summary(doc, key)
    assert doc["e2el_ms"]["mean"] >= doc["ttft_ms"]["mean"]


def test_bench_serve_chat_table(kt_bin, stories_server):
    r = run_bench(kt_bin, "--url", stories_server.base_url, "-n", "2", "--input_len", "8",
                  "--output_len", "4", "--endpoint", "chat", "--request_rate", "50")
    assert r.returncode == 0, r.stderr
    for label in ("completed requests", "failed requests", "output throughput", "TTFT", "TPOT",
                  "ITL", "E2EL"):
        assert label in r.stdout, (label, r.stdout)
    completed = [line for line in r.stdout.splitlines() if line.startswith("completed requests")]
    assert completed and completed[0].split()[-1] == "2", r.stdout


def test_bench_serve_unreachable(kt_bin):
    url = f"http://127.0.0.1:{closed_port()}"
    r = run_bench(kt_bin, "--url", url, "-n", "1", timeout=60)
    assert r.returncode != 0
    assert url in r.stderr, r.stderr


def test_bench_serve_bad_url(kt_bin):
    r = run_bench(kt_bin, "--url", "https://127.0.0.1:1", "-n", "1", timeout=60)
    assert r.returncode != 0
    assert "https://127.0.0.1:1" in r.stderr, r.stderr
