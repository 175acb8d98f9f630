/*
 * security.h — hardening of the command (seccomp.c, caps.c), masking of /proc and /sys paths
 * (mask.c) and the supervisor's sealed copy of itself (selfexec.c).
 */
#ifndef SANDKIT_SECURITY_H
#define SANDKIT_SECURITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define SECCOMP_INSNS_MAX 4096 /* BPF_MAXINSNS */

/* seccomp.c. Supervisor: decode the base64 `struct sock_filter[]` into a new buffer. */
int seccomp_decode_from_parent(const char *b64, uint8_t **out, size_t *len, struct err *e);
/* Command: install the filter (len bytes); the last step before execve. */
int seccomp_load(const uint8_t *filter, size_t len, struct err *e);
/* Whether the filter returns SECCOMP_RET_USER_NOTIF; then load it with a listener (its fd). */
bool seccomp_wants_listener(const uint8_t *filter, size_t len);
int seccomp_load_listener(const uint8_t *filter, size_t len, struct err *e);

/* caps.c. Supervisor: the bit of a capability name ("CAP_NET_BIND_SERVICE"), or -1. */
int caps_number(const char *name);
/* Command, before the uid switch: drop every capability not in keep from the bounding set and
 * keep the permitted set across the switch. */
int caps_drop_bounding(uint64_t keep, struct err *e);
/* Command, after the uid switch: effective, permitted, inheritable and ambient become keep. */
int caps_set(uint64_t keep, struct err *e);
/* Command: no_new_privs. */
int caps_no_new_privs(struct err *e);

/* mask.c. Reaper, after mounting the spawn's /proc: hide each masked path (/dev/null over a
 * file, an empty read-only tmpfs over a directory) and make each read-only path read-only.
 * Paths that do not exist are skipped; symlinks are never followed. */
int mask_apply(char *const *masked, int n_masked, char *const *readonly, int n_readonly,
	       struct err *e);

/* selfexec.c. Supervisor, first thing: unless /proc/self/exe already is a sealed memfd,
 * re-execute from a sealed memfd copy of the binary. Returns only on failure. */
int selfexec_sealed(char **argv, struct err *e);

#endif
