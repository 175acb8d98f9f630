/*
 * files.h — the supervisor's side of the files API: each sandbox's root fd (sent by its init
 * once the root is built) and the workers serving files channels on it.
 *
 * Supervisor only.
 */
#ifndef SANDKIT_FILES_H
#define SANDKIT_FILES_H

#include <sys/types.h>

/* Keep fd (an O_PATH fd of the sandbox's "/") for sandbox; takes ownership. */
void files_set_root(const char *sandbox, int fd);
/* Keep the user namespace of the sandbox's init (call before GO, while it is dumpable): the
 * workers join it. A sandbox without one of its own never calls this. */
void files_take_userns(const char *sandbox, pid_t init);
/* The sandbox is gone: kill and reap its workers, close its root fd. */
void files_forget(const char *sandbox);
/* A child of the supervisor was reaped: if it was a worker, forget it. */
void files_reaped(pid_t pid);
/* `fs` request: start a worker on the sandbox's root, send Node its end of the channel. */
void files_open_from_parent(long long req, const char *sandbox, const char *channel);

#endif
