#!/usr/bin/env python3
"""Shared KV store benchmarks (issue 12), against real `packinfer serve` processes and a
throwaway redis-server on a free loopback port.

  bench/kv_store_bench.py ttft   -m MODEL [--tokens 4000]
      TTFT of one long prompt: recomputed, loaded from Redis (a second server), local RAM hit;
      bytes moved and per-block cost from /metrics.
  bench/kv_store_bench.py shared -m MODEL [--requests 64 --prefix 1000 --concurrency 8]
      Two replicas behind `packinfer router`, requests sharing a prefix: TTFT p50/p90 with and
      without the shared store.
  bench/kv_store_bench.py docs   -m MODEL [--requests 64 --prefix 1000 --docs 21 --interval 1]
      Two replicas behind nginx round-robin (what people deploy without our router), requests
      about --docs documents, each with its own ~--prefix-token opening, arriving one every
      --interval seconds, request i about document i % docs: a document's requests land on both
      replicas. Runs without and with the shared store alternately (--rounds each), in one run.

TTFT is measured as the time to the first streamed token (SSE chunk with text).
"""
import argparse
import json
import os
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def port_answers(port, tries=200):
    """True once something accepts connections on the loopback port (polled for ~10 s)."""
    for _ in range(tries):
        try:
            socket.create_connection(("127.0.0.1", port), 0.1).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class Proc:
    def __init__(self, argv, ready_pattern, name):
        self.name = name
        self.p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.port = None
        deadline = time.time() + 300
        while time.time() < deadline:
            line = self.p.stderr.readline()
            if not line:
                raise RuntimeError(f"{name} exited: {argv}")
            m = re.search(ready_pattern, line)
            if m:
                self.port = int(m.group(1))
                break
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self):
        for line in self.p.stderr:
            if "KV store" in line or "error" in line:
                sys.stderr.write(f"[{self.name}] {line}")

    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def stop(self):
        self.p.terminate()
        try:
            self.p.wait(10)
        except subprocess.TimeoutExpired:
            self.p.kill()


def start_redis():
    port = free_port()
    p = subprocess.Popen([shutil.which("redis-server"), "--port", str(port), "--bind", "127.0.0.1",
                          "--save", "", "--appendonly", "no"], stdout=subprocess.DEVNULL)
    if not port_answers(port):
        raise RuntimeError("redis-server did not start")
    return p, port


def serve(cli, model, threads, store=None, role=None, ctx=8192, name="serve"):
    argv = [cli, "serve", "-m", model, "--port", "0", "-t", str(threads), "-c", str(ctx)]
    if store:
        argv += ["--kv-store", store]
    if role:
        argv += ["--role", role]
    return Proc(argv, r"on http://[^:]+:(\d+)", name)


def ttft(url, prompt, max_tokens=1):
    """Seconds to the first streamed text, and the usage of the reply."""
    body = json.dumps({"prompt": prompt, "max_tokens": max_tokens, "temperature": 0,
                       "stream": True, "stream_options": {"include_usage": True}}).encode()
    req = urllib.request.Request(url + "/v1/completions", body,
                                 {"Content-Type": "application/json"})
    t0 = time.perf_counter()
    first = None
    usage = None
    with urllib.request.urlopen(req, timeout=600) as r:
        for raw in r:
            line = raw.decode().strip()
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            j = json.loads(line[6:])
            if first is None and j.get("choices") and j["choices"][0].get("text") is not None:
                first = time.perf_counter() - t0
            if j.get("usage"):
                usage = j["usage"]
    return first if first is not None else time.perf_counter() - t0, usage


def metrics(url):
    text = urllib.request.urlopen(url + "/metrics", timeout=30).read().decode()
    out = {}
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        k, v = line.rsplit(" ", 1)
        out[k] = float(v)
    return out


def words(n, seed):
    rnd = random.Random(seed)
    vocab = ["the", "cat", "sat", "on", "a", "mat", "and", "then", "dog", "ran", "to", "park",
             "with", "ball", "red", "blue", "house", "tree", "bird", "sang", "under", "sky"]
    return " ".join(rnd.choice(vocab) + str(rnd.randint(0, 99)) for _ in range(n))


def prompt_of_tokens(url, n_tokens, seed):
    """A prompt of about n_tokens tokens: tokens per word measured on an unrelated sample (so
    nothing of the prompt is cached by the measurement)."""
    sample = words(200, seed + 1000)
    r = urllib.request.urlopen(urllib.request.Request(
        url + "/v1/completions",
        json.dumps({"prompt": sample, "max_tokens": 1, "temperature": 0}).encode(),
        {"Content-Type": "application/json"}), timeout=600)
    per_word = json.loads(r.read())["usage"]["prompt_tokens"] / 200
    return words(int(n_tokens / per_word), seed)


def cmd_ttft(a):
    redis, rport = start_redis()
    store = f"redis://127.0.0.1:{rport}"
    procs = []
    try:
        A = serve(a.cli, a.model, a.threads, store, name="A")
        procs.append(A)
        prompt = prompt_of_tokens(A.url(), a.tokens, 1)
        t_compute, usage = ttft(A.url(), prompt)
        n = usage["prompt_tokens"]
        time.sleep(2)  # A's blocks are written in the background
        mA = metrics(A.url())
        t_ram, u_ram = ttft(A.url(), prompt)
        A.stop()
        procs.remove(A)
        B = serve(a.cli, a.model, a.threads, store, name="B")
        procs.append(B)
        m0 = metrics(B.url())
        t_redis, u_redis = ttft(B.url(), prompt)
        m1 = metrics(B.url())
        B.stop()
        procs.remove(B)
        C = serve(a.cli, a.model, a.threads, None, name="C")
        procs.append(C)
        t_plain, _ = ttft(C.url(), prompt)
        blocks = m1['packinfer_kv_store_blocks_total{direction="read"}'] - \
            m0.get('packinfer_kv_store_blocks_total{direction="read"}', 0)
        rbytes = m1['packinfer_kv_store_bytes_total{direction="read"}'] - \
            m0.get('packinfer_kv_store_bytes_total{direction="read"}', 0)
        rsec = m1['packinfer_kv_store_seconds_total{direction="read"}'] - \
            m0.get('packinfer_kv_store_seconds_total{direction="read"}', 0)
        wblocks = mA['packinfer_kv_store_blocks_total{direction="write"}']
        wbytes = mA['packinfer_kv_store_bytes_total{direction="write"}']
        wsec = mA['packinfer_kv_store_seconds_total{direction="write"}']
        print(f"prompt tokens: {n}")
        print(f"| case | TTFT s | cached_tokens |")
        print(f"|---|---|---|")
        print(f"| recomputed (no store) | {t_plain:.3f} | 0 |")
        print(f"| recomputed on A (store on, miss; publishes in the background) | {t_compute:.3f} | {usage['prompt_tokens_details']['cached_tokens']} |")
        print(f"| loaded from Redis on B | {t_redis:.3f} | {u_redis['prompt_tokens_details']['cached_tokens']} |")
        print(f"| local RAM hit on A | {t_ram:.3f} | {u_ram['prompt_tokens_details']['cached_tokens']} |")
        print(f"read: {blocks:.0f} blocks, {rbytes/2**20:.1f} MiB in {rsec:.3f} s "
              f"({rsec/blocks*1e3:.3f} ms/block, {rbytes/blocks/1024:.1f} KiB/block, "
              f"{rbytes/2**20/rsec:.0f} MiB/s)")
        print(f"write (A, background): {wblocks:.0f} blocks, {wbytes/2**20:.1f} MiB in {wsec:.3f} s "
              f"({wsec/wblocks*1e3:.3f} ms/block)")
    finally:
        for p in procs:
            p.stop()
        redis.terminate()


def run_load(url, prompts, concurrency):
    results = [None] * len(prompts)
    idx = [0]
    lock = threading.Lock()

    def worker():
        while True:
            with lock:
                i = idx[0]
                idx[0] += 1
            if i >= len(prompts):
                return
            try:
                results[i] = ttft(url, prompts[i], max_tokens=8)
            except Exception as e:  # a failed request counts as such
                results[i] = (None, {"error": str(e)})

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    ok = [r[0] for r in results if r[0] is not None]
    cached = sum(r[1]["prompt_tokens_details"]["cached_tokens"] for r in results if r[0] is not None)
    total = sum(r[1]["prompt_tokens"] for r in results if r[0] is not None)
    return ok, len(results) - len(ok), cached, total, wall


def cmd_shared(a):
    out = {}
    for with_store in (False, True):
        redis, rport = start_redis()
        store = f"redis://127.0.0.1:{rport}" if with_store else None
        procs = []
        try:
            r1 = serve(a.cli, a.model, a.threads, store, name="r1")
            procs.append(r1)
            r2 = serve(a.cli, a.model, a.threads, store, name="r2")
            procs.append(r2)
            router = Proc([a.cli, "router", "--port", "0", "--replica", r1.url(), "--replica",
                           r2.url(), "--affinity-chars", str(a.affinity_chars)],
                          r"on http://[^:]+:(\d+)", "router")
            procs.append(router)
            prefix = prompt_of_tokens(r1.url(), a.prefix, 7)
            prompts = [prefix + " " + words(20, 100 + i) for i in range(a.requests)]
            ok, failed, cached, total, wall = run_load(router.url(), prompts, a.concurrency)
            out[with_store] = (ok, failed, cached, total, wall)
        finally:
            for p in procs:
                p.stop()
            redis.terminate()
    print(f"{a.requests} requests, ~{a.prefix}-token shared prefix, concurrency {a.concurrency}, "
          f"two replicas behind the router (affinity over the first {a.affinity_chars} chars)")
    print("| store | TTFT p50 s | TTFT p90 s | failed | cached prompt tokens | wall s |")
    print("|---|---|---|---|---|---|")
    for with_store in (False, True):
        ok, failed, cached, total, wall = out[with_store]
        q = statistics.quantiles(ok, n=10)
        print(f"| {'shared Redis' if with_store else 'none'} | {statistics.median(ok):.3f} | "
              f"{q[8]:.3f} | {failed} | {cached}/{total} | {wall:.1f} |")
    print(f"p50 ratio: {statistics.median(out[False][0]) / statistics.median(out[True][0]):.2f}x")


def cpu_model():
    for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
        if line.startswith("Model name:"):
            return line.split(":", 1)[1].strip()
    return "?"


def start_nginx(ports, tmp):
    """nginx in the foreground from its own directory, round-robin over the loopback ports."""
    exe = shutil.which("nginx") or "/usr/sbin/nginx"
    port = free_port()
    user = "user root;\n" if os.geteuid() == 0 else ""
    ups = "".join(f"    server 127.0.0.1:{p};\n" for p in ports)
    conf = (f"daemon off;\nworker_processes 1;\npid {tmp}/nginx.pid;\n"
            f"error_log {tmp}/error.log warn;\n{user}events {{ worker_connections 1024; }}\n"
            f"http {{\n  access_log off;\n"
            + "".join(f"  {k}_temp_path {tmp}/{k};\n"
                      for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
            + f"  upstream packinfer {{\n{ups}  }}\n"
            f"  server {{\n    listen 127.0.0.1:{port};\n    location / {{\n"
            f"      proxy_pass http://packinfer;\n      proxy_http_version 1.1;\n"
            f"      proxy_set_header Connection \"\";\n      proxy_buffering off;\n"
            f"      proxy_read_timeout 600s;\n    }}\n  }}\n}}\n")
    with open(f"{tmp}/nginx.conf", "w") as f:
        f.write(conf)
    p = subprocess.Popen([exe, "-p", tmp, "-c", f"{tmp}/nginx.conf", "-e", f"{tmp}/error.log"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if not port_answers(port):
        raise RuntimeError("nginx did not start: " + open(f"{tmp}/error.log").read())
    return p, port


def run_arrivals(url, prompts, interval):
    """Sends prompts[i] at i * interval seconds (each on its own thread); TTFT and usage each."""
    results = [None] * len(prompts)

    def one(i):
        try:
            results[i] = ttft(url, prompts[i], max_tokens=8)
        except Exception as e:
            results[i] = (None, {"error": str(e)})

    threads = []
    t0 = time.perf_counter()
    for i in range(len(prompts)):
        delay = t0 + i * interval - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        t = threading.Thread(target=one, args=(i,))
        t.start()
        threads.append(t)
    for t in threads:
        t.join()
    return results, time.perf_counter() - t0


def cmd_docs(a):
    import tempfile
    rows = []
    for rnd in range(a.rounds):
        for with_store in (False, True):
            redis, rport = start_redis()
            store = f"redis://127.0.0.1:{rport}" if with_store else None
            procs = []
            tmp = tempfile.mkdtemp(prefix="kvbench-nginx-")
            nginx = None
            try:
                r1 = serve(a.cli, a.model, a.threads, store, name="r1")
                procs.append(r1)
                r2 = serve(a.cli, a.model, a.threads, store, name="r2")
                procs.append(r2)
                nginx, nport = start_nginx([r1.port, r2.port], tmp)
                # Another seed each round: nothing of a round is in Redis or RAM before it.
                # Tokens per word measured once (on r1, not through nginx, whose rotation then
                # starts with the first request).
                per_word = len(prompt_of_tokens(r1.url(), a.prefix, 3).split()) / a.prefix
                openings = [words(int(a.prefix * per_word), 1000 * rnd + 10 * d + 7)
                            for d in range(a.docs)]
                prompts = [openings[i % a.docs] + " Question " + str(i) + ": " +
                           words(12, 5000 + i) for i in range(a.requests)]
                m0 = [metrics(r.url()) for r in (r1, r2)]
                res, wall = run_arrivals(f"http://127.0.0.1:{nport}", prompts, a.interval)
                time.sleep(0.5)
                m1 = [metrics(r.url()) for r in (r1, r2)]

                def delta(k):
                    return sum(m1[j].get(k, 0) - m0[j].get(k, 0) for j in range(2))
                ok = [r[0] for r in res if r[0] is not None]
                rows.append({
                    "round": rnd, "store": with_store, "ttft": ok,
                    "failed": len(res) - len(ok),
                    "cached": sum(r[1]["prompt_tokens_details"]["cached_tokens"]
                                  for r in res if r[0] is not None),
                    "prompt": sum(r[1]["prompt_tokens"] for r in res if r[0] is not None),
                    "computed": delta("packinfer_computed_prompt_tokens_total"),
                    "waits": delta("packinfer_kv_store_waits_total"),
                    "wall": wall})
            finally:
                if nginx is not None:
                    nginx.terminate()
                    nginx.wait(10)
                for p in procs:
                    p.stop()
                redis.terminate()
                shutil.rmtree(tmp, ignore_errors=True)
    print(f"CPU: {cpu_model()}, {os.cpu_count()} CPUs; {a.threads} thread(s) per replica; "
          f"{a.requests} requests about {a.docs} documents (~{a.prefix}-token opening each), "
          f"one every {a.interval} s, two replicas behind nginx round-robin")
    print("| round | store | TTFT p50 s | TTFT p90 s | failed | cached / prompt tokens | "
          "computed prompt tokens | waits | wall s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        q = statistics.quantiles(r["ttft"], n=10)
        print(f"| {r['round'] + 1} | {'shared Redis' if r['store'] else 'none'} | "
              f"{statistics.median(r['ttft']):.3f} | {q[8]:.3f} | {r['failed']} | "
              f"{r['cached']}/{r['prompt']} | {r['computed']:.0f} | {r['waits']:.0f} | "
              f"{r['wall']:.1f} |")
    for rnd in range(a.rounds):
        no, yes = [statistics.median(r["ttft"]) for r in rows if r["round"] == rnd]
        print(f"round {rnd + 1}: p50 without / with the store: {no / yes:.2f}x")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["ttft", "shared", "docs"])
    ap.add_argument("-m", "--model", required=True)
    ap.add_argument("--cli", default=os.path.join(ROOT, "build", "packinfer"))
    ap.add_argument("-t", "--threads", type=int, default=2)
    ap.add_argument("--tokens", type=int, default=4000)
    ap.add_argument("--requests", type=int, default=64)
    ap.add_argument("--prefix", type=int, default=1000)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--affinity-chars", type=int, default=256)
    ap.add_argument("--docs", type=int, default=21)
    ap.add_argument("--interval", type=float, default=1.0)
    ap.add_argument("--rounds", type=int, default=1)
    a = ap.parse_args()
    {"ttft": cmd_ttft, "shared": cmd_shared, "docs": cmd_docs}[a.what](a)


if __name__ == "__main__":
    main()
