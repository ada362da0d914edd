"""The log budget for refusals anyone can cause: bounded lines, and nothing held back unsaid."""

from __future__ import annotations

from node.core.log_budget import LogBudget


def test_lines_past_the_budget_are_held_back_and_reported_with_the_next_line() -> None:
    now = [0.0]
    budget = LogBudget(lines=3, window=60.0, monotonic=lambda: now[0])
    assert [budget.admit("no-certificate") for _ in range(5)] == [0, 0, 0, None, None]
    assert budget.admit("not-a-member") == 0  # each reason has its own budget
    now[0] = 30.0
    assert budget.admit("no-certificate") is None
    now[0] = 60.5  # the first three lines have left the window
    assert budget.admit("no-certificate") == 3
    assert budget.admit("no-certificate") == 0
    assert budget.admit("no-certificate") == 0
    assert budget.admit("no-certificate") is None
