/*
 * stress.c: calls a small traced function CALLS times (default 10 million);
 * one call in a million fails. Prints a checksum so that traced and untraced
 * runs can be compared.
 *
 * Usage: stress [CALLS]
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

__attribute__((noinline)) int step(unsigned long i, unsigned long *acc)
{
	if (i % 1000000 == 999999)
		return -EAGAIN; /* @fail */
	*acc += i ^ (i >> 3);
	return 0; /* @success */
}

int main(int argc, char **argv)
{
	unsigned long calls = argc > 1 ? strtoul(argv[1], NULL, 0) : 10000000;
	unsigned long acc = 0, failed = 0;

	for (unsigned long i = 0; i < calls; i++)
		if (step(i, &acc) < 0)
			failed++;
	printf("%lu calls, %lu failed, checksum %lu\n", calls, failed, acc);
	return failed == calls / 1000000 ? 0 : 1;
}
