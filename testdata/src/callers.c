/* callers: two callers pass different modes to check_mode and only one
 * fails, so a backtrace must name the failing caller and its line; a third
 * caller, inlined into main, fails with another mode; resolve
 * calls glibc's getaddrinfo with flags it rejects (EAI_BADFLAGS, without
 * any lookup), for a backtrace from inside a shared library. Functions are
 * kept whole (no inlining, no cloning, no tail calls) so each caller has a
 * frame at every optimisation level. */
#include <netdb.h>
#include <stdio.h>
#include <string.h>

#ifdef __clang__
#define KEEP __attribute__((noinline))
#else
#define KEEP __attribute__((noinline, noipa))
#endif

KEEP int check_mode(int mode)
{
	if (mode & 0x100)
		return -22;
	return 0;
}

KEEP int open_plain(int n)
{
	int r = check_mode(n | 0x1); /* @call-plain */
	return r == 0 ? n + 1 : -1;
}

KEEP int open_bad(int n)
{
	int r = check_mode(n | 0x101); /* @call-bad */
	return r == 0 ? n + 1 : -1;
}

/* Inlined into main at every optimisation level: its frame is main's. */
static inline __attribute__((always_inline)) int open_inlined(int n)
{
	int r = check_mode(n | 0x301); /* @call-inlined */
	return r == 0 ? n + 1 : -1;
}

KEEP int resolve(int flags)
{
	struct addrinfo hints, *res = NULL;
	memset(&hints, 0, sizeof hints);
	hints.ai_flags = flags;
	int r = getaddrinfo("localhost", NULL, &hints, &res); /* @call-gai */
	if (r == 0)
		freeaddrinfo(res);
	return r == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
	(void)argv;
	int a = open_plain(argc); /* @main-plain */
	int b = open_bad(argc); /* @main-bad */
	int c = resolve(0x40000000); /* @main-gai */
	int d = open_inlined(argc); /* @main-inlined */
	printf("%d %d %d %d\n", a, b, c, d);
	return 0;
}
