"""Runs inside PyPy under ``PYPYLOG=gc-collect``, for :func:`helpers.pypylog.tick_rate`: two
collections a known sleep apart, so the log's tick counts can be turned into seconds.

    pypy3 tickrate_child.py REQUEST.json ANSWER.json

The request has the sleep in seconds; the answer the sleep as ``time.perf_counter`` measured it.
Stdlib only, Python 3.9-compatible.
"""

import gc
import json
import os
import sys
import time


def main(request, answer):
    with open(request) as f:
        sleep = float(json.load(f)["sleep"])
    gc.collect()
    t0 = time.perf_counter()
    time.sleep(sleep)
    t1 = time.perf_counter()
    gc.collect()
    with open(answer + ".tmp", "w") as f:
        json.dump({"elapsed": t1 - t0}, f)
    os.replace(answer + ".tmp", answer)


if __name__ == "__main__":
    main(*sys.argv[1:3])
