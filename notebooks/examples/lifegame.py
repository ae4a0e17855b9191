"""lifegame: Conway's Game of Life on an unbounded board, kept as a set of live cells.

    python lifegame.py                 # 200 generations from a reproducible random soup
    python lifegame.py 500 --size 80   # 500 generations, an 80 x 80 soup to start with

Each generation counts the live neighbours of every cell next to a live one (a dict of
(x, y) -> count), then keeps the cells with 3 neighbours, or 2 if alive already. It prints the
population every 50 generations and at the end. Every generation builds a new set and a new dict
full of fresh tuples, so the program both loops hard and allocates a lot.

Lesson 04 of the course runs it through helpers.where_time_goes(script=...). Runs on Python
3.9+ (PyPy or CPython), standard library only.
"""

import argparse
import random

NEIGHBOURS = [(dx, dy) for dx in (-1, 0, 1) for dy in (-1, 0, 1) if (dx, dy) != (0, 0)]


def soup(size, density=0.35, seed=4):
    rng = random.Random(seed)
    return {(x, y) for x in range(size) for y in range(size) if rng.random() < density}


def step(live):
    counts = {}
    for (x, y) in live:
        for dx, dy in NEIGHBOURS:
            cell = (x + dx, y + dy)
            counts[cell] = counts.get(cell, 0) + 1
    return {cell for cell, n in counts.items() if n == 3 or (n == 2 and cell in live)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("generations", nargs="?", type=int, default=200)
    parser.add_argument("--size", type=int, default=60, help="side of the starting soup")
    args = parser.parse_args(argv)
    live = soup(args.size)
    for gen in range(1, args.generations + 1):
        live = step(live)
        if gen % 50 == 0:
            print(f"generation {gen}: {len(live)} live cells")
    print(f"after {args.generations} generations: {len(live)} live cells")


if __name__ == "__main__":
    main()
