/*
 * error.c — filling error records.
 *
 * Runs in every process of the helper. Callers return the -1 these functions return, so
 * a failure travels up unchanged to the one place that reports it.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "error.h"

static void err_fill(struct err *e, enum step step, int errnum, const char *syscall,
		     const char *path)
{
	memset(e, 0, sizeof(*e));
	e->step = step;
	e->errnum = errnum;
	snprintf(e->syscall, sizeof(e->syscall), "%s", syscall ? syscall : "");
	snprintf(e->path, sizeof(e->path), "%s", path ? path : "");
}

int err_sys(struct err *e, enum step step, const char *syscall, const char *path, const char *fmt,
	    ...)
{
	int errnum = errno;
	va_list ap;
	size_t n;

	err_fill(e, step, errnum, syscall, path);
	va_start(ap, fmt);
	vsnprintf(e->message, sizeof(e->message), fmt, ap);
	va_end(ap);
	n = strlen(e->message);
	snprintf(e->message + n, sizeof(e->message) - n, ": %s", strerror(errnum));
	errno = errnum;
	return -1;
}

int err_msg(struct err *e, enum step step, const char *fmt, ...)
{
	va_list ap;

	err_fill(e, step, 0, NULL, NULL);
	va_start(ap, fmt);
	vsnprintf(e->message, sizeof(e->message), fmt, ap);
	va_end(ap);
	return -1;
}

const char *errno_name(int errnum)
{
	return errnum > 0 ? strerrorname_np(errnum) : NULL;
}
