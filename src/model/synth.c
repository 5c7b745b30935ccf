/*
 * synth.c — writes synthetic models (see synth.h): hyper-parameter keys as a
 * llama.cpp conversion writes them, a usable SentencePiece-style vocabulary,
 * and deterministic random weights, through the GGUF writer.  The llama tensor
 * list is here; qwen2's and bloom's are in synth_arch.c.
 *
 * Vocabulary, exactly p->vocab tokens, every piece unique:
 *   0 "<unk>" (type 2 UNKNOWN), 1 "<s>" and 2 "</s>" (type 3 CONTROL),
 *   3..258 the byte tokens "<0x00>".."<0xFF>" (type 6 BYTE), all with score 0;
 *   then normal pieces (type 1) with scores 0, -1, -2, ... in this order:
 *   "▁" (U+2581) and the 94 printable ASCII characters but space (letters in
 *   English frequency order first); "▁" + each letter; common English bigrams
 *   and suffixes; the words of a small embedded list, as "▁word"; then
 *   generated pieces (a letter-final piece plus one more letter, round after
 *   round) until the vocabulary is full.  Every multi-character piece is added
 *   only after two pieces that concatenate to it, so SentencePiece BPE merging
 *   can reach every piece; when the vocabulary is small the list is simply cut
 *   (the minimum, 260, holds only "▁" after the bytes).
 *
 * Weights: each tensor has its own splitmix64 stream seeded from p->seed and
 * the tensor's position, so the F32 values do not depend on the weight type.
 * Matrices are uniform in [-1, 1) / sqrt(n_in) (ne = [n_in, n_out]); norm
 * weights are 1 ± 0.05, biases and norm shifts ± 0.05.  Each tensor is generated a row at a time and quantized
 * straight into its stored type with quant_row(); only the stored bytes are
 * kept until the file is written.
 */
#include "model/synth.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf/gguf.h"
#include "model/synth_internal.h"
#include "model/synth_mix.h"
#include "tensor/quant.h"
#include "tensor/types.h"

#define SPM_SPACE "\xe2\x96\x81"   /* U+2581, SentencePiece's word-start marker */
#define N_SPECIAL 259              /* <unk>, <s>, </s> and 256 byte tokens */
#define MAX_PIECE 32               /* bytes; generated pieces stop growing here */

static const char letters_lower[] = "etaoinshrdlcumwfgypbvkjxqz";
static const char letters_upper[] = "TSAMCIBHLWPOERDFNGJKUVYQXZ";

static const char *const bigrams[] = {
    "th", "he", "in", "er", "an", "re", "on", "at", "en", "nd", "ed", "es", "or", "te", "of", "is", "it", "al",
    "ar", "st", "to", "nt", "ng", "se", "ha", "as", "ou", "le", "ve", "me", "de", "hi", "ri", "ro", "ne", "ea",
    "ra", "ce", "ll", "ay", "ow", "ing", "ly", "er", "est", "ful", "ion", "ight", "ter", "ake", "ame",
};

/* Frequent words of simple English stories; each becomes "▁word". */
static const char *const words[] = {
    "the", "a", "and", "was", "to", "he", "she", "it", "they", "of", "in", "on", "with", "her", "his", "said",
    "once", "upon", "time", "there", "little", "girl", "boy", "named", "Lily", "Tim", "Ben", "Sue", "day", "big",
    "happy", "sad", "play", "played", "playing", "loved", "wanted", "went", "saw", "very", "mom", "dad", "friend",
    "friends", "park", "dog", "cat", "bird", "ball", "tree", "sun", "fun", "help", "toy", "home", "go", "had",
    "did", "not", "but", "so", "then", "that", "this", "is", "you", "I", "we", "can", "be", "all", "up", "out",
    "for", "at", "one", "felt", "looked", "found", "came", "made", "have", "do", "like", "see", "run", "good",
    "new", "red", "blue", "car", "box", "water", "flower", "sky", "look", "know", "thank", "sorry", "again",
    "after", "smiled", "laughed", "together", "learned", "share", "careful", "kind", "nice", "asked",
    "Once", "The", "She", "He", "They", "One", "It", "But", "Then", "From",
};

/* ---- vocabulary ---- */

typedef struct {
    char **piece;      /* [cap], copies */
    size_t n, cap;
    uint32_t *slot;    /* open-addressing set of piece index + 1; 0 = empty */
    size_t mask;
} vocab_build_t;

static uint64_t hash_str(const char *s, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ULL;   /* FNV-1a */
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * 0x100000001b3ULL;
    return h;
}

/* The slot holding s, or the empty slot where it would go. */
static size_t vb_slot(const vocab_build_t *v, const char *s, size_t len)
{
    size_t i = (size_t)hash_str(s, len) & v->mask;
    while (v->slot[i]) {
        const char *p = v->piece[v->slot[i] - 1];
        if (strlen(p) == len && memcmp(p, s, len) == 0)
            break;
        i = (i + 1) & v->mask;
    }
    return i;
}

static int vb_has(const vocab_build_t *v, const char *s, size_t len)
{
    return v->slot[vb_slot(v, s, len)] != 0;
}

/* Adds s (len bytes) unless present or full.  Returns 0, or ERR_NOMEM. */
static int vb_add(vocab_build_t *v, const char *s, size_t len)
{
    size_t i = vb_slot(v, s, len);
    if (v->slot[i] || v->n == v->cap)
        return 0;
    char *p = malloc(len + 1);
    if (!p)
        return ERR_NOMEM;
    memcpy(p, s, len);
    p[len] = '\0';
    v->piece[v->n++] = p;
    v->slot[i] = (uint32_t)v->n;
    return 0;
}

static size_t utf8_len(unsigned char c)
{
    return c < 0x80 ? 1 : c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
}

/* Adds s after whatever it needs so that it splits into two pieces already in
 * the vocabulary.  Every single character used must already be present. */
static int vb_add_reachable(vocab_build_t *v, const char *s, size_t len)
{
    if (len == 0 || vb_has(v, s, len) || v->n == v->cap)
        return 0;
    size_t first = utf8_len((unsigned char)s[0]);
    if (first >= len)
        return vb_add(v, s, len);
    for (size_t k = first; k < len; k += utf8_len((unsigned char)s[k]))
        if (vb_has(v, s, k) && vb_has(v, s + k, len - k))
            return vb_add(v, s, len);
    /* Grow from the left: the piece without its last character, plus that character. */
    size_t last = 0;
    for (size_t k = 0; k < len; k += utf8_len((unsigned char)s[k]))
        last = k;
    int rc = vb_add_reachable(v, s, last);
    if (rc == 0 && vb_has(v, s, last) && vb_has(v, s + last, len - last))
        rc = vb_add(v, s, len);
    return rc;
}

static int is_letter(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static void vb_free(vocab_build_t *v)
{
    for (size_t i = 0; i < v->n; i++)
        free(v->piece[i]);
    free(v->piece);
    free(v->slot);
}

static int vb_build(vocab_build_t *v, size_t vocab, err_t *err)
{
    memset(v, 0, sizeof *v);
    size_t slots = 1;
    while (slots < 2 * vocab)
        slots *= 2;
    v->cap = vocab;
    v->mask = slots - 1;
    v->piece = calloc(vocab, sizeof *v->piece);
    v->slot = calloc(slots, sizeof *v->slot);
    if (!v->piece || !v->slot)
        return err_set(err, ERR_NOMEM, "synth: no memory for a %zu-token vocabulary", vocab);

    int rc = 0;
    char buf[MAX_PIECE + 8];
    rc |= vb_add(v, "<unk>", 5);
    rc |= vb_add(v, "<s>", 3);
    rc |= vb_add(v, "</s>", 4);
    for (int b = 0; b < 256; b++) {
        snprintf(buf, sizeof buf, "<0x%02X>", b);
        rc |= vb_add(v, buf, 6);
    }
    /* Single characters: "▁", letters by frequency, then the other printable ASCII. */
    rc |= vb_add(v, SPM_SPACE, 3);
    for (const char *c = letters_lower; *c; c++)
        rc |= vb_add(v, c, 1);
    for (const char *c = letters_upper; *c; c++)
        rc |= vb_add(v, c, 1);
    for (char c = 0x21; c < 0x7f; c++)
        rc |= vb_add(v, &c, 1);
    /* "▁" + letter. */
    for (int pass = 0; pass < 2; pass++) {
        for (const char *c = pass ? letters_upper : letters_lower; *c; c++) {
            memcpy(buf, SPM_SPACE, 3);
            buf[3] = *c;
            rc |= vb_add(v, buf, 4);
        }
    }
    for (size_t i = 0; i < sizeof bigrams / sizeof bigrams[0]; i++)
        rc |= vb_add_reachable(v, bigrams[i], strlen(bigrams[i]));
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
        int n = snprintf(buf, sizeof buf, SPM_SPACE "%s", words[i]);
        rc |= vb_add_reachable(v, buf, (size_t)n);
    }
    /* Fill: every letter-final piece grows by one letter, round after round. */
    size_t first_normal = N_SPECIAL;
    while (rc == 0 && v->n < v->cap) {
        size_t before = v->n;
        for (size_t i = first_normal; i < before && v->n < v->cap && rc == 0; i++) {
            size_t len = strlen(v->piece[i]);
            if (len >= MAX_PIECE || !is_letter(v->piece[i][len - 1]))
                continue;
            for (const char *c = letters_lower; *c && v->n < v->cap && rc == 0; c++) {
                memcpy(buf, v->piece[i], len);
                buf[len] = *c;
                rc = vb_add(v, buf, len + 1);
            }
        }
        if (v->n == before)   /* cannot happen for the lists above; never loop forever */
            return err_set(err, ERR_RANGE, "synth: vocabulary generation stalled at %zu of %zu tokens", v->n, v->cap);
    }
    if (rc)
        return err_set(err, ERR_NOMEM, "synth: no memory for vocabulary pieces");
    return 0;
}

/* ---- weights ---- */

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Uniform in [-1, 1), 24 random bits. */
static float uniform(uint64_t *s)
{
    return (float)(splitmix64(s) >> 40) * (2.0f / 16777216.0f) - 1.0f;
}

/* Generates tensor number idx row by row into its stored type. */
static int fill_tensor(synth_tensor_t *t, uint64_t seed, size_t idx, err_t *err)
{
    uint64_t n_in = t->ne[0], rows = t->n_dims > 1 ? t->ne[1] : 1;
    size_t row_bytes = type_row_bytes(t->type, n_in);
    if (row_bytes == 0 || rows > SIZE_MAX / row_bytes)
        return err_set(err, ERR_RANGE, "synth: tensor '%s' size overflows", t->name);
    t->nbytes = row_bytes * (size_t)rows;
    t->data = malloc(t->nbytes);
    float *row = malloc((size_t)n_in * sizeof *row);
    if (!t->data || !row) {
        free(row);
        return err_set(err, ERR_NOMEM, "synth: no memory for tensor '%s' (%zu bytes)", t->name, t->nbytes);
    }
    uint64_t s = seed ^ (0xd1b54a32d192ed03ULL * (idx + 1));
    splitmix64(&s);
    float scale = 1.0f / sqrtf((float)n_in);
    for (uint64_t r = 0; r < rows; r++) {
        for (uint64_t i = 0; i < n_in; i++)
            row[i] = t->is_norm ? 1.0f + 0.05f * uniform(&s) : t->is_bias ? 0.05f * uniform(&s) : scale * uniform(&s);
        if (quant_row(t->type, row, (uint8_t *)t->data + r * row_bytes, (size_t)n_in) != 0) {
            free(row);
            return err_set(err, ERR_INVAL, "synth: cannot quantize tensor '%s' to %s", t->name, type_name(t->type));
        }
    }
    free(row);
    return 0;
}

/* ---- parameters ---- */

void synth_params_default(synth_params_t *p)
{
    *p = (synth_params_t){
        .dim = 64, .layers = 2, .heads = 4, .kv_heads = 2, .ffn = 192, .vocab = 512, .ctx = 256,
        .type = TYPE_F32, .seed = 42, .rope_base = 10000.0f, .rms_eps = 1e-5f, .name = NULL,
        .arch = MODEL_ARCH_LLAMA,
    };
}

static const char *const ARCH_NAMES[] = {"llama", "qwen2", "bloom"};   /* by model_arch_t */

const char *synth_arch_name(model_arch_t arch)
{
    return (unsigned)arch < sizeof ARCH_NAMES / sizeof ARCH_NAMES[0] ? ARCH_NAMES[arch] : "?";
}

int synth_arch_parse(const char *s, model_arch_t *arch)
{
    for (unsigned a = 0; a < sizeof ARCH_NAMES / sizeof ARCH_NAMES[0]; a++)
        if (!strcmp(s, ARCH_NAMES[a])) {
            *arch = (model_arch_t)a;
            return 0;
        }
    return ERR_INVAL;
}

int synth_params_check(const synth_params_t *p, err_t *err)
{
    if (!p)
        return err_set(err, ERR_INVAL, "synth: params is NULL");
    if (p->arch != MODEL_ARCH_LLAMA && p->arch != MODEL_ARCH_QWEN2 && p->arch != MODEL_ARCH_BLOOM)
        return err_set(err, ERR_INVAL, "synth: architecture %d is not one of llama, qwen2, bloom", (int)p->arch);
    if (p->dim < 2 || p->dim > 65536)
        return err_set(err, ERR_INVAL, "synth: dim %u out of range 2..65536", p->dim);
    if (p->layers < 1 || p->layers > 1024)
        return err_set(err, ERR_INVAL, "synth: layers %u out of range 1..1024", p->layers);
    if (p->heads < 1 || p->dim % p->heads != 0)
        return err_set(err, ERR_INVAL, "synth: heads %u must be >= 1 and divide dim %u", p->heads, p->dim);
    if ((p->dim / p->heads) % 2 != 0)
        return err_set(err, ERR_INVAL, "synth: head_dim %u (dim %u / heads %u) must be even for rope",
                       p->dim / p->heads, p->dim, p->heads);
    if (p->kv_heads < 1 || p->heads % p->kv_heads != 0)
        return err_set(err, ERR_INVAL, "synth: kv_heads %u must be >= 1 and divide heads %u", p->kv_heads, p->heads);
    if (p->ffn < 1 || p->ffn > (1u << 18))
        return err_set(err, ERR_INVAL, "synth: ffn %u out of range 1..%u", p->ffn, 1u << 18);
    if (p->vocab < SYNTH_MIN_VOCAB || p->vocab > SYNTH_MAX_VOCAB)
        return err_set(err, ERR_INVAL, "synth: vocab %u out of range %u..%u (3 specials + 256 byte tokens + pieces)",
                       p->vocab, SYNTH_MIN_VOCAB, SYNTH_MAX_VOCAB);
    if (p->ctx < 1 || p->ctx > (1u << 24))
        return err_set(err, ERR_INVAL, "synth: ctx %u out of range 1..%u", p->ctx, 1u << 24);
    if (!synth_type_valid(p->type))
        return err_set(err, ERR_INVAL, "synth: type %u is not one of %s", p->type, synth_type_names());
    size_t blk = p->type < SYNTH_MIX_FIRST ? type_block_elems(p->type) : 1;   /* recipes fall back per tensor */
    if (p->dim % blk != 0)
        return err_set(err, ERR_INVAL, "synth: dim %u must be a multiple of %zu for type %s", p->dim, blk,
                       type_name(p->type));
    if (p->ffn % blk != 0)
        return err_set(err, ERR_INVAL, "synth: ffn %u must be a multiple of %zu for type %s", p->ffn, blk,
                       type_name(p->type));
    if (!(p->rope_base > 0.0f) || !isfinite(p->rope_base))
        return err_set(err, ERR_INVAL, "synth: rope_base %g must be positive and finite", (double)p->rope_base);
    if (!(p->rms_eps > 0.0f) || !(p->rms_eps < 1.0f))
        return err_set(err, ERR_INVAL, "synth: rms_eps %g out of range (0, 1)", (double)p->rms_eps);
    return 0;
}

/* ---- writing ---- */

static int set_keys(gguf_writer_t *w, const synth_params_t *p, err_t *err)
{
    const char *arch = synth_arch_name(p->arch);
    char key[96], name[64];
    snprintf(name, sizeof name, "synthetic-%s", arch);
#define KEY(suffix) (snprintf(key, sizeof key, "%s." suffix, arch), key)
    int rc = 0;
    if (rc == 0) rc = gguf_writer_set_str(w, "general.architecture", arch, err);
    if (rc == 0) rc = gguf_writer_set_str(w, "general.name", p->name ? p->name : name, err);
    if (rc == 0) rc = gguf_writer_set_u32(w, KEY("context_length"), p->ctx, err);
    if (rc == 0) rc = gguf_writer_set_u32(w, KEY("embedding_length"), p->dim, err);
    if (rc == 0) rc = gguf_writer_set_u32(w, KEY("feed_forward_length"), p->ffn, err);
    if (rc == 0) rc = gguf_writer_set_u32(w, KEY("block_count"), p->layers, err);
    if (rc == 0) rc = gguf_writer_set_u32(w, KEY("attention.head_count"), p->heads, err);
    if (rc == 0) rc = gguf_writer_set_u32(w, KEY("attention.head_count_kv"), p->kv_heads, err);
    if (p->arch == MODEL_ARCH_BLOOM) {
        /* No rope: ALiBi, whose bias llama.cpp fixes for the architecture. */
        if (rc == 0) rc = gguf_writer_set_f32(w, KEY("attention.layer_norm_epsilon"), p->rms_eps, err);
    } else {
        if (rc == 0 && p->arch == MODEL_ARCH_LLAMA)   /* qwen2 files leave it to the default, head_dim */
            rc = gguf_writer_set_u32(w, KEY("rope.dimension_count"), p->dim / p->heads, err);
        if (rc == 0) rc = gguf_writer_set_f32(w, KEY("rope.freq_base"), p->rope_base, err);
        if (rc == 0) rc = gguf_writer_set_f32(w, KEY("attention.layer_norm_rms_epsilon"), p->rms_eps, err);
    }
    if (rc == 0) rc = gguf_writer_set_u32(w, KEY("vocab_size"), p->vocab, err);
#undef KEY
    if (rc == 0) rc = gguf_writer_set_u32(w, "general.file_type", synth_file_type(p->type), err);
    if (rc == 0) rc = gguf_writer_set_u32(w, "general.quantization_version", 2, err);
    if (rc == 0) rc = gguf_writer_set_str(w, "tokenizer.ggml.model", "llama", err);
    if (rc == 0) rc = gguf_writer_set_str(w, "tokenizer.ggml.pre", "default", err);
    return rc;
}

static int set_vocab(gguf_writer_t *w, const synth_params_t *p, err_t *err)
{
    vocab_build_t v;
    int rc = vb_build(&v, p->vocab, err);
    float *scores = calloc(p->vocab, sizeof *scores);
    int32_t *types = calloc(p->vocab, sizeof *types);
    if (rc == 0 && (!scores || !types))
        rc = err_set(err, ERR_NOMEM, "synth: no memory for %u scores and types", p->vocab);
    if (rc == 0) {
        for (size_t i = 0; i < p->vocab; i++) {
            types[i] = i == 0 ? 2 : i < 3 ? 3 : i < N_SPECIAL ? 6 : 1;
            scores[i] = i < N_SPECIAL ? 0.0f : -(float)(i - N_SPECIAL);
        }
        rc = gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)v.piece, v.n, err);
    }
    if (rc == 0) rc = gguf_writer_set_arr_f32(w, "tokenizer.ggml.scores", scores, p->vocab, err);
    if (rc == 0) rc = gguf_writer_set_arr_i32(w, "tokenizer.ggml.token_type", types, p->vocab, err);
    if (rc == 0) rc = gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", 1, err);
    if (rc == 0) rc = gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", 2, err);
    if (rc == 0) rc = gguf_writer_set_u32(w, "tokenizer.ggml.unknown_token_id", 0, err);
    if (rc == 0) rc = gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", true, err);
    if (rc == 0) rc = gguf_writer_set_bool(w, "tokenizer.ggml.add_eos_token", false, err);
    free(scores);
    free(types);
    vb_free(&v);
    return rc;
}

static void plan_one(synth_tensor_t *t, const char *name, uint32_t type, uint32_t n_dims, uint64_t n_in,
                     uint64_t n_out, int is_norm)
{
    snprintf(t->name, sizeof t->name, "%s", name);
    t->type = type;
    t->n_dims = n_dims;
    t->ne[0] = n_in;
    t->ne[1] = n_out;
    t->is_norm = is_norm;
}

/* Fills the table of tensors in file order (ne = [n_in, n_out]); returns their count. */
static size_t plan_tensors(const synth_params_t *p, synth_tensor_t *t)
{
    uint32_t kv_dim = p->dim / p->heads * p->kv_heads, gqa = p->heads / p->kv_heads;
    size_t n = 0;
#define TYPE_OF(role, layer, n_in) synth_tensor_type(p->type, role, layer, p->layers, gqa, n_in, 0)
    plan_one(&t[n++], "token_embd.weight", TYPE_OF("token_embd", 0, p->dim), 2, p->dim, p->vocab, 0);
    plan_one(&t[n++], "output_norm.weight", TYPE_F32, 1, p->dim, 1, 1);
    plan_one(&t[n++], "output.weight", TYPE_OF("output", 0, p->dim), 2, p->dim, p->vocab, 0);
    static const struct {
        const char *name;
        int kind;   /* 0 norm, 1 [dim,dim], 2 [dim,kv_dim], 3 [dim,ffn], 4 [ffn,dim] */
    } block[] = {
        {"attn_norm", 0}, {"attn_q", 1}, {"attn_k", 2}, {"attn_v", 2}, {"attn_output", 1},
        {"ffn_norm", 0}, {"ffn_gate", 3}, {"ffn_down", 4}, {"ffn_up", 3},
    };
    for (uint32_t l = 0; l < p->layers; l++) {
        for (size_t k = 0; k < sizeof block / sizeof block[0]; k++) {
            char name[48];
            const char *role = block[k].name;
            snprintf(name, sizeof name, "blk.%u.%s.weight", l, role);
            switch (block[k].kind) {
            case 0: plan_one(&t[n++], name, TYPE_F32, 1, p->dim, 1, 1); break;
            case 1: plan_one(&t[n++], name, TYPE_OF(role, l, p->dim), 2, p->dim, p->dim, 0); break;
            case 2: plan_one(&t[n++], name, TYPE_OF(role, l, p->dim), 2, p->dim, kv_dim, 0); break;
            case 3: plan_one(&t[n++], name, TYPE_OF(role, l, p->dim), 2, p->dim, p->ffn, 0); break;
            default: plan_one(&t[n++], name, TYPE_OF(role, l, p->ffn), 2, p->ffn, p->dim, 0); break;
            }
        }
    }
#undef TYPE_OF
    return n;
}

int synth_write(const synth_params_t *p, const char *path, err_t *err)
{
    int rc = synth_params_check(p, err);
    if (rc)
        return rc;
    if (!path)
        return err_set(err, ERR_INVAL, "synth: path is NULL");
    size_t cap = synth_max_tensors(p);
    synth_tensor_t *t = calloc(cap, sizeof *t);
    gguf_writer_t *w = NULL;
    if (!t)
        return err_set(err, ERR_NOMEM, "synth: no memory for %zu tensor descriptions", cap);
    size_t n = p->arch == MODEL_ARCH_LLAMA ? plan_tensors(p, t) : synth_plan_arch(p, t);
    rc = gguf_writer_create(&w, err);
    if (rc == 0)
        rc = set_keys(w, p, err);
    if (rc == 0)
        rc = set_vocab(w, p, err);
    for (size_t i = 0; i < n && rc == 0; i++) {
        rc = fill_tensor(&t[i], p->seed, i, err);
        if (rc == 0)
            rc = gguf_writer_add_tensor(w, t[i].name, t[i].type, t[i].n_dims, t[i].ne, t[i].data, t[i].nbytes, err);
    }
    if (rc == 0)
        rc = gguf_writer_write(w, path, err);
    gguf_writer_destroy(&w);
    for (size_t i = 0; i < n; i++)
        free(t[i].data);
    free(t);
    return rc;
}
