/* test_golden - whole networks against PyTorch: for each line of a manifest written by
 * tools/kwvk_py/make_fixtures.py ("name model input output N C H W", paths relative to the
 * manifest), run the model file through the public API and require
 *     max |kwvk - torch| <= 1e-4 * max |torch|
 * and, for classifier outputs, the same top-5 classes per sample (a swap is accepted only
 * between classes whose reference logits differ by less than that bound).
 * Usage: test_golden MANIFEST [NAME-FILTER]; KWVK_GOLDEN_BOUND=r replaces 1e-4 by r. */
#include "kwvk.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static float *read_f32(const char *path, size_t *count)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    float *p = malloc(n > 0 ? (size_t)n : 1);
    if (p && fread(p, 1, (size_t)n, f) != (size_t)n) {
        free(p);
        p = NULL;
    }
    fclose(f);
    *count = (size_t)n / 4;
    return p;
}

static void top5(const float *v, uint32_t n, uint32_t *idx)
{
    for (uint32_t j = 0; j < 5; j++) {
        uint32_t best = UINT32_MAX;
        for (uint32_t i = 0; i < n; i++) {
            int taken = 0;
            for (uint32_t q = 0; q < j; q++) taken |= idx[q] == i;
            if (!taken && (best == UINT32_MAX || v[i] > v[best])) best = i;
        }
        idx[j] = best;
    }
}

/* Do the top-5 of `got` match those of `ref` up to near-ties (within `bound`) in `ref`? */
static int top5_match(const float *ref, const float *got, uint32_t n, double bound)
{
    uint32_t a[5], b[5];
    top5(ref, n, a);
    top5(got, n, b);
    for (int j = 0; j < 5; j++)
        if (a[j] != b[j] && fabs((double)ref[a[j]] - ref[b[j]]) > bound) return 0;
    return 1;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: test_golden MANIFEST [NAME-FILTER]\n");
        return 2;
    }
    const char *filter = argc > 2 ? argv[2] : NULL;
    FILE *mf = fopen(argv[1], "r");
    if (!mf) {
        printf("FAIL: cannot open manifest %s\n", argv[1]);
        return 1;
    }
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", argv[1]);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = 0;
    else snprintf(dir, sizeof dir, ".");

    kwvk_context_desc cd = {.enable_validation = 1};
    kwvk_context *ctx;
    kwvk_result r = kwvk_context_create(&cd, &ctx);
    if (r == KWVK_ERROR_NO_DEVICE) {
        printf("SKIP: %s\n", kwvk_last_error());
        return 77;
    }
    if (r != KWVK_OK) {
        printf("FAIL: %s\n", kwvk_last_error());
        return 1;
    }
    /* KWVK_TEST_FP16=1: a report, not a test: static conv weights stored as fp16
     * (kwvk_net_desc.fp16_weights), errors printed against the fp32 bound; only failures to run
     * count (docs/precision.md has the numbers) */
    const char *f16 = getenv("KWVK_TEST_FP16");
    kwvk_net_desc nd = {.fp16_weights = f16 && f16[0] == '1'};
    /* KWVK_GOLDEN_BOUND=r: a tighter (or looser) relative bound than 1e-4 (the ConvNeXt rows
     * of docs/parity.md use 1e-5) */
    const char *rb = getenv("KWVK_GOLDEN_BOUND");
    const double rel_bound = rb && strtod(rb, NULL) > 0 ? strtod(rb, NULL) : 1e-4;
    if (nd.fp16_weights) printf("fp16 weights: a report; 'over' marks errors beyond the fp32 bound\n");
    char line[4096];
    int passed = 0, failed = 0;
    while (fgets(line, sizeof line, mf)) {
        char name[256], model_p[1024], in_p[1024], out_p[1024];
        unsigned n, c, h, w;
        if (line[0] == '#' || line[0] == '\n') continue;
        if (sscanf(line, "%255s %1023s %1023s %1023s %u %u %u %u", name, model_p, in_p, out_p, &n, &c, &h, &w) != 8) {
            printf("FAIL: bad manifest line: %s", line);
            failed++;
            continue;
        }
        if (filter && !strstr(name, filter)) continue;
        char path[2100];
        snprintf(path, sizeof path, "%s/%s", dir, model_p);
        kwvk_model *model = NULL;
        kwvk_net *net = NULL;
        float *x = NULL, *ref = NULL, *got = NULL;
        size_t nx = 0, nref = 0;
        r = kwvk_model_load_file(path, &model);
        if (r == KWVK_OK) r = kwvk_net_create(ctx, model, &nd, &net);
        snprintf(path, sizeof path, "%s/%s", dir, in_p);
        x = read_f32(path, &nx);
        snprintf(path, sizeof path, "%s/%s", dir, out_p);
        ref = read_f32(path, &nref);
        if (r != KWVK_OK || !x || !ref || nx != (size_t)n * c * h * w) {
            printf("FAIL %-28s setup: %s\n", name, r != KWVK_OK ? kwvk_last_error() : "missing or mis-sized data");
            failed++;
            goto next;
        }
        got = malloc(nref * sizeof *got);
        r = kwvk_net_run(net, x, n, c, h, w, got, nref);
        if (r != KWVK_OK) {
            printf("FAIL %-28s run: %s\n", name, kwvk_last_error());
            failed++;
            goto next;
        }
        double max_ref = 0, max_err = 0;
        for (size_t i = 0; i < nref; i++) {
            if (fabs(ref[i]) > max_ref) max_ref = fabs(ref[i]);
            double e = fabs((double)got[i] - ref[i]);
            if (!(e <= max_err)) max_err = isnan(e) ? INFINITY : e;
        }
        double bound = rel_bound * max_ref;
        int ok = max_err <= bound;
        uint32_t per = (uint32_t)(nref / n);
        int top_ok = 1;
        if (per >= 5 && nref == (size_t)per * n)
            for (uint32_t s = 0; s < n; s++) top_ok &= top5_match(ref + (size_t)s * per, got + (size_t)s * per, per, bound);
        printf("%s %-28s n=%u %ux%ux%u  max|err|=%.3g  bound=%.3g (%.0e x %.3g)  top-5 %s\n",
               ok && top_ok ? "ok  " : nd.fp16_weights ? "over" : "FAIL", name, n, c, h, w, max_err, bound, rel_bound, max_ref,
               per >= 5 ? (top_ok ? "same" : "DIFFERENT") : "n/a");
        if ((ok && top_ok) || nd.fp16_weights) passed++;
        else failed++;
    next:
        free(x);
        free(ref);
        free(got);
        kwvk_net_destroy(net);
        kwvk_model_destroy(model);
    }
    fclose(mf);
    uint32_t vmsg = kwvk_context_validation_messages(ctx);
    kwvk_context_destroy(ctx);
    if (vmsg) {
        printf("FAIL: %u validation-layer message(s)\n", vmsg);
        failed++;
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed || passed == 0 ? 1 : 0;
}
