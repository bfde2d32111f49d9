#!/usr/bin/env python3
"""Write tests/fixtures/tokenizers/strings.json: the tokenizer test corpus (>= 200 strings).

Plain Python (no dependencies). The strings cover many scripts, emoji (ZWJ, skin tones, flags,
keycaps), combining marks (NFC and NFD forms), fullwidth forms, whitespace runs, CRLF, tabs,
code, numbers, URLs, special tokens written inline (whole and partial), the empty string and
long/repetitive inputs. tokenizer_refs.py encodes every string with every tokenizer.
Run: /usr/bin/python3 tools/refgen/make_strings.py
"""
import json
import os
import unicodedata

S = []


def add(*xs):
    S.extend(xs)


# --- edge cases
add("", " ", "  ", "   ", "\t", "\n", "\r\n", "\n\n\n", " \n ", "\t\t  \t", "a", "A", ".", "0", "'",
    "\u00a0", "\u3000", "\u200b", "\ufeff", "\u2028")
# --- Latin / English
add("Hello, world!", "hello world", "Hello World", "HELLO WORLD", " leading space", "trailing space ",
    "  both  ", "multiple   internal    spaces", "tab\tseparated\tvalues", "line one\nline two",
    "windows\r\nline\r\nendings\r\n", "mixed \r\n\t \n whitespace", "It's we've they're I'm you'll he'd",
    "IT'S WE'VE THEY'RE", "don't can't won't", "The quick brown fox jumps over the lazy dog.",
    "a-b_c.d/e\\f|g", "(parentheses) [brackets] {braces} <angles>", "!!!???...,,,;;;:::",
    "email@example.com", "#hashtag @mention $dollar %percent ^caret &amp *star", "~`=+-_",
    "CamelCaseIdentifierName", "snake_case_identifier_name", "kebab-case-identifier-name")
# --- accented Latin, precomposed and decomposed
add("café", "naïve résumé", "Ångström", "Zürich Straße", "façade coöperate", "¿Qué tal? ¡Bien!",
    "Příliš žluťoučký kůň úpěl ďábelské ódy", "Łódź Gdańsk Kraków", "İstanbul ışık ğüşöç",
    "Đà Nẵng Việt Nam tiếng Việt", "ﬁ ﬂ ﬀ ligatures", "Æsir Ørsted Œuvre")
for w in ["café", "naïve", "Ångström", "Việt", "ñandú", "Åland"]:
    add(unicodedata.normalize("NFD", w))
add("e\u0301\u0301 double acute", "a\u0308\u0304 stacked", "Z\u0351\u0352\u0357\u035b\u0306\u0327 zalgo",
    "\u0301 leading combining", "x\u20dd enclosing circle")
# --- other scripts
add("Привет, мир! Как дела?", "ЁЛКИ-ПАЛКИ ёжик", "Καλημέρα κόσμε, ΑΘΗΝΑ", "ς σ Σ final sigma",
    "مرحبا بالعالم", "السَّلَامُ عَلَيْكُمْ", "العربية ١٢٣٤٥٦٧٨٩٠", "שלום עולם", "עִבְרִית מְנֻקֶּדֶת",
    "नमस्ते दुनिया", "हिन्दी में लिखा गया वाक्य।", "ক্ষ বাংলা ভাষা", "தமிழ் மொழி", "สวัสดีชาวโลก",
    "ภาษาไทยไม่มีช่องว่างระหว่างคำ", "你好，世界！", "中文分词测试：我爱北京天安门。", "繁體中文測試",
    "こんにちは世界", "カタカナとひらがなと漢字", "ｶﾀｶﾅ半角", "안녕하세요 세계", "한국어 문장입니다.",
    "\u1100\u1161\u11a8 conjoining jamo", "ᚠᛇᚻ runes", "ⴰⵣⵓⵍ tifinagh", "ሰላም ዓለም", "Γειά σου 123 мир abc",
    "Ελληνικά English Русский 中文 日本語 한국어 العربية עברית हिन्दी ไทย",
    "𝕳𝖊𝖑𝖑𝖔 math fraktur", "𝐀𝐁𝐂 𝟏𝟐𝟑 math bold", "𓀀𓀁 hieroglyphs", "𠀀𠀁𠀂 CJK ext B")
# --- fullwidth
add("ＡＢＣ ａｂｃ １２３", "ｆｕｌｌｗｉｄｔｈ　ｓｐａｃｅ", "！＂＃＄％＆＇（）", "Ｈｅｌｌｏ，ｗｏｒｌｄ！",
    "①②③ ⅠⅡⅢ ¹²³ ½ ¾", "™ ® © ℃ ℉ № ℡")
# --- emoji
add("😀", "😀😃😄😁", "I ❤️ you", "👍🏻👍🏼👍🏽👍🏾👍🏿", "👨‍👩‍👧‍👦 family", "👩🏽‍💻 technologist",
    "🏳️‍🌈 rainbow flag", "🏴‍☠️ pirate", "🇺🇸🇫🇷🇯🇵🇩🇪", "🇺🇸🇫", "1️⃣ #️⃣ *️⃣ keycaps", "❤ ❤️ ♥",
    "🧑‍🤝‍🧑 people holding hands", "🏴󠁧󠁢󠁳󠁣󠁴󠁿 scotland", "text😀text😀text", "👋 Hi! 🌍🌎🌏",
    "\U0001f9d1\u200d", "\u200d\u200d\u200d", "☺︎ ☺️ variation selectors")
# --- code
add("def f(x):\n    return x * 2\n", "    indented = True\n        more = False",
    "for i in range(10):\n\tprint(i, end='')\n",
    "#include <stdio.h>\nint main(void) { printf(\"hi\\n\"); return 0; }",
    "if (a && b || !c) { x += 1; } else { x -= 1; }", "ptr->field = arr[i++] << 2 >> 1;",
    "{\"key\": \"value\", \"n\": 1.5e-10, \"arr\": [1, 2, 3], \"null\": null}",
    "[{\"a\":{\"b\":{\"c\":[]}}}]", "<html><body><p class=\"x\">Hello &amp; bye</p></body></html>",
    "<!DOCTYPE html>\n<div id='main'>\n  <span>text</span>\n</div>", "SELECT * FROM users WHERE id = 42;",
    "x = lambda a, b: (a ** b) // 3 % 7", "const f = async () => { await g(); };",
    "fn main() { let v: Vec<u8> = vec![]; }", "$ ls -la | grep foo > out.txt 2>&1",
    "a==b!=c<=d>=e", "/* comment */ // line comment", "\"quoted\" 'single' `backtick`",
    "\\n\\t\\r literal backslashes", "path\\to\\file.txt", "```python\nprint('x')\n```")
# --- numbers
add("1234567890", "12345678901234567890123456789012345678901234567890", "0000000000", "3.14159265358979",
    "1,234,567.89", "1.234.567,89", "1 234 567", "-42", "+7", "1e10 2E-5", "0x1F 0b1010 0o777",
    "v1.2.3-rc.4", "2024-01-31T12:34:56Z", "12:30pm", "$1,000,000", "€100 £50 ¥1000",
    "50% off", "3/4 cup", "phone: +1 (555) 123-4567", "١٢٣ ۴۵۶ ७८९ 一二三")
# --- URLs
add("https://example.com/path?query=1&b=two#frag", "http://www.test.org/a/b/c.html",
    "ftp://user:pass@host:21/file", "www.example.co.uk", "https://zh.wikipedia.org/wiki/中文",
    "mailto:someone@example.com?subject=Hi", "file:///home/user/doc.pdf")
# --- special tokens inline (whole, partial, repeated, adjacent text)
add("<|im_start|>", "<|im_end|>", "<|endoftext|>", "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n",
    "<|vision_start|><|image_pad|><|vision_end|>", "<|image_pad|><|image_pad|><|image_pad|>",
    "<|video_pad|>", "text<|im_end|>text", " <|im_start|> spaced ", "<|im_", "<|im_start", "im_start|>",
    "<|IM_START|>", "< |im_start| >", "<|im_start|><|im_start|>", "<think>\nreasoning\n</think>",
    "<tool_call>{}</tool_call>", "<bos>", "<eos>", "<pad>", "<start_of_turn>user\nHi<end_of_turn>\n",
    "<start_of_image>", "<end_of_image>", "<image_soft_token>", "<bos>text<eos>", "<start_of_tu",
    "<unk>", "<mask>", "[CLS] [SEP] [PAD]", "<s> </s>", "[INST] hi [/INST]", "<image>", "<end_of_utterance>",
    "<|endoftext|><|endoftext|>", "<|fim_prefix|>code<|fim_suffix|>", "<<>>", "<|>", "|>")
# --- long and repetitive
add("a" * 300, "ab" * 150, " " * 64, "\n" * 40, "\t" * 20, "=" * 80, "-" * 100, "." * 50,
    "😀" * 30, "中" * 100, "supercalifragilisticexpialidocious" * 4,
    "Pneumonoultramicroscopicsilicovolcanoconiosis", "donaudampfschifffahrtselektrizitätenhauptbetriebswerkbauunterbeamtengesellschaft",
    "9" * 120, "1 " * 60, "lol" * 50, "Na" * 64 + " Batman!", "x" + " " * 30 + "y", "aaaaaaaaaa bbbbbbbbbb cccccccccc",
    "ÿ" * 40, "ß" * 40)
# --- mixed
add("Mixed: English, русский, 中文, 😀, 123, <|im_end|> and café.",
    "Tokenizers should handle\u00a0non-breaking\u2009thin\u200aspaces.", "zero\u200bwidth\u200cjoiner\u200dtest",
    "right-to-left \u202eoverride\u202c test", "Title: Ünïcödé Tëst\n\nBody\twith\ttabs.\r\n",
    "user said: \"<image>\" is not a token here", "The year 2024 had 366 days; 2023 had 365.",
    "I paid $3.50 for 2 coffees ☕☕ at 9:45am.", "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et dolore magna aliqua.",
    "Q: What is 2+2?\nA: 4.\n\nQ: And 3*3?\nA: 9.", "  \n  indented\n\tafter tab\n  ")


def main():
    seen = set()
    out = []
    for s in S:
        if s not in seen:
            seen.add(s)
            out.append(s)
    assert len(out) >= 200, len(out)
    path = os.path.join("tests", "fixtures", "tokenizers", "strings.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, indent=0)
        f.write("\n")
    print(len(out), "strings ->", path)


if __name__ == "__main__":
    main()
