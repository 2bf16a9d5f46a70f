/* check_loader_ref - the model loader and the CPU references, without a GPU: small enough to
 * run under valgrind memcheck (tests/hostile/valgrind.sh) and as a plain CTest test.
 *
 * For the built-in test networks (mw.c) and every model file or directory given:
 *   - load it from a file (the mmap path) and from memory, and compare what both report;
 *   - query the info and every label;
 *   - run the whole model through the CPU references (kw_ref_model_run) at the default input
 *     with batch 2 and at a second, larger input size; check the output shape, that the
 *     outputs are finite, and that the two samples of the batch match single-sample runs;
 *   - load truncations of the file every 64 bytes, at most ~256 of them (error paths).
 * Usage: check_loader_ref [MODEL-FILE-OR-DIR...] */
#include "ref.h"
#include "th.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int n_models;

static void *read_all(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    if (fseek(f, 0, SEEK_END) != 0) {
        fclose(f);
        return NULL;
    }
    long n = ftell(f);
    rewind(f);
    void *p = malloc(n > 0 ? (size_t)n : 1);
    if (p && n > 0 && fread(p, 1, (size_t)n, f) != (size_t)n) {
        free(p);
        p = NULL;
    }
    fclose(f);
    *size = n > 0 ? (size_t)n : 0;
    return p;
}

static void run_ref(const char *name, const kwvk_model *m, kw_shape in, uint32_t n)
{
    size_t nx = (size_t)n * kw_shape_count(in);
    float *x = malloc(nx * sizeof *x);
    if (!x) exit(1);
    th_fill(x, nx, 77);
    float *y = NULL;
    kw_shape out;
    kwvk_result r = kw_ref_model_run(m, n, in, x, &y, &out);
    if (r == KWVK_ERROR_INVALID_ARGUMENT) { /* a size the network cannot take: fine, said so */
        printf("     %s at %ux%ux%u: %s\n", name, in.c, in.h, in.w, kwvk_last_error());
        free(x);
        return;
    }
    TH_CHECK(r == KWVK_OK, "%s: reference run at %ux%ux%u: %s", name, in.c, in.h, in.w, kwvk_last_error());
    if (r != KWVK_OK) {
        free(x);
        return;
    }
    TH_CHECK(out.c == m->info.num_classes, "%s: %u output channels, %u classes", name, out.c, m->info.num_classes);
    uint64_t per = kw_shape_count(out);
    for (uint64_t i = 0; i < per * n; i++)
        if (!isfinite(y[i])) {
            TH_CHECK(0, "%s: output %llu is not finite", name, (unsigned long long)i);
            break;
        }
    /* each sample of the batch equals the same sample run alone */
    for (uint32_t s = 0; s < n; s++) {
        float *y1 = NULL;
        kw_shape o1;
        r = kw_ref_model_run(m, 1, in, x + s * kw_shape_count(in), &y1, &o1);
        TH_CHECK(r == KWVK_OK && memcmp(y1, y + s * per, per * sizeof *y) == 0,
                 "%s: sample %u of the batch differs from a single run", name, s);
        free(y1);
    }
    printf("ok   %-24s reference at %ux%ux%ux%u -> %ux%ux%u\n", name, n, in.c, in.h, in.w, out.c, out.h, out.w);
    free(y);
    free(x);
}

static void check_image(const char *name, const uint8_t *bytes, size_t size, const char *path)
{
    n_models++;
    kwvk_model *m = NULL;
    kwvk_result r = kwvk_model_load_memory(bytes, size, &m);
    TH_CHECK(r == KWVK_OK, "%s: load from memory: %s", name, kwvk_last_error());
    if (r != KWVK_OK) return;
    if (path) {
        kwvk_model *mf = NULL;
        r = kwvk_model_load_file(path, &mf);
        TH_CHECK(r == KWVK_OK, "%s: load from file: %s", name, kwvk_last_error());
        if (r == KWVK_OK) {
            kwvk_model_info a, b;
            kwvk_model_get_info(m, &a);
            kwvk_model_get_info(mf, &b);
            TH_CHECK(strcmp(a.name, b.name) == 0 && a.num_ops == b.num_ops && a.num_parameters == b.num_parameters &&
                         a.num_classes == b.num_classes,
                     "%s: file and memory loads disagree", name);
            kwvk_model_destroy(mf);
        }
    }
    kwvk_model_info info;
    kwvk_model_get_info(m, &info);
    size_t label_bytes = 0;
    for (uint32_t c = 0; c < info.num_classes; c++) {
        const char *l = kwvk_model_label(m, c);
        TH_CHECK(l != NULL, "%s: label %u is NULL", name, c);
        if (l) label_bytes += strlen(l);
    }
    TH_CHECK(kwvk_model_label(m, info.num_classes) == NULL, "%s: label past the end", name);
    printf("ok   %-24s loaded: \"%s\", %u ops, %u KW layers, %llu parameters, %u classes, %zu label bytes\n", name,
           info.name, info.num_ops, info.num_kw_layers, (unsigned long long)info.num_parameters, info.num_classes,
           label_bytes);
    kw_shape in = {info.input_channels, info.input_height, info.input_width};
    if (kw_shape_count(in) <= 64 * 64 * 4) {
        run_ref(name, m, in, 2);
        kw_shape bigger = {in.c, in.h + 3, in.w + 2};
        run_ref(name, m, bigger, 1);
    } else {
        printf("     %s: input %ux%ux%u too large for a quick reference run\n", name, in.c, in.h, in.w);
    }
    kwvk_model_destroy(m);
    /* truncations every 64 bytes (at most ~256 of them for a large file): refused with a
     * message, nothing leaks */
    int refused = 0;
    size_t step = size / 256 > 64 ? size / 256 : 64;
    for (size_t len = 0; len < size; len += step) {
        kwvk_model *t = NULL;
        r = kwvk_model_load_memory(bytes, len, &t);
        TH_CHECK(r == KWVK_ERROR_MODEL_FORMAT && t == NULL && kwvk_last_error()[0], "%s cut at %zu: %s", name, len,
                 kwvk_result_name(r));
        refused += r != KWVK_OK;
        kwvk_model_destroy(t);
    }
    printf("ok   %-24s %d truncated copies refused\n", name, refused);
}

static void check_path(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        TH_CHECK(0, "%s does not exist", path);
        return;
    }
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        if (!d) return;
        struct dirent *e;
        while ((e = readdir(d))) {
            size_t len = strlen(e->d_name);
            if (len < 6 || strcmp(e->d_name + len - 5, ".kwvk") != 0) continue;
            char p[4096];
            snprintf(p, sizeof p, "%s/%s", path, e->d_name);
            check_path(p);
        }
        closedir(d);
        return;
    }
    size_t size = 0;
    uint8_t *b = read_all(path, &size);
    TH_CHECK(b != NULL, "cannot read %s", path);
    if (!b) return;
    const char *base = strrchr(path, '/');
    check_image(base ? base + 1 : path, b, size, path);
    free(b);
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    void (*builders[])(mw_model *) = {mw_convnet, mw_kwnet, mw_kwbasis, mw_allops};
    char dir[] = "/tmp/kwvk-loader-ref-XXXXXX";
    if (!mkdtemp(dir)) return 1;
    for (size_t i = 0; i < sizeof builders / sizeof builders[0]; i++) {
        mw_model m;
        builders[i](&m);
        mw_layout l;
        uint8_t *b = mw_bytes(&m, &l);
        char path[256];
        snprintf(path, sizeof path, "%s/%s.kwvk", dir, m.name);
        TH_CHECK(b && mw_write_file(&m, path) == 0, "cannot write %s", path);
        if (b) check_image(m.name, b, l.size, path);
        unlink(path);
        free(b);
        mw_free(&m);
    }
    rmdir(dir);
    for (int i = 1; i < argc; i++) check_path(argv[i]);
    printf("%d model(s) checked\n", n_models);
    return th_finish("check_loader_ref");
}
