#!/usr/bin/env python3
"""Tokenizer references: token ids and decodes from Hugging Face `tokenizers` and transformers.

Writes tests/fixtures/tokenizers/<name>.ref.json for the real Qwen3 and Gemma 3 tokenizers
(read from a directory given on the command line, normally .cache/tokenizers/) and for small
synthetic tokenizers that this script trains with the `tokenizers` library and saves under
tests/fixtures/tokenizers/<name>/tokenizer.json. Each synthetic one exercises pipeline pieces
the real ones lack (NFKC/Lowercase/Whitespace/TemplateProcessing, Metaspace+byte_fallback,
Digits/Punctuation/WhitespaceSplit, Split behaviours and added-token flags, ByteLevel with
ignore_merges). tokenizers >= 0.20 saves merges as pairs even when they were loaded as
"a b" strings, so the legacy-format fixture is derived afterwards by make_legacy_merges.py).

ref.json = {"tokenizer": "cache:qwen3" | "fixture:<dir>", versions, "command",
            "transformers_class", "transformers_matches_tokenizers": bool,
            "cases": [{"text", "ids", "ids_special", "decode", "decode_skip_special"}]}
ids/ids_special come from transformers (add_special_tokens False/True); decode and
decode_skip_special are tokenizers.Tokenizer.decode(ids_special, skip_special_tokens=...).
Where transformers and the raw tokenizers library disagree, the case also carries
"ids_tokenizers"/"ids_special_tokenizers" (raw library) and/or "decode_transformers*".

Needs torch-free transformers 5.x and tokenizers. Usage (repo root):
    python3 tools/refgen/tokenizer_refs.py --cache DIR_WITH_qwen3_AND_gemma3 --out tests/fixtures/tokenizers
"""
import argparse
import hashlib
import json
import os
import sys
import traceback

import tokenizers
from tokenizers import Tokenizer, Regex, AddedToken
from tokenizers import models, normalizers, pre_tokenizers, decoders, processors, trainers
import transformers


def load_strings(out_dir):
    with open(os.path.join(out_dir, "strings.json"), encoding="utf-8") as f:
        return json.load(f)


def safe_decode(raw, ids, skip):
    """tokenizers' decode; a Rust panic (e.g. the Strip decoder on a 1-char token) is recorded
    as the string "ERROR: PanicException" instead of killing the run."""
    try:
        return raw.decode(ids, skip_special_tokens=skip)
    except BaseException as e:
        if isinstance(e, (KeyboardInterrupt, SystemExit)):
            raise
        return "ERROR: %s" % (type(e).__name__,)


def load_transformers_tok(tok_dir, tok_file):
    """AutoTokenizer when the dir has a tokenizer_config.json, else PreTrainedTokenizerFast."""
    if os.path.exists(os.path.join(tok_dir, "tokenizer_config.json")):
        return transformers.AutoTokenizer.from_pretrained(tok_dir)
    try:
        return transformers.PreTrainedTokenizerFast(tokenizer_file=tok_file)
    except Exception:
        traceback.print_exc()
        return transformers.AutoTokenizer.from_pretrained(tok_dir)


def make_refs(name, label, tok_dir, texts, out_dir, command):
    tok_file = os.path.join(tok_dir, "tokenizer.json")
    raw = Tokenizer.from_file(tok_file)
    hf = load_transformers_tok(tok_dir, tok_file)
    cases = []
    n_mis = 0
    for t in texts:
        c = {"text": t}
        ids = list(hf.encode(t, add_special_tokens=False))
        ids_sp = list(hf.encode(t, add_special_tokens=True))
        r_ids = raw.encode(t, add_special_tokens=False).ids
        r_sp = raw.encode(t, add_special_tokens=True).ids
        c["ids"] = ids
        c["ids_special"] = ids_sp
        c["decode"] = safe_decode(raw, ids_sp, False)
        c["decode_skip_special"] = safe_decode(raw, ids_sp, True)
        mis = False
        if r_ids != ids:
            c["ids_tokenizers"] = r_ids
            mis = True
        if r_sp != ids_sp:
            c["ids_special_tokenizers"] = r_sp
            mis = True
        try:
            d1 = hf.decode(ids_sp, skip_special_tokens=False)
            d2 = hf.decode(ids_sp, skip_special_tokens=True)
        except BaseException as e:  # recorded, not fatal (Rust panics are BaseException)
            if isinstance(e, (KeyboardInterrupt, SystemExit)):
                raise
            d1 = d2 = "ERROR: %s" % (type(e).__name__,)
        if d1 != c["decode"]:
            c["decode_transformers"] = d1
            mis = True
        if d2 != c["decode_skip_special"]:
            c["decode_skip_special_transformers"] = d2
            mis = True
        n_mis += mis
        cases.append(c)
    with open(tok_file, "rb") as f:
        sha = hashlib.sha256(f.read()).hexdigest()
    ref = {
        "tokenizer": label,
        "tokenizer_json_sha256": sha,
        "transformers_version": transformers.__version__,
        "tokenizers_version": tokenizers.__version__,
        "command": command,
        "transformers_class": type(hf).__name__,
        "transformers_matches_tokenizers": n_mis == 0,
        "mismatching_cases": n_mis,
        "notes": "ids/ids_special: transformers encode(add_special_tokens=False/True); decode*: "
                 "tokenizers.Tokenizer.decode(ids_special, skip_special_tokens=False/True). "
                 "*_tokenizers / *_transformers keys appear only where the two libraries differ.",
        "cases": cases,
    }
    path = os.path.join(out_dir, name + ".ref.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(ref, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")
    print("%s: %d cases, %d mismatching transformers vs tokenizers, class %s -> %s"
          % (name, len(cases), n_mis, type(hf).__name__, path), flush=True)


# ---------------------------------------------------------------- synthetic tokenizers

def corpus(texts):
    base = [t for t in texts if t]
    return base * 3 + [
        "the of and to in is that for it as was with be by on not he this are or his from at",
        "tokenization is the process of splitting text into smaller units called tokens",
        "byte pair encoding merges the most frequent pair of symbols repeatedly",
    ] * 20


def set_model_json(tok, **fields):
    """Return a new Tokenizer with fields of the model's JSON replaced (e.g. ignore_merges)."""
    d = json.loads(tok.to_str())
    d["model"].update(fields)
    return Tokenizer.from_str(json.dumps(d))


def merges_to_strings(tok):
    """Rewrite merges from the pair format [["a","b"],...] to the legacy "a b" strings."""
    d = json.loads(tok.to_str())
    m = d["model"]["merges"]
    if m and isinstance(m[0], list):
        assert all(" " not in a and " " not in b for a, b in m)
        d["model"]["merges"] = ["%s %s" % (a, b) for a, b in m]
    return Tokenizer.from_str(json.dumps(d))


def add_byte_tokens(tok):
    """Append <0x00>..<0xFF> to the model vocab (as SentencePiece conversions do)."""
    d = json.loads(tok.to_str())
    vocab = d["model"]["vocab"]
    nxt = max(vocab.values()) + 1
    # added tokens also occupy ids: skip past them
    for a in d.get("added_tokens", []):
        nxt = max(nxt, a["id"] + 1)
    for b in range(256):
        t = "<0x%02X>" % b
        if t not in vocab:
            vocab[t] = nxt
            nxt += 1
    return Tokenizer.from_str(json.dumps(d))


def syn_a(texts):
    """NFKC + Lowercase, Whitespace pre-tokenizer, [CLS]/[SEP] TemplateProcessing, no decoder.
    (merges_to_strings only checks they can be written as strings: save() writes pairs again.)"""
    tok = Tokenizer(models.BPE(unk_token="[UNK]"))
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tr = trainers.BpeTrainer(vocab_size=600, min_frequency=2, limit_alphabet=150,
                             special_tokens=["[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]"],
                             show_progress=False)
    tok.train_from_iterator(corpus(texts), tr)
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    return merges_to_strings(tok)


def syn_b(texts):
    """SentencePiece-like: NFD + Strip + Replace normalizers, Metaspace (prepend_scheme first),
    BPE with byte_fallback, decoders ByteFallback + Fuse + Metaspace, <s> TemplateProcessing."""
    tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    tok.normalizer = normalizers.Sequence([
        normalizers.NFD(), normalizers.Strip(left=True, right=True),
        normalizers.Replace(Regex(" {2,}"), " "), normalizers.Replace("``", "\"")])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="first", split=True)
    tr = trainers.BpeTrainer(vocab_size=700, min_frequency=2, limit_alphabet=80,
                             special_tokens=["<unk>", "<s>", "</s>"], show_progress=False)
    tok.train_from_iterator(corpus(texts), tr)
    tok.decoder = decoders.Sequence([decoders.ByteFallback(), decoders.Fuse(),
                                     decoders.Metaspace(replacement="\u2581", prepend_scheme="first", split=True)])
    tok = add_byte_tokens(tok)
    tok = set_model_json(tok, byte_fallback=True, unk_token="<unk>", fuse_unk=True)
    s = tok.token_to_id("<s>")
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B:1", special_tokens=[("<s>", s)])
    return tok


def syn_c(texts):
    """Digits(individual_digits) + Punctuation + WhitespaceSplit, merges in pair format,
    decoders Replace + Strip."""
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.Punctuation(behavior="isolated")])
    tr = trainers.BpeTrainer(vocab_size=500, min_frequency=2, limit_alphabet=200,
                             special_tokens=["<unk>", "<eos>"], show_progress=False)
    tok.train_from_iterator(corpus(texts), tr)
    # Strip(right=1) makes tokenizers 0.23 panic on a lone " " token, so strip the left only
    tok.decoder = decoders.Sequence([decoders.Replace("_", " "), decoders.Strip(content=" ", left=1, right=0)])
    eos = tok.token_to_id("<eos>")
    tok.post_processor = processors.TemplateProcessing(
        single="$A <eos>", pair="$A <eos> $B:1 <eos>:1", special_tokens=[("<eos>", eos)])
    return tok


D_BEHAVIORS = [("removed", False), ("isolated", False), ("merged_with_previous", False),
               ("merged_with_next", False), ("contiguous", False), ("isolated", True)]


def syn_d(texts, behavior, invert):
    """Split pre-tokenizer (regex) with one behaviour, Prepend+Replace normalizers, and added
    tokens with lstrip/rstrip/single_word/normalized variations."""
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.normalizer = normalizers.Sequence([normalizers.Prepend("\u2581"), normalizers.Replace(" ", "\u2581")])
    pat = Regex(r"[\p{P}\p{S}]+|\d+") if not invert else Regex(r"\p{L}+")
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(pat, behavior=behavior, invert=invert),
        pre_tokenizers.Split("\u2581", behavior="merged_with_next")])
    tr = trainers.BpeTrainer(vocab_size=400, min_frequency=2, limit_alphabet=200,
                             special_tokens=["<unk>", "<bos>"], show_progress=False)
    tok.train_from_iterator(corpus(texts), tr)
    tok.decoder = decoders.Sequence([decoders.Replace("\u2581", " "), decoders.Strip(content=" ", left=1, right=0)])
    tok.add_special_tokens([
        AddedToken("<ls>", lstrip=True, special=True),
        AddedToken("<rs>", rstrip=True, special=True),
        AddedToken("<both>", lstrip=True, rstrip=True, special=True, normalized=False),
    ])
    tok.add_tokens([
        AddedToken("word", single_word=True, special=False),
        AddedToken("Normed here", normalized=True, special=False),
        AddedToken("RAW text", normalized=False, special=False),
        AddedToken("[tag]", special=False),
    ])
    bos = tok.token_to_id("<bos>")
    tok.post_processor = processors.TemplateProcessing(
        single="<bos> $A", pair="<bos> $A $B:1", special_tokens=[("<bos>", bos)])
    return tok


D_EXTRA = ["a <ls> b", "a<ls>b", "a   <ls>   b", "x <rs>   y", "x<rs>y", " <both> ", "p  <both>  q",
           "word", "a word here", "words sword wordy", "word.word", "(word)", "Normed here",
           "Normed  here", "normed here", "RAW text", "RAW  text", "xRAW text", "[tag][tag]",
           "<ls><rs><both>", "12,345.67 dollars!", "hello...world??", "a-b-c 1-2-3"]


def syn_e(texts):
    """ByteLevel (add_prefix_space, regex) pre-tokenizer/decoder/post-processor, BPE with
    ignore_merges=True."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True, use_regex=True)
    tr = trainers.BpeTrainer(vocab_size=800, min_frequency=2, special_tokens=["<|end|>"],
                             initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(corpus(texts), tr)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=True)
    return set_model_json(tok, ignore_merges=True)


def build_synthetic(texts, out_dir):
    """Yield (name, dir, extra_texts)."""
    specs = [("syn_a_nfkc_lower_whitespace_template", lambda: syn_a(texts), []),
             ("syn_b_metaspace_bytefallback", lambda: syn_b(texts), ["  spaced  out  ", "``quoted''", "é"]),
             ("syn_c_digits_punct_wssplit", lambda: syn_c(texts), ["a_b_c", "12345 6.7"])]
    for beh, inv in D_BEHAVIORS:
        nm = "syn_d_split_%s%s" % (beh, "_invert" if inv else "")
        specs.append((nm, (lambda b=beh, i=inv: syn_d(texts, b, i)), D_EXTRA))
    specs.append(("syn_e_bytelevel_ignore_merges", lambda: syn_e(texts), []))
    for name, fn, extra in specs:
        d = os.path.join(out_dir, name)
        os.makedirs(d, exist_ok=True)
        try:
            tok = fn()
            tok.save(os.path.join(d, "tokenizer.json"), pretty=False)
        except Exception:
            traceback.print_exc()
            yield name, None, None
            continue
        yield name, d, extra


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cache", required=True, help="dir holding qwen3/ and gemma3/")
    ap.add_argument("--out", default="tests/fixtures/tokenizers")
    a = ap.parse_args()
    command = "python3 tools/refgen/tokenizer_refs.py --cache <.cache/tokenizers> --out " + a.out
    texts = load_strings(a.out)
    failures = 0
    for real in ["qwen3", "gemma3"]:
        try:
            make_refs(real, "cache:" + real, os.path.join(a.cache, real), texts, a.out, command)
        except Exception:
            traceback.print_exc()
            failures += 1
    try:
        for name, d, extra in build_synthetic(texts, a.out):
            if d is None:
                print("BUILD FAILED:", name, flush=True)
                failures += 1
                continue
            try:
                make_refs(name, "fixture:" + name, d, texts + extra, a.out, command)
            except BaseException:
                traceback.print_exc()
                failures += 1
    except Exception:
        traceback.print_exc()
        failures += 1
    print("tokenizer_refs: %d failures" % failures)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
