/*
 * error.h — the one error record every fallible function fills.
 *
 * Used by every process of the helper (supervisor, init, reaper, command). The record is
 * plain data with no pointers so a child can send it to its parent in one atomic write.
 */
#ifndef SANDKIT_ERROR_H
#define SANDKIT_ERROR_H

#include "steps.h"

#define ERR_SYSCALL_MAX 32
#define ERR_PATH_MAX 512
#define ERR_MESSAGE_MAX 512

struct err {
	int step;		       /* enum step */
	int errnum;		       /* 0: no errno applies */
	char syscall[ERR_SYSCALL_MAX]; /* "": no syscall applies */
	char path[ERR_PATH_MAX];       /* "": no path applies */
	char message[ERR_MESSAGE_MAX]; /* human text, ends with strerror when errnum != 0 */
};

/* Fill from errno; the message is the formatted context plus ": <strerror>". Returns -1. */
int err_sys(struct err *e, enum step step, const char *syscall, const char *path, const char *fmt,
	    ...) __attribute__((format(printf, 5, 6)));

/* Fill without an errno. Returns -1. */
int err_msg(struct err *e, enum step step, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* "EPERM" for EPERM; NULL when unknown. */
const char *errno_name(int errnum);

#endif
