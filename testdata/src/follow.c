/* --follow's fixture: one traced function per way a failure value comes
 * from (or does not come from) a call, at depth 1 and deeper. Each fails
 * once when main runs; `follow spin N` runs spin alone (bench/follow.sh's
 * unrelated caller of a followed callee), `follow q` runs openq alone.
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

/* (5b) a call through a function pointer to a function whose own callee
 * fails: main passes mid3, which calls leaf3 */
KEEP int viaptr3(op_fn f, int key)
{
	int r = f(key); /* @viaptr3-call */
	if (r < 0)
		return r;
	return 0;
}

/* (6) a failure that does not recur in a second run: the failing call
 * removes the file whose presence made it fail */
KEEP int present(const char *path)
{
	if (access(path, F_OK) == 0) /* @present-access */
		return -EEXIST;
	return 0;
}

KEEP int once(const char *path)
{
	int r = present(path); /* @once-call */
	if (r < 0)
		unlink(path); /* @once-unlink */
	return r;
}

/* (7) three levels: the origin two levels below the traced function */
KEEP int leaf3(int key)
{
	sink++;
	if (key == 7)
		return -ENOENT; /* @leaf3-fail */
	return 0; /* @leaf3-ok */
}

KEEP int mid3(int key)
{
	int r = leaf3(key); /* @mid3-call */
	if (r < 0)
		return r;
	return r + 1;
}

KEEP int three(int key)
{
	int r = mid3(key); /* @three-call */
	if (r < 0)
		return r;
	return 0;
}

/* (8) recursion: the innermost call fails, each level passes it up (the
 * value from a volatile, so that clang cannot prove what down returns) */
volatile int eio = EIO;

KEEP int down(int n)
{
	if (n == 0) {
		sink++;
		return -eio; /* @down-fail */
	}
	int r = down(n - 1); /* @down-call */
	sink++; /* @down-after */
	return r;
}

KEEP int recurse(int n)
{
	int r = down(n); /* @recurse-call */
	if (r < 0)
		return r;
	return 0;
}

/* (9) a callee called in a loop one level down, one call failing */
KEEP int scan(int n)
{
	for (int i = 0; i < n; i++) {
		int r = check(i * 30); /* @scan-call */
		if (r < 0)
			return r;
	}
	return 0;
}

KEEP int loop3(int n)
{
	int r = scan(n); /* @loop3-call */
	if (r < 0)
		return r;
	return 0;
}

/* (10) a callee recovering from its own callee's failure, then failing by
 * itself: lookup is not blamed */
KEEP int mid_recover(int key)
{
	int r = lookup(key); /* @midrec-first */
	if (r < 0)
		r = lookup(key + 1); /* @midrec-second */
	if (r > 5)
		return -EPERM;
	return r;
}

KEEP int recover3(int key)
{
	int r = mid_recover(key); /* @recover3-call */
	if (r < 0)
		return r;
	return 0;
}

/* (11) a call through the PLT into libfollow.so, whose callee fails */
int lib_open(int key);

KEEP int viaplt(int key)
{
	int r = lib_open(key); /* @viaplt-call */
	if (r < 0)
		return r;
	return 0;
}

/* (12) an inlined callee whose own callee fails */
static inline __attribute__((always_inline)) int helper(int key)
{
	int r = lookup(key); /* @helper-call */
	if (r < 0)
		return r;
	return r * 2;
}

KEEP int viainline(int key)
{
	int r = helper(key);
	if (r < 0)
		return r;
	return 0;
}

/* (13) a callee failing with NULL and errno set, the caller failing with
 * -1 (errno is left as the callee set it) */
KEEP void *find_thing(int key)
{
	if (key == 7) {
		errno = ENOENT; /* @find-errno */
		return NULL;
	}
	return (void *)&sink;
}

KEEP int use_thing(int key)
{
	void *p = find_thing(key); /* @use-thing-call */
	if (p == NULL)
		return -1;
	return 0;
}

/* spin calls mid3 (which calls leaf3) n times outside any traced
 * function: with three traced with --follow, the probes on mid3's call of
 * leaf3 fire for spin too (bench/follow.sh measures what that costs) */
KEEP void spin(int n)
{
	for (int i = 0; i < n; i++)
		mid3(i & 3);
}

/* (14) glibc's fopen through the PLT, failing on the mode it rejects (run
 * as `follow q`): the origin, _IO_new_file_fopen, is in libc */
KEEP int openq(const char *path)
{
	FILE *f = fopen(path, "qz"); /* @openq-call */
	if (f == NULL)
		return -1;
	fclose(f);
	return 0;
}

/* (15) a tail call: tail1's return leafcheck(key + 1) is a jump at -O2
 * (a call at -O0); leafcheck, which makes no call, decides the failure:
 * its statements are the origin's with tail1's */
static KEEP int leafcheck(int key)
{
	sink++;
	if (key == 8)
		return -EINVAL; /* @leafcheck-fail */
	return 0; /* @leafcheck-ok */
}

KEEP int tail1(int key)
{
	return leafcheck(key + 1); /* @tail1-jump */
}

KEEP int viatail(int key)
{
	int r = tail1(key); /* @viatail-call */
	if (r < 0)
		return r;
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 2) {
		/* follow q: openq alone */
		printf("%d\n", openq("/follow-fixture-none"));
		return 0;
	}
	if (argc > 2) {
		/* follow spin N: the unrelated caller's loop alone */
		spin(atoi(argv[2]));
		return 0;
	}
	/* -x's tests: per line read, one call of passup, failing on "f",
	 * of fopen with a mode glibc rejects on "q", or of three, failing
	 * two levels down, on "t" */
	if (getenv("FOLLOW_STDIN")) {
		char line[16];
		while (fgets(line, sizeof line, stdin)) {
			if (line[0] == 'q')
				printf("%d\n", fopen("/follow-fixture-none", "qz") == NULL);
			else if (line[0] == 't')
				printf("%d\n", three(seven));
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
	int g = three(seven);
	int h = recurse(2);
	int i = loop3(five + 2);
	int j = recover3(seven);
	int k = viaplt(seven);
	int l = viainline(seven);
	int n = use_thing(seven);
	int o = viaptr3(mid3, seven);
	int p = viatail(seven);
	const char *path = getenv("FOLLOW_ONCE");
	if (path)
		once(path);
	printf("%d %d %d %d %d %d %d %d %d %d %d %d %d %d %d\n", a, b, c, d, e, f == NULL, g, h, i, j, k, l, n, o, p);
	return 0;
}
