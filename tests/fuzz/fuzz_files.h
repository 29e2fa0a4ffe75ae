/* What the fuzz targets share: a private folder for the files they hand to the loaders
 * (in /dev/shm when it exists, so the atomic writers' fsyncs cost nothing), removed at
 * exit, and a way to stop on a broken property that libFuzzer records as a crash. */
#ifndef ZOO_FUZZ_FILES_H
#define ZOO_FUZZ_FILES_H

#include "../test_files.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static char fuzz_dir[64];

static void fuzz_remove_dir(void) {
    if (fuzz_dir[0]) remove_tree(fuzz_dir);
}

/* A broken property (not a rejected input): says which, and aborts so libFuzzer keeps
 * the input as a crash. */
__attribute__((noreturn, unused)) static void fuzz_fail(const char *what) {
    fprintf(stderr, "fuzz: property broken: %s\n", what);
    abort();
}

/* creates the folder once; aborts when it cannot, since then nothing can be tested */
static void fuzz_files_init(void) {
    if (fuzz_dir[0]) return;
    struct stat st;
    const char *base = stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) && access("/dev/shm", W_OK) == 0
                           ? "/dev/shm"
                           : "/tmp";
    snprintf(fuzz_dir, sizeof fuzz_dir, "%s/zoo-fuzz-XXXXXX", base);
    if (!mkdtemp(fuzz_dir)) fuzz_fail("cannot create a temp folder");
    atexit(fuzz_remove_dir);
}

/* fuzz_dir/name, in a static buffer per call site's use (two at once at most) */
static const char *fuzz_path(const char *name) {
    static char ring[2][256];
    static int next;
    char *p = ring[next++ % 2];
    snprintf(p, sizeof ring[0], "%s/%s", fuzz_dir, name);
    return p;
}

/* writes size bytes to fuzz_dir/name and returns that path */
__attribute__((unused)) static const char *fuzz_write(const char *name, const uint8_t *data, size_t size) {
    const char *path = fuzz_path(name);
    FILE *fp = fopen(path, "wb");
    if (!fp || (size && fwrite(data, 1, size, fp) != size) || fclose(fp) != 0) fuzz_fail("cannot write the input file");
    return path;
}

#endif
