#!/usr/bin/env python3
"""Extra tokenizer references for the edge cases the C engine handles specially: Oniguruma's
\\s (U+0085), case folding in (?i:...) (long s, Kelvin sign), NUL, very long runs (whitespace,
digits, one word, newlines past Gemma's longest added token), special tokens glued to text,
byte-fallback characters, NFC singletons and Hangul jamo, Metaspace "first" after a special
token, and whole documents of the benchmark corpus (long words exercise the BPE merge order).

Writes tests/fixtures/tokenizers/<name>_extra.ref.json in tokenizer_refs.py's format for the
tokenizers listed below, with tokenizer_refs.make_refs (transformers 5.17 + tokenizers).

    python3 tools/refgen/tokenizer_extra_refs.py --cache DIR_WITH_qwen3_AND_gemma3 \
        --fixtures tests/fixtures/tokenizers --out OUT_DIR [--corpus corpus.json]
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tokenizer_refs import make_refs  # noqa: E402


def extra_strings(corpus_docs):
    s = [
        "a\x85b", "  \x85  x", "\x85", "x \x85\x85 y", "word\x85\n",
        "IT'ſ a 'ſ 'S", "Kelvin \u212a 'K 'k", "we'\u212aE", "IT'S I'M WE'LL THEY'D",
        "a\x00b", "\x00", "\x00\x00 \x00",
        " " * 3000 + "x", "\n" * 2000, "\t" * 700 + "y", "x" + " \t" * 400 + "\n",
        "1" * 1500, "3.14159" * 100, "a" * 4000, "\u00e9" * 800, "\u4e2d\u6587" * 700,
        "\U0001F600" * 300, "ab" * 2000,
        "x  \n  y", "a \u00a0 b", "a\u2028b\u2029c", "\u3000\u3000x", "\u2000\u200a\u202f\u205f",
        "<|im_start|><|im_end|>", "<|im_start", "<|im_start|>user\n<|vision_start|><|image_pad|>"
        "<|image_pad|><|vision_end|>Describe.<|im_end|>\n<|im_start|>assistant\n",
        "<bos><bos>", "<start_of_turn>model\n", "<unused42> <unused6241>", "<h1>title</h1>",
        "<a> </a>", "a\n\n\n\nb", "\n" * 33 + "x", "\u2581\u2581\u2581a", "\u2581 \u2581",
        "<image_soft_token><start_of_image>x<end_of_image>",
        "\U0001F9FF\U00010348\ue000\U000E0100\ufffd\ufeff", "\U00010348", "\ud7ff\uf8ff",
        "<|im_end|>\u0301", "\u1100\u1161\u11a8 \u1100\u1161", "\u212b \u2126 \u0958 \u0344",
        "\u0915\u093c \u0645\u064e\u0631\u0652", "e\u0301\u0327 \u1e0b\u0323",
        "<s>hello", "hello <s> world", "</s>x", "  <s>  x", "<unk>y",
        "a <ls> b <rs> c <both> d", "word word,word", "Normed here RAW text [tag]",
    ]
    return s + list(corpus_docs[:12])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cache", required=True, help="dir holding qwen3/ and gemma3/")
    ap.add_argument("--fixtures", default="tests/fixtures/tokenizers")
    ap.add_argument("--out", required=True)
    ap.add_argument("--corpus", default=None, help="bench_tokenizer --write-corpus output")
    a = ap.parse_args()
    docs = []
    if a.corpus:
        with open(a.corpus, encoding="utf-8") as f:
            docs = json.load(f)
    texts = extra_strings(docs)
    os.makedirs(a.out, exist_ok=True)
    command = ("python3 tools/refgen/tokenizer_extra_refs.py --cache <.cache/tokenizers> "
               "--fixtures tests/fixtures/tokenizers --out tests/fixtures/tokenizers "
               "--corpus <bench_tokenizer --write-corpus>")
    jobs = [("qwen3", "cache:qwen3", os.path.join(a.cache, "qwen3")),
            ("gemma3", "cache:gemma3", os.path.join(a.cache, "gemma3"))]
    for syn in ["syn_a_nfkc_lower_whitespace_template", "syn_b_metaspace_bytefallback",
                "syn_c_digits_punct_wssplit", "syn_d_split_isolated",
                "syn_d_split_merged_with_next", "syn_e_bytelevel_ignore_merges"]:
        jobs.append((syn, "fixture:" + syn, os.path.join(a.fixtures, syn)))
    failures = 0
    for name, label, d in jobs:
        try:
            make_refs(name + "_extra", label, d, texts, a.out, command)
        except BaseException as e:  # keep going; Rust panics are BaseException
            if isinstance(e, (KeyboardInterrupt, SystemExit)):
                raise
            print("FAILED", name, repr(e), flush=True)
            failures += 1
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
