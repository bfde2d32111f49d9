#!/usr/bin/env python3
"""Chat-template references: prompts rendered by transformers' apply_chat_template(tokenize=False).

For every family under tests/fixtures/templates/<family>/ (the template as the checkpoint ships
it: chat_template.json, chat_template.jinja or tokenizer_config.json), render >= 20
conversations (text only, system prompt, multi-turn, several images, video, image+text mixes,
plain-string and content-list forms, generation prompt on and off, tools where the template
supports them) and write tests/fixtures/templates/<family>/conversations.json:
  {"family", versions, "command", "rendered_with", "template_vars",
   "conversations": [{"messages", "extra", "rendered"} | {"messages", "extra", "error"}]}
"extra" holds every keyword given to apply_chat_template besides the messages
(add_generation_prompt, tools, enable_thinking, add_vision_id, ...); "template_vars" are the
special-token variables the template sees (bos_token, eos_token). Conversations the template
rejects (raise_exception) are kept with "error" so the C engine can be checked to fail too.
"strftime_now_date" is the date strftime_now("%Y-%m-%d") returned during the run.

Qwen3 and Gemma 3 render with their real tokenizers (AutoTokenizer on --cache/<name>); the
other families render through a PreTrainedTokenizerFast built from the Qwen3 tokenizer.json
with the family's template passed as chat_template= and its bos/eos passed as variables,
which is exactly what apply_chat_template does with a checkpoint's own tokenizer.
Usage (repo root): python3 tools/refgen/template_refs.py --cache .cache/tokenizers
"""
import argparse
import copy
import datetime
import json
import os
import sys
import traceback

import jinja2
import tokenizers
import transformers

TDIR = os.path.join("tests", "fixtures", "templates")

# family -> (how the template ships, template variables, capabilities)
FAMILIES = {
    "qwen2_vl": dict(vars={"eos_token": "<|im_end|>"}, caps={"string", "list", "video", "vision_id"}),
    "qwen2_5_vl": dict(vars={"eos_token": "<|im_end|>"}, caps={"string", "list", "video", "vision_id"}),
    "qwen3": dict(vars=None, caps={"string", "tools", "thinking"}),
    "qwen3_vl": dict(vars={"eos_token": "<|im_end|>"}, caps={"string", "list", "video", "vision_id", "tools"}),
    "gemma3": dict(vars=None, caps={"string", "list", "alternate"}),
    "smolvlm": dict(vars={"bos_token": "<|im_start|>", "eos_token": "<end_of_utterance>"}, caps={"list"}),
    "llava": dict(vars={"bos_token": "<s>", "eos_token": "</s>"}, caps={"list"}),
    "mistral3": dict(vars={"bos_token": "<s>", "eos_token": "</s>"}, caps={"string", "list", "tools", "alternate", "mistral_ids"}),
}

TOOLS = [
    {"type": "function", "function": {
        "name": "get_weather", "description": "Get the current weather in a city.",
        "parameters": {"type": "object", "properties": {
            "city": {"type": "string", "description": "City name, e.g. Zürich"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}}, "required": ["city"]}}},
    {"type": "function", "function": {
        "name": "add", "description": "Add two integers.",
        "parameters": {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
                       "required": ["a", "b"]}}},
]


def load_template(family):
    d = os.path.join(TDIR, family)
    p = os.path.join(d, "chat_template.jinja")
    if os.path.exists(p):
        with open(p, encoding="utf-8") as f:
            return f.read(), "chat_template.jinja"
    p = os.path.join(d, "chat_template.json")
    if os.path.exists(p):
        with open(p, encoding="utf-8") as f:
            return json.load(f)["chat_template"], "chat_template.json"
    with open(os.path.join(d, "tokenizer_config.json"), encoding="utf-8") as f:
        return json.load(f)["chat_template"], "tokenizer_config.json"


def T(text):
    return {"type": "text", "text": text}


IMG = {"type": "image"}
VID = {"type": "video"}


def conversations(caps):
    """Return a list of (messages, extra) for a family with the given capabilities."""
    out = []
    L = "list" in caps
    S = "string" in caps

    def u(x):  # user message from text, in the family's preferred form
        return {"role": "user", "content": x if (S and not L) else [T(x)]}

    def a(x):
        return {"role": "assistant", "content": x if S else [T(x)]}

    def s(x):
        return {"role": "system", "content": x if S else [T(x)]}

    for gp in (True, False):
        out.append(([u("Hello! Who are you?")], {"add_generation_prompt": gp}))
        out.append(([s("You are a terse assistant."), u("Name three primes.")], {"add_generation_prompt": gp}))
        out.append(([u("What is 2+2?"), a("4."), u("And 3*3?")], {"add_generation_prompt": gp}))
    out.append(([s("Be kind."), u("Hi"), a("Hello! How can I help?"), u("Tell me a joke."),
                 a("Why did the chicken cross the road?"), u("Why?")], {"add_generation_prompt": True}))
    out.append(([u("Line one\nLine two\n\n  indented\ttab  "), a("  Spaces around  "), u("Ünïcödé 😀 中文")],
                {"add_generation_prompt": True}))
    out.append(([u("Literal tokens: <|im_start|> <image> <start_of_image> [INST] {{ x }} {% raw %}")],
                {"add_generation_prompt": True}))
    out.append(([u("")], {"add_generation_prompt": True}))
    out.append(([u("Hi"), a("Hello.")], {"add_generation_prompt": False}))
    out.append(([u("Hi"), a("Hello.")], {"add_generation_prompt": True}))
    out.append(([u("windows\r\nline endings\r\n")], {"add_generation_prompt": True}))
    out.append(([s("A long system prompt. " * 8), u("Round 1"), a("R1"), u("Round 2"), a("R2"), u("Round 3")],
                {"add_generation_prompt": False}))
    if S and L:  # string system + list user, list system + string user
        out.append(([{"role": "system", "content": "String system."}, {"role": "user", "content": [T("List user.")]}],
                    {"add_generation_prompt": True}))
        out.append(([{"role": "system", "content": [T("List system.")]}, {"role": "user", "content": "String user."}],
                    {"add_generation_prompt": True}))
    if L:
        for gp in (True, False):
            out.append(([{"role": "user", "content": [IMG, T("Describe this image.")]}], {"add_generation_prompt": gp}))
        out.append(([{"role": "user", "content": [T("What is in"), IMG, T("this picture?")]}], {"add_generation_prompt": True}))
        out.append(([{"role": "user", "content": [IMG, IMG, T("Compare the two images.")]}], {"add_generation_prompt": True}))
        out.append(([{"role": "user", "content": [T("First:"), IMG, T("Second:"), IMG, T("Third:"), IMG, T("Which is brightest?")]}],
                    {"add_generation_prompt": True}))
        out.append(([s("You describe images."), {"role": "user", "content": [IMG, T("What colour dominates?")]},
                     {"role": "assistant", "content": [T("Mostly blue.")]},
                     {"role": "user", "content": [IMG, T("And in this one?")]}], {"add_generation_prompt": True}))
        out.append(([{"role": "user", "content": [T("Two text parts, "), T("no image.")]}], {"add_generation_prompt": True}))
        out.append(([{"role": "user", "content": [{"type": "image", "image": "file:///tmp/a.jpg"}, T("With an image key.")]}],
                    {"add_generation_prompt": True}))
        out.append(([{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "http://x/y.png"}}, T("image_url item.")]}],
                    {"add_generation_prompt": True}))
        out.append(([{"role": "user", "content": [IMG, T("  padded text  ")]}, {"role": "assistant", "content": [T("  padded answer  ")]}],
                    {"add_generation_prompt": False}))
    if "video" in caps:
        out.append(([{"role": "user", "content": [VID, T("What happens in this video?")]}], {"add_generation_prompt": True}))
        out.append(([{"role": "user", "content": [VID, T("no generation prompt")]}], {"add_generation_prompt": False}))
        out.append(([{"role": "user", "content": [IMG, VID, IMG, T("Images and a video.")]}], {"add_generation_prompt": True}))
        out.append(([{"role": "user", "content": [{"type": "video", "video": "clip.mp4"}, T("video key")]}], {"add_generation_prompt": True}))
    if "vision_id" in caps:
        out.append(([{"role": "user", "content": [IMG, IMG, VID, T("Label them.")]},
                     {"role": "assistant", "content": [T("Done.")]}, {"role": "user", "content": [IMG, VID, T("More.")]}],
                    {"add_generation_prompt": True, "add_vision_id": True}))
        out.append(([{"role": "user", "content": [IMG, T("vision id off explicitly")]}],
                    {"add_generation_prompt": True, "add_vision_id": False}))
    if "thinking" in caps:
        out.append(([u("Think about 17*23.")], {"add_generation_prompt": True, "enable_thinking": False}))
        out.append(([u("Think about 17*23.")], {"add_generation_prompt": True, "enable_thinking": True}))
        out.append(([u("Q1"), {"role": "assistant", "content": "<think>\nreasoning one\n</think>\n\nA1"}, u("Q2")],
                    {"add_generation_prompt": True}))
        out.append(([u("Q1"), {"role": "assistant", "content": "A1", "reasoning_content": "hidden thoughts"}, u("Q2"),
                     {"role": "assistant", "content": "<think>\nlast thoughts\n</think>\n\nA2"}], {"add_generation_prompt": False}))
    if "tools" in caps:
        tc_id = "call0abc12345"
        out.append(([u("What's the weather in Zürich?")], {"add_generation_prompt": True, "tools": TOOLS}))
        out.append(([s("You can use tools."), u("Add 2 and 3.")], {"add_generation_prompt": True, "tools": TOOLS}))
        call = {"role": "assistant", "content": "",
                "tool_calls": [{"id": tc_id, "type": "function",
                                "function": {"name": "add", "arguments": {"a": 2, "b": 3}}}]}
        res = {"role": "tool", "tool_call_id": tc_id, "name": "add", "content": "5"}
        out.append(([u("Add 2 and 3."), call, res], {"add_generation_prompt": True, "tools": TOOLS}))
        call2 = {"role": "assistant", "content": "",
                 "tool_calls": [{"id": "callW0000001", "type": "function",
                                 "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}},
                                {"id": "callW0000002", "type": "function",
                                 "function": {"name": "get_weather", "arguments": {"city": "Rome", "unit": "celsius"}}}]}
        out.append(([u("Weather in Paris and Rome?"), call2,
                     {"role": "tool", "tool_call_id": "callW0000001", "content": "{\"temp\": 18}"},
                     {"role": "tool", "tool_call_id": "callW0000002", "content": "{\"temp\": 24}"}],
                    {"add_generation_prompt": True, "tools": TOOLS}))
    if "alternate" in caps:  # templates that reject non-alternating roles: keep one failing case
        out.append(([u("one"), u("two")], {"add_generation_prompt": True}))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cache", required=True, help="dir holding qwen3/ and gemma3/ tokenizers")
    ap.add_argument("--families", default=",".join(FAMILIES))
    args = ap.parse_args()
    command = "python3 tools/refgen/template_refs.py --cache <.cache/tokenizers>"
    base = transformers.AutoTokenizer.from_pretrained(os.path.join(args.cache, "qwen3"))
    failures = 0
    for fam in args.families.split(","):
        try:
            spec = FAMILIES[fam]
            tpl, shipped_as = load_template(fam)
            if spec["vars"] is None:
                tok = transformers.AutoTokenizer.from_pretrained(os.path.join(args.cache, fam))
                if tok.chat_template != tpl:
                    print("WARNING: %s: the tokenizer's own chat_template differs from the committed one; "
                          "rendering with the committed one" % fam, flush=True)
                tvars = {k: getattr(tok, k, None) for k in ("bos_token", "eos_token")}
                how = "AutoTokenizer.from_pretrained(cache/%s) (%s)" % (fam, type(tok).__name__)
                kw_vars = {}
            else:
                tok = base
                tvars = dict(spec["vars"])
                kw_vars = dict(spec["vars"])
                how = ("AutoTokenizer.from_pretrained(cache/qwen3) (%s).apply_chat_template(chat_template=<%s>, "
                       "**template_vars)" % (type(tok).__name__, shipped_as))
            convs = []
            n_ok = 0
            for msgs, extra in conversations(spec["caps"]):
                date = datetime.datetime.now().strftime("%Y-%m-%d")
                rec = {"messages": msgs, "extra": extra}
                try:
                    kw = dict(extra)
                    kw.update(kw_vars)
                    r = tok.apply_chat_template(copy.deepcopy(msgs), chat_template=tpl, tokenize=False, **kw)
                    rec["rendered"] = r
                    n_ok += 1
                except Exception as e:
                    rec["error"] = "%s: %s" % (type(e).__name__, e)
                if "strftime_now" in tpl:
                    rec["strftime_now_date"] = date
                convs.append(rec)
            out = {"family": fam, "template_file": shipped_as,
                   "transformers_version": transformers.__version__,
                   "tokenizers_version": tokenizers.__version__, "jinja2_version": jinja2.__version__,
                   "command": command, "rendered_with": how, "template_vars": tvars,
                   "conversations": convs}
            with open(os.path.join(TDIR, fam, "conversations.json"), "w", encoding="utf-8") as f:
                json.dump(out, f, ensure_ascii=False, indent=1)
                f.write("\n")
            print("%s: %d conversations, %d rendered, %d errors (%s)" % (fam, len(convs), n_ok, len(convs) - n_ok, how),
                  flush=True)
            if n_ok < 20:
                print("WARNING: %s has fewer than 20 rendered conversations" % fam)
        except Exception:
            traceback.print_exc()
            failures += 1
    print("template_refs: %d failures" % failures)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
