"""Sweep progress: a tqdm bar with rate and ETA on a terminal, one plain line per chunk otherwise
(log files, CI). Written to stderr so that stdout stays machine-readable."""

from __future__ import annotations

import sys
import time


class Progress:
    """Counts points (layer x configuration x mode). ``enabled=None``: bar on a TTY, lines otherwise;
    ``False``: silent."""

    def __init__(self, total_points: int, done_points: int, n_chunks: int, label: str = "sweep",
                 enabled: bool | None = None, stream=None):
        self.stream = stream or sys.stderr
        self.total = int(total_points)
        self.done = int(done_points)
        self.start_done = int(done_points)
        self.n_chunks = n_chunks
        self.chunks = 0
        self.label = label
        self.t0 = time.perf_counter()
        self.silent = enabled is False
        self.bar = None
        if not self.silent and self._isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=self.total, initial=self.done, unit="pt", desc=label, file=self.stream,
                            dynamic_ncols=True, smoothing=0.1)

    def _isatty(self) -> bool:
        try:
            return bool(self.stream.isatty())
        except (AttributeError, ValueError):
            return False

    def rate(self) -> float:
        """Points per second computed in this run (excluding points resumed from disk)."""
        dt = time.perf_counter() - self.t0
        return (self.done - self.start_done) / dt if dt > 0 else 0.0

    def update(self, points: int) -> None:
        self.done += int(points)
        self.chunks += 1
        if self.silent:
            return
        if self.bar is not None:
            self.bar.update(int(points))
            return
        rate = self.rate()
        left = self.total - self.done
        eta = f"{left / rate:.0f} s" if rate > 0 else "?"
        print(f"{self.label}: chunk {self.chunks}/{self.n_chunks} done, {self.done}/{self.total} points, "
              f"{rate:.0f} points/s, ETA {eta}", file=self.stream, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
