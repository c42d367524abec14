"""Static files: ``manygil serve --static`` against granian's static route and nginx, a
1 KiB and a 100 KiB file loaded by ``wrk`` on 127.0.0.1, one server at a time,
interleaved; each server's best run, and manygil's ratio to each peer.

Besides req/s and latency it reports the CPU time the server's whole process tree spent
per request (user + system, from /proc): on a busy machine req/s follows each server's
share of the CPUs (the kernel shares them per runnable thread, and the servers run
different numbers of threads), while CPU per request is its own cost.

    python bench/bench_serve_static.py [--workers N] [--duration S] [--connections C] [--repeat R]

Each server gets ``--workers`` processes / I/O threads for its files (manygil answers
static files on its I/O thread, 1 up to 4 worker threads; granian on its runtime thread;
nginx in its worker processes, with sendfile). Needs wrk, granian and nginx
(``toolchain/peers.sh``); a missing peer is reported and skipped.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import urllib.request

from manygil.bench.serve_bench import _command as peer_command
from manygil.bench.serve_bench import _free_port, _tree_cpu, _tree_memory, _wrk, running

APP = "manygil.bench.asgi_app:app"
FILES = {"1 KiB": ("small.css", 1024), "100 KiB": ("medium.js", 100 * 1024)}
SERVERS = ("granian", "nginx", "manygil")

NGINX_CONF = """\
worker_processes {workers};
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    include /etc/nginx/mime.types;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    server {{
        listen 127.0.0.1:{port};
        location = / {{ return 200 "ok\\n"; }}
        location /static/ {{ alias {root}/; }}
    }}
}}
"""


def _command(server: str, workers: int, port: int, root: str, tmp: str) -> list[str] | None:
    if server != "nginx":  # manygil and granian: serve_bench's commands, plus a static route
        return peer_command(
            server,
            workers,
            1,
            port,
            app=APP,
            interface="asgi",
            manygil_args=("--static", f"/static={root}"),
            granian_args=("--static-path-route", "/static", "--static-path-mount", root),
        )
    nginx = shutil.which("nginx") or (
        "/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None
    )
    if nginx is None:
        return None
    conf = os.path.join(tmp, f"nginx-{port}.conf")
    with open(conf, "w") as f:
        f.write(NGINX_CONF.format(workers=workers, tmp=tmp, port=port, root=root))
    return [nginx, "-p", tmp, "-c", conf, "-e", os.path.join(tmp, "error.log")]


def measure(server: str, workers: int, duration: float, connections: int, root: str, tmp: str):
    port = _free_port()
    cmd = _command(server, workers, port, root, tmp)
    if cmd is None:
        return None
    with running(cmd, port) as (proc, base):
        result: dict = {"server": server, "routes": {}}
        rss = 0
        for label, (name, size) in FILES.items():
            url = f"{base}/static/{name}"
            with urllib.request.urlopen(url, timeout=30) as r:
                body = r.read()
            if len(body) != size:
                raise RuntimeError(f"{server}: {url} gave {len(body)} bytes, not {size}")
            _wrk(url, min(1.0, duration), connections, 1)  # warm-up
            cpu = _tree_cpu(proc.pid)
            result["routes"][label] = m = _wrk(url, duration, connections, 1)
            m["cpu_us"] = (_tree_cpu(proc.pid) - cpu) / max(m["rps"] * duration, 1) * 1e6
            if m["errors"] or m["socket_errors"]:
                print(f"{server} {label}: wrk reported errors: {m}", file=sys.stderr)
            rss = max(rss, _tree_memory(proc.pid)["rss"])
        result["rss_mib"] = rss
        return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--duration", type=float, default=5.0)
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--repeat", type=int, default=2)
    a = p.parse_args(argv)
    best: dict = {}
    with tempfile.TemporaryDirectory(prefix="manygil-static-bench-") as tmp:
        os.chmod(tmp, 0o755)  # nginx's workers run as nobody when started by root
        root = os.path.join(tmp, "static")
        os.mkdir(root)
        for name, size in FILES.values():
            with open(os.path.join(root, name), "wb") as f:
                f.write(os.urandom(size))
            os.chmod(os.path.join(root, name), 0o644)
        os.chmod(root, 0o755)
        for _ in range(a.repeat):
            for server in SERVERS:
                r = measure(server, a.workers, a.duration, a.connections, root, tmp)
                if r is None:
                    print(f"{server}: not installed, skipped", file=sys.stderr)
                    continue
                b = best.setdefault(server, r)
                for route, m in r["routes"].items():
                    cpu_us = min(m["cpu_us"], b["routes"][route]["cpu_us"])
                    if m["rps"] > b["routes"][route]["rps"]:
                        b["routes"][route] = m
                    b["routes"][route]["cpu_us"] = cpu_us
                b["rss_mib"] = min(b["rss_mib"], r["rss_mib"])
    with open("/proc/loadavg") as f:
        load = f.read().split()[:3]
    labels = list(FILES)
    print(
        f"{a.workers} worker(s), wrk -t1 -c{a.connections} -d{a.duration:g}s, best of {a.repeat}, "
        f"load average {' '.join(load)}\n"
        f"| server | {labels[0]} req/s | p50 / p99 ms | CPU us/req "
        f"| {labels[1]} req/s | p50 / p99 ms | CPU us/req | RSS MiB |\n"
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    )
    for server, r in best.items():
        cells = " | ".join(
            f"{m['rps']:,.0f} | {m['p50_ms']:.2f} / {m['p99_ms']:.2f} | {m['cpu_us']:.1f}"
            for m in (r["routes"][label] for label in labels)
        )
        print(f"| {server} | {cells} | {r['rss_mib']:.0f} |")
    if "manygil" in best:
        for peer in (s for s in SERVERS if s != "manygil" and s in best):
            ours, theirs = best["manygil"]["routes"], best[peer]["routes"]
            ratios = ", ".join(
                f"{label} req/s x{ours[label]['rps'] / max(theirs[label]['rps'], 1):.2f} "
                f"CPU/req x{ours[label]['cpu_us'] / max(theirs[label]['cpu_us'], 1e-9):.2f}"
                for label in labels
            )
            print(f"manygil / {peer}: {ratios}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
