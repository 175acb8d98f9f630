/*
 * proto_files.c — decoding an `fs` request (open a files channel on a sandbox).
 *
 * Supervisor only. The channel's own requests are read by the worker (fsops.c).
 */
#include "proto_decoders.h"
#include "proto_gen.h"

int proto_decode_fs(const struct jval *v, struct request *r, struct err *e)
{
	return proto_check_fs(v, "", e) < 0 || proto_fs_sandbox(v, "", &r->sandbox, e) < 0 ||
			       proto_fs_channel(v, "", &r->u.fs.channel, e) < 0
		       ? -1
		       : 0;
}
