#include <errno.h>
#include <stdio.h>
#include <string.h>

/* Three helpers in the shape of glibc's resolv/ns_print.c: addlen is
   inlined into addstr, addstr into addtab, and addtab is called twice. */

static void
addlen(size_t len, char **buf, size_t *buflen)
{
	if (len > *buflen)
		__builtin_trap();
	*buf += len;
	*buflen -= len;
}

static int
addstr(const char *src, size_t len, char **buf, size_t *buflen)
{
	if (len >= *buflen) {
		errno = ENOSPC;
		return -1;
	}
	memcpy(*buf, src, len);
	addlen(len, buf, buflen);
	**buf = '\0';
	return 0;
}

static int __attribute__((noinline))
addtab(size_t len, size_t target, int spaced, char **buf, size_t *buflen)
{
	size_t save_buflen = *buflen;
	char *save_buf = *buf;
	int t;

	if (spaced || len >= target - 1) {
		if (addstr("  ", 2, buf, buflen) < 0)
			return -1;
		spaced = 1;
	} else {
		for (t = (target - len - 1) / 8; t >= 0; t--)
			if (addstr("\t", 1, buf, buflen) < 0) {
				*buflen = save_buflen;
				*buf = save_buf;
				return -1;
			}
		spaced = 0;
	}
	return spaced;
}

int
main(int argc, char **argv)
{
	char out[64], *p = out;
	size_t n = sizeof out;

	(void)argv;
	if (addtab(argc, 20, 0, &p, &n) < 0 || addtab(argc, 3, 1, &p, &n) < 0)
		return 1;
	if (addstr("x", 1, &p, &n) < 0)
		return 1;
	puts(out);
	return 0;
}
