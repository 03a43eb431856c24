"""N visitors drawing at once, with and without the generator in their browsers:
`python -m benchmarks.browser_load [--visitors 2 4 8] [--seconds 15] [--pace 0.5] [--rounds 2]`.

One `python app.py --public` (Space mode, the bundled model) on loopback and one headless Chromium with N
pages, each in its own browser context (its own storage and Cache API, like N visitors). Every page draws a
stroke (real mouse events) every `--pace` seconds; a visitor waits for the image of their stroke before the next
one, so a stroke slower than the pace delays the next. Per round, the N pages draw `--seconds` with the
generator switched off (the canvas's checkbox: every stroke is one request to the server) and then `--seconds`
with it on (ONNX Runtime Web in the page): the two modes alternate on the same pages and the same server.

Per mode: strokes done, the stroke end (pointerup) -> output painted time (median, max) as the page itself
records it, the server requests per stroke (the live translations, POST /gradio_api/component_server
translate_live, and all requests), refusals ("busy") / errors / timeouts, the server's CPU seconds per stroke
(utime + stime of app.py over the window, and that less its idle rate), and the browsers' CPU seconds per
stroke (every process this script started other than the server: Chromium and playwright's driver).

On one machine the browsers share its cores with the server: the browser path's times then mostly measure the
clients (on real visitors' machines every browser has its own CPU), and the server path's times include the
browsers' work too. Not a test: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.browser_latency import CHROMIUM, CHROMIUM_ARGS, idle_cpu_rate, serve, server_cpu_seconds, stroke_points

CANVAS = "#canvas .p2p-canvas"
CHECKBOX = "#canvas .p2p-where input"
# Installed before the app loads: every mouse-up's time, and for every result the canvas shows (its
# data-results counter goes up) the time its image is decoded and painted (next animation frame), its status line,
# and the last mouse-up before it.
PROBE = """
window.__load = {ups: [], results: []};
document.addEventListener('pointerup', () => window.__load.ups.push(performance.now()), true);
const watch = () => new MutationObserver((records) => {
  for (const record of records) {
    const root = record.target;
    if (record.attributeName !== 'data-results' || !root.classList.contains('p2p-canvas')) continue;
    const ups = window.__load.ups, up = ups.length ? ups[ups.length - 1] : null;
    const status = (root.querySelector('.p2p-status') || {}).textContent || '';
    const img = root.querySelector('img.p2p-output');
    const push = () => requestAnimationFrame(() => window.__load.results.push(
      {t: performance.now(), up, status, image: !!(img && img.getAttribute('src'))}));
    if (img && img.getAttribute('src')) img.decode().then(push, push); else push();
  }
}).observe(document.body, {subtree: true, attributes: true, attributeFilter: ['data-results']});
if (document.body) watch(); else document.addEventListener('DOMContentLoaded', watch);
"""


def descendants_cpu_seconds(root: int, exclude: set[int]) -> float:
    """utime + stime of every live process under `root` (not `root` itself), skipping the trees in `exclude`."""
    parents, cpu = {}, {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry.name)] = int(fields[1])
        cpu[int(entry.name)] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def under(pid: int) -> bool:
        while pid in parents and pid not in exclude:
            pid = parents[pid]
            if pid == root:
                return True
        return False

    return sum(seconds for pid, seconds in cpu.items() if pid != root and pid not in exclude and under(pid))


class Visitor:
    """One page of the app in its own context, its requests counted while `counting`."""

    def __init__(self, index: int):
        self.index, self.strokes, self.counting, self.translations, self.requests = index, 0, False, 0, 0

    async def open(self, browser, url: str, width: int = 1280, height: int = 1000) -> Visitor:
        self.context = await browser.new_context(viewport={"width": width, "height": height})
        self.page = await self.context.new_page()
        await self.page.add_init_script(PROBE)
        await self.page.add_init_script("localStorage.setItem('pix2pix-hub-browser-inference', 'on')")
        self.page.on("request", self._count)
        await self.page.goto(url)
        await self.page.wait_for_selector(f"{CANVAS}[data-ready='true']")
        self.area = await self.page.locator("#canvas canvas.p2p-view").bounding_box()
        return self

    def _count(self, request) -> None:
        if not self.counting:
            return
        self.requests += 1
        if "/component_server" in request.url and "translate_live" in (request.post_data or ""):
            self.translations += 1

    async def wait_ready(self, timeout_ms: int) -> None:
        await self.page.wait_for_function(f"() => !!document.querySelector({CANVAS!r}).dataset.browserReady",
                                          timeout=timeout_ms)

    async def set_mode(self, mode: str) -> None:
        await (self.page.check if mode == "browser" else self.page.uncheck)(CHECKBOX)
        where = await self.page.eval_on_selector(CANVAS, "e => e.dataset.where")
        if where != mode:
            raise SystemExit(f"error: visitor {self.index} runs on the {where}, not in the {mode} mode")

    async def stroke(self, timeout_ms: float) -> dict:
        """One stroke, and the result the page shows for it."""
        before = await self.page.evaluate("window.__load.results.length")
        points = stroke_points(self.area, 7 * self.index + self.strokes)
        self.strokes += 1
        await self.page.mouse.move(*points[0])
        await self.page.mouse.down()
        for x, y in points[1:]:
            await self.page.mouse.move(x, y, steps=2)
        await self.page.mouse.up()
        try:
            await self.page.wait_for_function("n => window.__load.results.length > n", arg=before, timeout=timeout_ms)
        except Exception:  # noqa: BLE001 -- a stroke with no answer is counted, not fatal
            return {"visitor": self.index, "latency_ms": None, "outcome": "timeout", "status": ""}
        result = await self.page.evaluate("n => window.__load.results[n]", before)
        return {"visitor": self.index, "latency_ms": result["t"] - result["up"],
                "outcome": outcome(result["status"], result["image"]), "status": result["status"][:120]}

    async def draw_for(self, stop: float, pace: float, offset: float, timeout_ms: float) -> list[dict]:
        """A stroke every `pace` s until `stop` (the next one once the previous one's image is shown)."""
        records, next_at = [], time.monotonic() + offset
        while True:
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            if time.monotonic() >= stop:
                return records
            next_at = time.monotonic() + pace
            records.append(await self.stroke(timeout_ms))


def outcome(status: str, image: bool) -> str:
    if status.startswith("✅") and image:
        return "ok"
    return "busy" if "busy" in status else "queue full" if "queue" in status.lower() else "error"


async def window(visitors, mode: str, seconds: float, pace: float, server_pid: int | None,
                 timeout_ms: float = 60000) -> dict:
    """One mode for `seconds` on every visitor at once: its strokes, requests and CPU (the server's: 0 without
    its pid). The strokes in flight at the end finish inside the window."""
    await asyncio.gather(*(visitor.set_mode(mode) for visitor in visitors))
    for visitor in visitors:
        visitor.translations = visitor.requests = 0
        visitor.counting = True
    server_cpu = (lambda: server_cpu_seconds(server_pid)) if server_pid else (lambda: 0.0)
    load_before, began = os.getloadavg(), time.monotonic()
    server_before = server_cpu()
    clients_before = descendants_cpu_seconds(os.getpid(), {server_pid})
    stop = began + seconds
    per_visitor = await asyncio.gather(*(visitor.draw_for(stop, pace, pace * i / len(visitors), timeout_ms)
                                         for i, visitor in enumerate(visitors)))
    took = time.monotonic() - began
    server = server_cpu() - server_before
    clients = descendants_cpu_seconds(os.getpid(), {server_pid}) - clients_before
    await asyncio.sleep(0.3)  # the trailing requests' events
    for visitor in visitors:
        visitor.counting = False
    return {"mode": mode, "records": [r for records in per_visitor for r in records], "seconds": took,
            "server_cpu_s": server, "clients_cpu_s": clients, "translations": sum(v.translations for v in visitors),
            "requests": sum(v.requests for v in visitors), "load_before": load_before, "load_after": os.getloadavg()}


def summary(windows: list[dict], idle_rate: float) -> dict:
    records = [r for w in windows for r in w["records"]]
    done = [r["latency_ms"] for r in records if r["outcome"] == "ok"]
    outcomes = {}
    for r in records:
        outcomes[r["outcome"]] = outcomes.get(r["outcome"], 0) + 1
    strokes = max(len(records), 1)
    server = sum(w["server_cpu_s"] for w in windows)
    seconds = sum(w["seconds"] for w in windows)
    return {"strokes": len(records), "ok": len(done),
            "median_ms": round(statistics.median(done)) if done else None, "max_ms": round(max(done)) if done else None,
            "translation_requests_per_stroke": round(sum(w["translations"] for w in windows) / strokes, 2),
            "requests_per_stroke": round(sum(w["requests"] for w in windows) / strokes, 2),
            "refusals": sum(n for k, n in outcomes.items() if k in ("busy", "queue full")),
            "errors": sum(n for k, n in outcomes.items() if k in ("error", "timeout")), "outcomes": outcomes,
            "server_cpu_s_per_stroke": round(server / strokes, 3),
            "server_cpu_s_per_stroke_less_idle": round((server - idle_rate * seconds) / strokes, 3),
            "clients_cpu_s_per_stroke": round(sum(w["clients_cpu_s"] for w in windows) / strokes, 3),
            "seconds": round(seconds, 1),
            "load_average": [w["load_before"][0] for w in windows] + [windows[-1]["load_after"][0]]}


async def run_visitors(browser, url: str, count: int, seconds: float, pace: float, rounds: int,
                       server_pid: int | None, idle_rate: float = 0.0, modes=("server", "browser"),
                       ready_timeout_ms: int = 300000) -> dict:
    """`count` visitors on `url` (an async playwright browser), `rounds` times each mode in turn ->
    {mode: summary} and how long the pages took to be ready (the model loaded in every one)."""
    began = time.monotonic()
    visitors = await asyncio.gather(*(Visitor(index).open(browser, url) for index in range(count)))
    try:
        if "browser" in modes:
            await asyncio.gather(*(visitor.wait_ready(ready_timeout_ms) for visitor in visitors))
        ready = time.monotonic() - began
        windows = {mode: [] for mode in modes}
        for _ in range(rounds):
            for mode in modes:
                windows[mode].append(await window(visitors, mode, seconds, pace, server_pid))
        result = {"visitors": count, "pace_s": pace, "pages_ready_s": round(ready, 1)}
        for mode in modes:
            result[mode] = summary(windows[mode], idle_rate)
            result[mode]["per_stroke"] = [r for w in windows[mode] for r in w["records"]]
        return result
    finally:
        for visitor in visitors:
            await visitor.context.close()


async def launch(playwright):
    return await playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
        *CHROMIUM_ARGS, "--disable-background-timer-throttling", "--disable-renderer-backgrounding",
        "--disable-backgrounding-occluded-windows"])


async def measure_on(url: str, visitor_counts: list[int], seconds: float, pace: float, rounds: int,
                     server_pid: int | None) -> list[dict]:
    from playwright.async_api import async_playwright

    results = []
    async with async_playwright() as p:
        browser = await launch(p)
        try:
            # One visitor's strokes on each path first: the server's warm-up compile and ONNX export are paid
            # before anything is timed; then the server's idle rate, with no page open.
            await run_visitors(browser, url, 1, 1.0, pace, 1, server_pid)
            idle = idle_cpu_rate(server_pid, settle=2.0, window=4.0) if server_pid else 0.0
            for count in visitor_counts:
                result = await run_visitors(browser, url, count, seconds, pace, rounds, server_pid, idle)
                result["server_idle_cpu_s_per_s"] = round(idle, 3)
                results.append(result)
                print(table_rows([result]), flush=True)
        finally:
            await browser.close()
    return results


def measure(visitor_counts: list[int], seconds: float, pace: float, rounds: int, model: str | None = None) -> dict:
    work = Path(tempfile.mkdtemp(prefix="browser-load-"))
    os.environ.setdefault("GRADIO_TEMP_DIR", str(work / "gradio"))
    url, process = serve(["--public", *(["--model", model] if model else [])], work / "server.log")
    try:
        results = asyncio.run(measure_on(url, visitor_counts, seconds, pace, rounds, process.pid))
    finally:
        process.terminate()
        process.wait(20)
    return {"runs": results, "log": str(work / "server.log")}


def table_rows(results: list[dict]) -> str:
    lines = []
    for result in results:
        for mode in ("server", "browser"):
            if mode not in result:
                continue
            s = result[mode]
            lines.append(f"| {result['visitors']} | {mode} | {s['strokes']} | {s['median_ms']} | {s['max_ms']} | "
                         f"{s['translation_requests_per_stroke']} ({s['requests_per_stroke']}) | {s['refusals']} / "
                         f"{s['errors']} | {s['server_cpu_s_per_stroke']} ({s['server_cpu_s_per_stroke_less_idle']}) | "
                         f"{s['clients_cpu_s_per_stroke']} | {'–'.join(f'{x:.1f}' for x in s['load_average'])} |")
    return "\n".join(lines)


HEADER = ("| N | mode | strokes | median ms | max ms | translation requests per stroke (all) | refusals / errors | "
          "server CPU s per stroke (less idle) | browsers' CPU s per stroke | load average (1 min) |\n"
          "|---|---|---|---|---|---|---|---|---|---|")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--visitors", type=int, nargs="+", default=[2, 4, 8], help="pages drawing at once (each N in turn)")
    parser.add_argument("--seconds", type=float, default=15, help="seconds of drawing per mode per round")
    parser.add_argument("--pace", type=float, default=0.5, help="seconds from one stroke to the next per visitor")
    parser.add_argument("--rounds", type=int, default=2, help="times each mode is drawn, alternating")
    parser.add_argument("--model", help="the model app.py serves (default: models/default)")
    parser.add_argument("--json", type=Path, help="write every stroke's figures here")
    args = parser.parse_args(argv)
    from benchmarks.bench import machine

    print(HEADER, flush=True)
    result = {"machine": machine(), "seconds": args.seconds, "rounds": args.rounds,
              **measure(args.visitors, args.seconds, args.pace, args.rounds, args.model)}
    print(f"on {result['machine']}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
