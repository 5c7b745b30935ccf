/*
 * test_ship.c — weights shipped once (real worker processes, loopback): a
 * 3-worker ring of the 15M-shape Q8_0 model where no worker has the model file.
 *  - first start: each worker fetches the metadata and exactly its stage's
 *    tensors into its cache (bytes and seconds printed); second start: nothing
 *    is shipped; both generate what one device does, token for token;
 *  - a chunk corrupted on the way (the coordinator's emulated faulty link) is
 *    caught by the tensor's SHA-256 and fetched again;
 *  - a truncated cache file is detected and replaced;
 *  - a transfer cut off half-way through a tensor resumes where it stopped;
 *  - a worker whose cache is too small for its stage refuses it, saying so.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "ring_check.h"
#include "coord/coord.h"
#include "coord/spawn.h"
#include "util/clock.h"

#define N_GEN 16
#define K 3

static int check_kids(void *user, err_t *err) { return spawn_check(user, err); }

static long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

static int file_has(const char *path, const char *text)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return strstr(buf, text) != NULL;
}

typedef struct {
    const char *tmp, *model;
    const int32_t *prompt, *ref;
    char logs[K][600];
    char caches[K][600];
} ship_t;

/* One start of the ring: K workers without a model file, each with its cache and extra argument
 * (cache_max[i] > 0: --cache-max).  Returns the deploy's rc; *same: tokens equal one device's. */
static int start_ring(ship_t *t, const char *corrupt, const double *cache_max, int *same, double *seconds, err_t *err)
{
    coord_opts_t co;
    coord_opts_default(&co);
    co.model_path = t->model;
    co.n_ctx = 64;
    co.n_seq = 1;
    co.corrupt_tensor = corrupt;
    coord_t *c = NULL;
    *same = 0;
    int rc = coord_create(&co, &c, err);
    if (rc)
        return rc;
    spawn_set_t kids;
    spawn_init(&kids);
    for (int i = 0; i < K; i++) {
        char cmd[4096], extra[64] = "";
        if (cache_max && cache_max[i] > 0)
            snprintf(extra, sizeof extra, "--cache-max %g", cache_max[i]);
        snprintf(cmd, sizeof cmd, "exec '%s' worker --coordinator '%s' --cache '%s' --name ship-%d %s 2> '%s'",
                 LL_LINGUA_BIN, coord_endpoint(c), t->caches[i], i, extra, t->logs[i]);
        char *args[] = {"sh", "-c", cmd, NULL};
        CHECK(spawn_start_exe(&kids, "/bin/sh", args, err) == 0);
    }
    double t0 = clock_now();
    rc = coord_wait_workers(c, K, 30000, check_kids, &kids, err);
    unit_range_t ranges[K] = {{0, 1}, {1, 13}, {13, 14}};
    if (rc == 0)
        rc = coord_deploy(c, ranges, K, 60000, err);
    *seconds = clock_now() - t0;
    if (rc == 0)
        *same = ring_check_session(c, t->prompt, 5, N_GEN, t->ref);
    coord_shutdown(c);
    spawn_stop_all(&kids, 3000);
    coord_destroy(&c);
    return rc;
}

/* The model directory inside worker i's cache (the one entry there). */
static void model_dir(const ship_t *t, int i, char *buf, size_t cap)
{
    char cmd[800];
    snprintf(cmd, sizeof cmd, "ls -d '%s'/*/ 2>/dev/null | head -1", t->caches[i]);
    FILE *p = popen(cmd, "r");
    buf[0] = '\0';
    if (p && !fgets(buf, (int)cap, p))
        buf[0] = '\0';
    if (p)
        pclose(p);
    buf[strcspn(buf, "\n")] = '\0';
    size_t n = strlen(buf);
    if (n && buf[n - 1] == '/')
        buf[n - 1] = '\0';
}

/* Bytes fetched as the worker's last "fetched X of Y MiB" line says (0 when none). */
static double fetched_mib(const char *log)
{
    FILE *f = fopen(log, "r");
    char line[512];
    double mib = 0;
    while (f && fgets(line, sizeof line, f)) {
        const char *p = strstr(line, ": fetched ");
        if (p)
            mib += atof(p + 10);
    }
    if (f)
        fclose(f);
    return mib;
}

int main(void)
{
    const char *shared = check_shared_dir();
    if (!shared) {
        printf("SKIP: ../shared absent\n");
        return 0;
    }
    char model[1024];
    snprintf(model, sizeof model, "%s/models/synth-15Mshape-Q8_0.gguf", shared);
    int32_t prompt[5] = {1, 403, 407, 261, 378}, ref[N_GEN];
    ring_check_reference(model, prompt, 5, N_GEN, ref);
    char tmp[] = "/tmp/test-ship-XXXXXX";
    CHECK(mkdtemp(tmp) != NULL);
    ship_t t = {.tmp = tmp, .model = model, .prompt = prompt, .ref = ref};
    for (int i = 0; i < K; i++) {
        snprintf(t.logs[i], sizeof t.logs[i], "%s/worker-%d.log", tmp, i);
        snprintf(t.caches[i], sizeof t.caches[i], "%s/cache-%d", tmp, i);
    }
    err_t err;
    err_clear(&err);
    int same;
    double s;

    /* First start: everything shipped once. */
    int rc = start_ring(&t, NULL, NULL, &same, &s, &err);
    CHECKF(rc == 0 && same, "first start: rc %d (%s), same %d", rc, err.msg, same);
    double total = 0;
    for (int i = 0; i < K; i++) {
        double mib = fetched_mib(t.logs[i]);
        CHECKF(mib > 0, "worker %d fetched nothing on the first start", i);
        total += mib;
    }
    printf("first start: %.1f MiB shipped to 3 workers in %.2f s (registration to deployed)\n", total, s);
    char dir[700], path[800];
    model_dir(&t, 1, dir, sizeof dir);
    snprintf(path, sizeof path, "%s/model.gguf", dir);
    CHECKF(file_size(path) == file_size(model), "the cache holds a file of the model's size: %s", path);

    /* Second start: nothing shipped. */
    rc = start_ring(&t, NULL, NULL, &same, &s, &err);
    CHECKF(rc == 0 && same, "second start: rc %d (%s), same %d", rc, err.msg, same);
    for (int i = 0; i < K; i++)
        CHECKF(fetched_mib(t.logs[i]) == 0, "worker %d fetched on the second start", i);
    printf("second start: nothing shipped, deployed in %.2f s\n", s);

    /* A truncated cache file (worker 0), a corrupted chunk (worker 2, fresh cache), and a transfer
     * cut off half-way through a tensor (worker 1: its have file says so and the rest is zero). */
    model_dir(&t, 0, dir, sizeof dir);
    snprintf(path, sizeof path, "%s/model.gguf", dir);
    CHECK(truncate(path, file_size(path) / 2) == 0);
    char cmd[800];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", t.caches[2]);
    CHECK(system(cmd) == 0);
    model_dir(&t, 1, dir, sizeof dir);
    snprintf(path, sizeof path, "%s/have", dir);
    FILE *hf = fopen(path, "r");
    int last_t = -1;
    char line[128];
    while (hf && fgets(line, sizeof line, hf))
        if (strstr(line, " done"))
            last_t = atoi(line);
    if (hf)
        fclose(hf);
    CHECK(last_t >= 0);
    gguf_ctx_t *g = NULL;
    CHECK(gguf_open(model, &g, &err) == 0);
    const gguf_tensor_t *gt = g ? gguf_tensor_at(g, (size_t)last_t) : NULL;
    if (gt) {
        hf = fopen(path, "a");
        fprintf(hf, "%d %zu\n", last_t, gt->nbytes / 2);
        fclose(hf);
        snprintf(path, sizeof path, "%s/model.gguf", dir);
        int fd = open(path, O_WRONLY);
        size_t rest = gt->nbytes - gt->nbytes / 2;
        char *zero = calloc(1, rest);
        CHECK(fd >= 0 && pwrite(fd, zero, rest, (off_t)(gguf_data_offset(g) + gt->offset + gt->nbytes / 2)) ==
                             (ssize_t)rest);
        free(zero);
        close(fd);
    }
    rc = start_ring(&t, "output.weight", NULL, &same, &s, &err);   /* only worker 2 (the head) fetches it */
    CHECKF(rc == 0 && same, "start with bad caches: rc %d (%s), same %d", rc, err.msg, same);
    CHECKF(file_has(t.logs[0], "truncated or damaged") && fetched_mib(t.logs[0]) > 0,
           "the truncated cache must be detected and replaced");
    CHECKF(file_has(t.logs[2], "hash mismatch, fetching again"), "the corrupted chunk must be fetched again");
    double resumed = fetched_mib(t.logs[1]);
    CHECKF(gt && resumed > 0 && resumed * 1048576.0 < gt->nbytes * 0.6,
           "worker 1 must fetch only the missing half of '%s' (%.2f MiB fetched)", gt ? gt->name : "?", resumed);
    printf("resumed: %.2f MiB fetched of a %.2f MiB tensor\n", resumed, gt ? gt->nbytes / 1048576.0 : 0);

    /* A cache too small for its stage. */
    double cache_max[K] = {0, 1, 0};
    rc = start_ring(&t, NULL, cache_max, &same, &s, &err);
    CHECKF(rc != 0 && strstr(err.msg, "this device cannot take this stage"), "a too small cache: rc %d (%s)", rc,
           err.msg);
    gguf_close(&g);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    CHECK(system(cmd) == 0);
    return check_finish("test_ship");
}
