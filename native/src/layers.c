/*
 * layers.c — neutral names for the overlays' layers, so the sandbox's mount table shows no
 * host path.
 *
 * Runs in the init, in its own mount namespace, before the overlays are mounted. overlayfs
 * shows its lowerdir, upperdir and workdir options in /proc/<pid>/mountinfo exactly as they
 * were given: given host paths, every program inside would read sandkit's state directory,
 * the session id and the sandbox's name there. Instead a private tmpfs holds one symlink per
 * layer ("0" -> the host path), the init works from inside it, and the overlays are mounted
 * with those names (overlayfs resolves them, relative to the working directory, at mount time).
 * The tmpfs is mounted on the merged directory itself, under the root overlay, so it leaves
 * with the host's tree at pivot_root.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include "setup.h"

static unsigned n_names;

int layers_prepare(const char *merged, struct err *e)
{
	/* A symlink whose target is longer than a few dozen bytes takes a page of its own: leave
	 * room for a page per layer (tmpfs charges only the pages used). */
	if (mount("tmpfs", merged, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
		  "size=1m,nr_inodes=1024,mode=700") < 0)
		return err_sys(e, STEP_ROOTFS_OVERLAY, "mount", merged, "mount(\"tmpfs\", \"%s\")",
			       merged);
	if (chdir(merged) < 0)
		return err_sys(e, STEP_ROOTFS_OVERLAY, "chdir", merged, "chdir(\"%s\")", merged);
	return 0;
}

/* Append n bytes of str to the string out (of size bytes in all), or fail. */
static int append(char *out, size_t size, const char *str, size_t n, enum step step, struct err *e)
{
	size_t len = strlen(out);

	if (len + n >= size)
		return err_msg(e, step, "overlay options too long");
	memcpy(out + len, str, n);
	out[len + n] = '\0';
	return 0;
}

/* A new symlink to path in the working directory; its name is appended to out. */
static int layer_name(const char *path, size_t len, char *out, size_t size, enum step step,
		      struct err *e)
{
	char target[ERR_PATH_MAX], name[16];

	if (len >= sizeof(target))
		return err_msg(e, step, "overlay layer path too long (%zu bytes)", len);
	memcpy(target, path, len);
	target[len] = '\0';
	snprintf(name, sizeof(name), "%u", n_names++);
	if (symlink(target, name) < 0)
		return err_sys(e, step, "symlink", target, "symlink(\"%s\")", target);
	return append(out, size, name, strlen(name), step, e);
}

static bool is_layer_option(const char *opt, size_t len, size_t *key)
{
	static const char *const keys[] = { "lowerdir=", "upperdir=", "workdir=" };
	size_t i;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		*key = strlen(keys[i]);
		if (len > *key && strncmp(opt, keys[i], *key) == 0)
			return true;
	}
	return false;
}

/* Append one option to out, a layer option with each of its ':'-separated paths renamed. */
static int rename_option(const char *opt, size_t len, char *out, size_t size, enum step step,
			 struct err *e)
{
	const char *p, *end = opt + len, *colon;
	size_t key;

	if (!is_layer_option(opt, len, &key))
		return append(out, size, opt, len, step, e);
	if (append(out, size, opt, key, step, e) < 0)
		return -1;
	for (p = opt + key; p < end; p = colon + 1) {
		colon = memchr(p, ':', end - p);
		if (!colon)
			colon = end;
		if ((p != opt + key && append(out, size, ":", 1, step, e) < 0) ||
		    layer_name(p, colon - p, out, size, step, e) < 0)
			return -1;
	}
	return 0;
}

int layers_rename(const char *options, char *out, size_t size, enum step step, struct err *e)
{
	const char *p = options, *comma;

	if (size == 0)
		return err_msg(e, step, "overlay options too long");
	out[0] = '\0';
	for (; *p; p = *comma ? comma + 1 : comma) {
		comma = strchrnul(p, ',');
		if ((p != options && append(out, size, ",", 1, step, e) < 0) ||
		    rename_option(p, comma - p, out, size, step, e) < 0)
			return -1;
	}
	return 0;
}
