/* test_hostile_model - hostile model files and hostile run-time arguments.
 *
 *   test_hostile_model files   every malformed file is refused with KWVK_ERROR_MODEL_FORMAT
 *                              (or KWVK_ERROR_IO) and a message naming what is wrong; no GPU.
 *   test_hostile_model run     wrong input shapes and sizes at run time are refused with
 *                              KWVK_ERROR_INVALID_ARGUMENT and a message, and the net still
 *                              runs correctly afterwards (GPU, validation layer on).
 *
 * Each case names the error it expects: the result code and a fragment of the message. The
 * base models come from the C writer (mw.c); every case starts from a fresh valid image and
 * breaks one thing. */
#include "th.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static uint8_t *base;
static size_t base_size;
static mw_layout L;
static int n_cases;

static uint8_t *dup_base(void)
{
    uint8_t *b = malloc(base_size);
    if (!b) exit(1);
    memcpy(b, base, base_size);
    return b;
}

/* Load `b` and require result `want` whose message contains `sub`. */
static void expect(const char *name, const uint8_t *b, size_t n, kwvk_result want, const char *sub, int quiet)
{
    n_cases++;
    kwvk_model *m = (kwvk_model *)(uintptr_t)1;
    kwvk_result r = kwvk_model_load_memory(b, n, &m);
    const char *msg = kwvk_last_error();
    int ok = r == want && (want == KWVK_OK ? m != NULL : m == NULL) && (!sub || strstr(msg, sub)) &&
             (want == KWVK_OK || msg[0]);
    if (!ok) {
        th_failures++;
        printf("FAIL %-44s got %s \"%s\", want %s containing \"%s\"\n", name, kwvk_result_name(r), msg,
               kwvk_result_name(want), sub ? sub : "");
    } else if (!quiet) {
        printf("ok   %-44s %s: %s\n", name, kwvk_result_name(r), r == KWVK_OK ? "" : msg);
    }
    if (r == KWVK_OK) kwvk_model_destroy(m);
}

#define CASE(NAME, WANT, SUB, ...)                                                              \
    do {                                                                                        \
        uint8_t *b = dup_base();                                                                \
        size_t n = base_size;                                                                   \
        (void)n;                                                                                \
        __VA_ARGS__;                                                                            \
        expect(NAME, b, n, WANT, SUB, 0);                                                       \
        free(b);                                                                                \
    } while (0)

#define FMT KWVK_ERROR_MODEL_FORMAT
#define TREC(i) (L.tensors_off + (size_t)(i) * MW_TENSOR_REC)
#define OREC(i) (L.ops_off + (size_t)(i) * MW_OP_REC)

static void set_base(const mw_model *m)
{
    free(base);
    base = mw_bytes(m, &L);
    if (!base) exit(1);
    base_size = L.size;
}

/* ---------------------------------------------------------------------------------------- */
/* Truncation                                                                               */
/* ---------------------------------------------------------------------------------------- */

/* What must a file cut at `len` bytes be refused for, once the header's file_bytes has been
 * patched to match (so that the loader has to find the damage itself)? */
static const char *cut_reason(size_t len, uint32_t n_tensors, uint32_t n_ops)
{
    if (len < MW_HEADER_BYTES) return "too small";
    if (n_tensors && len < L.tensors_off + (size_t)n_tensors * MW_TENSOR_REC) return "tensor table";
    if (len < L.ops_off + (size_t)n_ops * MW_OP_REC) return "op table";
    return "past the end of the file";
}

static void truncation(const mw_model *m, const char *tag)
{
    /* every length, plain (the header's file_bytes no longer matches) and patched */
    int bad = 0;
    for (size_t len = 0; len < base_size; len++) {
        uint8_t *b = dup_base();
        char name[96];
        snprintf(name, sizeof name, "%s: cut at %zu", tag, len);
        int before = th_failures;
        expect(name, b, len, FMT, len < MW_HEADER_BYTES ? "too small" : "truncated", 1);
        if (len >= 24) {
            mw_put64(b, 16, len);
            snprintf(name, sizeof name, "%s: cut at %zu, file_bytes patched", tag, len);
            expect(name, b, len, FMT, cut_reason(len, m->n_tensors, m->n_ops), 1);
        }
        bad += th_failures != before;
        free(b);
    }
    printf("%s %s: truncation at each of %zu lengths (plain and with file_bytes patched)\n", bad ? "FAIL" : "ok  ",
           tag, base_size);
    /* the section boundaries by name, printed with their messages */
    struct {
        const char *what;
        size_t at;
    } cuts[] = {{"inside the magic", 4},          {"after the header", MW_HEADER_BYTES},
                {"inside the meta", L.meta_off + 32}, {"after the meta", L.tensors_off},
                {"inside the tensor table", TREC(1) + 8}, {"after the tensor table", L.ops_off},
                {"inside the op table", OREC(0) + 80},   {"after the op table", L.ops_off + m->n_ops * MW_OP_REC},
                {"at the tensor data", L.data_off},      {"inside the last tensor", base_size - 4}};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        char name[96];
        snprintf(name, sizeof name, "%s: cut %s", tag, cuts[i].what);
        CASE(name, FMT, cuts[i].at < MW_HEADER_BYTES ? "too small" : "truncated", n = cuts[i].at);
        snprintf(name, sizeof name, "%s: cut %s, file_bytes patched", tag, cuts[i].what);
        CASE(name, FMT, cut_reason(cuts[i].at, m->n_tensors, m->n_ops), n = cuts[i].at;
             if (n >= 24) mw_put64(b, 16, n));
    }
    /* a file with bytes appended is refused too (file_bytes no longer matches) */
    {
        uint8_t *b = malloc(base_size + 64);
        if (!b) exit(1);
        memcpy(b, base, base_size);
        memset(b + base_size, 0, 64);
        expect("padded by 64 bytes", b, base_size + 64, FMT, "padded", 0);
        free(b);
    }
}

/* The mmap path: truncated files on disk, each refused with the path in the message. */
static void file_cases(void)
{
    char dir[] = "/tmp/kwvk-hostile-XXXXXX";
    if (!mkdtemp(dir)) {
        th_failures++;
        printf("FAIL cannot create a temporary directory\n");
        return;
    }
    char path[256];
    size_t cuts[] = {0, 10, MW_HEADER_BYTES, L.ops_off, L.data_off, base_size - 1, base_size};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        snprintf(path, sizeof path, "%s/cut%zu.kwvk", dir, cuts[i]);
        FILE *f = fopen(path, "wb");
        if (!f || fwrite(base, 1, cuts[i], f) != cuts[i]) {
            th_failures++;
            printf("FAIL cannot write %s\n", path);
        }
        if (f) fclose(f);
        kwvk_model *m = NULL;
        kwvk_result r = kwvk_model_load_file(path, &m);
        n_cases++;
        kwvk_result want = cuts[i] == base_size ? KWVK_OK : FMT;
        TH_CHECK(r == want, "file cut at %zu: %s (%s)", cuts[i], kwvk_result_name(r), kwvk_last_error());
        if (r != KWVK_OK) TH_CHECK(strstr(kwvk_last_error(), path) != NULL, "message lacks the path: %s", kwvk_last_error());
        printf("ok   file cut at %-31zu %s: %s\n", cuts[i], kwvk_result_name(r), r == KWVK_OK ? "" : kwvk_last_error());
        kwvk_model_destroy(m);
        unlink(path);
    }
    kwvk_model *m = (kwvk_model *)(uintptr_t)1;
    snprintf(path, sizeof path, "%s/missing.kwvk", dir);
    kwvk_result r = kwvk_model_load_file(path, &m);
    n_cases++;
    TH_CHECK(r == KWVK_ERROR_IO && m == NULL, "missing file: %s", kwvk_result_name(r));
    printf("ok   %-44s %s: %s\n", "missing file", kwvk_result_name(r), kwvk_last_error());
    r = kwvk_model_load_file(dir, &m);
    n_cases++;
    TH_CHECK(r == KWVK_ERROR_IO && m == NULL, "directory: %s", kwvk_result_name(r));
    printf("ok   %-44s %s: %s\n", "a directory", kwvk_result_name(r), kwvk_last_error());
    r = kwvk_model_load_file("/dev/zero", &m);
    n_cases++;
    TH_CHECK(r == KWVK_ERROR_IO && m == NULL, "/dev/zero: %s", kwvk_result_name(r));
    printf("ok   %-44s %s: %s\n", "a device file (/dev/zero)", kwvk_result_name(r), kwvk_last_error());
    rmdir(dir);
    /* NULL arguments */
    TH_CHECK(kwvk_model_load_file(NULL, &m) == KWVK_ERROR_INVALID_ARGUMENT, "load_file(NULL)");
    TH_CHECK(kwvk_model_load_memory(NULL, 10, &m) == KWVK_ERROR_INVALID_ARGUMENT, "load_memory(NULL, 10)");
    TH_CHECK(kwvk_model_load_memory(base, base_size, NULL) == KWVK_ERROR_INVALID_ARGUMENT, "load_memory(out NULL)");
    TH_CHECK(kwvk_model_load_memory(NULL, 0, &m) == FMT, "load_memory(NULL, 0)");
}

/* ---------------------------------------------------------------------------------------- */
/* Field by field                                                                           */
/* ---------------------------------------------------------------------------------------- */

static void header_cases(void)
{
    CASE("wrong magic", FMT, "bad magic", b[0] = 'X');
    CASE("magic of another format (PNG)", FMT, "bad magic", memcpy(b, "\x89PNG\r\n\x1a\n", 8));
    CASE("version 0", FMT, "unsupported model version 0", mw_put32(b, 8, 0));
    CASE("version 3", FMT, "unsupported model version 3", mw_put32(b, 8, 3));
    CASE("version 0xFFFFFFFF", FMT, "unsupported model version", mw_put32(b, 8, 0xFFFFFFFFu));
    CASE("header_bytes 128", FMT, "header size 128", mw_put32(b, 12, 128));
    CASE("file_bytes larger than the file", FMT, "truncated", mw_put64(b, 16, base_size + 1));
    CASE("file_bytes 2^64-1", FMT, "truncated", mw_put64(b, 16, UINT64_MAX));
    CASE("reserved header field", FMT, "reserved header field", mw_put32(b, 60, 1));
    CASE("huge tensor count (2^32-1)", FMT, "tensor count 4294967295", mw_put32(b, 24, 0xFFFFFFFFu));
    CASE("tensor count 65537", FMT, "tensor count 65537", mw_put32(b, 24, 65537));
    CASE("tensor count 65536 (table past the end)", FMT, "tensor table", mw_put32(b, 24, 65536));
    CASE("huge op count (2^32-1)", FMT, "op count 4294967295", mw_put32(b, 28, 0xFFFFFFFFu));
    CASE("op count 0", FMT, "op count 0", mw_put32(b, 28, 0));
    CASE("op count 65536 (table past the end)", FMT, "op table", mw_put32(b, 28, 65536));
    CASE("tensor table offset past the end", FMT, "tensor table", mw_put64(b, 32, base_size + 8));
    CASE("tensor table offset 2^64-8", FMT, "tensor table", mw_put64(b, 32, UINT64_MAX - 7));
    CASE("tensor table offset misaligned", FMT, "tensor table", mw_put64(b, 32, L.tensors_off + 4));
    CASE("tensor table over the header", FMT, "tensor table", mw_put64(b, 32, 0));
    CASE("op table offset past the end", FMT, "op table", mw_put64(b, 40, base_size));
    CASE("op table offset 2^64-8", FMT, "op table", mw_put64(b, 40, UINT64_MAX - 7));
    CASE("meta offset past the end", FMT, "meta section", mw_put64(b, 48, base_size + 64));
    CASE("meta offset 2^64-8", FMT, "meta section", mw_put64(b, 48, UINT64_MAX - 7));
    CASE("meta_bytes 2^32-1", FMT, "meta section", mw_put32(b, 56, 0xFFFFFFFFu));
    CASE("meta_bytes 63", FMT, "meta section", mw_put32(b, 56, 63));
    CASE("op table overlaps the tensor table", FMT, "overlap", mw_put64(b, 40, L.tensors_off));
    CASE("meta overlaps the tensor table", FMT, "overlap", mw_put64(b, 48, L.tensors_off));
}

static void meta_cases(void)
{
    size_t M = L.meta_off;
    CASE("input channels 0", FMT, "input channels 0", mw_put32(b, M, 0));
    CASE("input channels 5", FMT, "input channels 5", mw_put32(b, M, 5));
    CASE("input height 0", FMT, "input size", mw_put32(b, M + 4, 0));
    CASE("input width 2^32-1", FMT, "input size", mw_put32(b, M + 8, 0xFFFFFFFFu));
    CASE("num_classes 0", FMT, "num_classes 0", mw_put32(b, M + 12, 0));
    CASE("num_classes 2^31", FMT, "num_classes", mw_put32(b, M + 12, 1u << 31));
    CASE("num_classes differs from the output", FMT, "outputs 10 channels but the meta says 11 classes",
         mw_put32(b, M + 12, 11); mw_put32(b, M + 60, 0));
    CASE("NaN mean", FMT, "mean/std", mw_putf(b, M + 16, NAN));
    CASE("Inf std", FMT, "mean/std", mw_putf(b, M + 32, INFINITY));
    CASE("std 0", FMT, "mean/std", mw_putf(b, M + 32, 0.0f));
    CASE("negative std", FMT, "mean/std", mw_putf(b, M + 32, -1.0f));
    CASE("resize_short 2^32-1", FMT, "resize/crop", mw_put32(b, M + 48, 0xFFFFFFFFu));
    CASE("crop 16385", FMT, "resize/crop", mw_put32(b, M + 52, 16385));
    CASE("name_bytes past the meta", FMT, "overrun the meta section", mw_put32(b, M + 56, 0xFFFFFFFFu));
    CASE("labels_bytes past the meta", FMT, "overrun the meta section", mw_put32(b, M + 60, 0xFFFFFFF0u));
    CASE("name and labels 2^32-1 each", FMT, "overrun the meta section", mw_put32(b, M + 56, 0xFFFFFFFFu);
         mw_put32(b, M + 60, 0xFFFFFFFFu));
    CASE("NUL inside the name", FMT, "NUL", b[M + MW_META_FIXED + 2] = 0);
    uint32_t name_bytes = mw_get32(base, M + 56);
    size_t lab = M + MW_META_FIXED + name_bytes;
    CASE("NUL inside the labels", FMT, "NUL", b[lab + 1] = 0);
    CASE("one label line too many", FMT, "more label lines", b[lab + 1] = '\n');
    CASE("one label line too few", FMT, "label lines for 10 classes", b[lab + 4] = ' ');
}

static void tensor_cases(void)
{
    /* tensor 0 is the first conv's weight [4, 1, 3, 3] */
    CASE("dtype 0", FMT, "dtype 0 unknown", mw_put32(b, TREC(0), 0));
    CASE("dtype 2 (float16)", FMT, "dtype 2 unknown", mw_put32(b, TREC(0), 2));
    CASE("ndim 0", FMT, "ndim 0", mw_put32(b, TREC(0) + 4, 0));
    CASE("ndim 5", FMT, "ndim 5", mw_put32(b, TREC(0) + 4, 5));
    CASE("dimension 0", FMT, "dimension 1 is 0", mw_put32(b, TREC(0) + 12, 0));
    CASE("unused dimension not 1", FMT, "unused dimension", mw_put32(b, TREC(1) + 12, 2));
    CASE("dims whose product overflows 64 bits", FMT, "overflows", for (int d = 0; d < 4; d++)
             mw_put32(b, TREC(0) + 8 + 4 * d, 0xFFFFFFFFu));
    CASE("dims whose product is 2^32 (wraps in 32 bits)", FMT, "overflows",
         mw_put32(b, TREC(0) + 8, 65536); mw_put32(b, TREC(0) + 12, 65536); mw_put32(b, TREC(0) + 16, 1);
         mw_put32(b, TREC(0) + 20, 1); mw_put64(b, TREC(0) + 32, 0));
    CASE("dims product just over 2^29 elements", FMT, "overflows", mw_put32(b, TREC(0) + 8, 1u << 15);
         mw_put32(b, TREC(0) + 12, 1u << 14); mw_put32(b, TREC(0) + 16, 2); mw_put32(b, TREC(0) + 20, 1));
    CASE("nbytes differs from the dims", FMT, "bytes for 36 float32", mw_put64(b, TREC(0) + 32, 36 * 4 + 4));
    CASE("nbytes 2^64-4 (wraps)", FMT, "bytes for", mw_put64(b, TREC(0) + 32, UINT64_MAX - 3));
    CASE("reserved tensor bytes", FMT, "reserved bytes", mw_put64(b, TREC(0) + 40, 1));
    CASE("data offset not aligned", FMT, "not 64-byte aligned", mw_put64(b, TREC(0) + 24, L.tensor_off[0] + 4));
    CASE("data offset past the end", FMT, "past the end of the file",
         mw_put64(b, TREC(0) + 24, (base_size + 64) / 64 * 64));
    CASE("data offset 2^64-64", FMT, "past the end of the file", mw_put64(b, TREC(0) + 24, UINT64_MAX - 63));
    CASE("data offset + size past the end", FMT, "past the end of the file",
         mw_put64(b, TREC(0) + 24, (base_size - 64) / 64 * 64));
    CASE("data over the header", FMT, "overlaps the header", mw_put64(b, TREC(0) + 24, 0));
    CASE("data over the op table", FMT, "overlaps", mw_put64(b, TREC(0) + 24, L.ops_off / 64 * 64));
    /* the decision: NaN/Inf weights are refused at load, naming the tensor and element */
    CASE("NaN weight", FMT, "tensor 0: element 5 is NaN", mw_putf(b, L.tensor_off[0] + 20, NAN));
    CASE("+Inf weight", FMT, "tensor 2: element 0 is Inf", mw_putf(b, L.tensor_off[2], INFINITY));
    CASE("-Inf weight (last element of the file)", FMT, "is Inf", mw_putf(b, base_size - 4, -INFINITY));
    CASE("signalling NaN bit pattern", FMT, "is NaN", mw_put32(b, L.tensor_off[1], 0x7F800001u));
    /* finite extremes are fine */
    CASE("largest finite and denormal weights load", KWVK_OK, NULL, mw_putf(b, L.tensor_off[1], 3.4028235e38f);
         mw_put32(b, L.tensor_off[1] + 4, 1));
}

static void op_cases(void)
{
    /* op 0: conv2d(v0) with tensors 0..2; op 1: maxpool(v1); op 2: conv2d(v2, residual v2);
     * op 3: add(v3, v2); op 4: global_avgpool; op 5: conv2d 1x1; op 6: softmax */
    CASE("unknown op type 0", FMT, "unknown op type 0", mw_put32(b, OREC(0), 0));
    CASE("unknown op type 99", FMT, "unknown op type 99", mw_put32(b, OREC(3), 99));
    CASE("n_inputs 0", FMT, "n_inputs 0", mw_put32(b, OREC(1) + 4, 0));
    CASE("n_inputs 4", FMT, "n_inputs 4", mw_put32(b, OREC(1) + 4, 4));
    CASE("n_inputs disagrees with the inputs", FMT, "n_inputs 2", mw_put32(b, OREC(1) + 4, 2));
    CASE("graph cycle: op reads its own output", FMT, "cycle", mw_put32(b, OREC(1) + 8, 2));
    CASE("graph cycle: op reads a later value", FMT, "cycle", mw_put32(b, OREC(2) + 8, 6));
    CASE("dangling value reference", FMT, "dangling", mw_put32(b, OREC(3) + 12, 0xFFFFFFFEu));
    CASE("dangling tensor reference (id = count)", FMT, "refers to tensor id 9 of 9", mw_put32(b, OREC(0) + 20, 9));
    CASE("dangling tensor reference (2^32-2)", FMT, "refers to tensor id", mw_put32(b, OREC(0) + 24, 0xFFFFFFFEu));
    CASE("tensor in a slot the op has not", FMT, "unexpected tensor in slot 3", mw_put32(b, OREC(0) + 32, 0));
    CASE("tensor on a parameterless op", FMT, "unexpected tensor", mw_put32(b, OREC(4) + 20, 0));
    CASE("input in a slot the op has not", FMT, "unexpected input", mw_put32(b, OREC(1) + 12, 0);
         mw_put32(b, OREC(1) + 4, 2));
    CASE("conv weight of the wrong size", FMT, "tensor 0 (weight) has 36 elements, expected 144",
         mw_put32(b, OREC(2) + 20, 0));
    CASE("conv weight missing and no weight input", FMT, "exactly one", mw_put32(b, OREC(0) + 20, MW_NONE));
    CASE("conv kernel 0", FMT, "kernel 0x3", mw_put32(b, OREC(0) + 64 + 4, 0));
    CASE("conv kernel 16", FMT, "kernel 16x3", mw_put32(b, OREC(0) + 64 + 4, 16));
    CASE("conv stride 0", FMT, "stride 0x1", mw_put32(b, OREC(0) + 64 + 12, 0));
    CASE("conv stride 9", FMT, "stride", mw_put32(b, OREC(0) + 64 + 16, 9));
    CASE("conv negative padding", FMT, "padding", mw_put32(b, OREC(0) + 64 + 20, (uint32_t)-1));
    CASE("conv dilation 0", FMT, "dilation", mw_put32(b, OREC(0) + 64 + 28, 0));
    CASE("conv groups 0", FMT, "groups 0", mw_put32(b, OREC(0) + 64 + 36, 0));
    CASE("conv groups 3 (do not divide 4)", FMT, "groups 3", mw_put32(b, OREC(2) + 64 + 36, 3));
    CASE("conv activation 4", FMT, "activation 4", mw_put32(b, OREC(0) + 64 + 40, 4));
    CASE("conv out_channels -1", FMT, "out_channels -1", mw_put32(b, OREC(0) + 64, (uint32_t)-1));
    CASE("conv out_channels 2^31-1", FMT, "out_channels", mw_put32(b, OREC(0) + 64, 0x7FFFFFFFu));
    /* op 2 (4 -> 4, 3x3) declared as 8 -> 4 in 2 groups: same weight size, wrong input */
    CASE("conv in_channels disagree with the input", FMT, "conv2d expects 8 input channels, got 4",
         mw_put32(b, OREC(2) + 64 + 44, 8); mw_put32(b, OREC(2) + 64 + 36, 2));
    CASE("pool kernel 0", FMT, "pool kernel", mw_put32(b, OREC(1) + 64, 0));
    CASE("pool stride 16", FMT, "pool stride", mw_put32(b, OREC(1) + 64 + 8, 16));
    CASE("pool padding over half the kernel", FMT, "exceeds half the kernel", mw_put32(b, OREC(1) + 64 + 16, 2));
    CASE("pool ceil_mode 2", FMT, "pool flags", mw_put32(b, OREC(1) + 64 + 24, 2));
    CASE("add activation -5", FMT, "activation -5", mw_put32(b, OREC(3) + 64, (uint32_t)-5));
    CASE("add of mismatched shapes", FMT, "add of shapes", mw_put32(b, OREC(3) + 12, 1));
    CASE("softmax of a spatial value", FMT, "softmax needs", mw_put32(b, OREC(6) + 8, 4));
    CASE("kernel larger than the input", FMT, "smaller than its kernel", mw_put32(b, OREC(1) + 64 + 8, 15);
         mw_put32(b, OREC(1) + 64 + 12, 15); mw_put32(b, OREC(1) + 64, 15));
}

static void kw_cases(void)
{
    mw_model m;
    mw_kwnet(&m);
    set_base(&m);
    /* op 0: kw_attention, op 1: kw_assemble, op 2: conv2d(v0, v2) */
    CASE("kw net loads", KWVK_OK, NULL, (void)0);
    CASE("kw_attention nlm 0", FMT, "nlm 0", mw_put32(b, OREC(0) + 64 + 8, 0));
    CASE("kw_attention cells 2^31-1", FMT, "cells", mw_put32(b, OREC(0) + 64 + 12, 0x7FFFFFFFu));
    CASE("kw_attention nlm x cells too large", FMT, "too large", mw_put32(b, OREC(0) + 64 + 8, 1 << 20);
         mw_put32(b, OREC(0) + 64 + 12, 1 << 20));
    CASE("kw_attention nlc on the standard path", FMT, "standard path", mw_put32(b, OREC(0) + 64 + 16, 1));
    CASE("kw_attention basis count -1", FMT, "basis count", mw_put32(b, OREC(0) + 64 + 20, (uint32_t)-1));
    CASE("kw_attention fc2_b missing", FMT, "fc2_b", mw_put32(b, OREC(0) + 32, MW_NONE));
    CASE("kw_attention hidden norm 2", FMT, "hidden norm 2 unknown", mw_put32(b, OREC(0) + 64 + 28, 2));
    CASE("kw_attention eps without a LayerNorm", FMT, "eps given without", mw_put32(b, OREC(0) + 64 + 32, 1));
    /* LayerNorm hidden norm (eps 1e-5): tensor 1 must then hold [3, hidden] */
    CASE("kw_attention LayerNorm with a [hidden] fc1_b", FMT, "fc1_b + LayerNorm", mw_put32(b, OREC(0) + 64 + 28, 1);
         mw_put32(b, OREC(0) + 64 + 32, 0x3727C5ACu));
    CASE("kw_attention LayerNorm eps 0", FMT, "eps 0 out of range", mw_put32(b, OREC(0) + 64 + 28, 1));
    CASE("kw_assemble cell out-channels 3 (do not divide 4)", FMT, "do not divide", mw_put32(b, OREC(1) + 64 + 16, 3));
    CASE("kw_assemble cell kernel 2 (does not divide 3)", FMT, "does not divide", mw_put32(b, OREC(1) + 64 + 24, 2));
    /* kw_assemble with co = ci = 1 and M = 6: the warehouse [6, 1, 1, 9] has the same size,
     * but it now needs 8 x 6 attention values per sample where the attention gives 4 x 3 */
    CASE("kw_assemble cells disagree with the attention", FMT, "expects 48 attention values per sample, got 12",
         mw_put32(b, OREC(1) + 64 + 16, 1); mw_put32(b, OREC(1) + 64 + 20, 1); mw_put32(b, OREC(1) + 64 + 32, 6);
         mw_put32(b, TREC(4) + 8, 6); mw_put32(b, TREC(4) + 12, 1));
    CASE("conv with both a weight tensor and a weight input", FMT, "exactly one", mw_put32(b, OREC(2) + 20, 0));
    CASE("conv weight input of the wrong size", FMT, "weight input has", mw_put32(b, OREC(2) + 12, 1));
    mw_free(&m);
}

/* Products of op parameters that overflow 32 bits. kw_assemble's output has O*Cg*kh*kw
 * elements per sample; with O = 33025, Cg = 65026, kh = 1, kw = 2 that is 2^32 + 4, which
 * wraps to 4 in 32-bit arithmetic. Each factor is in range, the warehouse [1, 33025, 1, 1] is
 * small, the attention values per sample (130,052 = 4 x 533 x 61) match the input, so only the
 * product betrays it: accepted, the CPU reference and the GPU shader would write 2^32 + 4
 * floats per sample into a 4-float output. */
static void overflow_cases(void)
{
    mw_model m;
    mw_init(&m, 4, 533, 61, 4, "kw_assemble_wraps");
    uint32_t wd[4] = {1, 33025, 1, 1};
    uint32_t t = mw_tensor_add(&m, 4, wd, NULL);
    uint32_t v = mw_op_add(&m, MW_KW_ASSEMBLE, 0, MW_NONE, MW_NONE);
    mw_op *op = mw_last(&m);
    op->tensors[0] = t;
    int32_t p[9] = {33025, 65026, 1, 2, 33025, 1, 1, 1, 1};
    memcpy(op->p, p, sizeof p);
    mw_op_add(&m, MW_SOFTMAX, v, MW_NONE, MW_NONE);
    set_base(&m);
    CASE("kw_assemble output O*Cg*kh*kw = 2^32 + 4 (wraps to 4)", FMT, "op 0 (kw_assemble)", (void)0);
    /* the same op with a product that fits (Cg = 2) loads */
    CASE("kw_assemble with a product that fits loads", KWVK_OK, NULL, mw_put32(b, OREC(0) + 64 + 4, 2);
         mw_put32(b, L.meta_off + 12, 33025 * 2 * 2); mw_put32(b, L.meta_off + 4, 1);
         mw_put32(b, L.meta_off + 8, 1)); /* 4 x 1 x 1 input: nlm = 2 x 2 = 4 attention values */
    mw_free(&m);
}

/* Random single-byte and single-word corruptions of the header, tables and meta: whatever the
 * loader says, it must not crash, and a refusal must carry a message (run under ASan/UBSan
 * in CI). Counted, not printed one by one. */
static void scramble(void)
{
    uint64_t s = 12345;
    int refused = 0, loaded = 0;
    size_t span = L.data_off; /* header, meta and tables */
    for (int i = 0; i < 20000; i++) {
        uint8_t *b = dup_base();
        for (int k = 0; k < 1 + i % 3; k++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            size_t at = (size_t)(s >> 33) % span;
            uint32_t v = (uint32_t)(s >> 7);
            if (i & 1) b[at] = (uint8_t)v;
            else if (at + 4 <= span) mw_put32(b, at & ~(size_t)3, (i & 2) ? v : v & 0xFF);
        }
        kwvk_model *m = NULL;
        kwvk_result r = kwvk_model_load_memory(b, base_size, &m);
        if (r == KWVK_OK) {
            loaded++;
            kwvk_model_info info;
            TH_CHECK(kwvk_model_get_info(m, &info) == KWVK_OK, "info");
            for (uint32_t c = 0; c <= info.num_classes; c++) (void)kwvk_model_label(m, c);
            kwvk_model_destroy(m);
        } else {
            refused++;
            TH_CHECK(m == NULL && kwvk_last_error()[0], "scramble %d: refusal without a message (%s)", i,
                     kwvk_result_name(r));
            TH_CHECK(r == FMT, "scramble %d: %s", i, kwvk_result_name(r));
        }
        free(b);
    }
    n_cases += 20000;
    printf("ok   20000 random corruptions: %d refused with a message, %d still valid\n", refused, loaded);
}

static int files_main(void)
{
    mw_model m;
    mw_convnet(&m);
    set_base(&m);
    expect("the untouched conv net loads", base, base_size, KWVK_OK, NULL, 0);
    truncation(&m, "convnet");
    file_cases();
    header_cases();
    meta_cases();
    tensor_cases();
    op_cases();
    scramble();
    mw_free(&m);
    kw_cases();
    overflow_cases();
    mw_kwbasis(&m);
    set_base(&m);
    expect("the untouched kw basis net loads", base, base_size, KWVK_OK, NULL, 0);
    truncation(&m, "kwbasis");
    mw_free(&m);
    free(base);
    printf("%d hostile-file cases\n", n_cases);
    return th_finish("test_hostile_model files");
}

/* ---------------------------------------------------------------------------------------- */
/* Run time                                                                                 */
/* ---------------------------------------------------------------------------------------- */

static void expect_run_r(kwvk_net *net, const char *name, const float *x, uint32_t n, uint32_t c, uint32_t h,
                         uint32_t w, float *y, size_t ny, kwvk_result want, const char *sub)
{
    kwvk_result r = kwvk_net_run(net, x, n, c, h, w, y, ny);
    int ok = r == want && kwvk_last_error()[0] && (!sub || strstr(kwvk_last_error(), sub));
    TH_CHECK(ok, "%s: got %s \"%s\", want %s containing \"%s\"", name, kwvk_result_name(r), kwvk_last_error(),
             kwvk_result_name(want), sub ? sub : "");
    if (ok) printf("ok   %-44s %s: %s\n", name, kwvk_result_name(r), kwvk_last_error());
}

/* The documented answer to a wrong input shape: KWVK_ERROR_INVALID_ARGUMENT with a message. */
static void expect_run(kwvk_net *net, const char *name, const float *x, uint32_t n, uint32_t c, uint32_t h, uint32_t w,
                       float *y, size_t ny, const char *sub)
{
    expect_run_r(net, name, x, n, c, h, w, y, ny, KWVK_ERROR_INVALID_ARGUMENT, sub);
}

static int run_main(void)
{
    kwvk_context *ctx = th_context(0);
    mw_model mm;
    mw_convnet(&mm);
    kwvk_model *model = th_model(&mm);
    kwvk_net *net = NULL;
    kwvk_result r = kwvk_net_create(ctx, model, NULL, &net);
    TH_CHECK(r == KWVK_OK, "net_create: %s", kwvk_last_error());
    if (r != KWVK_OK) return th_finish("test_hostile_model run");
    static float x[4 * 3 * 64 * 64], y[4 * 10], y0[10];
    th_fill(x, sizeof x / sizeof x[0], 7);
    /* a reference run first */
    r = kwvk_net_run(net, x, 1, 1, 8, 8, y0, 10);
    TH_CHECK(r == KWVK_OK, "first run: %s", kwvk_last_error());

    expect_run(net, "3 channels into a 1-channel model", x, 1, 3, 8, 8, y, 10, "input channels");
    expect_run(net, "0 channels", x, 1, 0, 8, 8, y, 10, "input channels");
    expect_run(net, "batch 0", x, 0, 1, 8, 8, y, 10, "batch 0");
    expect_run(net, "batch 2^32-1", x, 0xFFFFFFFFu, 1, 8, 8, y, 10, "batch");
    expect_run(net, "height 0", x, 1, 1, 0, 8, y, 10, "input size");
    expect_run(net, "width 2^32-1", x, 1, 1, 8, 0xFFFFFFFFu, y, 10, "input size");
    expect_run(net, "1x1 image (smaller than the pool)", x, 1, 1, 1, 1, y, 10, "does not fit the network");
    expect_run(net, "output buffer too small", x, 1, 1, 8, 8, y, 9, "output buffer holds 9");
    expect_run(net, "output buffer too large", x, 1, 1, 8, 8, y, 11, "output buffer holds 11");
    expect_run(net, "output sized for batch 1, batch 2", x, 2, 1, 8, 8, y, 10, "output buffer holds 10");
    expect_run(net, "NULL input", NULL, 1, 1, 8, 8, y, 10, "NULL");
    expect_run(net, "NULL output", x, 1, 1, 8, 8, NULL, 10, "NULL");
    /* a shape inside the API's limits whose activations overflow 32-bit element counts is
     * valid but cannot be run: refused as UNSUPPORTED before anything is allocated */
    expect_run_r(net, "4096 x 1 x 16384 x 16384 (2^40 floats)", x, 4096, 1, 16384, 16384, y, 10,
                 KWVK_ERROR_UNSUPPORTED, "too large");
    TH_CHECK(kwvk_net_prepare(net, 1, 2, 8, 8) == KWVK_ERROR_INVALID_ARGUMENT, "prepare with 2 channels");
    TH_CHECK(kwvk_net_prepare(NULL, 1, 1, 8, 8) == KWVK_ERROR_INVALID_ARGUMENT, "prepare(NULL)");
    uint32_t chw[3];
    TH_CHECK(kwvk_net_output_shape(net, 3, 8, 8, chw) == KWVK_ERROR_INVALID_ARGUMENT, "output_shape 3 channels");
    TH_CHECK(kwvk_net_output_shape(net, 1, 1, 1, chw) == KWVK_ERROR_INVALID_ARGUMENT, "output_shape 1x1");
    kwvk_net_io io;
    TH_CHECK(kwvk_net_get_io(net, 1, 4, 8, 8, &io) == KWVK_ERROR_INVALID_ARGUMENT, "get_io 4 channels");
    TH_CHECK(kwvk_net_submit(net, 1, 4, 8, 8, NULL) == KWVK_ERROR_INVALID_ARGUMENT, "submit 4 channels");

    /* the net is still fine: the same input gives the same output, other sizes work */
    r = kwvk_net_run(net, x, 1, 1, 8, 8, y, 10);
    TH_CHECK(r == KWVK_OK && memcmp(y, y0, sizeof y0) == 0, "run after the refusals: %s, output %s",
             kwvk_result_name(r), r == KWVK_OK && memcmp(y, y0, sizeof y0) == 0 ? "same" : "differs");
    r = kwvk_net_run(net, x, 4, 1, 13, 11, y, 40);
    TH_CHECK(r == KWVK_OK, "run at 4x1x13x11: %s", kwvk_last_error());
    float s = 0;
    for (int i = 0; i < 10; i++) s += y[i];
    TH_CHECK(fabsf(s - 1.0f) < 1e-4f, "softmax output sums to %f", s);
    kwvk_net_stats st;
    kwvk_net_get_stats(net, &st);
    /* 1x1x8x8, 2x1x8x8 (planned, then refused for its output size) and 4x1x13x11: the shapes
     * refused as such must not leave plans behind */
    TH_CHECK(st.plans == 3, "%u plans recorded, expected 3 (refused shapes must not leave plans)", st.plans);
    kwvk_net_destroy(net);
    kwvk_model_destroy(model);
    mw_free(&mm);
    th_context_done(ctx, "run");
    return th_finish("test_hostile_model run");
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc > 1 && strcmp(argv[1], "run") == 0) return run_main();
    if (argc > 1 && strcmp(argv[1], "files") != 0) {
        fprintf(stderr, "usage: test_hostile_model [files|run]\n");
        return 2;
    }
    return files_main();
}
