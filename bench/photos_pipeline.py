"""Photo pipeline: re-encode time per megapixel of a 12 MP photo, and the memory of the server
process plus its workers while ten 12 MP photos are processed at once.

    .venv/bin/python -m bench.photos_pipeline [--repeat 5] [--at-once 10] [--workers 2]

The photo is made here (4,000 x 3,000, a gradient with grain, saved as a JPEG of quality 90,
about the size a phone sends). "Through the pool" is `PhotoPipeline.normalise` as the server
calls it (copying the bytes to a worker and the renditions back); "in process" is the same work
without the pool, for the cost of the hop. Memory is the resident set (VmRSS) of this process,
which plays the server, and of every process below it (the workers and multiprocessing's
resource tracker), sampled every 10 ms while the photos are processed.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from media.domain.photo_rules import PhotoFormat
from media.services.photo_imaging import normalise_photo
from media.services.photo_pipeline import PhotoPipeline

SIZE = (4000, 3000)
MEGAPIXELS = SIZE[0] * SIZE[1] / 1_000_000
SAMPLE_SECONDS = 0.01


def twelve_megapixel_jpeg() -> bytes:
    grey = Image.linear_gradient("L").resize(SIZE)
    colour = Image.merge("RGB", (grey, grey.rotate(90).resize(SIZE), grey.transpose(0)))
    grain = Image.effect_noise(SIZE, 24).convert("RGB")
    out = io.BytesIO()
    Image.blend(colour, grain, 0.25).save(out, "JPEG", quality=90)
    return out.getvalue()


def rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def descendants(root: int) -> list[int]:
    """Every process below `root`, from each process's parent id in /proc."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found: list[int] = []
    frontier = [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent]
        found += children
        frontier += children
    return found


@dataclass
class Peak:
    server_kib: int = 0
    total_kib: int = 0
    processes: int = 0

    def sample(self) -> None:
        me = os.getpid()
        below = descendants(me)
        server = rss_kib(me)
        self.server_kib = max(self.server_kib, server)
        self.total_kib = max(self.total_kib, server + sum(rss_kib(pid) for pid in below))
        self.processes = max(self.processes, 1 + len(below))


async def watch(peak: Peak, stop: asyncio.Event) -> None:
    while not stop.is_set():
        await asyncio.to_thread(peak.sample)
        await asyncio.sleep(SAMPLE_SECONDS)


def mib(kib: int) -> str:
    return f"{kib / 1024:,.0f} MiB"


async def run(args: argparse.Namespace) -> None:
    data = twelve_megapixel_jpeg()
    print(f"photo: {SIZE[0]} x {SIZE[1]} JPEG ({MEGAPIXELS:g} MP), {len(data) / 1e6:.1f} MB")

    in_process = []
    for _ in range(args.repeat):
        started = time.perf_counter()
        normalise_photo(data, PhotoFormat.JPEG)
        in_process.append(time.perf_counter() - started)

    pipeline = PhotoPipeline(workers=args.workers)
    idle = Peak()
    idle.sample()
    await pipeline.start()
    try:
        await pipeline.normalise(data)  # warm: the worker's first photo loads its libraries
        through_pool = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            out = await pipeline.normalise(data)
            through_pool.append(time.perf_counter() - started)

        started_idle = Peak()
        started_idle.sample()
        uploads = [bytes(bytearray(data)) for _ in range(args.at_once)]  # ten buffers, as sent
        peak, stop = Peak(), asyncio.Event()
        watcher = asyncio.create_task(watch(peak, stop))
        started = time.perf_counter()
        await asyncio.gather(*(pipeline.normalise(upload) for upload in uploads))
        at_once_seconds = time.perf_counter() - started
        stop.set()
        await watcher
    finally:
        await pipeline.close()

    def per_mp(samples: list[float]) -> str:
        median = statistics.median(samples)
        return f"{median * 1000:,.0f} ms a photo, {median * 1000 / MEGAPIXELS:,.1f} ms/MP"

    print(
        f"output: display {out.display.width} x {out.display.height} "
        f"({len(out.display.data) / 1e3:,.0f} kB), thumbnail "
        f"{out.thumbnail.width} x {out.thumbnail.height} ({len(out.thumbnail.data) / 1e3:,.0f} kB)"
    )
    print(f"re-encode, in process (median of {args.repeat}):  {per_mp(in_process)}")
    print(f"re-encode, through the pool (median of {args.repeat}): {per_mp(through_pool)}")
    print(
        f"{args.at_once} photos at once on {pipeline.workers} workers: {at_once_seconds:.2f} s "
        f"({at_once_seconds * 1000 / (args.at_once * MEGAPIXELS):,.1f} ms/MP of wall time)"
    )
    print(
        f"memory: server alone {mib(idle.server_kib)} before start, "
        f"server + workers {mib(started_idle.total_kib)} idle; "
        f"peak while {args.at_once} are processed: server {mib(peak.server_kib)}, "
        f"server + workers {mib(peak.total_kib)} ({peak.processes} processes)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.photos_pipeline",
        description="Re-encode time per megapixel of a 12 MP photo, and server + worker "
        "memory while several are processed at once.",
    )
    parser.add_argument("--repeat", type=int, default=5, help="timed runs of one photo")
    parser.add_argument("--at-once", type=int, default=10, help="photos processed at once")
    parser.add_argument(
        "--workers", type=int, default=None, help="worker processes (default min(2, CPUs))"
    )
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
