"""Many clients at once: streams do not mix, a full queue answers 503 with Retry-After, and a
client that disconnects mid-stream cancels its generation."""
import json
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from test_openai import client
from test_ops import metrics


def test_16_concurrent_streams(stories_server):
    c = client(stories_server)
    prompts = ["Once upon a time", "One day, a little"]
    expected = {p: c.completions.create(model="stories260K", prompt=p, max_tokens=20,
                                        temperature=0,
                                        extra_body={"ignore_eos": True}).choices[0].text
                for p in prompts}
    barrier = threading.Barrier(16)

    def stream(i):
        p = prompts[i % 2]
        barrier.wait()
        text, usage = [], None
        for chunk in c.completions.create(model="stories260K", prompt=p, max_tokens=20,
                                          temperature=0, stream=True,
                                          extra_body={"ignore_eos": True},
                                          stream_options={"include_usage": True}):
            usage = chunk.usage or usage
            text += [ch.text for ch in chunk.choices]
        return p, "".join(text), usage.completion_tokens

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(stream, range(16)))
    for p, text, n in results:
        assert text == expected[p]
        assert n == 20


def test_full_queue_answers_503(start_server, stories_gguf):
    s = start_server(["-m", str(stories_gguf)], ["--cache_lens", "512", "--max_queue", "1"])
    barrier = threading.Barrier(8)

    def ask(_):
        barrier.wait()
        status, headers, data = s.request("POST", "/v1/completions", {
            "prompt": "Once upon a time", "max_tokens": 400, "ignore_eos": True})
        return status, headers, json.loads(data)

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(ask, range(8)))
    statuses = sorted(r[0] for r in results)
    assert statuses.count(200) >= 2, statuses  # the running one and the waiting one
    busy = [r for r in results if r[0] == 503]
    assert busy, statuses
    for _, headers, body in busy:
        assert headers["Retry-After"] == "1"
        assert body["error"]["type"] == "unavailable_error"
    _, m = metrics(s)
    assert m["kt_requests_rejected_total"] == len(busy)


def test_disconnect_cancels_the_generation(stories_server):
    _, before = metrics(stories_server)
    body = json.dumps({"prompt": "Once upon a time", "max_tokens": 450, "ignore_eos": True,
                       "stream": True}).encode()
    sock = socket.create_connection(("127.0.0.1", stories_server.port), timeout=30)
    sock.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    got = b""
    while b"data: " not in got:
        got += sock.recv(4096)
    sock.close()  # gone after the first chunk
    deadline = time.time() + 20
    while time.time() < deadline:
        _, now = metrics(stories_server)
        if now["kt_requests_cancelled_total"] > before["kt_requests_cancelled_total"]:
            break
        time.sleep(0.05)
    assert now["kt_requests_cancelled_total"] == before["kt_requests_cancelled_total"] + 1
    generated = now["kt_tokens_predicted_total"] - before["kt_tokens_predicted_total"]
    assert generated < 450, "the generation should stop when the client goes away"
    # The engine is free again at once.
    status, out = stories_server.post("/v1/completions", {"prompt": "Once", "max_tokens": 3})
    assert status == 200 and out["usage"]["completion_tokens"] == 3
