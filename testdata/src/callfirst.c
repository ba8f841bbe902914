/* --follow's fixture for a traced function whose first instruction is a
 * call: the statement of its first line, the entry probe and --follow's
 * probe on that call share one address. top is naked, so that no compiler
 * puts a frame or an argument move before the call, at -O0 as at -O2: its
 * body is the call of mid (key is still in edi) and the return of what mid
 * returned. */
#include <stdio.h>

#ifdef __clang__
#define KEEP __attribute__((noinline, used))
#else
#define KEEP __attribute__((noipa, used))
#endif

volatile int sink;
volatile int seven = 7;

KEEP int leaf(int key)
{
	sink++;
	if (key == 7) {
		sink += 2; /* @leaf-fail */
		return -2;
	}
	return key; /* @leaf-ok */
}

KEEP int mid(int key)
{
	int r = leaf(key); /* @mid-call */
	if (r < 0)
		return r;
	return r + 1;
}

__attribute__((naked, noinline)) int top(int key)
{
	__asm__("call mid\n\t" /* @top-call */
		"ret");
}

int main(void)
{
	printf("%d\n", top(seven));
	return 0;
}
