/*
 * spawn.h — starting and signalling processes in a sandbox (spawn.c).
 *
 * Supervisor only. The table of spawns is table.h.
 */
#ifndef SANDKIT_SPAWN_H
#define SANDKIT_SPAWN_H

#include "proto.h"

void spawn_from_parent(long long req, const struct spawn_req *s);
void spawn_kill_from_parent(long long req, const struct kill_req *k);

#endif
