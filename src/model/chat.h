/*
 * chat.h — chat templates: turning a conversation (system/user/assistant
 * messages) into the prompt text a chat-tuned model was trained on.
 *
 * There is no Jinja engine.  The GGUF's tokenizer.chat_template (a Jinja
 * program) is recognised by distinctive substrings of the common families
 * (ChatML's <|im_start|>, Llama 3's <|start_header_id|>, Phi-3's <|assistant|>
 * with <|end|>, Zephyr's <|user|>, Gemma's <start_of_turn>, Llama 2's [INST]
 * with <<SYS>>, Mistral's [INST] without it), and each family's format is
 * written out here in C.  A model without a template, or with one we do not
 * recognise, gets the plain "User: ... / Assistant:" format.
 *
 * The rendered text does not start with the BOS token: the tokenizer adds it
 * (tok_add_bos); special tokens in the text (e.g. <|im_end|>) are meant to be
 * tokenized with special parsing on.  chat_stops gives the end-of-turn strings
 * to stop generation at, for models whose EOS is not the turn end.
 */
#ifndef LL_MODEL_CHAT_H
#define LL_MODEL_CHAT_H

#include <stddef.h>

#include "gguf/gguf.h"
#include "util/err.h"

typedef enum {
    CHAT_PLAIN, CHAT_CHATML, CHAT_LLAMA2, CHAT_LLAMA3, CHAT_MISTRAL, CHAT_PHI3, CHAT_GEMMA, CHAT_ZEPHYR,
    CHAT_N_TEMPLATES
} chat_tmpl_t;

typedef struct {
    const char *role;      /* "system", "user" or "assistant" */
    const char *content;   /* UTF-8, NUL-terminated; borrowed */
} chat_msg_t;

/* "plain", "chatml", "llama2", "llama3", "mistral", "phi3", "gemma", "zephyr". */
const char *chat_tmpl_name(chat_tmpl_t t);
/* The template named name; ERR_NOTFOUND listing the known names otherwise. */
int chat_tmpl_from_name(const char *name, chat_tmpl_t *out, err_t *err);
/* The family of a Jinja template text (NULL or unrecognised: CHAT_PLAIN). */
chat_tmpl_t chat_tmpl_detect(const char *jinja, size_t len);
/* The family of g's tokenizer.chat_template (absent: CHAT_PLAIN). */
chat_tmpl_t chat_tmpl_from_gguf(const gguf_ctx_t *g);

/* Renders msgs[0..n) and, with add_assistant, the opening of the assistant's
 * turn.  *out is malloc'd, NUL-terminated (caller frees), *len its length.
 * ERR_FORMAT for an unknown role (naming it and the message index), ERR_INVAL
 * for n == 0, ERR_NOMEM. */
int chat_render(chat_tmpl_t t, const chat_msg_t *msgs, size_t n, int add_assistant, char **out, size_t *len,
                err_t *err);

/* End-of-turn strings of the family, NULL-terminated (never NULL itself). */
const char *const *chat_stops(chat_tmpl_t t);

#endif
