/* fuzz_replay - runs a fuzz target's LLVMFuzzerTestOneInput over files and directories, for
 * compilers without libFuzzer (the CTest tests fuzz_*_replay run every seed and every saved
 * regression input through the harness this way, under ASan/UBSan in the sanitizer build).
 * Usage: fuzz_replay PATH...   (a directory means every regular file in it)
 *
 * Memory: like libFuzzer's -malloc_limit_mb, a single allocation over 2 GiB is an error
 * under AddressSanitizer (max_allocation_size_mb), so an input that makes the code under test
 * ask for absurd amounts fails the test instead of eating the machine; without ASan the
 * address space is capped at 8 GiB, so such an allocation fails (and must fail cleanly).
 * Time: an input that runs for more than REPLAY_SECONDS ends the process with SIGALRM. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#define REPLAY_SECONDS 30 /* per input; the seeds take well under a second even under ASan */

#if defined(__SANITIZE_ADDRESS__)
#define REPLAY_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define REPLAY_ASAN 1
#endif
#endif

#ifdef REPLAY_ASAN
const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "max_allocation_size_mb=2048"; }
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static unsigned long n_inputs;

static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        printf("FAIL: cannot open %s\n", path);
        return -1;
    }
    size_t cap = 1 << 16, n = 0;
    uint8_t *buf = malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap) break;
        uint8_t *nb = realloc(buf, cap * 2);
        if (!nb) {
            free(buf);
            buf = NULL;
        }
        buf = nb;
        cap *= 2;
    }
    fclose(f);
    if (!buf) {
        printf("FAIL: out of memory reading %s\n", path);
        return -1;
    }
    /* a private copy of exactly `n` bytes, so that ASan sees any read past the input */
    uint8_t *data = malloc(n ? n : 1);
    if (!data) {
        free(buf);
        return -1;
    }
    memcpy(data, buf, n);
    free(buf);
    printf("  %s (%zu bytes)\n", path, n);
    fflush(stdout);
    alarm(REPLAY_SECONDS); /* a hang is a failure too (libFuzzer: -timeout) */
    LLVMFuzzerTestOneInput(data, n);
    alarm(0);
    free(data);
    n_inputs++;
    return 0;
}

static int cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int run_path(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        printf("FAIL: %s does not exist\n", path);
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) return run_file(path);
    DIR *d = opendir(path);
    if (!d) return -1;
    char **names = NULL;
    size_t count = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char **nn = realloc(names, (count + 1) * sizeof *names);
        if (!nn) break;
        names = nn;
        size_t len = strlen(path) + strlen(e->d_name) + 2;
        names[count] = malloc(len);
        if (!names[count]) break;
        snprintf(names[count], len, "%s/%s", path, e->d_name);
        count++;
    }
    closedir(d);
    if (count) qsort(names, count, sizeof *names, cmp);
    int rc = 0;
    for (size_t i = 0; i < count; i++) {
        struct stat fs;
        if (stat(names[i], &fs) == 0 && S_ISREG(fs.st_mode) && run_file(names[i]) != 0) rc = -1;
        free(names[i]);
    }
    free(names);
    return rc;
}

int main(int argc, char **argv)
{
#ifndef REPLAY_ASAN
    struct rlimit lim = {8ull << 30, 8ull << 30};
    setrlimit(RLIMIT_AS, &lim);
#endif
    int rc = 0;
    for (int i = 1; i < argc; i++)
        if (run_path(argv[i]) != 0) rc = 1;
    printf("%lu input(s) replayed\n", n_inputs);
    if (n_inputs == 0) {
        printf("FAIL: no inputs\n");
        return 1;
    }
    return rc;
}
