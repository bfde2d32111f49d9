#!/usr/bin/env python3
"""HF `tokenizers` side of bench/tokenizer: load time of each tokenizer.json and single-thread
encode throughput on the corpus that `bench_tokenizer --write-corpus corpus.json` writes
(a JSON list of documents), plus the same ids digest as the C benchmark (FNV-1a 64 over the
ids of all documents in order, each id as 4 little-endian bytes, add_special_tokens=False),
so both programs can be checked to produce identical ids.

    RAYON_NUM_THREADS=1 python3 tools/refgen/bench_tokenizers.py --corpus corpus.json \
        --dir .cache/tokenizers [--repeat 3]

Run it on the same machine as bench_tokenizer for a fair comparison.
"""
import argparse
import json
import os
import statistics
import sys
import time

os.environ.setdefault("RAYON_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import tokenizers  # noqa: E402
from tokenizers import Tokenizer  # noqa: E402


def digest(all_ids):
    h = 0xCBF29CE484222325
    mask = (1 << 64) - 1
    for ids in all_ids:
        for v in ids:
            v &= 0xFFFFFFFF
            for b in range(4):
                h ^= (v >> (8 * b)) & 0xFF
                h = (h * 0x100000001B3) & mask
    return h


def bench(path, name, docs, nbytes, repeat):
    loads = []
    tok = None
    for _ in range(5):
        t0 = time.perf_counter()
        tok = Tokenizer.from_file(path)
        loads.append(time.perf_counter() - t0)
    best = float("inf")
    all_ids = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = [tok.encode(d, add_special_tokens=False).ids for d in docs]
        dt = time.perf_counter() - t0
        if dt < best:
            best = dt
        all_ids = out
    n_ids = sum(len(x) for x in all_ids)
    print("%-7s load %7.1f ms (median of 5, min %.1f) | encode %7.2f MB/s (%.2f MB, %d docs, "
          "best of %d, 1 thread) | %d ids, digest %016x   [HF tokenizers %s, Tokenizer.encode]"
          % (name, statistics.median(loads) * 1e3, min(loads) * 1e3, nbytes / best / 1e6,
             nbytes / 1e6, len(docs), repeat, n_ids, digest(all_ids), tokenizers.__version__),
          flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--dir", required=True, help="holds qwen3/ and gemma3/ (tokenizer.json)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--only", default=None)
    a = ap.parse_args()
    with open(a.corpus, encoding="utf-8") as f:
        docs = json.load(f)
    nbytes = sum(len(d.encode("utf-8")) for d in docs)
    for name in ["qwen3", "gemma3"]:
        if a.only and a.only != name:
            continue
        bench(os.path.join(a.dir, name, "tokenizer.json"), name, docs, nbytes, a.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
