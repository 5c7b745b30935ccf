/*
 * tok_bpe.c — byte-level BPE ("gpt2" tokenizer model): the pre-tokenizers
 * named by tokenizer.ggml.pre, the merge table, and encoding of one run of
 * plain text, all behaving as llama.cpp's llm_tokenizer_bpe and unicode.cpp.
 *
 * Encoding: the text is decoded to code points (bytes that start no valid
 * sequence become U+FFFD, as in llama.cpp), cut into words by the
 * pre-tokenizer's passes, and each word's UTF-8 bytes are mapped to printable
 * code points (GPT-2's byte mapping).  Within a word the adjacent pair with the
 * lowest merge rank is merged repeatedly (ties: leftmost), via a min-heap;
 * each final symbol is emitted as its token (or, if it is none, as whatever
 * one-byte tokens its bytes are, as llama.cpp does).
 *
 * Pre-tokenizers are sequences of passes; each pass cuts every current piece
 * into the regex's matches and the gaps between them.  The passes are written
 * by hand after the regexes llama.cpp uses (its categories: \p{L}, \p{N},
 * \p{P} and White_Space from unicode.h), not with a regex engine:
 *   GPT2   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 *   LLAMA3 (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
 *          ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+     (QWEN2: \p{N} alone)
 *   PUNCT  [\p{P}\$\+<=>\^~\|]+ (PUNCT_BT adds `)   NUM_RUN \p{N}+   NUM_ONE \p{N}
 *   DIGIT3 [0-9][0-9][0-9]
 *   BLOOM  ' ?[^(\s|.,!?…。，、।۔،)]+' (the parentheses and | are members of the class)
 *   NEWLINE [\r\n]   SP_LETTERS \s?\p{L}+   SP_PUNCT \s?\p{P}+   CJK [一-龥ࠀ-一가-퟿]+
 *   DS_LETTERS \s?[A-Za-zµÀ-ÖØ-öø-ƺ...]+ (deepseek-llm's list of letter ranges, DS_LETTER_RANGES)
 *   DS_PUNCT \s?[!-/:-~！-／：-～‘-‟　-。]+   TRAIL_SPACE \s+$ (at the end of the piece)
 * These last ones go through std::regex in llama.cpp, where \s is ASCII
 * 09-0D and space, plus every non-ASCII White_Space code point (which it maps
 * to 0x0B first); \p{L}, \p{N}, \p{P} are the Unicode categories.
 */
#include "model/tok_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/unicode.h"

/* ---- pre-tokenizers ---- */

enum {
    PASS_GPT2, PASS_LLAMA3, PASS_QWEN2, PASS_PUNCT, PASS_PUNCT_BT, PASS_NUM_RUN, PASS_NUM_ONE, PASS_DIGIT3,
    PASS_BLOOM, PASS_NEWLINE, PASS_SP_LETTERS, PASS_SP_PUNCT, PASS_CJK, PASS_DS_LETTERS, PASS_DS_PUNCT,
    PASS_TRAIL_SPACE,
};

typedef struct {
    const char *name;
    uint8_t n_passes;
    uint8_t passes[6];
    uint8_t ignore_merges;   /* words that are tokens skip merging */
    uint8_t add_bos;         /* default for tokenizer.ggml.add_bos_token */
} pre_t;

/* Names and settings as in llama.cpp's vocabulary loader (b4747). */
static const pre_t pre_table[] = {
    { "default",          4, { PASS_PUNCT, PASS_GPT2, PASS_NUM_RUN, PASS_DIGIT3 }, 0, 0 },
    { "gpt-2",            1, { PASS_GPT2 }, 0, 0 },
    { "phi-2",            1, { PASS_GPT2 }, 0, 0 },
    { "roberta-bpe",      1, { PASS_GPT2 }, 0, 0 },
    { "mpt",              1, { PASS_GPT2 }, 0, 0 },
    { "olmo",             1, { PASS_GPT2 }, 0, 0 },
    { "jais",             1, { PASS_GPT2 }, 0, 0 },
    { "llama3",           1, { PASS_LLAMA3 }, 1, 1 },
    { "llama-v3",         1, { PASS_LLAMA3 }, 1, 1 },
    { "llama-bpe",        1, { PASS_LLAMA3 }, 1, 1 },
    { "falcon3",          1, { PASS_LLAMA3 }, 1, 1 },
    { "dbrx",             1, { PASS_LLAMA3 }, 0, 0 },
    { "smaug-bpe",        1, { PASS_LLAMA3 }, 0, 0 },
    { "qwen2",            1, { PASS_QWEN2 }, 0, 0 },
    { "stablelm2",        1, { PASS_QWEN2 }, 0, 0 },
    { "megrez",           1, { PASS_QWEN2 }, 0, 0 },
    { "deepseek-r1-qwen", 1, { PASS_QWEN2 }, 0, 0 },
    { "starcoder",        2, { PASS_NUM_ONE, PASS_GPT2 }, 0, 0 },
    { "refact",           2, { PASS_NUM_ONE, PASS_GPT2 }, 0, 0 },
    { "command-r",        2, { PASS_NUM_ONE, PASS_GPT2 }, 0, 0 },
    { "smollm",           2, { PASS_NUM_ONE, PASS_GPT2 }, 0, 0 },
    { "codeshell",        2, { PASS_NUM_ONE, PASS_GPT2 }, 0, 0 },
    { "exaone",           2, { PASS_NUM_ONE, PASS_GPT2 }, 0, 0 },
    { "minerva-7b",       2, { PASS_NUM_ONE, PASS_GPT2 }, 0, 0 },
    { "falcon",           3, { PASS_PUNCT_BT, PASS_GPT2, PASS_DIGIT3 }, 0, 0 },
    { "bloom",            1, { PASS_BLOOM }, 0, 0 },
    { "poro-chat",        1, { PASS_BLOOM }, 0, 0 },
    { "gpt3-finnish",     1, { PASS_BLOOM }, 0, 0 },
    { "deepseek-llm",     6, { PASS_NEWLINE, PASS_DS_LETTERS, PASS_DS_PUNCT, PASS_TRAIL_SPACE, PASS_CJK,
                               PASS_NUM_RUN }, 0, 0 },
    { "deepseek-coder",   5, { PASS_NEWLINE, PASS_SP_LETTERS, PASS_SP_PUNCT, PASS_CJK, PASS_NUM_ONE }, 0, 0 },
};
#define N_PRE (sizeof pre_table / sizeof pre_table[0])

const char *const *tok_bpe_pre_supported(void)
{
    static const char *const names[] = {
        "default", "gpt-2", "phi-2", "roberta-bpe", "mpt", "olmo", "jais",
        "llama3", "llama-v3", "llama-bpe", "falcon3", "dbrx", "smaug-bpe",
        "qwen2", "stablelm2", "megrez", "deepseek-r1-qwen",
        "starcoder", "refact", "command-r", "smollm", "codeshell", "exaone", "minerva-7b",
        "falcon", "bloom", "poro-chat", "gpt3-finnish", "deepseek-llm", "deepseek-coder", NULL,
    };
    return names;
}

int tok_bpe_pre_add_bos(const tok_t *t) { return pre_table[t->pre].add_bos; }

/* Piece ends being built by one pass (exclusive code point offsets). */
typedef struct {
    uint32_t *v;
    size_t n, cap;
    size_t last;     /* end of the last piece pushed */
} ends_t;

static int ends_push(ends_t *e, size_t end, err_t *err)
{
    if (end <= e->last)
        return 0;   /* empty piece */
    if (e->n == e->cap) {
        size_t cap = e->cap ? e->cap * 2 : 64;
        uint32_t *v = realloc(e->v, cap * sizeof *v);
        if (!v)
            return err_set(err, ERR_NOMEM, "tokenizer: out of memory splitting words");
        e->v = v;
        e->cap = cap;
    }
    e->v[e->n++] = (uint32_t)end;
    e->last = end;
    return 0;
}

typedef struct {
    const uint32_t *cp;     /* code points */
    const uint16_t *fl;     /* their UNICODE_* flags */
    ends_t *out;
    err_t *err;
} split_t;

#define LNW (UNICODE_LETTER | UNICODE_NUMBER | UNICODE_WHITESPACE)
/* [^\s\p{L}\p{N}]: any code point that is none of the three. */
static int is_other(unsigned f) { return f != 0 && !(f & LNW); }
static int is_crlf(uint32_t c) { return c == '\r' || c == '\n'; }
static uint32_t ascii_lower(uint32_t c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

/* 's 't 'm 'd (2 code points) or 're 've 'll (3) at pos; 0 if none. */
static size_t contraction_len(const uint32_t *cp, size_t pos, size_t b, int fold)
{
    if (cp[pos] != '\'' || pos + 1 >= b)
        return 0;
    uint32_t c1 = fold ? ascii_lower(cp[pos + 1]) : cp[pos + 1];
    if (c1 == 's' || c1 == 't' || c1 == 'm' || c1 == 'd')
        return 2;
    if (pos + 2 >= b)
        return 0;
    uint32_t c2 = fold ? ascii_lower(cp[pos + 2]) : cp[pos + 2];
    if ((c1 == 'r' && c2 == 'e') || (c1 == 'v' && c2 == 'e') || (c1 == 'l' && c2 == 'l'))
        return 3;
    return 0;
}

/* Whitespace alternatives shared by both word splitters, at pos (which holds
 * no match of the earlier alternatives): returns the end of the piece.
 * with_crlf adds LLAMA3's \s*[\r\n]+ before \s+(?!\S)|\s+. */
static size_t whitespace_end(const split_t *s, size_t pos, size_t b, int with_crlf)
{
    size_t k = 0, after_nl = 0;
    while (pos + k < b && (s->fl[pos + k] & UNICODE_WHITESPACE)) {
        if (with_crlf && is_crlf(s->cp[pos + k]))
            after_nl = pos + k + 1;
        k++;
    }
    if (after_nl)
        return after_nl;            /* \s*[\r\n]+ */
    if (k > 1 && pos + k < b)
        return pos + k - 1;         /* \s+(?!\S): leave one space for the next word */
    if (k > 0)
        return pos + k;             /* \s+ */
    return pos + 1;                 /* no alternative matches: a piece of one */
}

static int split_gpt2(const split_t *s, size_t a, size_t b)
{
    const uint32_t *cp = s->cp;
    const uint16_t *fl = s->fl;
    for (size_t pos = a; pos < b;) {
        size_t n = contraction_len(cp, pos, b, 0);
        if (n) {
            pos += n;
        } else {
            size_t q = pos + (cp[pos] == ' ');   /* optional leading space */
            unsigned f = q < b ? fl[q] : 0;
            if (f & UNICODE_LETTER) {
                while (q < b && (fl[q] & UNICODE_LETTER))
                    q++;
                pos = q;
            } else if (f & UNICODE_NUMBER) {
                while (q < b && (fl[q] & UNICODE_NUMBER))
                    q++;
                pos = q;
            } else if (is_other(f)) {
                while (q < b && is_other(fl[q]))
                    q++;
                pos = q;
            } else {
                pos = whitespace_end(s, pos, b, 0);
            }
        }
        int rc = ends_push(s->out, pos, s->err);
        if (rc)
            return rc;
    }
    return 0;
}

/* LLAMA3 (max_digits 3) and QWEN2 (max_digits 1). */
static int split_llama3(const split_t *s, size_t a, size_t b, size_t max_digits)
{
    const uint32_t *cp = s->cp;
    const uint16_t *fl = s->fl;
    for (size_t pos = a; pos < b;) {
        uint32_t c = cp[pos];
        unsigned f = fl[pos];
        size_t n = contraction_len(cp, pos, b, 1);
        if (n) {
            pos += n;
        } else if (!is_crlf(c) && !(f & UNICODE_NUMBER) &&
                   ((f & UNICODE_LETTER) || (pos + 1 < b && (fl[pos + 1] & UNICODE_LETTER)))) {
            /* [^\r\n\p{L}\p{N}]?\p{L}+ */
            pos++;
            while (pos < b && (fl[pos] & UNICODE_LETTER))
                pos++;
        } else if (f & UNICODE_NUMBER) {
            for (size_t k = 0; k < max_digits && pos < b && (fl[pos] & UNICODE_NUMBER); k++)
                pos++;
        } else if (is_other(c == ' ' ? (pos + 1 < b ? fl[pos + 1] : 0) : f)) {
            /* ' ?[^\s\p{L}\p{N}]+[\r\n]*' */
            pos += (c == ' ');
            while (pos < b && is_other(fl[pos]))
                pos++;
            while (pos < b && is_crlf(cp[pos]))
                pos++;
        } else {
            pos = whitespace_end(s, pos, b, 1);
        }
        int rc = ends_push(s->out, pos, s->err);
        if (rc)
            return rc;
    }
    return 0;
}

/* The default/falcon punctuation class: \p{P} and $+<=>^~| (and ` for falcon).
 * For ASCII that is every punctuation or symbol character except `. */
static int is_punct_class(uint32_t c, unsigned f, int backtick)
{
    if (c >= 0x80)
        return (f & UNICODE_PUNCT) != 0;
    if (c == '`')
        return backtick;
    return (c >= 0x21 && c <= 0x2F) || (c >= 0x3A && c <= 0x40) || (c >= 0x5B && c <= 0x60) ||
           (c >= 0x7B && c <= 0x7E);
}

/* Runs of the class (kind PASS_PUNCT, PASS_PUNCT_BT or PASS_NUM_RUN) and the gaps between. */
static int split_runs(const split_t *s, size_t a, size_t b, int kind)
{
    int rc = 0;
    for (size_t pos = a; pos < b && !rc;) {
        size_t q = pos;
        while (q < b && (kind == PASS_NUM_RUN ? (s->fl[q] & UNICODE_NUMBER) != 0
                                              : is_punct_class(s->cp[q], s->fl[q], kind == PASS_PUNCT_BT)))
            q++;
        if (q > pos) {
            rc = ends_push(s->out, pos, s->err);   /* gap before the run */
            if (!rc)
                rc = ends_push(s->out, q, s->err);
            pos = q;
        } else {
            pos++;
        }
    }
    return rc ? rc : ends_push(s->out, b, s->err);
}

/* ---- single-class passes (most run through std::regex in llama.cpp: see the top of the file) ---- */

/* \s of std::regex as llama.cpp feeds it. */
static int re_space(uint32_t c, unsigned f)
{
    return c < 0x80 ? (c == ' ' || (c >= 0x09 && c <= 0x0D)) : (f & UNICODE_WHITESPACE) != 0;
}

typedef struct {
    uint32_t lo, hi;
} cp_range_t;

/* deepseek-llm's letter class, as its regex lists it. */
static const cp_range_t DS_LETTER_RANGES[] = {
    {0x41, 0x5A}, {0x61, 0x7A}, {0xB5, 0xB5}, {0xC0, 0xD6}, {0xD8, 0xF6}, {0xF8, 0x1BA}, {0x1BC, 0x1BF},
    {0x1C4, 0x293}, {0x295, 0x2AF}, {0x370, 0x373}, {0x376, 0x377}, {0x37B, 0x37D}, {0x37F, 0x37F},
    {0x386, 0x386}, {0x388, 0x38A}, {0x38C, 0x38C}, {0x38E, 0x3A1}, {0x3A3, 0x3F5}, {0x3F7, 0x481},
    {0x48A, 0x52F}, {0x531, 0x556}, {0x10A0, 0x10C5}, {0x13A0, 0x13F5}, {0x13F8, 0x13FD}, {0x1C90, 0x1CBA},
    {0x1CBD, 0x1CBF}, {0x1D00, 0x1D2B}, {0x1D6B, 0x1D77}, {0x1D79, 0x1D9A}, {0x1E00, 0x1F15}, {0x1F18, 0x1F1D},
    {0x1F20, 0x1F45}, {0x1F48, 0x1F4D}, {0x1F50, 0x1F57}, {0x1F59, 0x1F59}, {0x1F5B, 0x1F5B}, {0x1F5D, 0x1F5D},
    {0x1F5F, 0x1F7D}, {0x1F80, 0x1FB4}, {0x1FB6, 0x1FBC}, {0x1FBE, 0x1FBE}, {0x1FC2, 0x1FC4}, {0x1FC6, 0x1FCC},
    {0x1FD0, 0x1FD3}, {0x1FD6, 0x1FDB}, {0x1FE0, 0x1FEC}, {0x1FF2, 0x1FF4}, {0x1FF6, 0x1FFC}, {0x2102, 0x2102},
    {0x2107, 0x2107}, {0x210A, 0x2113}, {0x2115, 0x2115}, {0x2119, 0x211D}, {0x2124, 0x2124}, {0x2126, 0x2126},
    {0x2128, 0x2128}, {0x212A, 0x212D}, {0x212F, 0x2134}, {0x2139, 0x2139}, {0x213C, 0x213F}, {0x2145, 0x2149},
    {0x214E, 0x214E}, {0x2183, 0x2184}, {0x2C00, 0x2C7B}, {0x2C7E, 0x2CE4}, {0x2CEB, 0x2CEE}, {0x2CF2, 0x2CF3},
    {0xA640, 0xA66D}, {0xA680, 0xA69B}, {0xA722, 0xA76F}, {0xA771, 0xA787}, {0xA78B, 0xA78E}, {0xAB70, 0xABBF},
    {0xFB00, 0xFB06}, {0xFB13, 0xFB17}, {0xFF21, 0xFF3A}, {0xFF41, 0xFF5A}, {0x10400, 0x1044F},
    {0x104B0, 0x104D3}, {0x104D8, 0x104FB}, {0x10C80, 0x10CB2}, {0x10CC0, 0x10CF2}, {0x118A0, 0x118DF},
    {0x1E900, 0x1E943},
};
/* deepseek-llm's punctuation class. */
static const cp_range_t DS_PUNCT_RANGES[] = {
    {0x21, 0x2F}, {0x3A, 0x7E}, {0xFF01, 0xFF0F}, {0xFF1A, 0xFF5E}, {0x2018, 0x201F}, {0x3000, 0x3002},
};

static int in_ranges(uint32_t c, const cp_range_t *r, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (c >= r[i].lo && c <= r[i].hi)
            return 1;
    return 0;
}

/* Membership of code point i in the class a pass repeats (X in \s?X+ or X+). */
static int in_class(const split_t *s, int pass, size_t i)
{
    const uint32_t c = s->cp[i];
    const unsigned f = s->fl[i];
    switch (pass) {
    case PASS_BLOOM:
        /* [^(\s|.,!?…。，、।۔،)] */
        return !re_space(c, f) && c != '(' && c != ')' && c != '|' && c != '.' && c != ',' && c != '!' &&
               c != '?' && c != 0x2026 && c != 0x3002 && c != 0xFF0C && c != 0x3001 && c != 0x0964 &&
               c != 0x06D4 && c != 0x060C;
    case PASS_SP_LETTERS: return !re_space(c, f) && (f & UNICODE_LETTER);
    case PASS_SP_PUNCT: return !re_space(c, f) && (f & UNICODE_PUNCT);
    case PASS_DS_LETTERS: return in_ranges(c, DS_LETTER_RANGES, sizeof DS_LETTER_RANGES / sizeof DS_LETTER_RANGES[0]);
    case PASS_DS_PUNCT: return in_ranges(c, DS_PUNCT_RANGES, sizeof DS_PUNCT_RANGES / sizeof DS_PUNCT_RANGES[0]);
    case PASS_CJK: return (c >= 0x0800 && c <= 0x9FA5) || (c >= 0xAC00 && c <= 0xD7FF);
    default: return 0;
    }
}

/* Length of the leftmost-first match at pos (0: none); *skip is how far to
 * move on when there is none (more than 1 when the positions between cannot match). */
static size_t match_at(const split_t *s, int pass, size_t pos, size_t b, size_t *skip)
{
    *skip = 1;
    size_t q = pos;
    switch (pass) {
    case PASS_NEWLINE:
        return is_crlf(s->cp[pos]) ? 1 : 0;
    case PASS_NUM_ONE:   /* \p{N}: each number on its own */
        return (s->fl[pos] & UNICODE_NUMBER) ? 1 : 0;
    case PASS_DIGIT3: {  /* [0-9][0-9][0-9], leftmost, non-overlapping */
        const uint32_t *c = s->cp + pos;
        return pos + 3 <= b && c[0] >= '0' && c[0] <= '9' && c[1] >= '0' && c[1] <= '9' && c[2] >= '0' &&
                       c[2] <= '9' ? 3 : 0;
    }
    case PASS_TRAIL_SPACE:
        while (q < b && re_space(s->cp[q], s->fl[q]))
            q++;
        if (q == b)
            return q - pos;
        *skip = q > pos ? q - pos : 1;   /* a run that stops before the end fails from every start in it */
        return 0;
    case PASS_CJK:
        break;
    case PASS_BLOOM:
        /* ' ?X+': the optional prefix is the space character only */
        if (s->cp[q] == ' ' && q + 1 < b && in_class(s, pass, q + 1))
            q++;
        break;
    default:
        /* '\s?X+' */
        if (re_space(s->cp[q], s->fl[q]) && q + 1 < b && in_class(s, pass, q + 1))
            q++;
        break;
    }
    if (!in_class(s, pass, q))
        return 0;
    while (q < b && in_class(s, pass, q))
        q++;
    return q - pos;
}

/* Matches of the pass and the gaps between them (std::regex_iterator's cut). */
static int split_matches(const split_t *s, size_t a, size_t b, int pass)
{
    int rc = 0;
    for (size_t pos = a; pos < b && !rc;) {
        size_t skip, len = match_at(s, pass, pos, b, &skip);
        if (len) {
            rc = ends_push(s->out, pos, s->err);
            if (!rc)
                rc = ends_push(s->out, pos + len, s->err);
            pos += len;
        } else {
            pos += skip;
        }
    }
    return rc ? rc : ends_push(s->out, b, s->err);
}

static int run_pass(const split_t *s, int pass, size_t a, size_t b)
{
    switch (pass) {
    case PASS_GPT2: return split_gpt2(s, a, b);
    case PASS_LLAMA3: return split_llama3(s, a, b, 3);
    case PASS_QWEN2: return split_llama3(s, a, b, 1);
    case PASS_PUNCT: case PASS_PUNCT_BT: case PASS_NUM_RUN: return split_runs(s, a, b, pass);
    default: return split_matches(s, a, b, pass);
    }
}

/* ---- merges ---- */

static uint64_t pair_hash(const char *l, size_t ll, const char *r, size_t rl)
{
    uint64_t h = tok_hash(TOK_HASH_INIT, l, ll);
    h ^= 0x100;   /* separator: not a byte value */
    h *= 0x100000001b3ull;
    return tok_hash(h, r, rl);
}

/* Rank of merging l + r, or -1. */
static int32_t merge_rank(const tok_t *t, const char *l, size_t ll, const char *r, size_t rl)
{
    uint32_t i = (uint32_t)pair_hash(l, ll, r, rl) & t->merge_index_mask;
    for (;;) {
        int32_t m = t->merge_index[i];
        if (m < 0)
            return -1;
        const tok_merge_t *e = &t->merges[m];
        const char *ml = t->merge_text + e->off;
        if (e->left_len == ll && e->right_len == rl && memcmp(ml, l, ll) == 0 &&
            memcmp(ml + ll + 1, r, rl) == 0)
            return m;
        i = (i + 1) & t->merge_index_mask;
    }
}

int tok_bpe_init(tok_t *t, const char *pre, size_t pre_len, const gguf_kv_t *merges, err_t *err)
{
    const char *name = pre ? pre : "default";   /* llama.cpp: missing -> default */
    size_t name_len = pre ? pre_len : strlen("default");
    size_t p;
    for (p = 0; p < N_PRE; p++)
        if (strlen(pre_table[p].name) == name_len && memcmp(pre_table[p].name, name, name_len) == 0)
            break;
    if (p == N_PRE) {
        char list[400];
        size_t n = 0;
        list[0] = 0;
        for (const char *const *s = tok_bpe_pre_supported(); *s && n + 24 < sizeof list; s++)
            n += (size_t)snprintf(list + n, sizeof list - n, "%s%s", n ? ", " : "", *s);
        return err_set(err, ERR_UNSUP, "tokenizer.ggml.pre = '%.*s' is not a supported pre-tokenizer "
                       "(supported: %s)", (int)(name_len > 64 ? 64 : name_len), name, list);
    }
    t->pre = (int)p;
    t->ignore_merges = pre_table[p].ignore_merges;

    uint64_t n = merges->v.arr.n;
    if (n > (uint64_t)INT32_MAX / 4)
        return err_set(err, ERR_FORMAT, "tokenizer.ggml.merges has %llu entries, more than %d",
                       (unsigned long long)n, INT32_MAX / 4);
    uint64_t total = 0;
    for (uint64_t i = 0; i < n; i++)
        total += merges->v.arr.strs[i].len;
    if (total > UINT32_MAX)
        return err_set(err, ERR_FORMAT, "tokenizer.ggml.merges: %llu bytes exceed the 4 GiB limit",
                       (unsigned long long)total);
    uint32_t cap = 1;
    while (cap < 2 * n)
        cap <<= 1;
    t->merges = malloc((n ? n : 1) * sizeof *t->merges);
    t->merge_text = malloc(total ? total : 1);
    t->merge_index = malloc((size_t)cap * sizeof *t->merge_index);
    if (!t->merges || !t->merge_text || !t->merge_index)
        return err_set(err, ERR_NOMEM, "tokenizer: out of memory for %llu merges", (unsigned long long)n);
    memset(t->merge_index, 0xff, (size_t)cap * sizeof *t->merge_index);
    t->merge_index_mask = cap - 1;

    uint32_t off = 0;
    for (uint64_t i = 0; i < n; i++) {
        gguf_str_t s = merges->v.arr.strs[i];
        /* "left right": the first space after the first byte separates them. */
        const char *sp = s.len > 1 ? memchr(s.ptr + 1, ' ', s.len - 1) : NULL;
        if (!sp)
            return err_set(err, ERR_FORMAT, "tokenizer.ggml.merges[%llu] = '%.*s' is not of the form 'left right'",
                           (unsigned long long)i, (int)(s.len > 64 ? 64 : s.len), s.ptr ? s.ptr : "");
        memcpy(t->merge_text + off, s.ptr, s.len);
        tok_merge_t *m = &t->merges[i];
        m->off = off;
        m->left_len = (uint32_t)(sp - s.ptr);
        m->right_len = (uint32_t)(s.len - m->left_len - 1);
        off += (uint32_t)s.len;
        t->n_merges = (uint32_t)(i + 1);
        /* A repeated pair keeps its first (lowest) rank. */
        const char *l = t->merge_text + m->off, *r = l + m->left_len + 1;
        if (merge_rank(t, l, m->left_len, r, m->right_len) >= 0)
            continue;
        uint32_t h = (uint32_t)pair_hash(l, m->left_len, r, m->right_len) & t->merge_index_mask;
        while (t->merge_index[h] >= 0)
            h = (h + 1) & t->merge_index_mask;
        t->merge_index[h] = (int32_t)i;
    }
    return 0;
}

/* ---- encoding ---- */

typedef struct {
    int32_t prev, next;
    uint32_t off, n;      /* n == 0 once merged away */
} sym_t;

typedef struct {
    int32_t rank, left, right;
    uint32_t size;
} pair_t;

/* Per-call scratch, reused across the words of one text run. */
typedef struct {
    char *word;
    size_t word_cap;
    sym_t *sym;
    size_t sym_cap;
    pair_t *heap;
    size_t heap_n, heap_cap;
} scratch_t;

/* Returns p grown to hold need (>= 1) elements, or NULL (p unchanged) when out of memory. */
static void *grow(void *p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return p;
    size_t c = *cap ? *cap : 64;
    while (c < need)
        c *= 2;
    void *q = realloc(p, c * elem);
    if (q)
        *cap = c;
    return q;
}

static int oom(err_t *err) { return err_set(err, ERR_NOMEM, "tokenizer: out of memory while encoding"); }

static int pair_before(const pair_t *a, const pair_t *b)
{
    return a->rank < b->rank || (a->rank == b->rank && a->left < b->left);
}

static int heap_push(scratch_t *s, pair_t x, err_t *err)
{
    pair_t *h = grow(s->heap, &s->heap_cap, s->heap_n + 1, sizeof *h);
    if (!h)
        return oom(err);
    s->heap = h;
    size_t i = s->heap_n++;
    while (i > 0 && pair_before(&x, &s->heap[(i - 1) / 2])) {
        s->heap[i] = s->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    s->heap[i] = x;
    return 0;
}

static pair_t heap_pop(scratch_t *s)
{
    pair_t top = s->heap[0], last = s->heap[--s->heap_n];
    size_t i = 0, n = s->heap_n;
    for (size_t c; (c = 2 * i + 1) < n; i = c) {
        if (c + 1 < n && pair_before(&s->heap[c + 1], &s->heap[c]))
            c++;
        if (!pair_before(&s->heap[c], &last))
            break;
        s->heap[i] = s->heap[c];
    }
    if (n)
        s->heap[i] = last;
    return top;
}

static int try_pair(const tok_t *t, scratch_t *s, int32_t left, int32_t right, err_t *err)
{
    if (left < 0 || right < 0)
        return 0;
    const sym_t *l = &s->sym[left], *r = &s->sym[right];
    int32_t rank = merge_rank(t, s->word + l->off, l->n, s->word + r->off, r->n);
    if (rank < 0)
        return 0;
    return heap_push(s, (pair_t){ rank, left, right, l->n + r->n }, err);
}

/* Merges and emits one word (already in GPT-2's byte-mapped form). */
static int encode_word(const tok_t *t, scratch_t *s, size_t len, tok_ids_t *out, err_t *err)
{
    const char *w = s->word;
    int rc;
    if (t->ignore_merges) {
        int32_t id = tok_lookup(t, w, len);
        if (id >= 0)
            return tok_ids_push(out, id, err);
    }
    sym_t *sym = grow(s->sym, &s->sym_cap, len, sizeof *sym);
    if (!sym)
        return oom(err);
    s->sym = sym;
    int32_t n_sym = 0;
    for (size_t off = 0; off < len;) {
        size_t k = unicode_utf8_len((unsigned char)w[off]);
        if (k > len - off)
            k = len - off;
        s->sym[n_sym] = (sym_t){ n_sym - 1, -1, (uint32_t)off, (uint32_t)k };
        if (n_sym > 0)
            s->sym[n_sym - 1].next = n_sym;
        n_sym++;
        off += k;
    }
    s->heap_n = 0;
    for (int32_t i = 1; i < n_sym; i++)
        if ((rc = try_pair(t, s, i - 1, i, err)))
            return rc;
    while (s->heap_n) {
        pair_t p = heap_pop(s);
        sym_t *l = &s->sym[p.left], *r = &s->sym[p.right];
        if (l->n == 0 || r->n == 0 || l->n + r->n != p.size)
            continue;   /* stale: a side was merged since */
        l->n += r->n;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0)
            s->sym[r->next].prev = p.left;
        if ((rc = try_pair(t, s, l->prev, p.left, err)) || (rc = try_pair(t, s, p.left, l->next, err)))
            return rc;
    }
    for (int32_t i = 0; i != -1 && n_sym > 0; i = s->sym[i].next) {
        const sym_t *y = &s->sym[i];
        int32_t id = tok_lookup(t, w + y->off, y->n);
        if (id >= 0) {
            if ((rc = tok_ids_push(out, id, err)))
                return rc;
            continue;
        }
        for (uint32_t j = 0; j < y->n; j++) {   /* llama.cpp: any one-byte tokens, else nothing */
            int32_t b = tok_lookup(t, w + y->off + j, 1);
            if (b >= 0 && (rc = tok_ids_push(out, b, err)))
                return rc;
        }
    }
    return 0;
}

/* Cuts n code points into words with pre-tokenizer pre: the word ends are left
 * in cur (next is scratch; both owned by the caller). */
static int pretokenize(int pre_idx, const uint32_t *cp, const uint16_t *fl, size_t n, ends_t *cur, ends_t *next,
                       err_t *err)
{
    int rc = ends_push(cur, n, err);
    const pre_t *pre = &pre_table[pre_idx];
    for (int p = 0; p < pre->n_passes && !rc; p++) {
        next->n = 0;
        next->last = 0;
        split_t sp = { cp, fl, next, err };
        size_t a = 0;
        for (size_t k = 0; k < cur->n && !rc; k++) {
            rc = run_pass(&sp, pre->passes[p], a, cur->v[k]);
            a = cur->v[k];
        }
        ends_t tmp = *cur;
        *cur = *next;
        *next = tmp;
    }
    return rc;
}

int tok_bpe_pre_split(const char *pre, const char *text, size_t len, size_t *ends, size_t cap, err_t *err)
{
    size_t p = 0;
    while (p < N_PRE && strcmp(pre_table[p].name, pre) != 0)
        p++;
    if (p == N_PRE)
        return err_set(err, ERR_UNSUP, "pre-tokenizer '%s' is not supported", pre);
    if (len > UINT32_MAX / 8)
        return err_set(err, ERR_RANGE, "tokenizer: text of %zu bytes is too long", len);
    uint32_t *cp = malloc((len ? len : 1) * sizeof *cp);
    uint16_t *fl = malloc((len ? len : 1) * sizeof *fl);
    size_t *byte_end = malloc((len ? len : 1) * sizeof *byte_end);   /* byte offset after code point i */
    ends_t cur = { 0 }, next = { 0 };
    int rc = cp && fl && byte_end ? 0 : err_set(err, ERR_NOMEM, "tokenizer: out of memory");
    size_t n = 0;
    for (size_t i = 0; !rc && i < len; n++) {
        size_t k;
        cp[n] = unicode_utf8_decode(text + i, len - i, &k);
        fl[n] = (uint16_t)unicode_cpt_flags(cp[n]);
        i += k;
        byte_end[n] = i;
    }
    if (!rc && n > 0)
        rc = pretokenize((int)p, cp, fl, n, &cur, &next, err);
    if (!rc) {
        for (size_t k = 0; k < cur.n && k < cap; k++)
            ends[k] = byte_end[cur.v[k] - 1];
        rc = (int)cur.n;
    }
    free(cp);
    free(fl);
    free(byte_end);
    free(cur.v);
    free(next.v);
    return rc;
}

int tok_bpe_encode(const tok_t *t, const char *text, size_t len, tok_ids_t *out, err_t *err)
{
    int rc = 0;
    uint32_t *cp = malloc((len ? len : 1) * sizeof *cp);
    uint16_t *fl = malloc((len ? len : 1) * sizeof *fl);
    ends_t cur = { 0 }, next = { 0 };
    scratch_t s = { 0 };
    if (!cp || !fl) {
        rc = err_set(err, ERR_NOMEM, "tokenizer: out of memory for %zu bytes of text", len);
        goto done;
    }
    if (len > UINT32_MAX / 8) {
        rc = err_set(err, ERR_RANGE, "tokenizer: text of %zu bytes is too long", len);
        goto done;
    }
    size_t n = 0;
    for (size_t i = 0; i < len; n++) {
        size_t k;
        cp[n] = unicode_utf8_decode(text + i, len - i, &k);
        fl[n] = (uint16_t)unicode_cpt_flags(cp[n]);
        i += k;
    }
    if (n == 0)
        goto done;

    if ((rc = pretokenize(t->pre, cp, fl, n, &cur, &next, err)))
        goto done;

    /* Map each word's bytes to GPT-2 code points, then merge. */
    size_t a = 0;
    for (size_t k = 0; k < cur.n; k++) {
        size_t b = cur.v[k], wl = 0;
        char *word = grow(s.word, &s.word_cap, (b - a) * 8, 1);
        if (!word) {
            rc = oom(err);
            goto done;
        }
        s.word = word;
        for (size_t i = a; i < b; i++) {
            char u[4];
            size_t m = unicode_utf8_encode(cp[i], u);
            for (size_t j = 0; j < m; j++)
                wl += unicode_utf8_encode(unicode_byte_to_cpt((uint8_t)u[j]), s.word + wl);
        }
        if ((rc = encode_word(t, &s, wl, out, err)))
            goto done;
        a = b;
    }
done:
    free(cp);
    free(fl);
    free(cur.v);
    free(next.v);
    free(s.word);
    free(s.sym);
    free(s.heap);
    return rc;
}
