/*
 * branches.c: one function per shape of deciding branch, for the verdict
 * line (the "why:" after each trace). Each is called many times with
 * arguments that succeed and once with arguments that fail.
 *
 * Usage: branches [ITERATIONS]   (default 100)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#if defined(__clang__)
#define NOINLINE __attribute__((noinline))
#else
#define NOINLINE __attribute__((noinline, noclone))
#endif

volatile int sink;

/* The second operand of && decides. */
NOINLINE int both(int a, int b)
{
	sink = a;
	if (a > 1 && b > 2)
		return -EINVAL;
	return 0;
}

/* A switch whose default fails. */
NOINLINE int pick(int kind)
{
	int r;

	sink = kind;
	switch (kind) {
	case 1:
		r = 10;
		break;
	case 2:
		r = 20;
		break;
	case 3:
		r = 35;
		break;
	case 4:
		r = 47;
		break;
	default:
		return -ENOTTY;
	}
	sink = r;
	return r;
}

/* A loop that ends without finding, into an error return. */
NOINLINE int find(const int *v, int n, int want)
{
	int i;

	for (i = 0; i < n; i++) {
		if (v[i] == want)
			return i;
	}
	return -ENOENT;
}

/* goto out, the deciding branch before the jump. */
NOINLINE int setup(int fd, int size)
{
	int err = 0;

	sink = fd;
	if (fd < 0) {
		err = -EBADF;
		goto out;
	}
	if (size > 4096) {
		err = -E2BIG;
		goto out;
	}
	sink = size;
out:
	return err;
}

/* A condition computed into a variable earlier. */
NOINLINE int late(int x)
{
	int bad = x > 3;

	sink = x;
	sink = bad + x;
	if (bad)
		return -ERANGE;
	return x;
}

/* The last branch's two sides fail alike: the check before it decided. */
volatile int logged;

NOINLINE int opendev(int id, int mode)
{
	sink = id;
	if (id > 9)
		goto fail;
	sink = mode;
	return 0;
fail:
	if (mode & 1)
		logged = id;
	return -ENODEV;
}

/* Its only branch returns error either way: no branch decided. */
NOINLINE int closedev(int id, int error)
{
	if (id & 1)
		logged = id;
	return error;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 100;
	int v[4] = {3, 5, 7, 9};
	int failed = 0;

	for (int i = 0; i < n; i++) {
		int fail = i == n / 2;
		failed += both(fail ? 5 : i % 2, fail ? 7 : 0) < 0;
		failed += pick(fail ? 9 : 1 + i % 4) < 0;
		failed += find(v, 4, fail ? 4 : v[i % 4]) < 0;
		failed += setup(i, fail ? 8192 : 100) < 0;
		failed += late(fail ? 5 : i % 4) < 0;
		failed += opendev(fail ? 12 : i % 10, i) < 0;
		failed += closedev(i, fail ? -EBADF : 0) < 0;
	}
	printf("%d calls, %d failed\n", 7 * n, failed);
	return 0;
}
