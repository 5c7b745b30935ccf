/*
 * chat.c — the chat template families of chat.h: detection by substrings of
 * the Jinja text, and one render function per family.  The formats are the
 * families' published prompt formats (facts about the models), written here
 * as C; a growing text buffer collects the pieces.
 */
#include "model/chat.h"

#include <stdlib.h>
#include <string.h>

static const char *const names[CHAT_N_TEMPLATES] = {"plain", "chatml", "llama2", "llama3", "mistral", "phi3",
                                                    "gemma", "zephyr"};

const char *chat_tmpl_name(chat_tmpl_t t)
{
    return (unsigned)t < CHAT_N_TEMPLATES ? names[t] : "?";
}

int chat_tmpl_from_name(const char *name, chat_tmpl_t *out, err_t *err)
{
    for (int i = 0; i < CHAT_N_TEMPLATES; i++)
        if (strcmp(name, names[i]) == 0) {
            *out = (chat_tmpl_t)i;
            return 0;
        }
    return err_set(err, ERR_NOTFOUND, "unknown chat template '%s' (known: plain, chatml, llama2, llama3, mistral, "
                   "phi3, gemma, zephyr)", name);
}

/* memmem on a bounded text. */
static int has(const char *s, size_t len, const char *what)
{
    size_t k = strlen(what);
    for (size_t i = 0; k <= len && i <= len - k; i++)
        if (s[i] == what[0] && memcmp(s + i, what, k) == 0)
            return 1;
    return 0;
}

chat_tmpl_t chat_tmpl_detect(const char *j, size_t len)
{
    if (!j)
        return CHAT_PLAIN;
    /* Most specific markers first: Phi-3 and Zephyr share <|user|>, Llama 2
     * and Mistral share [INST]. */
    if (has(j, len, "<|im_start|>"))
        return CHAT_CHATML;
    if (has(j, len, "<|start_header_id|>") && has(j, len, "<|end_header_id|>"))
        return CHAT_LLAMA3;
    if (has(j, len, "<|assistant|>") && has(j, len, "<|end|>"))
        return CHAT_PHI3;
    if (has(j, len, "<|user|>"))
        return CHAT_ZEPHYR;
    if (has(j, len, "<start_of_turn>"))
        return CHAT_GEMMA;
    if (has(j, len, "[INST]") && has(j, len, "<<SYS>>"))
        return CHAT_LLAMA2;
    if (has(j, len, "[INST]"))
        return CHAT_MISTRAL;
    return CHAT_PLAIN;
}

chat_tmpl_t chat_tmpl_from_gguf(const gguf_ctx_t *g)
{
    gguf_str_t s;
    if (!g || gguf_get_str(g, "tokenizer.chat_template", &s, NULL) != 0)
        return CHAT_PLAIN;
    return chat_tmpl_detect(s.ptr, (size_t)s.len);
}

typedef struct {
    char *s;
    size_t len, cap;
    int oom;
} buf_t;

static void put(buf_t *b, const char *s)
{
    size_t k = strlen(s);
    if (b->oom)
        return;
    if (b->len + k + 1 > b->cap) {
        size_t cap = (b->len + k + 1) * 2;
        char *p = realloc(b->s, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->s = p;
        b->cap = cap;
    }
    memcpy(b->s + b->len, s, k + 1);
    b->len += k;
}

enum { SYSTEM, USER, ASSISTANT };

static int role_of(const char *r)
{
    return !strcmp(r, "system") ? SYSTEM : !strcmp(r, "user") ? USER : !strcmp(r, "assistant") ? ASSISTANT : -1;
}

/* The families that write every turn as open role mid content end:
 *   ChatML   <|im_start|>role\ncontent<|im_end|>\n
 *   Llama 3  <|start_header_id|>role<|end_header_id|>\n\ncontent<|eot_id|>
 *   Phi-3    <|role|>\ncontent<|end|>\n
 *   Zephyr   <|role|>\ncontent</s>\n
 * and open the assistant's turn as open assistant mid. */
static void render_marked(buf_t *b, const chat_msg_t *m, size_t n, int add, const char *open, const char *mid,
                          const char *end)
{
    for (size_t i = 0; i < n; i++) {
        put(b, open);
        put(b, m[i].role);
        put(b, mid);
        put(b, m[i].content);
        put(b, end);
    }
    if (add) {
        put(b, open);
        put(b, "assistant");
        put(b, mid);
    }
}

/* Gemma: no system role (its text opens the first user turn); assistant is "model". */
static void render_gemma(buf_t *b, const chat_msg_t *m, size_t n, int add)
{
    const char *sys = NULL;
    for (size_t i = 0; i < n; i++) {
        int r = role_of(m[i].role);
        if (r == SYSTEM) {
            sys = m[i].content;
            continue;
        }
        put(b, r == USER ? "<start_of_turn>user\n" : "<start_of_turn>model\n");
        if (sys && r == USER) {
            put(b, sys);
            put(b, "\n\n");
            sys = NULL;
        }
        put(b, m[i].content);
        put(b, "<end_of_turn>\n");
    }
    if (add)
        put(b, "<start_of_turn>model\n");
}

/* Llama 2: [INST] <<SYS>>\nsystem\n<</SYS>>\n\nuser [/INST] answer </s><s>[INST] user [/INST]
 * Mistral: [INST] system\n\nuser [/INST]answer</s>[INST] user [/INST]
 * The first <s> is the tokenizer's BOS. */
static void render_inst(buf_t *b, const chat_msg_t *m, size_t n, int llama2)
{
    const char *sys = NULL;
    int first = 1;
    for (size_t i = 0; i < n; i++) {
        int r = role_of(m[i].role);
        if (r == SYSTEM) {
            sys = m[i].content;
        } else if (r == USER) {
            if (!first)
                put(b, llama2 ? "<s>" : "");
            put(b, "[INST] ");
            if (sys) {
                put(b, llama2 ? "<<SYS>>\n" : "");
                put(b, sys);
                put(b, llama2 ? "\n<</SYS>>\n\n" : "\n\n");
                sys = NULL;
            }
            put(b, m[i].content);
            put(b, " [/INST]");
            first = 0;
        } else {
            put(b, llama2 ? " " : "");
            put(b, m[i].content);
            put(b, llama2 ? " </s>" : "</s>");
        }
    }
}

/* Plain: Role: content lines, then "Assistant:". */
static void render_plain(buf_t *b, const chat_msg_t *m, size_t n, int add)
{
    static const char *const label[] = {"System: ", "User: ", "Assistant: "};
    for (size_t i = 0; i < n; i++) {
        put(b, label[role_of(m[i].role)]);
        put(b, m[i].content);
        put(b, "\n");
    }
    if (add)
        put(b, "Assistant:");
}

int chat_render(chat_tmpl_t t, const chat_msg_t *msgs, size_t n, int add_assistant, char **out, size_t *len,
                err_t *err)
{
    *out = NULL;
    *len = 0;
    if (n == 0)
        return err_set(err, ERR_INVAL, "a conversation needs at least one message");
    for (size_t i = 0; i < n; i++) {
        if (!msgs[i].role || role_of(msgs[i].role) < 0)
            return err_set(err, ERR_FORMAT, "messages[%zu]: unknown role '%.40s' (system, user or assistant)", i,
                           msgs[i].role ? msgs[i].role : "(none)");
        if (!msgs[i].content)
            return err_set(err, ERR_FORMAT, "messages[%zu]: no content", i);
    }
    buf_t b = {0};
    put(&b, "");
    switch (t) {
    case CHAT_CHATML: render_marked(&b, msgs, n, add_assistant, "<|im_start|>", "\n", "<|im_end|>\n"); break;
    case CHAT_LLAMA3:
        render_marked(&b, msgs, n, add_assistant, "<|start_header_id|>", "<|end_header_id|>\n\n", "<|eot_id|>");
        break;
    case CHAT_PHI3: render_marked(&b, msgs, n, add_assistant, "<|", "|>\n", "<|end|>\n"); break;
    case CHAT_ZEPHYR: render_marked(&b, msgs, n, add_assistant, "<|", "|>\n", "</s>\n"); break;
    case CHAT_GEMMA: render_gemma(&b, msgs, n, add_assistant); break;
    case CHAT_LLAMA2: render_inst(&b, msgs, n, 1); break;
    case CHAT_MISTRAL: render_inst(&b, msgs, n, 0); break;
    default: render_plain(&b, msgs, n, add_assistant); break;
    }
    if (b.oom) {
        free(b.s);
        return err_set(err, ERR_NOMEM, "out of memory rendering the chat");
    }
    *out = b.s;
    *len = b.len;
    return 0;
}

const char *const *chat_stops(chat_tmpl_t t)
{
    static const char *const chatml[] = {"<|im_end|>", NULL}, *const llama3[] = {"<|eot_id|>", NULL},
                             *const phi3[] = {"<|end|>", NULL}, *const zephyr[] = {"</s>", NULL},
                             *const gemma[] = {"<end_of_turn>", NULL}, *const inst[] = {"</s>", "[INST]", NULL},
                             *const plain[] = {"\nUser:", "\nSystem:", NULL};
    switch (t) {
    case CHAT_CHATML: return chatml;
    case CHAT_LLAMA3: return llama3;
    case CHAT_PHI3: return phi3;
    case CHAT_ZEPHYR: return zephyr;
    case CHAT_GEMMA: return gemma;
    case CHAT_LLAMA2:
    case CHAT_MISTRAL: return inst;
    default: return plain;
    }
}
