/*
 * generate.c — the single-executor generation loop (see generate.h).
 */
#include "exec/generate.h"

#include <string.h>
#include "util/clock.h"

int gen_run(const gen_request_t *r, const int32_t *prompt, size_t n_prompt, gen_stats_t *stats, err_t *err)
{
    memset(stats, 0, sizeof *stats);
    const exec_params_t *p = exec_params(r->exec);
    const int n_vocab = (int)exec_model(r->exec)->hp.n_vocab;
    if (n_prompt == 0)
        return err_set(err, ERR_INVAL, "empty prompt: at least one token is needed");
    if (r->n_predict < 0)
        return err_set(err, ERR_INVAL, "n_predict = %d: must be >= 0", r->n_predict);
    if (n_prompt > (size_t)p->n_ctx)
        return err_set(err, ERR_RANGE, "prompt of %zu tokens exceeds the context of %d", n_prompt, p->n_ctx);
    exec_seq_clear(r->exec, r->seq);
    memcpy(r->history, prompt, n_prompt * sizeof *prompt);
    stats->n_prompt = n_prompt;

    /* Prompt, in batches; logits only for the last token of the last batch. */
    double t0 = clock_now();
    int rc;
    for (size_t done = 0; done < n_prompt;) {
        size_t n = n_prompt - done;
        if (n > (size_t)p->max_batch)
            n = (size_t)p->max_batch;
        exec_batch_t b = {.seq = r->seq, .pos0 = (int)done, .n_tokens = (int)n, .tokens = prompt + done,
                          .n_logits = 1};
        if ((rc = exec_run(r->exec, &b, err)))
            return rc;
        done += n;
    }
    double t1 = clock_now();
    stats->prompt_seconds = t1 - t0;

    size_t n_hist = n_prompt;
    for (int i = 0; i < r->n_predict; i++) {
        int32_t id = samp_sample(r->samp, exec_logits(r->exec), r->history, n_hist);
        if (id < 0 || id >= n_vocab)
            return err_set(err, ERR_STATE, "sampler returned id %d outside the vocabulary", id);
        r->history[n_hist++] = id;
        stats->n_gen++;
        if (r->on_token && r->on_token(r->user, id))
            break;
        if (r->tok && tok_is_eog(r->tok, id)) {
            stats->stopped_by_eog = 1;
            break;
        }
        if (i + 1 == r->n_predict)
            break;
        if (n_hist >= (size_t)p->n_ctx)
            break;
        exec_batch_t b = {.seq = r->seq, .pos0 = (int)n_hist - 1, .n_tokens = 1, .tokens = &id, .n_logits = 1};
        if ((rc = exec_run(r->exec, &b, err)))
            return rc;
        stats->n_eval++;
    }
    stats->gen_seconds = clock_now() - t1;
    return 0;
}
