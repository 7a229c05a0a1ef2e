"""The repository explains its own method: citations point into docs/method.md and resolve there."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
METHOD = ROOT / "docs" / "method.md"
SOURCES = [
    p for d in ("src", "tests", "benchmarks", "docs") for p in (ROOT / d).rglob("*") if p.suffix in (".py", ".md")
]


def _method_numbers() -> tuple[set[int], set[int], set[str]]:
    text = METHOD.read_text(encoding="utf-8")
    sections = {int(n) for n in re.findall(r"^## §(\d+)\.", text, flags=re.M)}
    equations = {int(n) for n in re.findall(r"\((\d+)\)\s*$", text, flags=re.M)}
    departures = set(re.findall(r"^\| (D\d+) ", text, flags=re.M))
    return sections, equations, departures


def test_method_numbers_are_consecutive() -> None:
    sections, equations, departures = _method_numbers()
    assert sections == set(range(1, len(sections) + 1))
    assert equations == set(range(1, len(equations) + 1))
    assert departures == {f"D{i}" for i in range(1, len(departures) + 1)}


def test_no_citation_of_documents_outside_the_repository() -> None:
    offenders = [
        f"{p.relative_to(ROOT)}:{i}"
        for p in SOURCES
        if p != Path(__file__).resolve()
        for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
        if re.search(r"\bSPEC\b(?! *=)|\bthe deck\b", line)
    ]
    assert not offenders, offenders


def test_method_citations_resolve() -> None:
    sections, equations, departures = _method_numbers()
    cited_sections: set[int] = set()
    cited_equations: set[int] = set()
    cited_departures: set[str] = set()
    for p in SOURCES:
        if p == METHOD:
            continue
        for ref in re.findall(r"method\.md[^\n]{0,60}", p.read_text(encoding="utf-8")):
            ref = ref.split(")")[0]
            for a, b in re.findall(r"§(\d+)(?:-(\d+))?", ref):
                cited_sections.update(range(int(a), int(b or a) + 1))
            for a, b in re.findall(r"eqs?\. \(?(\d+)\)?(?:-(\d+))?", ref):
                cited_equations.update(range(int(a), int(b or a) + 1))
            cited_departures.update(re.findall(r"\bD\d+\b", ref))
    assert cited_sections and cited_equations
    assert cited_sections <= sections, sorted(cited_sections - sections)
    assert cited_equations <= equations, sorted(cited_equations - equations)
    assert cited_departures <= departures, sorted(cited_departures - departures)
