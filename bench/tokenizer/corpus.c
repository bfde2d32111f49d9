/* A deterministic benchmark corpus: documents of English prose, source code, numbers,
 * text in a dozen scripts, emoji (ZWJ sequences, flags), whitespace runs and markup,
 * drawn by a fixed-seed generator so every machine builds the same bytes (no files from
 * the host are read). */
#include "corpus.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng_next(uint64_t *s) {
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}
static size_t pick(uint64_t *s, size_t n) {
    return (size_t)(rng_next(s) % n);
}
#define PICK(s, arr) (arr)[pick((s), sizeof(arr) / sizeof((arr)[0]))]

/* clang-format off */
static const char *const words[] = {
    "the", "of", "and", "to", "in", "is", "that", "for", "it", "as", "was", "with", "be", "by",
    "on", "not", "he", "this", "are", "or", "his", "from", "at", "which", "but", "have", "an",
    "they", "you", "were", "their", "one", "all", "we", "can", "her", "has", "there", "been",
    "if", "more", "when", "will", "would", "who", "so", "no", "model", "vision", "language",
    "image", "token", "tokenizer", "encoding", "decoder", "attention", "layer", "weights",
    "training", "inference", "throughput", "latency", "memory", "bandwidth", "kernel",
    "matrix", "vector", "sequence", "batch", "gradient", "optimizer", "dataset", "benchmark",
    "performance", "accuracy", "transformer", "embedding", "projection", "normalization",
    "activation", "function", "parameter", "configuration", "checkpoint", "repository",
    "documentation", "implementation", "specification", "international", "understanding",
    "extraordinary", "don't", "it's", "we've", "they're", "I'm", "you'll", "he'd", "can't",
    "Internationalization", "Schwarzenegger", "photosynthesis", "mitochondria", "quantum",
    "Paris", "London", "Tokyo", "Berlin", "München", "São", "Paulo", "naïve", "café", "résumé",
    "coöperate", "façade", "jalapeño", "Zürich", "Ångström", "Æsir"};

static const char *const scripts[] = {
    "这是一个用于测试分词器的中文句子，包含标点符号。", "机器学习模型需要大量的数据进行训练。",
    "日本語のテキストも含まれています。カタカナとひらがな、漢字。", "東京は日本の首都です。",
    "한국어 문장도 포함되어 있습니다. 토크나이저 테스트입니다.", "Привет, как дела? Это тест токенизатора.",
    "Быстрая коричневая лиса прыгает через ленивую собаку.", "مرحبا بالعالم، هذا اختبار للمحلل.",
    "नमस्ते दुनिया, यह एक परीक्षण वाक्य है।", "Γεια σου κόσμε, αυτή είναι μια δοκιμή.",
    "สวัสดีชาวโลก นี่คือประโยคทดสอบ", "שלום עולם, זה משפט בדיקה.",
    "Xin chào thế giới, đây là một câu kiểm tra tiếng Việt.",
    "Příliš žluťoučký kůň úpěl ďábelské ódy.", "Zażółć gęślą jaźń.",
    "İstanbul'da güzel bir gün, ışık ve gölge.", "ქართული ენა ძალიან ლამაზია.",
    "Հայերեն լեզուն հին է։", "বাংলা ভাষায় একটি বাক্য।", "தமிழ் மொழியில் ஒரு வாக்கியம்."};

static const char *const emoji[] = {
    "😀", "🎉", "👍🏽", "👨‍👩‍👧‍👦", "🏳️‍🌈", "🇺🇸", "🇯🇵", "❤️", "🤖", "🚀", "✨", "🔥", "🧑‍💻",
    "👩🏿‍🔬", "☕", "⚡", "🌍", "🐍", "🦀", "📈"};

static const char *const code[] = {
    "def forward(self, x: torch.Tensor) -> torch.Tensor:\n",
    "    return self.proj(self.act(self.norm(x)))\n",
    "for (size_t i = 0; i < n; i++) {\n", "    out[i] = a[i] * b[i] + c[i];\n", "}\n",
    "if (status != VLM_OK) return vlm_err(err, status, \"%s: bad\", path);\n",
    "const std::vector<int> ids = tokenizer.encode(text);\n",
    "    logger.info(f\"step {step}: loss={loss:.4f} lr={lr:.2e}\")\n",
    "SELECT id, name FROM users WHERE created_at > '2024-01-01' ORDER BY id;\n",
    "<div class=\"container\"><span id=\"x\">&nbsp;</span></div>\n",
    "{\"model_type\": \"qwen2_vl\", \"hidden_size\": 1536, \"rope_theta\": 1000000.0}\n",
    "    # TODO: handle the empty case\n", "\tmov rax, [rbp-0x18]\n",
    "let v: Vec<u32> = s.chars().map(|c| c as u32).collect();\n",
    "$ make -j8 && ./build/vlm generate --image cat.jpg --prompt 'Describe.'\n"};

/* clang-format on */

static void add(corpus_doc *d, const char *s) {
    size_t n = strlen(s);
    if (d->len + n + 1 > d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 4096;
        while (cap < d->len + n + 1)
            cap *= 2;
        char *t = realloc(d->text, cap);
        if (!t) abort(); /* a benchmark program, not the library */
        d->text = t;
        d->cap = cap;
    }
    memcpy(d->text + d->len, s, n + 1);
    d->len += n;
}

static void prose(uint64_t *s, corpus_doc *d, int sentences) {
    for (int k = 0; k < sentences; k++) {
        int nw = 5 + (int)pick(s, 15);
        for (int w = 0; w < nw; w++) {
            const char *word = PICK(s, words);
            if (w == 0) {
                char tmp[64];
                snprintf(tmp, sizeof tmp, "%s", word);
                if (tmp[0] >= 'a' && tmp[0] <= 'z') tmp[0] -= 32;
                add(d, tmp);
            } else {
                add(d, " ");
                add(d, word);
            }
            if (pick(s, 12) == 0) add(d, ",");
            if (pick(s, 40) == 0) {
                char num[32];
                snprintf(num, sizeof num, " %u", (unsigned)(rng_next(s) % 100000));
                add(d, num);
            }
        }
        static const char *const ends[] = {". ", ". ", ". ", "? ", "! ", ".\n", "...  "};
        add(d, PICK(s, ends));
    }
}

static void numbers(uint64_t *s, corpus_doc *d) {
    char b[96];
    for (int k = 0; k < 12; k++) {
        switch (pick(s, 5)) {
        case 0:
            snprintf(b, sizeof b, "%llu ", (unsigned long long)rng_next(s));
            break;
        case 1:
            snprintf(b, sizeof b, "%u.%02u%% ", (unsigned)pick(s, 1000), (unsigned)pick(s, 100));
            break;
        case 2:
            snprintf(b, sizeof b, "20%02u-%02u-%02u ", (unsigned)pick(s, 30),
                     (unsigned)(1 + pick(s, 12)), (unsigned)(1 + pick(s, 28)));
            break;
        case 3:
            snprintf(b, sizeof b, "+1 (%03u) %03u-%04u ", (unsigned)pick(s, 1000),
                     (unsigned)pick(s, 1000), (unsigned)pick(s, 10000));
            break;
        default:
            snprintf(b, sizeof b, "$%u,%03u.%02u ", (unsigned)pick(s, 999), (unsigned)pick(s, 1000),
                     (unsigned)pick(s, 100));
        }
        add(d, b);
    }
    add(d, "\n");
}

corpus_doc *corpus_build(size_t target_bytes, size_t *n_docs) {
    uint64_t s = 0x9E3779B97F4A7C15ull;
    size_t cap = 1024, n = 0, total = 0;
    corpus_doc *docs = calloc(cap, sizeof *docs);
    if (!docs) abort();
    while (total < target_bytes) {
        if (n == cap) {
            cap *= 2;
            docs = realloc(docs, cap * sizeof *docs);
            if (!docs) abort();
        }
        corpus_doc *d = &docs[n++];
        memset(d, 0, sizeof *d);
        int parts = 2 + (int)pick(&s, 6);
        for (int p = 0; p < parts; p++) {
            switch (pick(&s, 10)) {
            case 0:
            case 1:
            case 2:
                prose(&s, d, 3 + (int)pick(&s, 8));
                break;
            case 3:
            case 4:
                for (int k = 0, m = 3 + (int)pick(&s, 10); k < m; k++)
                    add(d, PICK(&s, code));
                break;
            case 5:
                numbers(&s, d);
                break;
            case 6:
            case 7:
                for (int k = 0, m = 2 + (int)pick(&s, 5); k < m; k++) {
                    add(d, PICK(&s, scripts));
                    add(d, pick(&s, 3) ? " " : "\n");
                }
                break;
            case 8:
                for (int k = 0, m = 3 + (int)pick(&s, 8); k < m; k++) {
                    add(d, PICK(&s, emoji));
                    if (pick(&s, 2)) add(d, " ");
                }
                add(d, "\n");
                break;
            default: {
                static const char *const ws[] = {"\n\n",   "\r\n",     "\t\t", "    ",
                                                 "  \n  ", "\n\n\n\n", " \t ", "        "};
                add(d, PICK(&s, ws));
                add(d, "## Heading ");
                add(d, PICK(&s, words));
                add(d, "\n- item *one*\n- item `two`\n> quote\n");
            }
            }
        }
        total += d->len;
    }
    *n_docs = n;
    return docs;
}

void corpus_free(corpus_doc *docs, size_t n) {
    for (size_t i = 0; i < n; i++)
        free(docs[i].text);
    free(docs);
}
