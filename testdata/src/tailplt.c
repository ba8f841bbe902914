/* tailplt: use_tail calls tail_open in libtailplt.so (tailpltlib.c),
 * whose last act, at -O2, is a tail jump through its PLT to tail_check
 * (--follow's tests of a tail jump through the PLT). tail_open(6) fails:
 * tail_check(7)'s callee returns -ENOENT. */
#include <stdio.h>

#ifdef __clang__
#define KEEP __attribute__((noinline))
#else
#define KEEP __attribute__((noipa))
#endif

int tail_open(int key);

KEEP int use_tail(int key)
{
	int r = tail_open(key); /* @use-tail-call */
	if (r < 0)
		return r;
	return 0;
}

int main(void)
{
	for (int k = 5; k <= 6; k++)
		printf("%d\n", use_tail(k));
	return 0;
}
