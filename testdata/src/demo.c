/*
 * demo.c: the bundled whythefail example. A tiny configuration loader is
 * called many times with valid settings and once with a setting that fails
 * with -EINVAL deep inside a branch; whythefail shows which path it took.
 *
 * Usage: demo [ITERATIONS]   (default 1000; the failing call is the middle one)
 * Setting syntax: NAME:WORKERS[,MODE] with MODE one of fast, safe, debug.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__clang__)
#define NOINLINE __attribute__((noinline))
#else
#define NOINLINE __attribute__((noinline, noclone))
#endif

enum mode { MODE_FAST, MODE_SAFE, MODE_DEBUG };

struct cfg {
	char name[32];
	int workers;
	enum mode mode;
	bool verbose;
};

static int loads; /* @global */

NOINLINE int load_config(const char *path, struct cfg *c) /* @def */
{
	char buf[32];
	char *colon;
	int workers;
	bool verbose = false;

	loads++;
	if (path == NULL || c == NULL)
		return -EFAULT; /* @fail-null */
	if (strlen(path) >= sizeof(buf))
		return -ENAMETOOLONG; /* @fail-long */
	strcpy(buf, path);
	colon = strchr(buf, ':');
	if (colon == NULL)
		return -ENOENT; /* @fail-nocolon */
	*colon = '\0';
	workers = atoi(colon + 1);
	if (workers <= 0 || workers > 64)
		return -ERANGE; /* @fail-range */
	{
		enum mode m = MODE_FAST; /* @block */
		const char *flags = strchr(colon + 1, ',');

		if (flags != NULL) {
			flags++;
			if (strcmp(flags, "safe") == 0) {
				m = MODE_SAFE;
			} else if (strcmp(flags, "debug") == 0) {
				m = MODE_DEBUG;
				verbose = true;
				if (workers > 8)
					return -EINVAL; /* @fail-flags */
			} else if (strcmp(flags, "fast") != 0) {
				return -EINVAL; /* @fail-mode */
			}
		}
		c->mode = m;
	}
	snprintf(c->name, sizeof(c->name), "%s", buf);
	c->workers = workers;
	c->verbose = verbose;
	return 0; /* @success */
}

static const char *const settings[] = {
	"web:4", "db:2,safe", "cache:8,debug", "queue:16,fast",
};

int main(int argc, char **argv)
{
	long iterations = argc > 1 ? strtol(argv[1], NULL, 10) : 1000;
	long failed = 0, total_workers = 0;
	struct cfg c;

	if (iterations < 1) {
		fprintf(stderr, "usage: demo [ITERATIONS>0]\n");
		return 2;
	}
	for (long i = 0; i < iterations; i++) {
		const char *s = settings[i % 4];
		int err;

		if (i == iterations / 2)
			s = "batch:16,debug"; /* debug mode allows at most 8 workers */
		err = load_config(s, &c);
		if (err < 0) {
			printf("load_config(\"%s\"): %s\n", s, strerror(-err));
			failed++;
			continue;
		}
		total_workers += c.workers;
	}
	printf("%d loads, %ld failed, %ld workers\n", loads, failed, total_workers);
	return failed == 1 ? 0 : 1;
}
