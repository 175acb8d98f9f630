/*
 * seccomp.c — the seccomp filter compiled by the SDK: decoded in the supervisor, loaded by
 * the command as the last step before execve.
 *
 * The filter is a classic BPF program (struct sock_filter[]) built in TypeScript
 * (src/security/seccomp.ts); the helper never interprets it. Loading it needs no_new_privs or
 * CAP_SYS_ADMIN, which the SDK checks before sending a filter.
 */
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "security.h"
#include "util.h"

static int b64_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	return c == '+' ? 62 : c == '/' ? 63 : -1;
}

int seccomp_decode_from_parent(const char *b64, uint8_t **out, size_t *len, struct err *e)
{
	size_t n = strlen(b64), i, o = 0;
	uint32_t acc = 0;
	int bits = 0, v;
	uint8_t *buf;

	while (n > 0 && b64[n - 1] == '=')
		n--;
	if (n == 0 || n > (SECCOMP_INSNS_MAX * sizeof(struct sock_filter) * 4 + 2) / 3)
		return err_msg(e, STEP_PROTOCOL, "security.seccomp: must hold 1 to %d instructions",
			       SECCOMP_INSNS_MAX);
	buf = xmalloc(n * 3 / 4 + 1);
	for (i = 0; i < n; i++) {
		if ((v = b64_value(b64[i])) < 0) {
			free(buf);
			return err_msg(e, STEP_PROTOCOL, "security.seccomp: is not base64");
		}
		acc = (acc << 6) | v;
		if ((bits += 6) >= 8) {
			bits -= 8;
			buf[o++] = acc >> bits;
		}
	}
	if (o == 0 || o % sizeof(struct sock_filter)) {
		free(buf);
		return err_msg(e, STEP_PROTOCOL,
			       "security.seccomp: must be a whole number of struct sock_filter");
	}
	*out = buf;
	*len = o;
	return 0;
}

/* A filter that returns SECCOMP_RET_USER_NOTIF (the SDK's `onViolation('kill')`) needs a
 * listener: the reaper holds it, ends the tree on a notification and reports its syscall. */
bool seccomp_wants_listener(const uint8_t *filter, size_t len)
{
	const struct sock_filter *f = (const struct sock_filter *)filter;
	size_t i;

	for (i = 0; filter && i < len / sizeof(*f); i++)
		if (f[i].code == (BPF_RET | BPF_K) &&
		    (f[i].k & SECCOMP_RET_ACTION_FULL) == SECCOMP_RET_USER_NOTIF)
			return true;
	return false;
}

/* Load it with a new listener; returns its fd (close-on-exec). Once the reaper has read a
 * notification the caller waits killable, so no signal can turn the call into EINTR. */
int seccomp_load_listener(const uint8_t *filter, size_t len, struct err *e)
{
	struct sock_fprog prog = { .len = len / sizeof(struct sock_filter),
				   .filter = (struct sock_filter *)filter };
	long fd = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
			  SECCOMP_FILTER_FLAG_NEW_LISTENER | SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV,
			  &prog);

	if (fd < 0 && errno == EINVAL) /* before linux 5.19 */
		fd = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER,
			     &prog);
	if (fd < 0)
		return err_sys(e, STEP_SECCOMP_LOAD, "seccomp", NULL,
			       "seccomp(SECCOMP_SET_MODE_FILTER, NEW_LISTENER, %u instructions)",
			       prog.len);
	return (int)fd;
}

int seccomp_load(const uint8_t *filter, size_t len, struct err *e)
{
	struct sock_fprog prog = { .len = len / sizeof(struct sock_filter),
				   .filter = (struct sock_filter *)filter };

	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0)
		return err_sys(e, STEP_SECCOMP_LOAD, "seccomp", NULL,
			       "seccomp(SECCOMP_SET_MODE_FILTER, %u instructions)", prog.len);
	return 0;
}
