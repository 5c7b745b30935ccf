/*
 * test_chat.c — chat templates (model/chat.h): each family is recognised from
 * its published Jinja template text (as the models ship it in
 * tokenizer.chat_template, abridged only where noted), the rendering of one
 * conversation per family equals the family's documented prompt format, the
 * template is read from a GGUF file written here, and bad roles and names are
 * refused with a message.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "gguf/gguf.h"
#include "model/chat.h"

static const struct {
    chat_tmpl_t want;
    const char *jinja;
} templates[] = {
    {CHAT_CHATML, "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + "
                  "'<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}"
                  "{% endif %}"},
    {CHAT_LLAMA2, "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set "
                  "system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}{% set "
                  "system_message = false %}{% endif %}{% for message in loop_messages %}{% if loop.index0 == 0 and "
                  "system_message != false %}{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + "
                  "message['content'] %}{% else %}{% set content = message['content'] %}{% endif %}{% if "
                  "message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% elif "
                  "message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}"
                  "{% endfor %}"},
    {CHAT_LLAMA3, "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = "
                  "'<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + "
                  "'<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ "
                  "content }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant"
                  "<|end_header_id|>\\n\\n' }}{% endif %}"},
    {CHAT_MISTRAL, "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 "
                   "% 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/"
                   "assistant/...') }}{% endif %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] "
                   "+ ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token}}{% "
                   "else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}"
                   "{% endfor %}"},
    {CHAT_PHI3, "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') %}{{'<|user|>' + "
                "'\\n' + message['content'] + '<|end|>' + '\\n' + '<|assistant|>' + '\\n'}}{% elif "
                "(message['role'] == 'assistant') %}{{message['content'] + '<|end|>' + '\\n'}}{% endif %}"
                "{% endfor %}"},
    {CHAT_GEMMA, "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not "
                 "supported') }}{% endif %}{% for message in messages %}{% if (message['role'] == 'assistant') %}"
                 "{% set role = 'model' %}{% else %}{% set role = message['role'] %}{% endif %}{{ '<start_of_turn>' "
                 "+ role + '\\n' + message['content'] | trim + '<end_of_turn>\\n' }}{% endfor %}{% if "
                 "add_generation_prompt %}{{'<start_of_turn>model\\n'}}{% endif %}"},
    {CHAT_ZEPHYR, "{% for message in messages %}\\n{% if message['role'] == 'user' %}\\n{{ '<|user|>\\n' + "
                  "message['content'] + eos_token }}\\n{% elif message['role'] == 'system' %}\\n{{ '<|system|>\\n' + "
                  "message['content'] + eos_token }}\\n{% elif message['role'] == 'assistant' %}\\n{{ "
                  "'<|assistant|>\\n'  + message['content'] + eos_token }}\\n{% endif %}\\n{% if loop.last and "
                  "add_generation_prompt %}\\n{{ '<|assistant|>' }}\\n{% endif %}\\n{% endfor %}"},
    {CHAT_PLAIN, "{% for message in messages %}{{ message['content'] }}{% endfor %}"},
};

/* One conversation: system, user, assistant, user. */
static const chat_msg_t conv[] = {
    {"system", "You are brief."}, {"user", "Hello"}, {"assistant", "Hi there"}, {"user", "Who are you?"},
};

static const struct {
    chat_tmpl_t t;
    const char *want;
} rendered[] = {
    {CHAT_CHATML, "<|im_start|>system\nYou are brief.<|im_end|>\n<|im_start|>user\nHello<|im_end|>\n"
                  "<|im_start|>assistant\nHi there<|im_end|>\n<|im_start|>user\nWho are you?<|im_end|>\n"
                  "<|im_start|>assistant\n"},
    {CHAT_LLAMA2, "[INST] <<SYS>>\nYou are brief.\n<</SYS>>\n\nHello [/INST] Hi there </s><s>[INST] Who are you? "
                  "[/INST]"},
    {CHAT_LLAMA3, "<|start_header_id|>system<|end_header_id|>\n\nYou are brief.<|eot_id|><|start_header_id|>user"
                  "<|end_header_id|>\n\nHello<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nHi there"
                  "<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nWho are you?<|eot_id|>"
                  "<|start_header_id|>assistant<|end_header_id|>\n\n"},
    {CHAT_MISTRAL, "[INST] You are brief.\n\nHello [/INST]Hi there</s>[INST] Who are you? [/INST]"},
    {CHAT_PHI3, "<|system|>\nYou are brief.<|end|>\n<|user|>\nHello<|end|>\n<|assistant|>\nHi there<|end|>\n"
                "<|user|>\nWho are you?<|end|>\n<|assistant|>\n"},
    {CHAT_GEMMA, "<start_of_turn>user\nYou are brief.\n\nHello<end_of_turn>\n<start_of_turn>model\nHi there"
                 "<end_of_turn>\n<start_of_turn>user\nWho are you?<end_of_turn>\n<start_of_turn>model\n"},
    {CHAT_ZEPHYR, "<|system|>\nYou are brief.</s>\n<|user|>\nHello</s>\n<|assistant|>\nHi there</s>\n<|user|>\n"
                  "Who are you?</s>\n<|assistant|>\n"},
    {CHAT_PLAIN, "System: You are brief.\nUser: Hello\nAssistant: Hi there\nUser: Who are you?\nAssistant:"},
};

static void test_detect(void)
{
    for (size_t i = 0; i < sizeof templates / sizeof templates[0]; i++) {
        chat_tmpl_t got = chat_tmpl_detect(templates[i].jinja, strlen(templates[i].jinja));
        CHECKF(got == templates[i].want, "template %zu: detected %s, want %s", i, chat_tmpl_name(got),
               chat_tmpl_name(templates[i].want));
    }
    CHECK(chat_tmpl_detect(NULL, 0) == CHAT_PLAIN);
    /* A marker cut off by the length is not seen. */
    const char *t = templates[0].jinja;
    CHECK(chat_tmpl_detect(t, (size_t)(strstr(t, "<|im_start|>") - t) + 5) == CHAT_PLAIN);
}

static void test_render(void)
{
    for (size_t i = 0; i < sizeof rendered / sizeof rendered[0]; i++) {
        char *out = NULL;
        size_t len = 0;
        err_t err;
        err_clear(&err);
        int rc = chat_render(rendered[i].t, conv, 4, 1, &out, &len, &err);
        CHECKF(rc == 0 && out && len == strlen(out) && strcmp(out, rendered[i].want) == 0, "%s: got\n%s\nwant\n%s",
               chat_tmpl_name(rendered[i].t), out ? out : err.msg, rendered[i].want);
        free(out);
        CHECK(chat_stops(rendered[i].t)[0] != NULL);
    }
    /* Without the assistant opening (ChatML), and one message. */
    char *out = NULL;
    size_t len = 0;
    CHECK(chat_render(CHAT_CHATML, conv + 1, 1, 0, &out, &len, NULL) == 0 &&
          strcmp(out, "<|im_start|>user\nHello<|im_end|>\n") == 0);
    free(out);
    err_t err;
    chat_msg_t bad[] = {{"user", "a"}, {"robot", "b"}};
    CHECK(chat_render(CHAT_CHATML, bad, 2, 1, &out, &len, &err) == ERR_FORMAT && out == NULL &&
          strstr(err.msg, "messages[1]: unknown role 'robot'"));
    CHECK(chat_render(CHAT_PLAIN, bad, 0, 1, &out, &len, &err) == ERR_INVAL);
}

static void test_names_and_gguf(void)
{
    for (int i = 0; i < CHAT_N_TEMPLATES; i++) {
        chat_tmpl_t t;
        CHECK(chat_tmpl_from_name(chat_tmpl_name((chat_tmpl_t)i), &t, NULL) == 0 && t == (chat_tmpl_t)i);
    }
    chat_tmpl_t t;
    err_t err;
    CHECK(chat_tmpl_from_name("jinja", &t, &err) == ERR_NOTFOUND && strstr(err.msg, "'jinja'") &&
          strstr(err.msg, "chatml"));
    /* A GGUF file that carries the Gemma template. */
    char path[] = "/tmp/test_chat_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    close(fd);
    gguf_writer_t *w = NULL;
    CHECK(gguf_writer_create(&w, NULL) == 0);
    CHECK(gguf_writer_set_str(w, "general.architecture", "llama", NULL) == 0);
    CHECK(gguf_writer_set_str(w, "tokenizer.chat_template", templates[5].jinja, NULL) == 0);
    CHECK(gguf_writer_write(w, path, &err) == 0);
    gguf_writer_destroy(&w);
    gguf_ctx_t *g = NULL;
    CHECKF(gguf_open(path, &g, &err) == 0, "%s", err.msg);
    CHECK(chat_tmpl_from_gguf(g) == CHAT_GEMMA);
    gguf_close(&g);
    unlink(path);
    CHECK(chat_tmpl_from_gguf(NULL) == CHAT_PLAIN);
}

int main(void)
{
    test_detect();
    test_render();
    test_names_and_gguf();
    return check_finish("test_chat");
}
