/*
 * serve_text.c — growing text with stop strings (see serve_text.h).
 */
#include "serve/serve_text.h"

#include <stdlib.h>
#include <string.h>


void serve_text_init(serve_text_t *t)
{
    memset(t, 0, sizeof *t);
}

void serve_text_fini(serve_text_t *t)
{
    free(t->s);
    memset(t, 0, sizeof *t);
}

void serve_text_add_stop(serve_text_t *t, const char *stop)
{
    if (stop && *stop && t->n_stops < SERVE_TEXT_MAX_STOPS)
        t->stops[t->n_stops++] = stop;
}

int serve_text_append(serve_text_t *t, const char *piece, size_t n)
{
    if (t->stopped)
        return 0;
    if (t->len + n + 1 > t->cap) {
        size_t cap = (t->len + n + 1) * 2;
        char *p = realloc(t->s, cap);
        if (!p)
            return -1;
        t->s = p;
        t->cap = cap;
    }
    size_t old = t->len;
    memcpy(t->s + t->len, piece, n);
    t->len += n;
    t->s[t->len] = '\0';
    /* A stop string that ends in the new bytes starts at most strlen - 1 before them. */
    size_t cut = t->len;
    for (int i = 0; i < t->n_stops; i++) {
        size_t k = strlen(t->stops[i]);
        size_t from = old + 1 >= k ? old + 1 - k : 0;
        for (size_t p = from; p + k <= t->len; p++)
            if (memcmp(t->s + p, t->stops[i], k) == 0) {
                if (p < cut)
                    cut = p;
                break;
            }
    }
    if (cut < t->len) {
        t->len = cut;
        t->s[cut] = '\0';
        t->stopped = 1;
        return 1;
    }
    return 0;
}

size_t serve_text_ready(const serve_text_t *t, int final)
{
    if (final || t->stopped)
        return t->len;
    size_t end = t->len;
    /* Hold back the longest tail that is a proper prefix of a stop string. */
    for (int i = 0; i < t->n_stops; i++) {
        size_t k = strlen(t->stops[i]);
        for (size_t h = k - 1; h > 0; h--)
            if (h <= t->len && memcmp(t->s + t->len - h, t->stops[i], h) == 0) {
                if (t->len - h < end)
                    end = t->len - h;
                break;
            }
    }
    /* Do not split a UTF-8 sequence: back off to the start of an incomplete one. */
    const unsigned char *s = (const unsigned char *)t->s;
    for (size_t back = 1; back <= 3 && back <= end; back++) {
        unsigned char c = s[end - back];
        if ((c & 0xc0) == 0x80)
            continue;   /* continuation byte: keep looking for the lead */
        size_t want = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
        if (want > back)
            end -= back;   /* the sequence is not complete yet */
        break;
    }
    return end;
}
