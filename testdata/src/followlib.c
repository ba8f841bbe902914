/* libfollow.so: --follow's shared library. follow.c calls lib_open
 * through the PLT; lib_open's own callee fails. */
#include <errno.h>

#ifdef __clang__
#define KEEP __attribute__((noinline))
#else
#define KEEP __attribute__((noipa))
#endif

volatile int lib_sink;

static KEEP int lib_find(int key)
{
	lib_sink++;
	if (key == 7)
		return -ENOENT; /* @lib-find-fail */
	return key; /* @lib-find-ok */
}

KEEP int lib_open(int key)
{
	int r = lib_find(key); /* @lib-find-call */
	if (r < 0)
		return r;
	return r + 1;
}
