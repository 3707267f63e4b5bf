// Output files a run can trust: nothing it writes goes through a symbolic link someone planted, two
// live runs never write the same outputs, and a dead run's temp files do not pile up.
//   The rule (docs/reliability.md): a symlink at an output path is refused before training; later
//   writes never follow one either (O_NOFOLLOW for files written in place; temp file + rename for
//   checkpoints, which replaces a link planted meanwhile, never its target).
// Every function returns 0, or -1 with a message in err (the convention of docs/architecture.md).
#pragma once
#include <stdbool.h>
#include <stddef.h>

// Before training: path may be written (not a directory, not a symlink, not a device or FIFO; its
// folder takes a new file). what names the option in the message ("--save").
int outfile_check(const char *what, const char *path, char *err, size_t errlen);
// Opens path for writing without following a symlink at it: appended to (append) or emptied, created
// 0644 when missing. Returns the descriptor, or -1 with a message.
int outfile_open(const char *path, bool append, char *err, size_t errlen);
// Creates tmp, a temp file for path in path's folder ("<path>.tmp.<pid>"), exclusively: a file or
// link already of that name (planted, or left by a dead process of the same pid) is removed first,
// never followed. Returns the descriptor, or -1 with a message.
int outfile_create_temp(const char *path, const char *tmp, char *err, size_t errlen);
// Removes "<path>.tmp.<pid>" files whose process no longer runs (a save killed midway). How many.
int outfile_remove_stale_temps(const char *path);

// An advisory lock that keeps a second live run off the same output: flock on "<path>.lock", which
// holds the owner's pid (so the refusal can name it). Released by the kernel when the process dies.
typedef struct OutLock { // zeroed: not held
    bool held;
    int fd;
    char path[4200]; // the lock file
} OutLock;
int outfile_lock(OutLock *l, const char *what, const char *path, char *err, size_t errlen);
// Releases and removes the lock file (nothing when not held).
void outfile_unlock(OutLock *l);
// Whether a and b name the same file (the same inode when both exist, else the same absolute path).
bool outfile_same(const char *a, const char *b);
