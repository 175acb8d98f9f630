/*
 * sync.c — the close-on-exec pipe between a reaper and the command it forks.
 *
 * The command (child) writes; the reaper (parent) reads until EOF. The record is larger
 * than PIPE_BUF, but the pipe is fresh, has a single writer and a 64 KiB buffer, so the
 * whole record is in the pipe before the writer exits.
 */
#include <errno.h>
#include <string.h>

#include "sync.h"
#include "util.h"

int sync_write_record(int fd, const struct err *rec)
{
	return write_full(fd, rec, sizeof(*rec)) == (ssize_t)sizeof(*rec) ? 0 : -1;
}

int sync_read_record(int fd, struct err *rec)
{
	ssize_t n = read_full(fd, rec, sizeof(*rec));

	if (n == (ssize_t)sizeof(*rec)) {
		rec->syscall[sizeof(rec->syscall) - 1] = '\0';
		rec->path[sizeof(rec->path) - 1] = '\0';
		rec->message[sizeof(rec->message) - 1] = '\0';
		return 1;
	}
	return n == 0 ? 0 : -1;
}
