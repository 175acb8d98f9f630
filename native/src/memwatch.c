/*
 * memwatch.c — the spawn's own memory, sampled by its reaper.
 *
 * Runs in the reaper, which is not in the spawn's cgroup (its reads cost the program nothing).
 * A cgroup's peak (memory.peak, max_usage_in_bytes) counts the page cache of every file the
 * program was first to read, so the same program peaks higher with a cold cache than with a
 * warm one. What the program itself holds is its usage minus that cache:
 *
 *     used = usage − (page cache − shmem)      (shmem: tmpfs files and shared anonymous memory)
 *
 * which keeps anonymous memory, shmem and every kernel charge (page tables, stacks, slab,
 * sockets). The reaper samples it on a 1 ms timer and once more when the command ends; the
 * peak of the samples is `memoryUsedBytes`. Reading memory.stat is the costly part, so it is
 * skipped when the usage alone shows no new peak is possible (used ≤ usage); while the usage
 * does not move the interval stretches to 8 ms, and the first change brings it back to 1 ms.
 *
 * On cgroup v1 an OOM kills one process, not the tree (memory.oom.group is v2 only), so the SDK
 * turns the v1 OOM killer off (memory.oom_control) and the tasks that hit the limit wait; a
 * sample that sees the group under OOM (or an OOM kill) has the reaper end the whole tree.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "memwatch.h"

#define STAT_BUF 16384

static int open_in(int dir, const char *name)
{
	return openat(dir, name, O_RDONLY | O_CLOEXEC);
}

/* The value after "\n<key> " (or "<key> " at the start) in a flat-keyed file, or 0. */
static uint64_t key_value(const char *text, const char *key)
{
	size_t n = strlen(key);
	const char *p = text;

	for (; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (strncmp(p, key, n) == 0 && p[n] == ' ')
			return strtoull(p + n + 1, NULL, 10);
	return 0;
}

static ssize_t read_text(int fd, char *buf, size_t size)
{
	ssize_t n = pread(fd, buf, size - 1, 0);

	buf[n > 0 ? n : 0] = 0;
	return n;
}

static uint64_t read_number(int fd)
{
	char buf[32];

	return read_text(fd, buf, sizeof(buf)) > 0 ? strtoull(buf, NULL, 10) : 0;
}

/* The limit that applies to the group, its own or an ancestor's (the sandbox's). */
static uint64_t hierarchical_limit(const struct memwatch *w)
{
	static char buf[STAT_BUF];

	return read_text(w->stat, buf, sizeof(buf)) > 0
		       ? key_value(buf, "hierarchical_memory_limit")
		       : 0;
}

void memwatch_open(struct memwatch *w, int dir)
{
	memset(w, 0, sizeof(*w));
	w->usage = w->stat = w->oom = -1;
	if (dir < 0)
		return;
	if ((w->usage = open_in(dir, "memory.current")) < 0) {
		w->v1 = true;
		w->usage = open_in(dir, "memory.usage_in_bytes");
		w->oom = open_in(dir, "memory.oom_control");
	}
	w->stat = open_in(dir, "memory.stat");
	if (w->usage < 0 || w->stat < 0)
		memwatch_close(w);
	else if (w->v1)
		w->limit = hierarchical_limit(w);
}

bool memwatch_active(const struct memwatch *w)
{
	return w->usage >= 0;
}

/* Tasks wait in OOM only with the usage at the limit (less the per-CPU charge batches). */
#define OOM_MARGIN (8ULL << 20)

/* v1 only: the group is waiting in OOM (its killer is off) or the killer took a task. Read
 * only near the limit, so an ordinary sample costs one small read. */
static bool under_oom(const struct memwatch *w, uint64_t usage)
{
	char buf[256];

	if (w->oom < 0 || usage + OOM_MARGIN < w->limit || read_text(w->oom, buf, sizeof(buf)) <= 0)
		return false;
	return key_value(buf, "under_oom") > 0 || key_value(buf, "oom_kill") > 0;
}

bool memwatch_sample(struct memwatch *w)
{
	static char buf[STAT_BUF];
	uint64_t usage, cache, shmem, files;

	if (!memwatch_active(w))
		return false;
	usage = read_number(w->usage);
	w->quiet = usage == w->last ? w->quiet + 1 : 0;
	w->last = usage;
	if (usage > w->peak && read_text(w->stat, buf, sizeof(buf)) > 0) {
		cache = key_value(buf, w->v1 ? "total_cache" : "file");
		shmem = key_value(buf, w->v1 ? "total_shmem" : "shmem");
		files = cache > shmem ? cache - shmem : 0;
		if (files <= usage && usage - files > w->peak)
			w->peak = usage - files;
	}
	if (!w->oom_seen && under_oom(w, usage))
		w->oom_seen = true;
	return w->oom_seen;
}

unsigned memwatch_interval_ms(const struct memwatch *w)
{
	return w->quiet < 32 ? 1 : w->quiet < 64 ? 2 : w->quiet < 128 ? 4 : 8;
}

void memwatch_close(struct memwatch *w)
{
	if (w->usage >= 0)
		close(w->usage);
	if (w->stat >= 0)
		close(w->stat);
	if (w->oom >= 0)
		close(w->oom);
	w->usage = w->stat = w->oom = -1;
}
