/* A caller in the main file with a static inline function from a header
 * inlined into it: SystemTap lists the caller at the header's lines, and
 * clang's DWARF 5 (DW_AT_decl_file 0 for main-file functions) lets the
 * main file's functions through a header's file pattern. */
#include <stdio.h>
#include "h.h"

__attribute__((noinline)) int work(int a)
{
	int s = 0;
	for (int i = 0; i < a; i++)
		s += hsq(i + a);
	return s;
}

int main(int argc, char **argv)
{
	printf("%d\n", work(argc + 3));
	return 0;
}
