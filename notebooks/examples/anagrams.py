"""anagrams: find the largest groups of words made of the same letters.

    python anagrams.py                         # 60000 generated words
    python anagrams.py --words 20000 --seed 3  # fewer words, another seed
    python anagrams.py --input words.txt       # one word per line, from a file

Each word's letters, sorted, are its key: words with the same key are anagrams of each other. The
generated words come from a small alphabet so that many of them collide. Prints how many groups
there are and the largest few. Lesson 12 of the course reports on it with helpers.report; runs on
Python 3.9+ (PyPy or CPython), standard library only.
"""

import argparse
import random

ALPHABET = "aeilnorst"


def generate(n, seed):
    rng = random.Random(seed)
    return ["".join(rng.choice(ALPHABET) for _ in range(rng.randint(3, 7))) for _ in range(n)]


def read_words(path):
    with open(path, encoding="utf-8") as f:
        return [line.strip().lower() for line in f if line.strip()]


def key(word):
    counts = [0] * 26
    for ch in word:
        counts[ord(ch) - 97] += 1
    return tuple(counts)


def group(words):
    groups = {}
    for word in set(words):
        groups.setdefault(key(word), []).append(word)
    return groups


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--words", type=int, default=60000, help="generated words")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--input", help="read the words from this file instead")
    parser.add_argument("--top", type=int, default=3, help="largest groups shown")
    args = parser.parse_args(argv)
    words = read_words(args.input) if args.input else generate(args.words, args.seed)
    groups = group(words)
    print(f"{len(words)} words, {len(groups)} groups of anagrams")
    for members in sorted(groups.values(), key=lambda g: (-len(g), sorted(g)))[: args.top]:
        print(f"  {len(members):3} {' '.join(sorted(members)[:8])}")


if __name__ == "__main__":
    main()
