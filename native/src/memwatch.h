/*
 * memwatch.h — sampling a spawn's own memory from its cgroup (see memwatch.c).
 */
#ifndef SANDKIT_MEMWATCH_H
#define SANDKIT_MEMWATCH_H

#include <stdbool.h>
#include <stdint.h>

struct memwatch {
	int usage, stat, oom; /* memory.current / usage_in_bytes, memory.stat, v1 oom_control */
	bool v1;
	bool oom_seen;
	uint64_t limit; /* v1: the lowest limit over the group (hierarchical_memory_limit) */
	uint64_t last;	/* usage at the previous sample */
	unsigned quiet; /* samples in a row with the same usage */
	uint64_t peak;	/* bytes: highest usage − (page cache − shmem) sampled */
};

/* Opens the files of the memory cgroup directory dir (-1: none; the watch is then inactive). */
void memwatch_open(struct memwatch *w, int dir);
bool memwatch_active(const struct memwatch *w);
/* One sample. Returns true once the group has been seen in OOM (v1). */
bool memwatch_sample(struct memwatch *w);
/* The interval to the next sample in ms: 1 while the usage moves, up to 8 once it has not
 * moved for a while (each wakeup costs the reaper CPU time, not the program). */
unsigned memwatch_interval_ms(const struct memwatch *w);
void memwatch_close(struct memwatch *w);

#endif
