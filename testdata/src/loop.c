/*
 * loop.c: find_key scans a table one entry at a time. Looking up a key that
 * is not there runs the loop 1,000 times before `return -ENOENT`: a trace
 * far longer than the trace buffer, whose end is the part that explains the
 * failure.
 *
 * Usage: loop   (exits 0 when both lookups behave as expected)
 */
#include <errno.h>

#if defined(__clang__)
#define NOINLINE __attribute__((noinline))
#else
#define NOINLINE __attribute__((noinline, noclone))
#endif

#define ENTRIES 1000

static int table[ENTRIES];

/* find_key returns the index of key in keys[0..n), or -ENOENT. The entries
 * are read through a volatile pointer so that the compiler keeps one
 * comparison per entry instead of vectorizing the scan. */
NOINLINE int find_key(const volatile int *keys, int n, int key)
{
	for (int i = 0; i < n; i++) { /* @loop */
		if (keys[i] == key) /* @compare */
			return i; /* @found */
	}
	return -ENOENT; /* @fail */
}

/* scrub zeroes the stack below main's frame, so that a variable find_key
 * prints before initializing it holds 0 rather than what an earlier call
 * (or the uretprobe trampoline) left there: traces of two runs compare
 * equal. */
NOINLINE void scrub(void)
{
	volatile char junk[1024];

	for (int i = 0; i < (int)sizeof junk; i++)
		junk[i] = 0;
}

int main(void)
{
	for (int i = 0; i < ENTRIES; i++)
		table[i] = 2 * i;
	scrub();
	if (find_key(table, ENTRIES, 40) != 20)
		return 1;
	scrub();
	if (find_key(table, ENTRIES, 41) != -ENOENT)
		return 1;
	return 0;
}
