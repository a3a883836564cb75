"""Processes for the messaging benchmark: the server under test (`homeline serve`) and the bare
relay, each a real subprocess on a free port, with what the benchmark reads from /proc (resident
memory, CPU time) and the file-descriptor limit that thousands of sockets need."""

from __future__ import annotations

import asyncio
import os
import resource
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from bench.server import free_port

TICKS = os.sysconf("SC_CLK_TCK")
BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[1]  # the project, so that `-m bench.relay` imports


def raise_nofile() -> int:
    """Raise this process's open-file limit to the hard limit (children inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = 1 << 20
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def homeline_command(*args: str, profile: Path | None = None) -> list[str]:
    """`homeline ARGS` from this virtualenv; under cProfile (written at exit) if asked."""
    if profile is not None:
        return [sys.executable, "-m", "cProfile", "-o", str(profile), "-m", "server.cli", *args]
    script = BIN / "homeline"
    if script.exists():
        return [str(script), *args]
    return [sys.executable, "-m", "server.cli", *args]


def run_homeline(*args: str, env: dict[str, str], log: Path) -> None:
    with log.open("ab") as out:
        done = subprocess.run(homeline_command(*args), env=env, stdout=out, stderr=out)
    if done.returncode:
        raise SystemExit(f"homeline {' '.join(args)} failed; see {log}:\n{tail(log)}")


def tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def proc_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads), from /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def thread_cpu_seconds(pid: int, tid: int) -> float:
    with open(f"/proc/{pid}/task/{tid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def machine_busy_seconds() -> float:
    """CPU time the whole machine has spent busy (all cores), from /proc/stat."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return (sum(values[:8]) - idle) / TICKS


class PostgresCpu:
    """CPU time of the PostgreSQL backends serving one database (their process titles name it),
    counting backends that have exited since with what they had used when last seen."""

    def __init__(self, database: str) -> None:
        self._needle = f" {database} ".encode()
        self._seen: dict[int, float] = {}

    def __call__(self) -> float:
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                with open(f"/proc/{entry.name}/cmdline", "rb") as f:
                    title = f.read()
                if title.startswith(b"postgres: ") and self._needle in title:
                    self._seen[int(entry.name)] = proc_cpu_seconds(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue
        return sum(self._seen.values())


@dataclass
class Server:
    name: str
    url: str
    process: asyncio.subprocess.Process
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def rss_kib(self) -> int:
        """The process's resident set size, VmRSS in /proc/<pid>/status."""
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise RuntimeError(f"no VmRSS for {self.pid}")

    def cpu_seconds(self) -> float:
        return proc_cpu_seconds(self.pid)

    def loop_cpu_seconds(self) -> float:
        """CPU time of the main thread alone: the one that runs the event loop."""
        return thread_cpu_seconds(self.pid, self.pid)

    async def connections(self, http: aiohttp.ClientSession) -> int | None:
        """Connected socket.io clients, as the server reports them (Homeline's /metrics
        gauge, the relay's /healthz), or None if it does not say."""
        async with http.get(f"{self.url}/metrics") as r:
            if r.status == 200:
                for line in (await r.text()).splitlines():
                    if line.startswith("homeline_socketio_connections "):
                        return int(float(line.split()[1]))
        async with http.get(f"{self.url}/healthz") as r:
            body = await r.json()
            sockets = body.get("sockets") if isinstance(body, dict) else None
            return sockets if isinstance(sockets, int) else None

    async def quiesce(self, wait_seconds: float = 10) -> None:
        """Wait until the server has seen every client leave. Homeline's shutdown (engine.io's
        socket close) can hang on a socket whose client is leaving at that very moment."""
        deadline = time.monotonic() + wait_seconds
        async with aiohttp.ClientSession() as http:
            while time.monotonic() < deadline:
                if not await self.connections(http):
                    break
                await asyncio.sleep(0.1)


@asynccontextmanager
async def running(
    name: str, command: Sequence[str], *, env: dict[str, str], port: int, log: Path
) -> AsyncIterator[Server]:
    """Start `command`, wait until /healthz answers, stop it with SIGTERM at the end."""
    url = f"http://127.0.0.1:{port}"
    with log.open("ab") as out:
        process = await asyncio.create_subprocess_exec(
            *command, env=env, stdout=out, stderr=out, cwd=ROOT
        )
    try:
        deadline = time.monotonic() + 30
        async with aiohttp.ClientSession() as http:
            while True:
                try:
                    async with http.get(f"{url}/healthz", timeout=aiohttp.ClientTimeout(1)) as r:
                        if r.status == 200:
                            break
                except (aiohttp.ClientError, TimeoutError):
                    pass
                if process.returncode is not None or time.monotonic() > deadline:
                    raise SystemExit(f"{name} did not start; see {log}:\n{tail(log)}")
                await asyncio.sleep(0.05)
        server = Server(name=name, url=url, process=process, log=log)
        yield server
        await server.quiesce()
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), 30)
        except TimeoutError:
            process.kill()
            await process.wait()


def server_env(var: Path, port: int, database_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "HOMELINE_VAR": str(var),
        "PORT": str(port),
        "PUBLIC_URL": f"http://127.0.0.1:{port}",
        "DATABASE_URL": database_url,
        "LOG_FORMAT": "text",
    }


__all__ = ["free_port"]
