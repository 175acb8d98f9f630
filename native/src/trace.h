/*
 * trace.h — opt-in timing of the helper's steps (trace.c), for profiling the cold path.
 *
 * Every process. Off unless SANDKIT_TRACE_STEPS names a file when the supervisor starts; then
 * each traced step appends one line "<process> <step> <microseconds>" to it. Off, a traced
 * step costs one comparison: no clock is read.
 */
#ifndef SANDKIT_TRACE_H
#define SANDKIT_TRACE_H

#include <stdint.h>

/* The trace file (close-on-exec, so no command ever holds it), or -1 when tracing is off. */
extern int trace_fd;

/* Supervisor start: open $SANDKIT_TRACE_STEPS for appending, if set. */
void trace_open(void);
/* Which process the lines of this one name ("helper", "init", "reaper", "command"). */
void trace_as(const char *process);
/* The start of a step: a timestamp when tracing, else 0. */
uint64_t trace_now(void);
/* One line: step `what` took from t0 until now. */
void trace_since(const char *what, uint64_t t0);

#endif
