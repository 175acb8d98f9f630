/*
 * fsops.h — file operations confined to one root directory, served over a stream socket.
 *
 * Runs in a worker process: a child of the supervisor serving one files channel of a sandbox
 * (files.c; the root is the sandbox's own root, sent by its init after pivot_root), or
 * `sandkit-helper fsops <dir>`, started by the SDK on a host directory it owns (the layer
 * store: whiteouts and xattrs on import, xattrs on export). The wire format is in
 * docs/protocol.md ("Files channel").
 */
#ifndef SANDKIT_FSOPS_H
#define SANDKIT_FSOPS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "error.h"

/* Serve requests read from in, answering on out, until EOF on in. Returns 0, or -1 when
 * the stream broke (a malformed frame). */
int fsops_serve(int root, int in, int out);

/* `sandkit-helper fsops <dir>`: serve on stdin/stdout with <dir> as the root. */
int fsops_main(int argc, char **argv);

/* fspath.c: resolution inside the root. Every function returns -1 and fills e on failure. */

/* openat2(root, path, flags, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS [| RESOLVE_NO_SYMLINKS
 * for the last component when !follow is done with O_NOFOLLOW]). */
/* Resolution of the request being served: no symlink at any component (RESOLVE_NO_SYMLINKS;
 * a final symlink opened O_PATH | O_NOFOLLOW is still returned as itself), no mount crossing
 * (RESOLVE_NO_XDEV). Both off: the historical in-root resolution, used on layer directories. */
void fspath_set_resolve(bool no_symlinks, bool no_xdev);
bool fspath_follows_symlinks(void);
int fspath_open(int root, const char *path, int flags, bool follow, struct err *e);
/* The parent directory of path as an O_PATH fd, and its last component in *name (a pointer
 * into buf, which receives a copy of path). parents: create missing directories (mode 0755). */
int fspath_parent(int root, const char *path, char *buf, size_t buf_len, const char **name,
		  bool parents, struct err *e);
/* Open path for reading or writing its data: it must be a regular file, and not on procfs or
 * sysfs (a planted symlink must never make a write land in /proc/sys). */
int fspath_open_data(int root, const char *path, int flags, struct err *e);
/* Create a directory and, with parents, every missing one above it. */
int fspath_mkdir(int root, const char *path, mode_t mode, bool parents, struct err *e);
/* Remove a file or an empty directory; recursive: a whole tree, never following symlinks. */
int fspath_remove(int root, const char *path, bool recursive, struct err *e);

/* base64 (RFC 4648, with padding). Return the length written, or -1 on bad input. */
size_t b64_encode(const unsigned char *in, size_t n, char *out);
ssize_t b64_decode(const char *in, size_t n, unsigned char *out);

#endif
