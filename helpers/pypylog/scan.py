"""Reading a PYPYLOG as a stream: chunks, section markers (colours and thread numbers removed),
the section tree, and iterators over sections, traces and GC events."""

from __future__ import annotations

import codecs
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, Optional, Union

from .ops import PypylogError, Trace, parse_trace
from .sections import GcCollectDone, GcMinor, GcStep, _gc_done, _gc_minor, _gc_step

_CHUNK = 1 << 20  # characters read at a time
_SNIFF = 1 << 16  # a PYPYLOG has a section marker in its first 64 KiB

_MARK = re.compile(r"\n\[([0-9a-fA-F]{1,32})\] (?:\{([^\s{}]+)|([^\s{}]+)\})[ \t]*(?=\n)")
_MARK_THREADED = re.compile(
    r"\n(?:\d{1,9}# )?\[([0-9a-fA-F]{1,32})\] (?:\{([^\s{}]+)|([^\s{}]+)\})[ \t]*(?=\n)")
_THREADED = re.compile(r"\n\d{1,9}# \[[0-9a-fA-F]{1,32}\] ")
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")




# ============================================================================ reading


def _open_text(source):
    """(text chunks iterator, name) for a path, a file object, a log text or lines."""
    if isinstance(source, (str, os.PathLike)) and not (isinstance(source, str) and "\n" in source):
        path = Path(source)
        return _file_chunks(path), str(path)
    if isinstance(source, str):
        return iter([source]), None
    if isinstance(source, (bytes, bytearray)):
        return iter([bytes(source).decode("utf-8", errors="replace")]), None
    if hasattr(source, "read"):
        return _stream_chunks(source), getattr(source, "name", None)
    return _line_chunks(source), None


def _file_chunks(path: Path) -> Iterator[str]:
    with open(path, "rb") as f:
        yield from _stream_chunks(f)


def _stream_chunks(f) -> Iterator[str]:
    decoder = None
    while True:
        data = f.read(_CHUNK)
        if not data:
            break
        if isinstance(data, str):
            yield data
            continue
        if decoder is None:
            decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        yield decoder.decode(data)
    if decoder is not None:
        tail = decoder.decode(b"", final=True)
        if tail:
            yield tail


def _line_chunks(lines: Iterable) -> Iterator[str]:
    buf, size = [], 0
    for line in lines:
        if isinstance(line, (bytes, bytearray)):
            line = bytes(line).decode("utf-8", errors="replace")
        elif not isinstance(line, str):
            raise TypeError(f"lines must be str or bytes, not {type(line).__name__}")
        if not line.endswith("\n"):
            line += "\n"
        buf.append(line)
        size += len(line)
        if size >= _CHUNK:
            yield "".join(buf)
            buf, size = [], 0
    if buf:
        yield "".join(buf)


def _regions(chunks: Iterator[str], name: Optional[str]) -> Iterator[str]:
    """Whole-line text regions, each starting and ending with a newline it shares with its
    neighbour; colour codes and carriage returns removed. Raises PypylogError if the start of
    the text has no section marker at all (empty input gives no regions)."""
    carry = "\n"
    sniffed = False
    head = ""
    for chunk in chunks:
        data = carry + chunk
        if not sniffed:
            head += chunk
            if len(head) < _SNIFF:
                carry = data
                continue
            _sniff(head, name)
            sniffed = True
        cut = data.rfind("\n")
        if cut <= 0:
            carry = data
            continue
        yield _clean(data[: cut + 1])
        carry = data[cut:]
    if not sniffed:
        if not head.strip():
            return
        _sniff(head, name)
    if len(carry) > 1:
        yield _clean(carry + "\n")


def _clean(region: str) -> str:
    if "\x1b" in region:
        region = _ANSI.sub("", region)
    if "\r" in region:
        region = region.replace("\r", "")
    return region


def _sniff(head: str, name: Optional[str]) -> None:
    text = _clean("\n" + head[:_SNIFF] + "\n")
    if _MARK_THREADED.search(text):
        return
    what = f"{name!r}" if name else "the input"
    if "\x00" in head[:_SNIFF] or head[:_SNIFF].count("\ufffd") > 8:
        raise PypylogError(
            f"{what} is not a PYPYLOG: it looks like binary data (no '[hex] {{section' marker "
            "in its first 64 KiB).")
    start = head.lstrip()[:80]
    raise PypylogError(
        f"{what} is not a PYPYLOG: no section marker such as '[68988ce5c2a] {{gc-minor' in its "
        f"first 64 KiB; it starts with {start!r}. Was it written by PyPy with "
        "PYPYLOG=categories:file?")


# ============================================================================ the scanner


class SectionNode:
    """One node of the section tree: all sections with the same path of names, aggregated.
    ``inclusive``/``exclusive`` are ticks (exclusive = minus the time of nested sections)."""

    __slots__ = ("name", "count", "inclusive", "exclusive", "children", "parent")

    def __init__(self, name: str, parent: Optional["SectionNode"] = None):
        self.name = name
        self.count = 0
        self.inclusive = 0
        self.exclusive = 0
        self.children: dict = {}
        self.parent = parent

    @property
    def path(self) -> tuple:
        names, node = [], self
        while node is not None and node.parent is not None:
            names.append(node.name)
            node = node.parent
        return tuple(reversed(names))

    def walk(self) -> Iterator["SectionNode"]:
        """This node and all below it, depth first, parents before children (no recursion)."""
        todo = [self]
        while todo:
            node = todo.pop()
            yield node
            todo.extend(reversed(list(node.children.values())))

    def __repr__(self) -> str:
        return (f"<SectionNode {'/'.join(self.path) or '(root)'} count={self.count} "
                f"inclusive={self.inclusive} exclusive={self.exclusive}>")


@dataclass(frozen=True, slots=True)
class Section:
    """One closed section, as :func:`iter_sections` yields it: ``start``/``stop`` ticks,
    ``depth`` (0 = top level), ``path`` the names of the enclosing sections, ``body`` its own
    lines (those of nested sections excluded) joined by newlines, or None if not asked for.
    ``complete`` is False for a section still open at the end of a truncated log."""

    name: str
    start: int
    stop: int
    depth: int
    path: tuple
    body: Optional[str]
    complete: bool = True


class _Scanner:
    """Finds the markers of each region, keeps the section stack, the aggregated tree and the
    bodies of the sections that have a handler. ``handlers`` maps a section name to
    ``f(start, stop, body, complete)``; ``default`` (if given) handles every other name as
    ``f(name, start, stop, body, path, complete)``."""

    def __init__(self, handlers: dict, default: Optional[Callable] = None):
        self.handlers = handlers
        self.default = default
        self.root = SectionNode("")
        self.stack: list = []
        self.first: Optional[int] = None
        self.last: Optional[int] = None
        self.markers = 0
        self.stray_lines = 0
        self.unmatched: dict = {}
        self.backwards = 0
        self.mismatched: list = []
        self.unclosed: list = []
        self.mark = None

    def feed(self, region: str) -> None:
        if self.mark is None:
            self.mark = _MARK_THREADED if _THREADED.search(region) else _MARK
        stack = self.stack
        handlers = self.handlers
        keep_all = self.default is not None
        root = self.root
        pos = 1
        first = self.first
        last = self.last if self.last is not None else -1
        n = 0
        # The hot loop: one iteration per marker (300,000 in a 200 MB log), so it is inlined.
        for m in self.mark.finditer(region):
            n += 1
            s, e = m.span()
            if s > pos:
                if stack:
                    pieces = stack[-1][4]
                    if pieces is not None:
                        pieces.append(region[pos:s])
                else:
                    self._stray(region[pos:s])
            pos = e + 1
            hexa, name, closing = m.groups()
            tick = int(hexa, 16)
            if tick > last:
                last = tick
                if first is None:
                    first = tick
            if name is not None:
                parent = stack[-1][2] if stack else root
                node = parent.children.get(name)
                if node is None:
                    node = parent.children[name] = SectionNode(name, parent)
                stack.append([name, tick, node, 0,
                              [] if keep_all or name in handlers else None])
                continue
            if not stack or stack[-1][0] != closing:
                if not self._resync(closing, tick):
                    continue
            frame = stack.pop()
            duration = tick - frame[1]
            if duration < 0:
                self.backwards += 1
                duration = 0
            node = frame[2]
            node.count += 1
            node.inclusive += duration
            exclusive = duration - frame[3]
            node.exclusive += exclusive if exclusive > 0 else 0
            if stack:
                stack[-1][3] += duration
            if frame[4] is not None:
                self._deliver(frame, tick, True)
        self.markers += n
        if len(region) - 1 > pos:
            if stack:
                pieces = stack[-1][4]
                if pieces is not None:
                    pieces.append(region[pos:len(region) - 1])
            else:
                self._stray(region[pos:len(region) - 1])
        self.first = first
        self.last = last if last >= 0 else None

    def _stray(self, text: str) -> None:
        if text.strip():
            self.stray_lines += sum(1 for line in text.split("\n") if line.strip())

    def _resync(self, name: str, tick: int) -> bool:
        """A stop marker that is not the innermost open section's."""
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] == name:
                while len(self.stack) > i + 1:
                    frame = self.stack.pop()
                    if len(self.mismatched) < 20:
                        self.mismatched.append((frame[0], name))
                    self._close(frame, tick, False)
                return True
        self.unmatched[name] = self.unmatched.get(name, 0) + 1
        return False

    def _close(self, frame, tick: int, complete: bool) -> None:
        """Close ``frame`` at ``tick`` (the slow path: unbalanced or truncated logs)."""
        name, start, node, child, pieces = frame
        duration = tick - start
        if duration < 0:
            self.backwards += 1
            duration = 0
        node.count += 1
        node.inclusive += duration
        node.exclusive += max(0, duration - child)
        if self.stack:
            self.stack[-1][3] += duration
        if pieces is not None:
            self._deliver(frame, tick, complete)

    def _deliver(self, frame, tick: int, complete: bool) -> None:
        name, start, _, _, pieces = frame
        body = pieces[0] if len(pieces) == 1 else "\n".join(p for p in pieces if p)
        stop = tick if tick > start else start
        handler = self.handlers.get(name)
        if handler is not None:
            handler(start, stop, body, complete)
        elif self.default is not None:
            self.default(name, start, stop, body, tuple(f[0] for f in self.stack), complete)

    def finish(self) -> None:
        end = self.last if self.last is not None else 0
        while self.stack:
            frame = self.stack.pop()
            self.unclosed.append(frame[0])
            self._close(frame, end, False)
        self.unclosed.reverse()

    def warnings(self) -> list:
        out = []
        if self.unclosed:
            names = self.unclosed
            if len(names) > 8:
                names = names[:4] + [f"… {len(names) - 7:,} more …"] + names[-3:]
            out.append("the log ends inside section(s) " + " > ".join(names)
                       + ": truncated (the program was killed, or the log is still being "
                       "written)? What was read is reported.")
        for name, count in sorted(self.unmatched.items()):
            out.append(f"{count} end marker(s) '{name}}}' without a matching start: ignored")
        if self.mismatched:
            inner, outer = self.mismatched[0]
            out.append(f"{len(self.mismatched)}{'+' if len(self.mismatched) >= 20 else ''} "
                       f"section(s) left open when an enclosing one ended (first: '{inner}' "
                       f"inside '{outer}'): closed there")
        if self.backwards:
            out.append(f"{self.backwards} section(s) end before they start (timestamps going "
                       "backwards: threads, or a corrupt log): counted as zero time")
        if self.stray_lines:
            out.append(f"{self.stray_lines} line(s) outside any section (not PyPy's: program "
                       "output mixed into the log?): ignored")
        return out


def _scan(source, handlers: dict, default=None) -> Iterator[_Scanner]:
    """Run a scanner over ``source``; yields the scanner after each region (so callers can
    hand out what the handlers collected) and once more after it is finished."""
    chunks, name = _open_text(source)
    scanner = _Scanner(handlers, default)
    for region in _regions(chunks, name):
        scanner.feed(region)
        yield scanner
    scanner.finish()
    yield scanner


def iter_sections(source, *, bodies: bool = True) -> Iterator[Section]:
    """Every section of a PYPYLOG as it closes (inner sections before the ones around them).

    ``source`` is a path, an open file, lines (str or bytes) or the text of a log (a str with
    a newline in it). ``bodies=False`` skips collecting the lines (faster, less memory).
    Sections still open at the end of a truncated log come last, with ``complete=False``.
    """
    out: list = []

    def default(name, start, stop, body, path, complete):
        out.append(Section(name, start, stop, len(path), path, body if bodies else None,
                           complete))

    for _ in _scan(source, {}, default):
        yield from out
        out.clear()


def iter_traces(source, *, keep_ops: bool = True) -> Iterator[Trace]:
    """Every loop and bridge of the ``jit-log-opt-*`` sections, in log order, streaming
    (nothing is kept between them; ``Bridge.parent`` and counts are left unset)."""
    out: list = []

    def handler(start, stop, body, complete):
        trace = parse_trace(body, start=start, stop=stop, keep_ops=keep_ops, complete=complete)
        if trace is not None:
            out.append(trace)

    for _ in _scan(source, {"jit-log-opt-loop": handler, "jit-log-opt-bridge": handler}):
        yield from out
        out.clear()


def iter_gc_events(source) -> Iterator[Union[GcMinor, GcStep, GcCollectDone]]:
    """The GC's events in log order: minor collections, major collection steps and the ends
    of major collections (a ``GcCollectDone`` comes before the step it happened in)."""
    out: list = []

    def wrap(f):
        return lambda start, stop, body, complete: out.append(f(start, stop, body))

    handlers = {"gc-minor": wrap(_gc_minor), "gc-collect-step": wrap(_gc_step),
                "gc-collect-done": wrap(_gc_done)}
    for _ in _scan(source, handlers):
        yield from out
        out.clear()
