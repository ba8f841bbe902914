/* libtailplt.so: tail_open's last act is a call of tail_check, which
 * gcc and clang -O2 -fPIC make a tail jump through the PLT (tail_check
 * is exported and weak, so that neither binds it locally); -O0 calls
 * it. tail_check's own callee fails. */
#include <errno.h>

#ifdef __clang__
#define KEEP __attribute__((noinline))
#else
#define KEEP __attribute__((noipa))
#endif

volatile int tail_sink;

static KEEP int tail_find(int key)
{
	tail_sink++;
	if (key == 7)
		return -ENOENT; /* @tail-find-fail */
	return key; /* @tail-find-ok */
}

__attribute__((weak)) KEEP int tail_check(int key)
{
	int r = tail_find(key); /* @tail-find-call */
	tail_sink += r;
	return r;
}

KEEP int tail_open(int key)
{
	return tail_check(key + 1); /* @tail-check-call */
}
