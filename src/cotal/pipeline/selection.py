"""Which round a run ends with, and when the rounds stop (``pipeline.select_round``; docs/method.md D4).

Every round reports label-free signals (docs/clustering.md, "Round signals"). A round whose attention S favours
what all videos share over what sets each apart (``inverted``) ends the rounds and is never selected: pooling
with it would cluster by background. Of the other rounds, "last" keeps the last one and "best" the one with the
highest silhouette. Ground truth never enters.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class RoundSelection:
    """Follows the rounds of one run: :meth:`add` each round's ``metrics.json`` row, then :meth:`selected`.

    Args:
        select_round: "last" or "best" (``pipeline.select_round``).
    """

    select_round: str
    rows: list[dict[str, Any]] = field(default_factory=list)

    def add(self, row: dict[str, Any]) -> bool:
        """Record a round's row; returns whether the rounds stop here (its S is inverted)."""
        self.rows.append(row)
        return bool(row.get("inverted"))

    def selected(self) -> int:
        """The round the run ends with: among rounds whose S is not inverted, the last or the best by silhouette
        (round 0 when every round's S is inverted: its clustering needs no model)."""
        valid = [row for row in self.rows if not row.get("inverted")]
        if not valid:
            return self.rows[0]["round"]
        if self.select_round == "best":
            scored = [row for row in valid if row.get("silhouette") is not None]
            if scored:
                return max(scored, key=lambda row: row["silhouette"])["round"]
        return valid[-1]["round"]
