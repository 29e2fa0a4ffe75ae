/* Atomic file replacement shared by checkpoints and images (see atomic.h). */
#include "atomic.h"

#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void *need(void *p) { return zoo__need(p, "file I/O"); }

int zoo__atomic_begin(zoo_atomic_file *f, const char *path) {
    size_t size = strlen(path) + 64;
    char *name = need(malloc(size));
    int err = 0;
    for (int k = 0; k < 100; k++) {
        snprintf(name, size, "%s.tmp%ld-%d", path, (long)getpid(), k);
        int fd = open(name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd < 0) {
            err = errno;
            if (err == EEXIST) continue; /* another write of the same path is under way */
            break;
        }
        FILE *fp = fdopen(fd, "wb");
        if (fp) {
            *f = (zoo_atomic_file){.fp = fp, .tmp = name, .path = path};
            return 0;
        }
        err = errno;
        close(fd);
        unlink(name);
        break;
    }
    zoo_set_error("%s: cannot write: cannot create temporary file %s: %s", path, name, strerror(err));
    free(name);
    return -1;
}

/* Makes the rename durable. Some file systems cannot sync a directory (EINVAL); the file
 * itself is synced already, so that is not an error. */
static int sync_parent_dir(const char *path) {
    const char *slash = strrchr(path, '/');
    char *dir = need(slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup("."));
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), err = 0;
    if (fd < 0 || fsync(fd) != 0) err = errno;
    if (fd >= 0) close(fd);
    if (err && err != EINVAL)
        zoo_set_error("%s: written, but syncing its directory %s failed: %s", path, dir, strerror(err));
    free(dir);
    return err && err != EINVAL ? -1 : 0;
}

int zoo__atomic_commit(zoo_atomic_file *f, int err, const char *what) {
    const char *step = "write";
    if (!err && fflush(f->fp) != 0) err = errno;
    if (!err && fsync(fileno(f->fp)) != 0) {
        step = "sync";
        err = errno;
    }
    if (fclose(f->fp) != 0 && !err) {
        step = "close";
        err = errno;
    }
    if (!err && rename(f->tmp, f->path) != 0) {
        step = "rename";
        err = errno;
    }
    if (err) {
        if (what && !strcmp(step, "write"))
            zoo_set_error("%s: cannot write: %s on temporary file %s (%s)", f->path, what, f->tmp, strerror(err));
        else
            zoo_set_error("%s: cannot write: could not %s temporary file %s: %s", f->path, step, f->tmp,
                          strerror(err));
        unlink(f->tmp);
    }
    free(f->tmp);
    f->tmp = NULL;
    return err ? -1 : sync_parent_dir(f->path);
}
