/*
 * trace.c — opt-in timing of the helper's steps (see trace.h).
 *
 * Lines are short single write()s to an O_APPEND file, so lines of different processes never
 * interleave. The file stays open in the init and the reaper (fd_close_except keeps it) and is
 * close-on-exec, so the command's execve drops it.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "trace.h"
#include "util.h"

int trace_fd = -1;
static const char *trace_process = "helper";

void trace_open(void)
{
	const char *path = getenv("SANDKIT_TRACE_STEPS");

	if (path && path[0] == '/')
		trace_fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
}

void trace_as(const char *process)
{
	trace_process = process;
}

uint64_t trace_now(void)
{
	return trace_fd >= 0 ? now_us() : 0;
}

void trace_since(const char *what, uint64_t t0)
{
	char line[128];
	int n;

	if (trace_fd < 0)
		return;
	n = snprintf(line, sizeof(line), "%s %s %llu\n", trace_process, what,
		     (unsigned long long)(now_us() - t0));
	if (n > 0 && (size_t)n < sizeof(line) && write(trace_fd, line, n) < 0)
		trace_fd = -1;
}
