#!/usr/bin/env python3
"""Renders the real chat templates cached in .cache/tokenizers/{qwen3,gemma3} with jinja2,
set up as transformers' apply_chat_template sets it up, over a set of conversations, and
writes tests/fixtures/jinja/real_templates.json for tests/test_chat_template.c.

The templates themselves are not copied into the fixture (they come from the cache at test
time); the fixture records their SHA-256 so a changed cache is detected rather than
reported as a rendering difference.

transformers is not needed: the environment is built as transformers builds it (see
tools/refgen/jinja_cases.py) and the variables are what apply_chat_template passes:
messages, tools (None unless given), documents (None), add_generation_prompt (False unless
given), the tokenizer's special tokens (bos_token, eos_token, unk_token, sep_token,
pad_token, cls_token, mask_token when set and non-empty, additional_special_tokens) and any
other keyword argument. The reference made with transformers itself is the refgen helper's
tests/fixtures/templates/<family>/conversations.json (tests/test_chat_template_ref.c).

Usage: /usr/bin/python3 tools/refgen/chat_template_cases.py [CACHE_DIR]
"""
import hashlib
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from jinja_cases import FIXED_NOW, make_env  # noqa: E402

SPECIAL = ["bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token",
           "mask_token"]


def special_tokens(cfg):
    out = {}
    for k in SPECIAL:
        v = cfg.get(k)
        if isinstance(v, dict):
            v = v.get("content")
        if v:
            out[k] = v
    add = cfg.get("additional_special_tokens")
    if add:
        out["additional_special_tokens"] = [a["content"] if isinstance(a, dict) else a for a in add]
    return out


CALL_ARGS = {"continue_final_message", "tokenize", "padding", "truncation", "max_length",
             "return_tensors", "return_dict", "return_assistant_tokens_mask",
             "tokenizer_kwargs", "chat_template"}


def apply_chat_template(env, template, cfg, messages, extra):
    kwargs = {k: v for k, v in extra.items() if k not in CALL_ARGS}
    variables = {**special_tokens(cfg), "messages": messages, "tools": None, "documents": None,
                 "add_generation_prompt": False}
    variables.update(kwargs)
    rendered = env.from_string(template).render(**variables)
    if extra.get("continue_final_message"):
        final = messages[-1]["content"]
        if isinstance(final, (list, tuple)):
            final = next(b["text"] for b in reversed(final) if "text" in b)
        loc = rendered.rindex(final.strip())
        if rendered[loc: loc + len(final.lstrip())] == final:
            rendered = rendered[: loc + len(final.lstrip())]
        else:
            rendered = rendered[: loc + len(final.strip())]
    return rendered


def U(text):
    return {"role": "user", "content": text}


def A(text, **kw):
    return {"role": "assistant", "content": text, **kw}


def S(text):
    return {"role": "system", "content": text}


WEATHER_TOOL = {"type": "function", "function": {
    "name": "get_weather", "description": "Get the current weather in a city.",
    "parameters": {"type": "object", "properties": {
        "city": {"type": "string", "description": "City name, e.g. Zürich"},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
        "required": ["city"]}}}
TIME_TOOL = {"type": "function", "function": {
    "name": "get_time", "description": "Current time", "parameters": {"type": "object", "properties": {}}}}

QWEN3 = [
    ("text", [U("Hello!")], {}),
    ("text_gen", [U("Hello!")], {"add_generation_prompt": True}),
    ("system", [S("You are a pirate."), U("Hi")], {"add_generation_prompt": True}),
    ("multi_turn", [U("Hi"), A("Hello! How can I help?"), U("Tell me a joke.")], {"add_generation_prompt": True}),
    ("multi_turn_no_gen", [S("Be brief."), U("2+2?"), A("4"), U("And 3+3?"), A("6")], {}),
    ("thinking_off", [U("Quick answer: capital of France?")], {"add_generation_prompt": True, "enable_thinking": False}),
    ("thinking_on", [U("Think hard.")], {"add_generation_prompt": True, "enable_thinking": True}),
    ("think_inline_last", [U("What is 1+1?"), A("<think>\nSimple arithmetic.\n</think>\n\n2")], {}),
    ("think_inline_history", [U("1+1?"), A("<think>\nadd\n</think>\n\n2"), U("2+2?")], {"add_generation_prompt": True}),
    ("reasoning_content_field", [U("Why?"), A("Because.", reasoning_content="Let me think.")], {}),
    ("reasoning_none", [U("x"), A("y", reasoning_content=None)], {}),
    ("tools", [U("Weather in Paris?")], {"add_generation_prompt": True, "tools": [WEATHER_TOOL, TIME_TOOL]}),
    ("tools_system", [S("Use tools wisely."), U("Time?")], {"add_generation_prompt": True, "tools": [TIME_TOOL]}),
    ("tool_calls", [U("Weather in Paris?"),
                    A("", tool_calls=[{"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}}}]),
                    {"role": "tool", "content": "{\"temp\": 21}"}],
     {"add_generation_prompt": True, "tools": [WEATHER_TOOL]}),
    ("tool_calls_string_args", [U("Two cities"),
                                A("Checking.", tool_calls=[{"type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Oslo\"}"}},
                                                           {"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Río"}}}]),
                                {"role": "tool", "content": "cold"}, {"role": "tool", "content": "warm"},
                                A("Oslo is cold, Río is warm.")],
     {"tools": [WEATHER_TOOL]}),
    ("tool_response_user_like", [U("<tool_response>\nx\n</tool_response>"), A("ok")], {}),
    ("unicode", [U("Grüße, 世界! 😀 — \"quotes\" & <tags>\ttab"), A("¡Hola! ñ 👍🏽")], {"add_generation_prompt": True}),
    ("empty_content", [U(""), A("")], {}),
    ("system_not_first", [U("a"), S("late system"), U("b")], {"add_generation_prompt": True}),
    ("long", [U("word " * 500)], {"add_generation_prompt": True}),
    ("newlines", [U("line1\n\nline2\n"), A("\n\nanswer\n")], {}),
    ("extra_kwarg_unused", [U("hi")], {"add_generation_prompt": True, "custom_flag": 7}),
    ("continue_final", [U("Write a poem"), A("Roses are red,")], {"continue_final_message": True}),
    ("content_list_error", [{"role": "user", "content": [{"type": "text", "text": "hi"}]}], {}),
]

IMG = {"type": "image"}
IMG_URL = {"type": "image", "url": "https://example.com/cat.png"}


def T(text):
    return {"type": "text", "text": text}


GEMMA3 = [
    ("text", [U("Hello!")], {}),
    ("text_gen", [U("Hello!")], {"add_generation_prompt": True}),
    ("system_string", [S("You are terse."), U("Hi")], {"add_generation_prompt": True}),
    ("system_list", [{"role": "system", "content": [T("Answer in French.")]}, U("Hi")], {"add_generation_prompt": True}),
    ("multi_turn", [U("Hi"), A("Hello!"), U("Bye")], {"add_generation_prompt": True}),
    ("multi_turn_no_gen", [U("Hi"), A("Hello!")], {}),
    ("image_text", [{"role": "user", "content": [IMG, T("Describe this image.")]}], {"add_generation_prompt": True}),
    ("image_url", [{"role": "user", "content": [IMG_URL, T("What is it?")]}], {"add_generation_prompt": True}),
    ("two_images", [{"role": "user", "content": [IMG, IMG, T("Compare them.")]}], {"add_generation_prompt": True}),
    ("text_then_image", [{"role": "user", "content": [T("Look:"), IMG, T("  and tell me.  ")]}], {"add_generation_prompt": True}),
    ("video_part_skipped", [{"role": "user", "content": [{"type": "video"}, T("What happens?")]}], {"add_generation_prompt": True}),
    ("system_and_image", [S("Be precise."), {"role": "user", "content": [IMG, T("Count the cats.")]}], {"add_generation_prompt": True}),
    ("assistant_list", [{"role": "user", "content": [IMG, T("Hi")]}, {"role": "assistant", "content": [T("A cat.")]}, U("Sure?")], {"add_generation_prompt": True}),
    ("trim", [U("   spaced out   "), A("\n answer \n")], {}),
    ("unicode", [U("日本語のテキスト 😀"), A("Ünïcödé")], {"add_generation_prompt": True}),
    ("empty_text", [U("")], {"add_generation_prompt": True}),
    ("many_turns", [U("1"), A("2"), U("3"), A("4"), U("5"), A("6"), U("7")], {"add_generation_prompt": True}),
    ("image_only", [{"role": "user", "content": [IMG]}], {"add_generation_prompt": True}),
    ("system_multi_image", [{"role": "system", "content": [T("Sys")]}, {"role": "user", "content": [IMG, T("a"), IMG, T("b")]}], {}),
    ("special_chars", [U("<start_of_turn> & <end_of_turn> \"quoted\"")], {"add_generation_prompt": True}),
    ("continue_final", [U("Finish: the quick brown"), A("fox jumps")], {"continue_final_message": True}),
    ("continue_final_list", [U("Go on"), {"role": "assistant", "content": [T("Once upon")]}], {"continue_final_message": True}),
    ("roles_not_alternating", [U("a"), U("b")], {}),
    ("assistant_first", [A("hi")], {}),
    ("content_number_error", [{"role": "user", "content": 5}], {}),
]

FAMILIES = {"qwen3": QWEN3, "gemma3": GEMMA3}


def main():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    cache = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, ".cache")
    env = make_env()
    out = {"generator": "tools/refgen/chat_template_cases.py", "now": FIXED_NOW, "tz": "UTC",
           "families": []}
    for family, convs in FAMILIES.items():
        cfg_path = os.path.join(cache, "tokenizers", family, "tokenizer_config.json")
        with open(cfg_path, encoding="utf-8") as f:
            cfg = json.load(f)
        template = cfg["chat_template"]
        entries = []
        for name, messages, extra in convs:
            entry = {"name": name, "messages": messages, "extra": extra}
            try:
                entry["rendered"] = apply_chat_template(env, template, cfg, messages, extra)
            except Exception as e:
                entry["error"] = f"{type(e).__name__}: {e}"
            entries.append(entry)
        out["families"].append({
            "family": family,
            "dir": f"tokenizers/{family}",
            "template_sha256": hashlib.sha256(template.encode("utf-8")).hexdigest(),
            "conversations": entries,
        })
        print(f"{family}: {len(entries)} conversations "
              f"({sum('error' in e for e in entries)} expect an error)")
    path = os.path.join(root, "tests", "fixtures", "jinja", "real_templates.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
