"""A bound on log lines that anyone can cause (refusals of unidentified clients): the metrics
count every event, the log takes a few lines a minute and says how many it held back."""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["LogBudget"]


class LogBudget:
    """At most ``lines`` log lines per key in any ``window`` seconds; ``admit`` says whether
    the next line may be written, and how many were held back since the last one that was."""

    def __init__(
        self, *, lines: int = 10, window: float = 60.0, monotonic: Callable[[], float]
    ) -> None:
        self.lines, self.window, self.monotonic = lines, window, monotonic
        self._written: dict[str, list[float]] = {}
        self._held_back: dict[str, int] = {}

    def admit(self, key: str) -> int | None:
        now = self.monotonic()
        recent = [t for t in self._written.get(key, ()) if now - t < self.window]
        if len(recent) >= self.lines:
            self._written[key] = recent
            self._held_back[key] = self._held_back.get(key, 0) + 1
            return None
        self._written[key] = [*recent, now]
        return self._held_back.pop(key, 0)

    def suffix(self, key: str) -> str | None:
        """``admit`` as the end of the next line: None to write nothing, else "" or how many
        lines were held back."""
        held_back = self.admit(key)
        if held_back is None:
            return None
        return f" ({held_back} more like it not logged)" if held_back else ""
