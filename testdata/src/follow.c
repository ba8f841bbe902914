/* --follow's fixture: one traced function per way a failure value comes
 * from (or does not come from) a call. Each fails once when main runs.
 * Callees are kept out of line (and, for gcc, out of interprocedural
 * constant propagation, which would rename the functions). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#ifdef __clang__
#define KEEP __attribute__((noinline))
#else
#define KEEP __attribute__((noipa))
#endif

volatile int sink;
volatile int seven = 7, five = 5, big = 500;

KEEP int lookup(int key)
{
	sink++;
	if (key == 7)
		return -ENOENT; /* @lookup-fail */
	return key; /* @lookup-ok */
}

KEEP int check(int v)
{
	sink++;
	return v > 100 ? -EINVAL : 0; /* @check-fail */
}

/* (1) the callee's failure passed up unchanged */
KEEP int passup(int key)
{
	int r = lookup(key); /* @passup-call */
	if (r < 0)
		return r;
	return check(r);
}

/* (2) the callee's -ENOENT turned into -EINVAL */
KEEP int translate(int key)
{
	int r = lookup(key); /* @translate-call */
	if (r == -ENOENT) /* @translate-if */
		return -EINVAL; /* @translate-ret */
	return r;
}

/* (3) a callee called in a loop, the last call failing */
KEEP int each(int n)
{
	for (int i = 0; i < n; i++) {
		int r = check(i * 30); /* @each-call */
		if (r < 0)
			return r;
	}
	return 0;
}

/* (4) a callee failing, the caller recovering, then failing by itself */
KEEP int recover(int key)
{
	int r = lookup(key); /* @recover-first */
	if (r < 0)
		r = lookup(key + 1); /* @recover-second */
	if (r > 5)
		return -EPERM;
	return r;
}

/* (5) a call through a function pointer */
typedef int (*op_fn)(int);

KEEP int viaptr(op_fn f, int v)
{
	int r = f(v); /* @viaptr-call */
	if (r < 0)
		return r;
	return 0;
}

/* (6) a failure that does not recur in a second run: the failing call
 * removes the file whose presence made it fail */
KEEP int present(const char *path)
{
	if (access(path, F_OK) == 0)
		return -EEXIST;
	return 0;
}

KEEP int once(const char *path)
{
	int r = present(path); /* @once-call */
	if (r < 0)
		unlink(path);
	return r;
}

int main(void)
{
	/* -x's tests: per line read, one call of passup, failing on "f",
	 * or of fopen with a mode glibc rejects on "q" */
	if (getenv("FOLLOW_STDIN")) {
		char line[16];
		while (fgets(line, sizeof line, stdin)) {
			if (line[0] == 'q')
				printf("%d\n", fopen("/follow-fixture-none", "qz") == NULL);
			else
				printf("%d\n", passup(line[0] == 'f' ? seven : five));
		}
		return 0;
	}
	int a = passup(seven);
	int b = translate(seven);
	int c = each(five);
	int d = recover(seven);
	int e = viaptr(check, big);
	/* glibc rejects the mode: fopen returns NULL (--follow's glibc test) */
	FILE *f = fopen("/follow-fixture-none", "qz");
	const char *path = getenv("FOLLOW_ONCE");
	if (path)
		once(path);
	printf("%d %d %d %d %d %d\n", a, b, c, d, e, f == NULL);
	return 0;
}
