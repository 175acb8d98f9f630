/*
 * stdio.h — a spawn's stdio beyond sockets to Node: files inside the sandbox, a sealed memfd
 * copy of data Node gives, and named pipes that wire one spawn's output to another's input.
 *
 *   supervisor  stdio_prepare: the fds sent with SPAWN (sockets, /dev/null, memfd, pipe ends)
 *   command     stdio_open_files: opens PATH entries inside the root, as the spawn's user
 *   reaper      stdio_outputs_*: watches output files against their limits, cuts them exactly
 */
#ifndef SANDKIT_STDIO_H
#define SANDKIT_STDIO_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "ctl.h"
#include "error.h"
#include "proto.h"

/* Supervisor. node[i]: Node's end of a "pipe" socket, else -1; sandbox[i]: the command's fd. */
int stdio_prepare(const struct spawn_req *s, int *node, int *sandbox, struct err *e);
/* The CTL_STDIO_* of fd i, and how long its path is in the SPAWN payload (0 without). */
uint8_t stdio_open_kind(const struct spawn_req *s, int i);
void stdio_pipe_close_from_parent(long long req, const char *name);

/* Command, after the uid switch: open PATH entries onto fds 0-2, and hand the output files
 * to the reaper over sock (one message per file: its fd number and size at open). */
int stdio_open_files(const struct spawn_msg *s, int sock, struct err *e);

struct output_files {
	int fd[3];	   /* the reaper's copies of output files, -1 when none */
	int64_t base[3];   /* size at open (append keeps what was there) */
	uint64_t limit[3]; /* 0: none */
	uint64_t total;	   /* both together, 0: none */
	bool hit;
};

/* Reaper. */
void stdio_outputs_init(const struct spawn_msg *s, struct output_files *o);
void stdio_outputs_receive(int sock, struct output_files *o);
/* Wait until sigfd is readable, checking the files meanwhile; past a limit, kill the tree. */
void stdio_outputs_wait(struct output_files *o, int sigfd);
/* The same check for a caller with its own poll loop: past a limit, kill the tree. Returns the
 * poll timeout (ms) until the next check, -1 when there is nothing to watch. */
int stdio_outputs_check(struct output_files *o);
/* After the tree is gone: cut files to their limits and fill x->file_bytes. */
void stdio_outputs_finish(struct output_files *o, struct exit_info *x);

#endif
