#!/usr/bin/env python3
"""Idle and trickling connections against `packinfer serve` (issue 11 item 4).

For each server binary given, in one run: starts `BINARY serve -m MODEL -t THREADS --port 0`,
warms it with one completion, records its RSS, opens N connections (half idle after connecting,
half having sent half a request line and then trickling one header byte a second), waits a few
trickles, then times GET /health and a small completion (max_tokens 8) on fresh connections,
records the RSS again and counts how many of the N connections the server still holds open.

    bench/idle_connections.py --model M.gguf -n 1000 old=/path/packinfer new=build/packinfer
"""
import argparse
import http.client
import json
import os
import platform
import re
import resource
import signal
import socket
import subprocess
import threading
import time


def cpu_model():
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        m = re.search(r"^Model name:\s*(.+)$", out, re.M)
        return m.group(1).strip() if m else platform.processor()
    except OSError:
        return platform.processor()


def isa():
    flags = open("/proc/cpuinfo").read()
    have = [f for f in ("avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512_vnni", "amx_tile")
            if re.search(r"\b" + f + r"\b", flags)]
    return " ".join(have) or "baseline"


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


def start_server(binary, model, threads, extra):
    proc = subprocess.Popen([binary, "serve", "-m", model, "-t", str(threads), "--port", "0"] + extra,
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    log = ""
    while True:
        line = proc.stderr.readline()
        if not line:
            raise RuntimeError(f"{binary} exited: {log}")
        log += line
        m = re.search(r"http://127\.0\.0\.1:(\d+)", line)
        if m:
            # Keep draining stderr so the server never blocks on a full pipe.
            threading.Thread(target=lambda: [None for _ in proc.stderr], daemon=True).start()
            return proc, int(m.group(1))


def timed(port, method, path, body=None, timeout=120):
    t0 = time.monotonic()
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        c.request(method, path, body=body, headers={"Content-Type": "application/json"})
        r = c.getresponse()
        r.read()
        status = r.status
        c.close()
    except OSError as e:
        status = f"error ({e.__class__.__name__})"
    return time.monotonic() - t0, status


def still_open(s):
    try:
        return s.recv(1, socket.MSG_DONTWAIT | socket.MSG_PEEK) != b""
    except BlockingIOError:
        return True
    except OSError:
        return False


def run_one(name, binary, args):
    proc, port = start_server(binary, args.model, args.threads, args.server_args.split())
    completion = json.dumps({"prompt": "Once upon a time", "max_tokens": 8, "temperature": 0})
    try:
        timed(port, "POST", "/v1/completions", completion)  # warm-up
        rss0 = rss_kb(proc.pid)
        idle, trickling = [], []
        for i in range(args.n):
            s = socket.create_connection(("127.0.0.1", port))
            if i % 2:
                s.sendall(b"GET /health HTTP/1.1\r\nHo")
                trickling.append(s)
            else:
                idle.append(s)
        done = threading.Event()

        def trickle():
            header = b"st: x\r\nX-Slow: "
            k = 0
            while not done.is_set():
                byte = header[k:k + 1] if k < len(header) else b"a"
                for s in trickling:
                    try:
                        s.send(byte)
                    except OSError:
                        pass
                k += 1
                done.wait(1.0)

        t = threading.Thread(target=trickle, daemon=True)
        t.start()
        time.sleep(args.settle)
        health_s, health_status = timed(port, "GET", "/health")
        comp_s, comp_status = timed(port, "POST", "/v1/completions", completion)
        rss1 = rss_kb(proc.pid)
        held = sum(still_open(s) for s in idle + trickling)
        done.set()
        t.join()
        for s in idle + trickling:
            s.close()
        return {"name": name, "binary": binary, "health_s": health_s, "health": health_status,
                "completion_s": comp_s, "completion": comp_status, "rss0": rss0, "rss1": rss1,
                "held": held}
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("-n", type=int, default=1000, help="idle + trickling connections (default 1000)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--settle", type=float, default=3.0, help="seconds of trickling before timing")
    ap.add_argument("--server-args", default="", help="extra `serve` flags for every binary")
    ap.add_argument("binaries", nargs="+", help="NAME=PATH of packinfer binaries")
    args = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = args.n + 256
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, need), hard))
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        if soft < need:
            raise SystemExit(f"RLIMIT_NOFILE hard limit {hard} is below the {need} this run needs")
    print(f"CPU: {cpu_model()}; ISA: {isa()}; {os.cpu_count()} CPUs; server threads (-t): "
          f"{args.threads}; load average {os.getloadavg()[0]:.2f}")
    print(f"model: {args.model}; {args.n} connections ({args.n - args.n // 2} idle, {args.n // 2} "
          f"trickling 1 byte/s), {args.settle:.1f} s of trickling before timing")
    print("| server | /health | completion (8 tokens) | connections still open | RSS before → after |")
    print("|---|---|---|---|---|")
    for spec in args.binaries:
        name, _, path = spec.partition("=")
        r = run_one(name, path or name, args)
        print(f"| {r['name']} (`{r['binary']}`) | {r['health_s']:.3f} s ({r['health']}) | "
              f"{r['completion_s']:.3f} s ({r['completion']}) | {r['held']} / {args.n} | "
              f"{r['rss0'] / 1024:.1f} → {r['rss1'] / 1024:.1f} MB |", flush=True)


if __name__ == "__main__":
    main()
