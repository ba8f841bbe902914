/* Test program for package target: a few functions with frames, a static
   one that must only appear in .symtab, and a global in .data. */
#include <stdio.h>

int counter = 1;

__attribute__((noinline)) int square(int x)
{
	return x * x;
}

__attribute__((noinline)) static int twice(int x)
{
	char buf[64];
	snprintf(buf, sizeof buf, "%d", x);
	return 2 * x + buf[0];
}

int main(int argc, char **argv)
{
	(void)argv;
	counter += square(argc) + twice(argc);
	printf("%d\n", counter);
	return 0;
}
