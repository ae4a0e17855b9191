"""logreport: a traffic report from a web server's access log, with client addresses pseudonymized.

    python logreport.py access.log                    # report on a log in the "combined" format
    python logreport.py access.log --top 20 --out report.txt
    python logreport.py --generate 40000 access.log   # write a made-up log to try it on

Each line is parsed with one regular expression; the request's path is reduced to its endpoint
(numbers become ``:id``, so ``/item/123`` and ``/item/456`` count together); the client's address
is replaced by a pseudonym, the 64-bit FNV-1a hash of a salt and the address, so the report can be
shared without personal data. The report lists the busiest endpoints with their error rates and
latency percentiles, the status codes, and the busiest clients (by pseudonym).

It prints a short summary and a fingerprint (SHA-1) of the report, so two versions of the program
can be checked to give the same answer. ``--generate N`` writes a reproducible log of N requests
(from ``--seed``) instead, for trying the program without a real log.

Lesson 10 of the course investigates where it spends its time on PyPy. Runs on Python 3.9+ (PyPy
or CPython), standard library only.
"""

import argparse
import hashlib
import random
import re
import sys
import time
from collections import Counter, defaultdict

# ----------------------------------------------------------------------------- a made-up log to try

ENDPOINTS = [  # (path template, relative weight, typical latency in ms)
    ("/", 30, 12), ("/login", 6, 40), ("/search?q={word}", 14, 85), ("/item/{id}", 40, 25),
    ("/item/{id}/reviews", 8, 60), ("/cart", 10, 30), ("/checkout", 3, 220),
    ("/user/{id}/orders", 5, 95), ("/api/v2/stock/{id}", 20, 8), ("/static/app.{id}.js", 25, 3),
]
WORDS = ("pypy", "jit", "trace", "guard", "bridge", "loop", "nursery", "vmprof")
AGENTS = ("Mozilla/5.0 (X11; Linux x86_64)", "Mozilla/5.0 (Macintosh)", "curl/8.4.0",
          "python-requests/2.31", "Googlebot/2.1")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def generate_log(n_requests, n_clients, seed):
    """``n_requests`` lines in the combined log format, reproducible from ``seed``."""
    rng = random.Random(seed)
    clients = ["%d.%d.%d.%d" % (rng.randrange(1, 224), rng.randrange(256), rng.randrange(256),
                                rng.randrange(1, 255)) for _ in range(n_clients)]
    weights = [w for _, w, _ in ENDPOINTS]
    lines, clock = [], 0
    for _ in range(n_requests):
        template, _, latency = rng.choices(ENDPOINTS, weights)[0]
        path = template.format(id=rng.randrange(1, 5000), word=rng.choice(WORDS))
        status = rng.choices((200, 304, 404, 500), (90, 5, 4, 1))[0]
        size = rng.randrange(200, 60000) if status == 200 else 0
        clock += rng.randrange(0, 3)
        h, m, s = clock // 3600 % 24, clock // 60 % 60, clock % 60
        client = clients[int((rng.paretovariate(1.0) - 1) * 20) % n_clients]
        millis = rng.expovariate(1.0 / latency)
        lines.append('%s - - [24/%s/2026:%02d:%02d:%02d +0000] "GET %s HTTP/1.1" %d %d "-" "%s" %.3f'
                     % (client, MONTHS[10], h, m, s, path, status, size, rng.choice(AGENTS),
                        millis))
    return lines


def write_log(path, n_requests, n_clients=2000, seed=2012):
    """Write a generated log of ``n_requests`` lines to ``path``."""
    with open(path, "w", encoding="utf-8") as f:
        f.writelines(line + "\n" for line in generate_log(n_requests, n_clients, seed))


def open_log(path):
    """A log file, to read line by line (undecodable bytes replaced, not fatal)."""
    return open(path, encoding="utf-8", errors="replace")

# ----------------------------------------------------------------------------- parsing

LINE = re.compile(r'(?P<client>\S+) \S+ \S+ \[(?P<time>[^\]]+)\] "(?P<method>\S+) (?P<path>\S+) '
                  r'[^"]*" (?P<status>\d{3}) (?P<size>\d+|-)(?: "[^"]*" "(?P<agent>[^"]*)")?'
                  r'(?: (?P<millis>[\d.]+))?')
NUMBER = re.compile(r"\d+")

SALT = b"logreport/2026/3f9c1a7e5b2d8046"  # in real use a secret, read from a file
FNV_OFFSET = 0xcbf29ce484222325
FNV_PRIME = 0x100000001b3
MASK64 = 2**64 - 1


def pseudonym(address):
    """The 64-bit FNV-1a hash of the salted address, as 16 hex digits."""
    h = FNV_OFFSET
    for byte in SALT + address.encode():
        h ^= byte
        h = (h * FNV_PRIME) & MASK64
    return "%016x" % h


def endpoint(path):
    """The path without its query string, with every number replaced by ``:id``."""
    path = path.split("?", 1)[0]
    return NUMBER.sub(":id", path)


class Request:
    __slots__ = ("client", "endpoint", "status", "size", "millis")

    def __init__(self, client, endpoint, status, size, millis):
        self.client = client
        self.endpoint = endpoint
        self.status = status
        self.size = size
        self.millis = millis


def parse(lines):
    """The requests of the lines that parse, and how many did not."""
    requests, bad = [], 0
    for line in lines:
        m = LINE.match(line)
        if m is None:
            bad += 1
            continue
        size = m.group("size")
        millis = m.group("millis")
        requests.append(Request(pseudonym(m.group("client")), endpoint(m.group("path")),
                                int(m.group("status")), 0 if size == "-" else int(size),
                                float(millis) if millis else 0.0))
    return requests, bad

# ----------------------------------------------------------------------------- statistics


def percentile(ordered, fraction):
    """The value below which ``fraction`` of the sorted values lie (nearest rank)."""
    if not ordered:
        return 0.0
    rank = max(0, min(len(ordered) - 1, int(round(fraction * len(ordered))) - 1))
    return ordered[rank]


class Traffic:
    """Requests, errors, bytes and latencies per endpoint; requests per client and status."""

    def __init__(self):
        self.hits = Counter()
        self.errors = Counter()
        self.bytes = Counter()
        self.latencies = defaultdict(list)
        self.clients = Counter()
        self.statuses = Counter()
        self.total = 0

    def add(self, request):
        self.total += 1
        self.hits[request.endpoint] += 1
        if request.status >= 400:
            self.errors[request.endpoint] += 1
        self.bytes[request.endpoint] += request.size
        self.latencies[request.endpoint].append(request.millis)
        self.clients[request.client] += 1
        self.statuses[request.status] += 1


def analyse(requests):
    traffic = Traffic()
    for request in requests:
        traffic.add(request)
    return traffic

# ----------------------------------------------------------------------------- the report


def render_report(traffic, bad, top):
    lines = [f"{traffic.total} requests ({bad} unparsed lines), {len(traffic.hits)} endpoints, "
             f"{len(traffic.clients)} clients", "", "Busiest endpoints"]
    lines.append(f"  {'endpoint':<24} {'hits':>7} {'errors':>7} {'MB':>8} "
                 f"{'p50 ms':>8} {'p95 ms':>8}")
    for name, hits in traffic.hits.most_common(top):
        ordered = sorted(traffic.latencies[name])
        lines.append(f"  {name:<24} {hits:>7} {traffic.errors[name] / hits:>7.1%} "
                     f"{traffic.bytes[name] / 1e6:>8.1f} {percentile(ordered, 0.5):>8.1f} "
                     f"{percentile(ordered, 0.95):>8.1f}")
    lines += ["", "Status codes"]
    for status, count in sorted(traffic.statuses.items()):
        lines.append(f"  {status}: {count} ({count / traffic.total:.1%})")
    lines += ["", "Busiest clients (pseudonyms)"]
    for client, count in traffic.clients.most_common(top):
        lines.append(f"  {client}: {count}")
    return "\n".join(lines) + "\n"

# ----------------------------------------------------------------------------- main


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", help="the access log to report on (with --generate: to write)")
    parser.add_argument("--generate", type=int, metavar="N",
                        help="write a made-up log of N requests to FILE instead of a report")
    parser.add_argument("--clients", type=int, default=2000, help="generated distinct clients")
    parser.add_argument("--seed", type=int, default=2012, help="generated log's random seed")
    parser.add_argument("--top", type=int, default=10, help="endpoints and clients shown")
    parser.add_argument("--out", help="write the report here")
    parser.add_argument("--quiet", action="store_true", help="print the fingerprint only")
    args = parser.parse_args(argv)
    if args.generate is not None and args.generate < 0 or args.clients < 1 or args.top < 1:
        parser.error("--generate must be at least 0, --clients and --top at least 1")
    return args


def make_report(path, top=10):
    """The report of the log file at ``path``, and how many requests it counts."""
    with open_log(path) as lines:
        requests, bad = parse(lines)
    return render_report(analyse(requests), bad, top), len(requests)


def report(argv=()):
    """The report for command-line arguments, as a string (what a race times)."""
    args = parse_args(list(argv))
    return make_report(args.file, args.top)[0]


def main(argv=None):
    args = parse_args(argv)
    if args.generate is not None:
        write_log(args.file, args.generate, args.clients, args.seed)
        print(f"wrote {args.generate} requests to {args.file}")
        return 0
    start = time.perf_counter()
    report, n_requests = make_report(args.file, args.top)
    fingerprint = hashlib.sha1(report.encode("utf-8")).hexdigest()[:12]
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(report)
    if args.quiet:
        print(fingerprint)
        return 0
    print(f"{n_requests} requests, report of {len(report):,} characters "
          f"(sha1 {fingerprint}) in {time.perf_counter() - start:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
