#!/usr/bin/env python3
"""Derive a legacy-merges variant of a synthetic tokenizer (plain Python, no HF software).

tokenizers >= 0.20 always saves BPE merges as pairs [["a", "b"], ...]; older files (and many
checkpoints on the Hub) store them as "a b" strings, which tokenizers still reads as the same
merges. This rewrites tests/fixtures/tokenizers/syn_a_nfkc_lower_whitespace_template/
tokenizer.json with string merges into syn_a_legacy_merges/ and copies its ref.json (same ids:
only the serialization of the merges differs), marking it as derived.
Usage (repo root): /usr/bin/python3 tools/refgen/make_legacy_merges.py
"""
import json
import os

D = os.path.join("tests", "fixtures", "tokenizers")
SRC = "syn_a_nfkc_lower_whitespace_template"
DST = "syn_a_legacy_merges"


def main():
    with open(os.path.join(D, SRC, "tokenizer.json"), encoding="utf-8") as f:
        tok = json.load(f)
    merges = tok["model"]["merges"]
    assert all(isinstance(m, list) and len(m) == 2 and " " not in m[0] + m[1] for m in merges)
    tok["model"]["merges"] = ["%s %s" % (a, b) for a, b in merges]
    os.makedirs(os.path.join(D, DST), exist_ok=True)
    with open(os.path.join(D, DST, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tok, f, ensure_ascii=False, separators=(",", ":"))
    with open(os.path.join(D, SRC + ".ref.json"), encoding="utf-8") as f:
        ref = json.load(f)
    ref["tokenizer"] = "fixture:" + DST
    ref["derived_from"] = ("fixture:%s: the same tokenizer with merges rewritten from pairs to legacy 'a b' "
                           "strings by tools/refgen/make_legacy_merges.py; ids and decodes are those HF "
                           "produced for %s (this file was not re-run through HF)" % (SRC, SRC))
    ref.pop("tokenizer_json_sha256", None)
    with open(os.path.join(D, DST + ".ref.json"), "w", encoding="utf-8") as f:
        json.dump(ref, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")
    print(len(merges), "merges ->", DST)


if __name__ == "__main__":
    main()
