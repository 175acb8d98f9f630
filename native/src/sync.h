/*
 * sync.h — one error record over a close-on-exec pipe.
 *
 * A child that fails before execve writes its record in one write; EOF without a record
 * means execve succeeded.
 */
#ifndef SANDKIT_SYNC_H
#define SANDKIT_SYNC_H

#include "error.h"

int sync_write_record(int fd, const struct err *rec);
/* 1: a record was read; 0: EOF (exec succeeded); -1: error. */
int sync_read_record(int fd, struct err *rec);

#endif
