"""Regenerate the navigation line at the top and bottom of every lesson in notebooks/.

It also rewrites the index's lesson list (its cell tagged ``toc``) and the README's (between
``<!-- lessons -->`` and ``<!-- /lessons -->``): each lesson's title and summary (the first
paragraph after its heading), links to its exercise and solution, and how long it took to run
when tools/execute.py last executed it.

The line reads ``< previous | Contents | next >``, with each lesson's title taken from its first
heading, so it never goes stale. Run ``python tools/nav.py`` after adding or renaming a lesson;
``--check`` exits 1 if any notebook's navigation is out of date (the tests call it).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
LESSONS = ROOT / "notebooks"
TAG = "nav"
INDEX = "00-index.ipynb"


def title_of(nb) -> str:
    for cell in nb.cells:
        if cell.cell_type == "markdown" and TAG not in cell.metadata.get("tags", []):
            match = re.search(r"^#\s+(.+)$", cell.source, re.M)
            if match:
                return match.group(1).strip()
    raise ValueError("a lesson needs a '# Title' heading in its first markdown cell")


def nav_line(paths, titles, i) -> str:
    parts = []
    if i > 0:
        parts.append(f"< [{titles[i - 1]}]({paths[i - 1].name})")
    if paths[i].name != INDEX:
        parts.append(f"[Contents]({INDEX})")
    if i + 1 < len(paths):
        parts.append(f"[{titles[i + 1]}]({paths[i + 1].name}) >")
    return " | ".join(parts)


def with_nav(nb, line: str):
    cells = [c for c in nb.cells if TAG not in c.metadata.get("tags", [])]
    top = nbformat.v4.new_markdown_cell(line, metadata={"tags": [TAG]})
    bottom = nbformat.v4.new_markdown_cell(line, metadata={"tags": [TAG]})
    old = [c for c in nb.cells if TAG in c.metadata.get("tags", [])]
    if len(old) == 2:  # keep cell ids stable, so regenerating changes nothing
        top.id, bottom.id = old[0].id, old[1].id
    nb.cells = [top] + cells + [bottom]
    return nb


def summary_of(nb) -> str:
    """The first paragraph after the lesson's heading."""
    for cell in nb.cells:
        if cell.cell_type == "markdown" and TAG not in cell.metadata.get("tags", []):
            after = re.split(r"^#\s+.+$", cell.source, maxsplit=1, flags=re.M)[-1]
            paragraphs = [p.strip() for p in after.strip().split("\n\n") if p.strip()]
            return " ".join(paragraphs[0].split()) if paragraphs else ""
    return ""


def run_time(nb) -> str:
    seconds = nb.metadata.get("course", {}).get("run_seconds")
    return f" *{seconds:.0f} s on the machine below.*" if seconds is not None else ""


def toc(paths, notebooks, titles, base: str = "", heading: str = "## The lessons") -> str:
    """The lesson list; ``base`` is the notebooks' folder as seen from where it is shown."""
    up = "../" if not base else ""
    lines = [heading, ""] if heading else []
    for path, nb, title in zip(paths, notebooks, titles):
        if path.name == INDEX:
            continue
        links = [f"[{word}]({up}{folder}/{path.name})"
                 for word, folder in (("exercise", "exercises"), ("solution", "solutions"))
                 if (ROOT / folder / path.name).exists()]
        extra = f" ({', '.join(links)})" if links else ""
        lines.append(f"1. **[{title}]({base}{path.name})**{extra}: {summary_of(nb)}{run_time(nb)}")
    lines += total_time(notebooks)
    return "\n".join(lines)


def total_time(notebooks) -> list:
    """A closing line with the run time of all lessons, when every one of them has one."""
    seconds = [nb.metadata.get("course", {}).get("run_seconds") for nb in notebooks]
    if not seconds or None in seconds:
        return []
    minutes, rest = divmod(round(sum(seconds)), 60)
    machines = sorted({nb.metadata.get("course", {}).get("machine") or "an unrecorded machine"
                       for nb in notebooks})
    return ["", f"All {len(seconds)} notebooks, the index included, ran top to bottom in "
                f"{minutes} min {rest} s when they were last executed and committed, on "
                f"{' and '.join(machines)}: the committing machine's times, not a promise for "
                "yours."]


_README_BLOCK = re.compile(r"(<!-- lessons[^>]*-->\n).*?(<!-- /lessons -->)", re.S)


def readme_with_toc(text: str, contents: str) -> str:
    return _README_BLOCK.sub(lambda m: m[1] + contents + "\n" + m[2], text)


def with_toc(nb, text: str):
    for cell in nb.cells:
        if "toc" in cell.metadata.get("tags", []):
            cell.source = text
    return nb


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="only report stale navigation")
    args = parser.parse_args(argv)
    paths = sorted(LESSONS.glob("[0-9][0-9]-*.ipynb"))
    notebooks = [nbformat.read(p, as_version=4) for p in paths]
    titles = [title_of(nb) for nb in notebooks]
    stale = []
    contents = toc(paths, notebooks, titles)
    for i, (path, nb) in enumerate(zip(paths, notebooks)):
        before = path.read_text(encoding="utf-8")
        if path.name == INDEX:
            nb = with_toc(nb, contents)
        after = nbformat.writes(with_nav(nb, nav_line(paths, titles, i))) + "\n"
        if after != before:
            stale.append(path.relative_to(ROOT))
            if not args.check:
                path.write_text(after, encoding="utf-8")
    readme = ROOT / "README.md"
    if readme.exists():
        before = readme.read_text(encoding="utf-8")
        after = readme_with_toc(before, toc(paths, notebooks, titles, base="notebooks/",
                                            heading=""))
        if after != before:
            stale.append(readme.relative_to(ROOT))
            if not args.check:
                readme.write_text(after, encoding="utf-8")
    for p in stale:
        print(f"{'stale' if args.check else 'wrote'}: {p}")
    return 1 if (args.check and stale) else 0


if __name__ == "__main__":
    sys.exit(main())
