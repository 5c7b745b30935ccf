/*
 * cli_plan.c — `lingua plan`: solves a planning problem given as JSON (format
 * in plan/plan_json.c) and prints the plan as a table, or as JSON.
 *
 *   lingua plan --problem FILE [--solver dp|milp] [--json] [--overlap] [--time-limit MS]
 *
 * The solver defaults to the DP (the fast path), or the MILP beyond the DP's
 * device limit.  Exit status: 0 a plan was printed; 1 the problem file is
 * unreadable or malformed (the message names the field), or the solver failed
 * (time limit, memory); 2 bad command line, or no feasible plan (the message
 * says why).  Options are parsed here: the shared parser does not know them.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli/cli.h"
#include "plan/plan.h"

#define PLAN_FILE_MAX ((off_t)256 << 20)

typedef struct {
    const char *problem;
    const char *solver;      /* NULL: default */
    int json, overlap;
    int time_limit_ms;
} plan_cli_t;

static int parse_args(int argc, char **argv, plan_cli_t *o)
{
    memset(o, 0, sizeof *o);
    o->time_limit_ms = 60000;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--json")) { o->json = 1; continue; }
        if (!strcmp(a, "--overlap")) { o->overlap = 1; continue; }
        if (!strcmp(a, "--problem") || !strcmp(a, "--solver") || !strcmp(a, "--time-limit")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "error: %s needs a value\n", a);
                return 2;
            }
            const char *v = argv[++i];
            if (!strcmp(a, "--problem")) {
                o->problem = v;
            } else if (!strcmp(a, "--solver")) {
                if (strcmp(v, "dp") && strcmp(v, "milp")) {
                    fprintf(stderr, "error: --solver expects dp or milp, got '%s'\n", v);
                    return 2;
                }
                o->solver = v;
            } else {
                char *end;
                errno = 0;
                long ms = strtol(v, &end, 10);
                if (errno || end == v || *end || ms < 0 || ms > 86400000L) {
                    fprintf(stderr, "error: --time-limit expects milliseconds in 0..86400000 (0: none), got '%s'\n", v);
                    return 2;
                }
                o->time_limit_ms = (int)ms;
            }
            continue;
        }
        fprintf(stderr, "error: unknown option '%s' for plan (see lingua help)\n", a);
        return 2;
    }
    if (!o->problem) {
        fprintf(stderr, "error: give the problem with --problem FILE.json\n");
        return 2;
    }
    return 0;
}

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static void fmt_bytes(uint64_t b, char *buf, size_t n)
{
    static const char *unit[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    double v = (double)b;
    int i = 0;
    while (v >= 1024.0 && i < 5) {
        v /= 1024.0;
        i++;
    }
    if (i == 0)
        snprintf(buf, n, "%llu B", (unsigned long long)b);
    else
        snprintf(buf, n, "%.2f %s", v, unit[i]);
}

static void print_table(const plan_problem_t *p, const plan_t *plan, const plan_stage_cost_t *cost,
                        const plan_replicas_t *rep, const char *solver, double ms)
{
    int thr = p->objective == PLAN_THROUGHPUT;
    printf("plan for %d units on %d devices (header %d '%s'), objective %s\n", p->n_units, p->n_dev, p->header,
           p->name[p->header], thr ? "throughput" : "latency");
    printf("%-5s  %-24s  %-13s  %-25s  %12s  %12s  %s\n", "stage", "device", "units", "memory used / available",
           "compute", "hop out", "to");
    for (int s = 0; s < plan->n_stages; s++) {
        const plan_stage_t *st = &plan->stage[s];
        char dev[96], units[32], used[24], avail[24], mem[56];
        snprintf(dev, sizeof dev, "%d %s", st->device, p->name[st->device]);
        snprintf(units, sizeof units, "%d..%d (%d)", st->start, st->end - 1, st->end - st->start);
        fmt_bytes(cost[s].mem, used, sizeof used);
        fmt_bytes(p->dev_mem[st->device], avail, sizeof avail);
        snprintf(mem, sizeof mem, "%s / %s", used, avail);
        const char *to = s + 1 < plan->n_stages ? p->name[plan->stage[s + 1].device]
                       : plan->n_stages > 1 ? "header (token)" : "-";
        printf("%5d  %-24.24s  %-13s  %-25s  %9.3f ms  %9.3f ms  %s\n", s, dev, units, mem, cost[s].compute * 1e3,
               cost[s].hop * 1e3, to);
    }
    if (thr)
        printf("objective: %.6f ms per token at the slowest stage, incl. its outgoing hop (%.2f tokens/s in a full pipeline)\n",
               plan->objective * 1e3, plan->objective > 0.0 ? 1.0 / plan->objective : 0.0);
    else
        printf("objective: %.6f ms per token around the ring (%.2f tokens/s for one sequence)\n",
               plan->objective * 1e3, plan->objective > 0.0 ? 1.0 / plan->objective : 0.0);
    if (rep) {
        char b[24];
        fmt_bytes(rep->bytes, b, sizeof b);
        printf("overlap replicas (%s in all):%s\n", b, rep->n ? "" : " none fit");
        for (int i = 0; i < rep->n; i++)
            printf("  device %d %s holds copies of units %d..%d\n", rep->r[i].device, p->name[rep->r[i].device],
                   rep->r[i].start, rep->r[i].end - 1);
    }
    printf("solver: %s, %.3f ms\n", solver, ms);
}

int cli_plan(int argc, char **argv)
{
    plan_cli_t o;
    int rc = parse_args(argc, argv, &o);
    if (rc)
        return rc;
    struct stat sb;
    if (stat(o.problem, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size > PLAN_FILE_MAX) {
        fprintf(stderr, "error: '%s': %lld bytes, more than the %lld a problem may have\n", o.problem,
                (long long)sb.st_size, (long long)PLAN_FILE_MAX);
        return 1;
    }
    size_t len;
    char *text = cli_read_file(o.problem, &len);
    if (!text)
        return 1;
    plan_problem_t p;
    err_t err;
    err_clear(&err);
    rc = plan_problem_from_json(text, len, &p, &err);
    free(text);
    if (rc) {
        fprintf(stderr, "error: '%s': %s\n", o.problem, err.msg);
        return 1;
    }
    const char *solver = o.solver ? o.solver : p.n_dev <= PLAN_DP_MAX_DEVICES ? "dp" : "milp";
    plan_t plan;
    double t0 = now_ms();
    if (!strcmp(solver, "dp")) {
        rc = plan_solve_dp(&p, &plan, &err);
    } else {
        plan_milp_opts_t mo = {.time_limit_ms = o.time_limit_ms};
        rc = plan_solve_milp(&p, &mo, &plan, &err);
    }
    double ms = now_ms() - t0;
    if (rc) {
        fprintf(stderr, "error: %s\n", err.msg);
        plan_problem_fini(&p);
        return rc == ERR_NOTFOUND ? 2 : 1;
    }
    plan_replicas_t rep;
    plan_stage_cost_t cost[PLAN_MAX_DEVICES];
    double obj;
    if ((o.overlap && (rc = plan_overlap(&p, &plan, &rep, &err)) != 0) ||
        (rc = plan_eval(&p, &plan, &obj, cost, &err)) != 0) {
        fprintf(stderr, "error: %s\n", err.msg);
        plan_problem_fini(&p);
        return 1;
    }
    if (o.json)
        plan_write_json(stdout, &plan, solver, ms, o.overlap ? &rep : NULL);
    else
        print_table(&p, &plan, cost, o.overlap ? &rep : NULL, solver, ms);
    plan_problem_fini(&p);
    return 0;
}
