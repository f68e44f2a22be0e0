"""What every benchmark here needs to measure whole processes honestly (issue 13).

- `run_process`: one subprocess, timed from spawn to exit (start-up, imports and exit included, as a
  user sees it), with its CPU time (the process and every descendant it waited for: pool workers
  included) and its peak memory summed over the process tree, sampled from /proc: RSS every 10 ms
  (what the memory targets judge: pages shared by forked workers count once per process), PSS every
  100 ms (shared pages split between their processes: the memory the tree really holds).
- `interleaved`: N repetitions of several cases, round-robin (each repetition runs every case once,
  starting one case later than the last), so that a change of load on a shared machine falls on
  all cases alike instead of on whichever ran last.
- `Figures`: the median and the min of the runs; ratios are of medians.
- `table`: a plain text table.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

SAMPLE_EVERY = 0.01  # seconds between two looks at the tree's RSS (a few small reads of /proc a process)
PSS_EVERY = 10  # PSS at every 10th look only (see _tree_memory_kb)


def child_env() -> dict[str, str]:
    """The environment of a user's shell: Python may cache bytecode (some CI images turn that off)."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.pop("PYTHONPROFILEIMPORTTIME", None)
    return env


@dataclass(frozen=True)
class Run:
    """One whole process: wall and CPU seconds, peak memory in MB, what it printed."""

    wall: float
    cpu: float  # user + sys of the process and of the descendants it waited for
    rss_sum: float  # peak over the run of the RSS summed over the process and its descendants
    pss_sum: float  # the same for PSS (shared pages split between the processes sharing them), sampled less
    # often (every PSS_EVERY-th look): a lower bound, 0 for a process shorter than 50 ms
    largest: float  # peak RSS of the largest single process (its VmHWM, as last seen)
    stdout: str
    stderr: str


def _tree_memory_kb(pid: int, pss: bool, hwm: dict[int, int]) -> tuple[int, int]:
    """(RSS, PSS) in KB summed over a process and its descendants now, from /proc ((0, 0) without it);
    each process's own peak RSS (VmHWM, which an exec resets) goes into `hwm`.

    RSS comes from status (about 13 µs a process); PSS only when asked, from smaps_rollup, which walks
    the page tables (about 3 ms for 200 MB): sampled that often, it would take a third of a core.
    """
    rss = pss_kb = 0
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/status", "rb") as fh:
                for line in fh:
                    if line.startswith(b"VmHWM:"):
                        hwm[p] = max(hwm.get(p, 0), int(line.split()[1]))
                    elif line.startswith(b"VmRSS:"):
                        rss += int(line.split()[1])
                        break
            if pss:
                with open(f"/proc/{p}/smaps_rollup", "rb") as fh:
                    pss_kb += next((int(line.split()[1]) for line in fh if line.startswith(b"Pss:")), 0)
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children", "rb") as fh:
                    todo += [int(c) for c in fh.read().split()]
        except (OSError, ValueError, IndexError):
            continue  # the process (or a thread) ended while we looked: it holds nothing now
    return rss, pss_kb


def run_process(
    cmd: Sequence[str], cwd: Path, *, capture: bool = False, env: Mapping[str, str] | None = None
) -> Run:
    """Run `cmd` to its end and measure it; a non-zero exit stops the benchmark with its stderr.

    stdout goes to /dev/null unless `capture`, so that printing costs what it costs on a terminal
    redirected to a file, not what a pipe we read slowly costs.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(
            list(cmd), cwd=cwd, stdout=out if capture else subprocess.DEVNULL, stderr=err,
            env=dict(env) if env is not None else child_env(),
        )
        peak = [0, 0]
        hwm: dict[int, int] = {}
        done = threading.Event()

        def sample() -> None:
            looks = 0
            while True:
                rss, pss = _tree_memory_kb(proc.pid, looks % PSS_EVERY == PSS_EVERY // 2, hwm)
                peak[0], peak[1] = max(peak[0], rss), max(peak[1], pss)
                looks += 1
                if done.wait(SAMPLE_EVERY):
                    return

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        # wait4 gives the rusage of the child and of the descendants it waited for (pool workers).
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        done.set()
        sampler.join()
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode("utf-8", "replace")
        stderr = err.read().decode("utf-8", "replace")
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{stderr}")
    # Not ru_maxrss: it counts the pages of this process that the child had between fork and exec.
    largest = max(hwm.values(), default=0)
    return Run(
        wall=wall,
        cpu=usage.ru_utime + usage.ru_stime,
        rss_sum=max(peak[0], largest) / 1024,  # a peak between two looks still shows in its process's VmHWM
        pss_sum=peak[1] / 1024,
        largest=largest / 1024,
        stdout=stdout,
        stderr=stderr,
    )


def interleaved(
    cases: Mapping[str, Callable[[], Run]], runs: int, *, label: str = ""
) -> dict[str, list[Run]]:
    """Each case `runs` times, round-robin: repetition r runs every case once, starting at case r.

    A case's callable prepares what it needs (untimed) and returns the Run of its one timed process.
    """
    names = list(cases)
    results: dict[str, list[Run]] = {name: [] for name in names}
    for r in range(runs):
        print(f"  {label}run {r + 1}/{runs} …", file=sys.stderr, flush=True)
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            results[name].append(cases[name]())
    return results


@dataclass(frozen=True)
class Figures:
    """The median and the min of some runs' values (seconds, MB or anything else)."""

    median: float
    min: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Figures:
        return cls(statistics.median(values), min(values))

    def ratio(self, other: Figures) -> float:
        """This median over the other's median: both from the same interleaved runs."""
        return self.median / other.median


def wall(runs: Sequence[Run]) -> Figures:
    return Figures.of([r.wall for r in runs])


def cpu(runs: Sequence[Run]) -> Figures:
    return Figures.of([r.cpu for r in runs])


def seconds(f: Figures) -> tuple[str, str]:
    """A median and a min of seconds, as printed."""
    return f"{f.median:.3f} s", f"{f.min:.3f} s"


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def load_note() -> str:
    """The machine and its load, so that a reader can judge the figures."""
    one, five, _ = os.getloadavg()
    return f"Python {sys.version.split()[0]}, {os.cpu_count()} cores, load average {one:.2f} (1 min) {five:.2f} (5 min)"


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns, a rule under the header; a row of one cell is a section title."""
    widths = [max(len(r[i]) for r in [header, *rows] if len(r) > 1) for i in range(len(header))]
    lines = []
    for row in [header, ["-" * w for w in widths], *rows]:
        lines.append(row[0] if len(row) == 1 else "  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
    return "\n".join(lines)
