"""wordfreq: word statistics for a folder of text, with an index and keywords per document.

    python wordfreq.py                     # a generated corpus (no files needed)
    python wordfreq.py --docs 300 --out report.txt
    python wordfreq.py notes/*.txt --top 20

For each document it finds the words (letters and apostrophes), folds case, drops stop words,
strips common English suffixes (a deliberately small stemmer), counts words and word pairs, and
picks each document's keywords by tf-idf. The report lists the most frequent words and pairs, the
keywords of every document, and an index of every word with the documents it occurs in.

Without file arguments it generates a reproducible corpus of made-up words whose frequencies
follow Zipf's law, like real text. It prints a short summary and a fingerprint (SHA-1) of the
report, so two versions of the program can be checked to give the same answer.

Lesson 06 of the course profiles this program. Runs on Python 3.9+ (PyPy or CPython), standard
library only.
"""

import argparse
import bisect
import hashlib
import math
import random
import sys
import time
from collections import Counter, defaultdict

# ----------------------------------------------------------------------------- vocabulary

STOPWORDS = frozenset("""
a about above after again against all am an and any are as at be because been before being
below between both but by can did do does doing down during each few for from further had has
have having he her here hers herself him himself his how i if in into is it its itself just me
more most my myself no nor not now of off on once only or other our ours ourselves out over own
same she should so some such than that the their theirs them themselves then there these they
this those through to too under until up very was we were what when where which while who whom
why will with you your yours yourself yourselves
""".split())

SUFFIXES = ("ational", "ization", "fulness", "ousness", "iveness", "ement", "ments", "ness",
            "ment", "ings", "ing", "ies", "ied", "ers", "ed", "ly", "es", "er", "s")

ONSETS = ("b", "br", "c", "ch", "cl", "d", "dr", "f", "fl", "g", "gr", "h", "j", "k", "l", "m",
          "n", "p", "pl", "pr", "qu", "r", "s", "sh", "st", "t", "th", "tr", "v", "w", "z")
VOWELS = ("a", "e", "i", "o", "u", "ai", "ea", "ee", "oo", "ou")
CODAS = ("", "", "n", "r", "s", "t", "nd", "ng", "st", "ck", "m", "l")
ENDINGS = ("", "", "", "", "s", "ed", "ing", "er", "ly", "ness", "ment", "ies")


def made_up_word(rng):
    """A pronounceable word of one to three syllables, sometimes with an English ending."""
    syllables = rng.choice((1, 2, 2, 2, 3, 3))
    word = "".join(rng.choice(ONSETS) + rng.choice(VOWELS) + rng.choice(CODAS)
                   for _ in range(syllables))
    return word + rng.choice(ENDINGS)


def make_vocabulary(size, rng):
    """``size`` distinct made-up words, plus the stop words, in a random order."""
    words = set()
    while len(words) < size:
        words.add(made_up_word(rng))
    vocab = sorted(words) + sorted(STOPWORDS)
    rng.shuffle(vocab)
    return vocab


def zipf_weights(n, exponent=1.07):
    """Cumulative weights for drawing the k-th word with probability proportional to 1/k**s."""
    total, cumulative = 0.0, []
    for k in range(1, n + 1):
        total += 1.0 / k ** exponent
        cumulative.append(total)
    return cumulative


# ----------------------------------------------------------------------------- the corpus


def make_document(vocab, cumulative, n_words, rng):
    """Sentences of Zipf-distributed words with capitals, commas and full stops."""
    sentences, sentence = [], []
    top = cumulative[-1]
    for _ in range(n_words):
        word = vocab[bisect.bisect_left(cumulative, rng.random() * top)]
        if not sentence:
            word = word.capitalize()
        sentence.append(word)
        if len(sentence) > 4 and rng.random() < 0.12:
            sentences.append(" ".join(sentence) + rng.choice((".", ".", ".", "!", "?")))
            sentence = []
        elif rng.random() < 0.05:
            sentence[-1] += ","
    if sentence:
        sentences.append(" ".join(sentence) + ".")
    return " ".join(sentences)


def make_corpus(n_docs, words_per_doc, vocab_size, seed):
    rng = random.Random(seed)
    vocab = make_vocabulary(vocab_size, rng)
    cumulative = zipf_weights(len(vocab))
    docs = {}
    for i in range(n_docs):
        n_words = int(words_per_doc * (0.5 + rng.random()))
        docs[f"doc{i:04d}"] = make_document(vocab, cumulative, n_words, rng)
    return docs


def read_corpus(paths):
    docs = {}
    for path in paths:
        with open(path, encoding="utf-8", errors="replace") as f:
            docs[path] = f.read()
    return docs


# ----------------------------------------------------------------------------- words


def is_word_char(ch):
    return ch.isalpha() or ch == "'"


def tokenize(text):
    """The words of ``text``: runs of letters and apostrophes."""
    tokens, start = [], None
    for i, ch in enumerate(text):
        if is_word_char(ch):
            if start is None:
                start = i
        elif start is not None:
            tokens.append(text[start:i])
            start = None
    if start is not None:
        tokens.append(text[start:])
    return tokens


def stem(word):
    """Strip the longest matching suffix, keeping a stem of at least three letters."""
    for suffix in SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def terms(text):
    """Tokens folded to lower case, without stop words, stemmed."""
    out = []
    for token in tokenize(text):
        word = token.strip("'").lower()
        if word and word not in STOPWORDS:
            out.append(stem(word))
    return out


# ----------------------------------------------------------------------------- statistics


class Statistics:
    """Word and pair counts, document frequencies and the documents each word occurs in."""

    def __init__(self):
        self.words = Counter()
        self.pairs = Counter()
        self.doc_freq = Counter()
        self.per_doc = {}
        self.where = defaultdict(list)

    def add(self, name, text):
        words = terms(text)
        counts = Counter(words)
        self.per_doc[name] = counts
        self.words.update(counts)
        self.pairs.update(zip(words, words[1:]))
        for word in counts:
            self.doc_freq[word] += 1
            self.where[word].append(name)

    @property
    def n_docs(self):
        return len(self.per_doc)

    def keywords(self, name, k=5):
        """The ``k`` words with the highest tf-idf in one document."""
        counts = self.per_doc[name]
        length = sum(counts.values()) or 1
        scored = []
        for word, count in counts.items():
            idf = math.log(self.n_docs / self.doc_freq[word])
            scored.append((count / length * idf, word))
        scored.sort(reverse=True)
        return [word for _, word in scored[:k]]


def analyse(docs):
    stats = Statistics()
    for name, text in docs.items():
        stats.add(name, text)
    return stats


# ----------------------------------------------------------------------------- the report


def render_report(stats, top):
    """The report as one string: frequent words and pairs, keywords, then the word index."""
    report = ""
    report += f"{stats.n_docs} documents, {sum(stats.words.values())} words, "
    report += f"{len(stats.words)} distinct\n\n"
    report += f"Most frequent words\n"
    for word, count in stats.words.most_common(top):
        report += f"  {word:<20} {count:>8}\n"
    report += "\nMost frequent pairs\n"
    for (first, second), count in stats.pairs.most_common(top):
        report += f"  {first + ' ' + second:<30} {count:>8}\n"
    report += "\nKeywords per document\n"
    for name in sorted(stats.per_doc):
        report += f"  {name}: {', '.join(stats.keywords(name))}\n"
    report += "\nIndex\n"
    for word in sorted(stats.where):
        docs = stats.where[word]
        report += f"  {word} ({stats.words[word]} times in {len(docs)} documents):"
        for name in docs[:8]:
            report += " " + name
        if len(docs) > 8:
            report += " ..."
        report += "\n"
    return report


# ----------------------------------------------------------------------------- main


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", help="text files (default: a generated corpus)")
    parser.add_argument("--docs", type=int, default=300, help="generated documents")
    parser.add_argument("--words", type=int, default=800, help="words per generated document")
    parser.add_argument("--vocab", type=int, default=6000, help="generated vocabulary size")
    parser.add_argument("--seed", type=int, default=2012)
    parser.add_argument("--top", type=int, default=15, help="frequent words and pairs shown")
    parser.add_argument("--out", help="write the report here")
    parser.add_argument("--quiet", action="store_true", help="print the fingerprint only")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    start = time.perf_counter()
    if args.files:
        docs = read_corpus(args.files)
    else:
        docs = make_corpus(args.docs, args.words, args.vocab, args.seed)
    stats = analyse(docs)
    report = render_report(stats, args.top)
    fingerprint = hashlib.sha1(report.encode("utf-8")).hexdigest()[:12]
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(report)
    if args.quiet:
        print(fingerprint)
        return 0
    print(f"{stats.n_docs} documents, {len(stats.words)} distinct terms, "
          f"report of {len(report):,} characters (sha1 {fingerprint}) "
          f"in {time.perf_counter() - start:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
