/* Files replaced atomically: write a fresh temporary file beside the target, fsync it,
 * rename it over the target, fsync the directory. A reader sees the old file or the
 * new one, never a half-written one, and a failure leaves the old file as it was. */
#ifndef ZOO_ATOMIC_H
#define ZOO_ATOMIC_H

#include <stdio.h>

typedef struct zoo_atomic_file {
    FILE *fp;         /* write the contents here */
    char *tmp;        /* its name, beside the target */
    const char *path; /* the target */
} zoo_atomic_file;

/* Opens a new temporary file (O_EXCL, so two writers of one path never share one).
 * 0, or -1 with zoo_last_error(). */
int zoo__atomic_begin(zoo_atomic_file *f, const char *path);

/* Finishes: write_err is the errno of a failed write (0 if the contents went out);
 * then flush, fsync, close and rename. On any failure the temporary file is removed,
 * the target is untouched, and the message says which step failed (what, when given,
 * describes the write failure). 0, or -1 with zoo_last_error(). */
int zoo__atomic_commit(zoo_atomic_file *f, int write_err, const char *what);

#endif
