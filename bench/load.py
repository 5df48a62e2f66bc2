"""Concurrent users against the JSON API (`python -m query serve`) and the web page (`python -m ui`).

Each server is started on a free 127.0.0.1 port in its own process, timed until its first
answer (`startup_s`), warmed with a few requests, then `--users` simulated users send text
searches back to back for `--seconds` (closed loop: each user waits for its answer before the
next request). Prompts cycle through the demo's example sentences and labels; `--unique`
makes every prompt new (no prompt vector can be reused: the text tower runs per request).

    python -m indexer build --demo ./demo-index
    python bench/load.py --index ./demo-index --users 32 --seconds 60 --cpu 0 --json /tmp/load.json

`--cpu N` pins the load generator (this process, after the servers are started) to core N, so
the servers keep the other core(s); the servers run one at a time. Output, one JSON object:
per endpoint `requests`, `errors` (non-200 answers, error events, timeouts), `p50_ms`,
`p95_ms`, `p99_ms`, `max_ms`, `per_s`, `client_cpu_ms_per_request` (the generator's own CPU
per request: when it nears 1000 / per_s, the generator sets the pace, not the server), plus
each server's `startup_s` and, for the page, the time to open a recording (`/recording`, the
Recording tab's data) and the host facts.

Endpoints: `serve:/search/text`, `serve:/search` (the page's JSON), `ui:/search` (the page's
named API through Gradio's queue: POST /gradio_api/call/search, then its event stream; each
user keeps one session, as gradio_client and a browser do; `--new-sessions` adds a run with a
new session per call, which Gradio sets up from every component of the page) and
`ui:/recording`. `--only serve` or `--only ui` runs one server.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import numpy as np

REPO = Path(__file__).resolve().parents[1]
PROMPTS = [
    "a person waves the right hand above the head",
    "a person punches forward with both fists",
    "a person squats down and stands up again",
    "a person walks forward",
    "a person jumps in place",
    "a person swings a tennis racket",
    "waving", "boxing", "squat", "walking", "jumping", "tennis swing",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentiles(ms: list[float]) -> dict:
    if not ms:
        return {"p50_ms": None, "p95_ms": None, "p99_ms": None, "max_ms": None}
    a = np.asarray(ms)
    return {"p50_ms": round(float(np.percentile(a, 50)), 2), "p95_ms": round(float(np.percentile(a, 95)), 2),
            "p99_ms": round(float(np.percentile(a, 99)), 2), "max_ms": round(float(a.max()), 2)}


class Prompts:
    def __init__(self, unique: bool):
        self.n, self.unique = 0, unique

    def next(self) -> str:
        self.n += 1
        p = PROMPTS[self.n % len(PROMPTS)]
        return f"{p} {self.n}" if self.unique else p


# ---- one request of each endpoint: True when it answered as it should ----------------------------
async def serve_text(client: httpx.AsyncClient, base: str, prompt: str) -> bool:
    r = await client.post(f"{base}/search/text", json={"prompt": prompt, "target": "imu", "k": 10})
    return r.status_code == 200 and isinstance(r.json(), list) and len(r.json()) > 0


async def serve_search(client: httpx.AsyncClient, base: str, prompt: str) -> bool:
    r = await client.post(f"{base}/search", json={"query": prompt, "target": "imu", "k": 10, "filter": ""})
    return r.status_code == 200 and len(r.json().get("hits", [])) > 0


async def gradio_call(client: httpx.AsyncClient, base: str, api: str, data: list, session: str | None = None):
    """Gradio's HTTP API: queue the call, then read its event stream to the end -> the answer or None.
    `session`: the user's session hash (gradio_client keeps one per Client, a browser one per
    page); without it each call is a new session, which Gradio sets up from the whole page."""
    body = {"data": data} if session is None else {"data": data, "session_hash": session}
    r = await client.post(f"{base}/gradio_api/call/{api}", json=body)
    if r.status_code != 200:
        return None
    event_id = r.json()["event_id"]
    r = await client.get(f"{base}/gradio_api/call/{api}/{event_id}")
    if r.status_code != 200:
        return None
    event, payload = None, None
    for line in r.text.splitlines():
        if line.startswith("event:"):
            event = line.split(":", 1)[1].strip()
        elif line.startswith("data:") and event == "complete":
            payload = json.loads(line.split(":", 1)[1])
    return payload


async def ui_search(client: httpx.AsyncClient, base: str, prompt: str, session: str | None = None) -> bool:
    out = await gradio_call(client, base, "search", [prompt, "imu", 10, ""], session)
    return bool(out) and len(out[0].get("hits", [])) > 0


def ui_search_as_user():
    """ui_search in one session per simulated user (as gradio_client and a browser do)."""
    session = uuid.uuid4().hex[:11]

    async def call(client: httpx.AsyncClient, base: str, prompt: str) -> bool:
        return await ui_search(client, base, prompt, session)
    return call


def ui_recording(recording_id: str):
    async def call(client: httpx.AsyncClient, base: str, prompt: str) -> bool:
        out = await gradio_call(client, base, "recording", [recording_id])
        return bool(out) and out[0].get("id") == recording_id
    return call


# ---- servers -----------------------------------------------------------------------------------
def start(kind: str, index: str, port: int, code: Path = REPO) -> subprocess.Popen:
    cmd = ([sys.executable, "-m", "query", "serve", "--index", index, "--port", str(port)] if kind == "serve"
           else [sys.executable, "-m", "ui", "--index", index, "--port", str(port)])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(code), os.environ.get("PYTHONPATH")])),
           "GRADIO_ANALYTICS_ENABLED": "False"}
    return subprocess.Popen(cmd, cwd=code, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


async def wait_ready(kind: str, base: str, proc: subprocess.Popen, timeout: float) -> float:
    """Seconds from now until the server answers a search (the process was started just before)."""
    t0 = time.perf_counter()
    async with httpx.AsyncClient(timeout=30) as client:
        while time.perf_counter() - t0 < timeout:
            if proc.poll() is not None:
                raise RuntimeError(f"{kind} exited {proc.returncode}: {proc.stderr.read()[-2000:]}")
            try:
                ok = await (serve_text if kind == "serve" else ui_search)(client, base, PROMPTS[0])
                if ok:
                    return time.perf_counter() - t0
            except (httpx.HTTPError, ValueError, KeyError):
                pass
            await asyncio.sleep(0.05)
    raise RuntimeError(f"{kind} did not answer within {timeout:g} s")


async def load(call, base: str, users: int, seconds: float, prompts: Prompts, timeout: float,
               per_user=None) -> dict:
    """`call`, or `per_user()` (a call for each user), by `users` users for `seconds`."""
    lat: list[float] = []
    errors = 0
    samples: list[str] = []
    limits = httpx.Limits(max_connections=users, max_keepalive_connections=users)
    async with httpx.AsyncClient(timeout=timeout, limits=limits) as client:
        end = time.perf_counter() + seconds

        async def user():
            nonlocal errors
            mine = per_user() if per_user else call
            while time.perf_counter() < end:
                t0 = time.perf_counter()
                try:
                    ok = await mine(client, base, prompts.next())
                except (httpx.HTTPError, ValueError, KeyError) as exc:
                    ok = False
                    if len(samples) < 3:
                        samples.append(f"{type(exc).__name__}: {exc}"[:200])
                lat.append((time.perf_counter() - t0) * 1000)
                errors += not ok

        t_start, cpu_start = time.perf_counter(), time.process_time()
        await asyncio.gather(*(user() for _ in range(users)))
        wall, cpu = time.perf_counter() - t_start, time.process_time() - cpu_start
    # the generator's own CPU per request: near 1000 / per_s, it (not the server) sets the pace
    out = {"users": users, "seconds": seconds, "requests": len(lat), "errors": errors,
           "per_s": round(len(lat) / wall, 2), **percentiles(lat),
           "client_cpu_ms_per_request": round(cpu * 1000 / max(len(lat), 1), 2)}
    if samples:
        out["error_samples"] = samples
    return out


async def run_server(kind: str, args, prompts: Prompts) -> dict:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = start(kind, str(Path(args.index).resolve()), port, Path(args.code).resolve())
    try:
        result = {"startup_s": round(await wait_ready(kind, base, proc, args.startup_timeout), 2)}
        if args.cpu is not None:  # the servers keep the other cores; this process takes one
            os.sched_setaffinity(0, {args.cpu})
        endpoints = ({"serve:/search/text": (serve_text, None), "serve:/search": (serve_search, None)}
                     if kind == "serve" else {"ui:/search": (ui_search, ui_search_as_user),
                                              "ui:/search (a new session each call)": (ui_search, None)})
        if kind == "ui":
            async with httpx.AsyncClient(timeout=60) as client:
                browse = await gradio_call(client, base, "browse", [""])
                rid = browse[0]["recordings"][0]["id"]
                opens = []
                for _ in range(args.opens):  # one user opening recordings, as the page does
                    t0 = time.perf_counter()
                    ok = await ui_recording(rid)(client, base, "")
                    opens.append((time.perf_counter() - t0) * 1000)
                    if not ok:
                        raise RuntimeError(f"/recording {rid} did not answer")
            result["ui:/recording (one user)"] = {"requests": len(opens), **percentiles(opens)}
        for name, (call, per_user) in endpoints.items():
            if name.endswith("each call)") and not args.new_sessions:
                continue
            async with httpx.AsyncClient(timeout=60) as client:
                for _ in range(3):  # warm: first-use costs are the startup's, not the load's
                    await call(client, base, prompts.next())
            result[name] = await load(call, base, args.users, args.seconds, prompts, args.timeout, per_user)
        return result
    finally:
        if args.cpu is not None:
            os.sched_setaffinity(0, range(os.cpu_count() or 1))
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--index", default="./demo-index", help="index to serve (default ./demo-index)")
    p.add_argument("--users", type=int, default=32, help="concurrent users (default 32)")
    p.add_argument("--seconds", type=float, default=60.0, help="load per endpoint, seconds (default 60)")
    p.add_argument("--only", choices=["serve", "ui"], help="run one server only")
    p.add_argument("--unique", action="store_true", help="a new prompt every request (no prompt vector reused)")
    p.add_argument("--new-sessions", action="store_true",
                   help="also load the page with a new Gradio session per call (raw HTTP clients that send no "
                        "session_hash)")
    p.add_argument("--cpu", type=int, help="pin the load generator to this core once the servers are up")
    p.add_argument("--opens", type=int, default=10, help="recordings opened one after another on the page (default 10)")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds before a request counts as an error")
    p.add_argument("--startup-timeout", type=float, default=180.0)
    p.add_argument("--code", default=str(REPO), help="checkout whose code the servers run (default this one; "
                                                    "another worktree gives a before/after on one machine)")
    p.add_argument("--json", help="write the results here too")
    args = p.parse_args(argv)
    if args.users < 1 or args.seconds <= 0 or args.seconds > 600 or args.users > 256:
        p.error("--users must be 1-256 and --seconds in (0, 600]: the load is bounded")
    prompts = Prompts(args.unique)
    out = {"host": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "load_average": os.getloadavg(), "pinned_cpu": args.cpu},
           "index": Path(args.index).name, "unique_prompts": args.unique,
           "code": subprocess.run(["git", "-C", args.code, "rev-parse", "--short", "HEAD"], capture_output=True,
                                  text=True).stdout.strip()}
    for kind in ("serve", "ui"):
        if args.only in (None, kind):
            out[kind] = asyncio.run(run_server(kind, args, prompts))
    out["host"]["load_average_after"] = os.getloadavg()
    text = json.dumps(out, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
