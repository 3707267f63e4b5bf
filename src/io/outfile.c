// Output files a run can trust (include/normlab/outfile.h): no symlink followed, one live writer,
// no temp files left behind by dead processes.
#include "normlab/check.h"
#include "normlab/outfile.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *kind_of(mode_t m) {
    return S_ISDIR(m) ? "a directory" : S_ISLNK(m) ? "a symbolic link" : S_ISFIFO(m) ? "a FIFO (named pipe)"
           : S_ISCHR(m) || S_ISBLK(m) ? "a device" : S_ISSOCK(m) ? "a socket" : "not a regular file";
}

// path's folder, into dir ("." for a bare name)
static void folder_of(const char *path, char *dir, size_t len) {
    char copy[PATH_MAX];
    snprintf(copy, sizeof copy, "%s", path);
    snprintf(dir, len, "%s", dirname(copy));
}

int outfile_check(const char *what, const char *path, char *err, size_t errlen) {
    NL_NONNULL(what, path, err);
    struct stat st;
    if (lstat(path, &st) == 0 && !S_ISREG(st.st_mode))
        return snprintf(err, errlen, "%s %s is %s: give a file path%s", what, path, kind_of(st.st_mode),
                        S_ISLNK(st.st_mode) ? " (a link at an output is refused: it could send the output anywhere)" : ""),
               -1;
    char dir[PATH_MAX];
    folder_of(path, dir, sizeof dir);
    if (access(dir, W_OK | X_OK))
        return snprintf(err, errlen, "%s %s cannot be written: %s: %s (checked before training)", what, path, dir,
                        strerror(errno)), -1;
    return 0;
}

int outfile_open(const char *path, bool append, char *err, size_t errlen) {
    NL_NONNULL(path, err);
    int fd = open(path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | (append ? O_APPEND : 0), 0644);
    struct stat st;
    if (fd >= 0 && (fstat(fd, &st) || !S_ISREG(st.st_mode))) {
        snprintf(err, errlen, "%s is %s: give a file path", path, kind_of(st.st_mode));
        return close(fd), -1;
    }
    if (fd < 0) {
        bool link = errno == ELOOP;
        return snprintf(err, errlen, "%s cannot be written: %s", path,
                        link ? "it is a symbolic link (refused: it could send the output anywhere)" : strerror(errno)), -1;
    }
    if (!append && ftruncate(fd, 0)) { // emptied only once we know it is a regular file of our own
        snprintf(err, errlen, "%s cannot be emptied: %s", path, strerror(errno));
        return close(fd), -1;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    return fd;
}

int outfile_create_temp(const char *path, const char *tmp, char *err, size_t errlen) {
    NL_NONNULL(path, tmp, err);
    for (int attempt = 0; attempt < 2; attempt++) {
        int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (fd >= 0) return fd;
        if (errno != EEXIST) break;
        unlink(tmp); // ours from a dead process of the same pid, or planted: the name, never its target
    }
    return snprintf(err, errlen, "cannot create a file next to %s (%s): %s", path, tmp, strerror(errno)), -1;
}

int outfile_remove_stale_temps(const char *path) {
    NL_NONNULL(path);
    char dir[PATH_MAX], copy[PATH_MAX], prefix[NAME_MAX + 8];
    folder_of(path, dir, sizeof dir);
    snprintf(copy, sizeof copy, "%s", path);
    snprintf(prefix, sizeof prefix, "%s.tmp.", basename(copy));
    size_t np = strlen(prefix);
    DIR *d = opendir(dir);
    int removed = 0;
    for (struct dirent *e; d && (e = readdir(d));) {
        char *end;
        if (strncmp(e->d_name, prefix, np)) continue;
        long pid = strtol(e->d_name + np, &end, 10);
        if (*end || end == e->d_name + np || pid <= 0 || pid == (long)getpid()) continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue; // its process still runs
        char stale[PATH_MAX];
        if ((size_t)snprintf(stale, sizeof stale, "%s/%s", dir, e->d_name) < sizeof stale && unlink(stale) == 0) removed++;
    }
    if (d) closedir(d);
    return removed;
}

int outfile_lock(OutLock *l, const char *what, const char *path, char *err, size_t errlen) {
    NL_NONNULL(l, what, path, err);
    l->held = false;
    snprintf(l->path, sizeof l->path, "%s.lock", path);
    for (int attempt = 0; attempt < 3; attempt++) {
        int fd = open(l->path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (fd < 0) return snprintf(err, errlen, "%s %s: cannot create its lock %s: %s", what, path, l->path, strerror(errno)), -1;
        if (flock(fd, LOCK_EX | LOCK_NB)) {
            char pid[32] = "";
            ssize_t n = pread(fd, pid, sizeof pid - 1, 0);
            pid[n > 0 ? n : 0] = 0;
            pid[strcspn(pid, "\n")] = 0;
            close(fd);
            return snprintf(err, errlen, "%s %s is being written by another run (process %s): give this run other "
                            "outputs, or wait for that one to end", what, path, pid[0] ? pid : "?"), -1;
        }
        struct stat a, b; // the owner may have removed the file between our open and our lock: again
        if (fstat(fd, &a) || stat(l->path, &b) || a.st_ino != b.st_ino || a.st_dev != b.st_dev) {
            close(fd);
            continue;
        }
        char pid[32];
        int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
        if (ftruncate(fd, 0) || pwrite(fd, pid, (size_t)n, 0) != n) {
            close(fd);
            return snprintf(err, errlen, "%s %s: cannot write its lock %s: %s", what, path, l->path, strerror(errno)), -1;
        }
        l->fd = fd, l->held = true;
        return 0;
    }
    return snprintf(err, errlen, "%s %s: its lock %s keeps changing hands", what, path, l->path), -1;
}

void outfile_unlock(OutLock *l) {
    NL_NONNULL(l);
    if (!l->held) return;
    unlink(l->path); // while still held: a run waiting on the old file sees it gone and retries
    close(l->fd);
    l->held = false;
}

bool outfile_same(const char *a, const char *b) {
    NL_NONNULL(a, b);
    struct stat sa, sb;
    if (stat(a, &sa) == 0 && stat(b, &sb) == 0) return sa.st_ino == sb.st_ino && sa.st_dev == sb.st_dev;
    char da[PATH_MAX], db[PATH_MAX], ra[PATH_MAX], rb[PATH_MAX], ca[PATH_MAX], cb[PATH_MAX];
    folder_of(a, da, sizeof da), folder_of(b, db, sizeof db);
    snprintf(ca, sizeof ca, "%s", a), snprintf(cb, sizeof cb, "%s", b);
    if (!realpath(da, ra) || !realpath(db, rb)) return strcmp(a, b) == 0;
    return strcmp(ra, rb) == 0 && strcmp(basename(ca), basename(cb)) == 0;
}
