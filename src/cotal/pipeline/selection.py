"""Which round a run ends with, and when the rounds stop (``pipeline.select_round``; docs/method.md D4, D12).

Every round reports label-free signals (docs/clustering.md, "Round signals"). A round whose attention S is
*inverted* (it favours what all videos share over what sets each apart) or *flat* (it spreads over most of every
video, so it pools like the mean, which round 0's selective pooling already beats) ends the rounds and is never
selected: pooling with it would make the next clustering worse.

Of the other rounds, "consensus" (default) keeps the round whose clustering agrees best (mean adjusted Rand index)
with the clusterings of the other kept rounds and with the clustering the last kept round's S would give next
(computed, not trained): a clustering that drifted away in one round is outvoted by the others, and with two
rounds the next clustering breaks the tie. "last" keeps the last kept round (the authors' procedure). Ground
truth never enters.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.metrics import adjusted_rand_score

# S is flat when its effective support (exp of its entropy, over T) exceeds this share of a video's snippets.
FLAT_SUPPORT = 0.75


@dataclass
class RoundSelection:
    """Follows the rounds of one run: :meth:`add` each round, then :meth:`selected`.

    Args:
        select_round: "consensus" or "last" (``pipeline.select_round``).
    """

    select_round: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    labels: list[np.ndarray] = field(default_factory=list)
    agreement: dict[int, float] = field(default_factory=dict)

    def add(self, row: dict[str, Any], labels: np.ndarray) -> bool:
        """Record a round's ``metrics.json`` row and its clustering (N,); returns whether the rounds stop here."""
        self.rows.append(row)
        self.labels.append(labels)
        return not usable(row)

    @property
    def kept(self) -> list[int]:
        """Positions of the rounds that may end the run (their S is neither inverted nor flat)."""
        return [i for i, row in enumerate(self.rows) if usable(row)]

    def selected(self, following: np.ndarray | None = None) -> int:
        """The round the run ends with (round 0 when no round may: its clustering needs no model).

        Args:
            following: (N,) the clustering the last kept round's S gives ("consensus" only; None: not computed).
        """
        kept = self.kept
        if not kept:
            return self.rows[0]["round"]
        if self.select_round == "last" or (len(kept) == 1 and following is None):
            return self.rows[kept[-1]]["round"]
        candidates = [self.labels[i] for i in kept] + ([following] if following is not None else [])
        scores = mean_agreement(candidates)
        self.agreement = {self.rows[i]["round"]: scores[j] for j, i in enumerate(kept)}
        if following is not None:
            self.agreement[self.rows[kept[-1]]["round"] + 1] = scores[-1]
        best = max(range(len(candidates)), key=lambda j: (scores[j], j))  # ties: the later round
        return self.rows[kept[min(best, len(kept) - 1)]]["round"]  # the next clustering has no model: the last


def usable(row: dict[str, Any]) -> bool:
    """Whether a round's S may pool the next clustering and the round may end the run."""
    return not (row.get("inverted") or row.get("flat"))


def mean_agreement(labels: Sequence[np.ndarray]) -> list[float]:
    """For each of K clusterings of the same N videos, its mean adjusted Rand index with the K - 1 others."""
    k = len(labels)
    ari = np.eye(k)
    for i, j in itertools.combinations(range(k), 2):
        ari[i, j] = ari[j, i] = adjusted_rand_score(labels[i], labels[j])
    return [float((ari[i].sum() - 1.0) / max(k - 1, 1)) for i in range(k)]
