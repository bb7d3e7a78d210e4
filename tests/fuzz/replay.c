/* replay.c - run a libFuzzer harness's LLVMFuzzerTestOneInput over every
 * file of the corpus folders (or files) given, without libFuzzer: the
 * regression corpus replayed in the ordinary test run (ctest), under the
 * build's sanitizers. Each input is an exactly-sized heap copy, so ASan sees
 * any read past it. A breach aborts (the harness's own check); a folder
 * with no inputs, or one that cannot be read, is an error (exit 1). */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return -1;
    }
    size_t cap = 4096, n = 0, got;
    unsigned char *buf = malloc(cap);
    while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap)
            buf = realloc(buf, cap *= 2);
    }
    fclose(f);
    if (!buf)
        return -1;
    unsigned char *exact = malloc(n ? n : 1);
    if (!exact)
        return -1;
    memcpy(exact, buf, n);
    free(buf);
    LLVMFuzzerTestOneInput(exact, n);
    free(exact);
    return 0;
}

/* Every regular file of @p dir; the count, or -1. */
static long replay_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) {
        perror(dir);
        return -1;
    }
    long count = 0;
    struct dirent *e;
    char path[4096];
    struct stat st;
    while ((e = readdir(d)) != NULL) {
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        if (replay_file(path) != 0) {
            count = -1;
            break;
        }
        count++;
    }
    closedir(d);
    return count;
}

int main(int argc, char **argv)
{
    LLVMFuzzerInitialize(&argc, &argv);
    long total = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        long n = stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode) ? replay_dir(argv[i])
                 : replay_file(argv[i]) == 0                     ? 1
                                                                 : -1;
        if (n <= 0) {
            fprintf(stderr, "replay: %s: %s\n", argv[i], n ? "cannot be read" : "no inputs");
            return 1;
        }
        total += n;
    }
    printf("replay: %ld inputs, no contract broken\n", total);
    return 0;
}
