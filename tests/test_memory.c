/*
 * test_memory.c — resident memory proportional to the stage (real processes,
 * loopback): a 3-worker ring of the 15M-shape Q8_0 model, each worker holding
 * a third of the weights.  After generating, each worker's peak resident set
 * (VmHWM from /proc/PID/status) must be at most 1.15 x (its stage's weights +
 * KV cache + scratch), where scratch is the unit's activations plus a ring
 * process's fixed cost: the peak RSS of a worker that has set itself up but
 * holds no stage (code, libraries, libzmq, metadata, tokenizer, buffers).  The coordinator (this process, which never
 * runs a stage) must stay within 1.15 x (that fixed cost + its session
 * buffers).  Before weights were checked per tensor and profiling timed one
 * unit per kind, every worker held the whole model (and failed this).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "coord/coord.h"
#include "coord/spawn.h"
#include "model/graph.h"
#include "model/seg.h"
#include "node/manifest.h"
#include "plan/unit_cost.h"

#define N_CTX 128
#define CHUNK 64
#define K 3

static long vm_hwm_kb(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "VmHWM:", 6))
            kb = atol(line + 6);
    if (f)
        fclose(f);
    return kb;
}

/* The fixed cost of a ring process (bytes): the peak RSS of a worker that has set itself up — code,
 * libraries, libzmq's threads and sockets, metadata, tokenizer, graph, send buffers — but holds no
 * stage (its coordinator, a loopback port nobody listens on, never answers).  Read once its peak has
 * not moved for half a second. */
static double fixed_cost(const char *model)
{
    spawn_set_t s;
    spawn_init(&s);
    err_t err;
    char *args[] = {"lingua", "worker", "--coordinator", "tcp://127.0.0.1:9", "-m", (char *)model, "--name", "idle",
                    NULL};
    if (spawn_start_exe(&s, LL_LINGUA_BIN, args, &err))
        return -1;
    long last = -1, kb = 0;
    for (int stable = 0, i = 0; i < 100 && stable < 5; i++) {
        usleep(100000);
        kb = vm_hwm_kb(s.pids[0]);
        stable = kb == last && kb > 0 ? stable + 1 : 0;
        last = kb;
    }
    spawn_stop_all(&s, 1000);
    return kb * 1024.0;
}

static int check_kids(void *user, err_t *err) { return spawn_check(user, err); }

static void on_token(void *user, uint64_t session, int32_t id, int final)
{
    (void)session;
    (void)id;
    *(int *)user |= final;
}

int main(void)
{
    const char *shared = check_shared_dir();
    if (!shared || access("/proc/self/status", R_OK) != 0) {
        printf("SKIP: %s\n", shared ? "no /proc" : "../shared absent");
        return 0;
    }
    char model[1024];
    snprintf(model, sizeof model, "%s/models/synth-15Mshape-Q8_0.gguf", shared);
    err_t err;
    err_clear(&err);
    double base = fixed_cost(model);
    CHECKF(base > 0, "the idle worker did not start");

    coord_opts_t co;
    coord_opts_default(&co);
    co.model_path = model;
    co.n_ctx = N_CTX;
    co.n_seq = 1;
    coord_t *c = NULL;
    CHECKF(coord_create(&co, &c, &err) == 0, "%s", err.msg);
    if (!c)
        return check_finish("test_memory");
    const seg_t *seg = coord_seg(c);
    const model_t *m = coord_model(c);
    unit_cost_t *cost = calloc((size_t)seg->n_units, sizeof *cost);
    CHECK(cost && unit_cost_compute(seg, cost, &err) == 0);

    /* Three stages of about equal weight. */
    size_t total = 0;
    for (int u = 0; u < seg->n_units; u++)
        total += cost[u].weight_bytes;
    unit_range_t ranges[K];
    int at = 0;
    size_t acc = 0;
    for (int i = 0; i < K; i++) {
        int end = at + 1;
        acc += cost[at].weight_bytes;
        while (i < K - 1 && end < seg->n_units - (K - 1 - i) && acc + cost[end].weight_bytes / 2 <= total * (i + 1) / K)
            acc += cost[end++].weight_bytes;
        if (i == K - 1)
            end = seg->n_units;
        ranges[i] = (unit_range_t){at, end};
        at = end;
    }

    spawn_set_t kids;
    spawn_init(&kids);
    char chunk[16];
    snprintf(chunk, sizeof chunk, "%d", CHUNK);
    for (int i = 0; i < K; i++) {
        char name[16];
        snprintf(name, sizeof name, "mem-%d", i);
        char *args[] = {"lingua", "worker", "--coordinator", (char *)coord_endpoint(c), "-m", model, "--name", name,
                        "--chunk", chunk, NULL};
        CHECK(spawn_start_exe(&kids, LL_LINGUA_BIN, args, &err) == 0);
    }
    int rc = coord_wait_workers(c, K, 30000, check_kids, &kids, &err);
    if (rc == 0)
        rc = coord_deploy(c, ranges, K, 30000, &err);
    CHECKF(rc == 0, "%s", err.msg);
    int32_t prompt[6] = {1, 100, 200, 300, 400, 500};
    samp_params_t sp;
    samp_params_default(&sp);
    sp.temp = 0;
    int done = 0;
    uint64_t session;
    if (rc == 0 && coord_session_start(c, prompt, 6, 48, &sp, 0, on_token, &done, &session, &err) == 0)
        for (int i = 0; i < 300 && !done; i++)
            if (coord_poll(c, 100, &err))
                break;
    CHECKF(done, "generation did not finish: %s", err.msg);

    for (int i = 0; i < K; i++) {
        /* the worker index the coordinator gave name mem-i (it sorts by name: the same order) */
        int *idx = malloc(gguf_tensor_count(m->gguf) * sizeof *idx);
        int n = manifest_stage_tensors(seg, m->gguf, ranges[i].begin, ranges[i].end, idx,
                                       (int)gguf_tensor_count(m->gguf));
        double weights = 0, kv = 0, scratch = 0;
        for (int t = 0; t < n; t++)
            weights += (double)gguf_tensor_at(m->gguf, (size_t)idx[t])->nbytes;
        free(idx);
        for (int u = ranges[i].begin; u < ranges[i].end; u++) {
            kv += (double)cost[u].kv_bytes_per_token * N_CTX;
            if ((double)cost[u].scratch_bytes_per_token * CHUNK > scratch)
                scratch = (double)cost[u].scratch_bytes_per_token * CHUNK;
        }
        double need = weights + kv + scratch + base;
        double peak = vm_hwm_kb(kids.pids[i]) * 1024.0;
        printf("worker %d (units %d-%d): peak %.1f MiB, stage weights %.1f + KV %.1f + scratch %.1f + fixed %.1f "
               "= %.1f MiB: %.2fx (whole model %.1f MiB)\n", i, ranges[i].begin, ranges[i].end, peak / 1048576,
               weights / 1048576, kv / 1048576, scratch / 1048576, base / 1048576, need / 1048576, peak / need,
               (double)model_weight_bytes(m) / 1048576);
        CHECKF(peak > 0 && peak <= 1.15 * need, "worker %d: peak %.1f MiB > 1.15 x %.1f MiB", i, peak / 1048576,
               need / 1048576);
    }
    double cbuf = (double)co.n_seq * (N_CTX * 4.0 + m->hp.n_vocab * 4.0);
    double cpeak = vm_hwm_kb(getpid()) * 1024.0;
    printf("coordinator: peak %.1f MiB, fixed %.1f + buffers %.2f MiB: %.2fx\n", cpeak / 1048576, base / 1048576,
           cbuf / 1048576, cpeak / (base + cbuf));
    CHECKF(cpeak <= 1.15 * (base + cbuf), "coordinator: peak %.1f MiB > 1.15 x %.1f MiB", cpeak / 1048576,
           (base + cbuf) / 1048576);
    coord_shutdown(c);
    spawn_stop_all(&kids, 3000);
    coord_destroy(&c);
    free(cost);
    return check_finish("test_memory");
}
