/* Fixture for reading strings from pages not in memory: show() gets a string
 * that starts at the end of a written page and ends (its NUL) on a page
 * nothing touched, a string on an untouched page (empty: the page reads as
 * zeros), NULL, and an address whose page is not mapped. The program prints
 * the three addresses, waits for a line on stdin, then calls show(). */
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

__attribute__((noinline)) int show(const char *crossing, const char *untouched, const char *null, const char *unmapped)
{
	return crossing != untouched && null == NULL && unmapped != NULL;
}

int main(void)
{
	long page = 4096;
	char *m = mmap(NULL, 4 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char line[16];

	if (m == MAP_FAILED || munmap(m + 3 * page, page) != 0)
		return 2;
	memcpy(m + page - 5, "hello", 5);
	printf("%p %p %p\n", (void *)(m + page - 5), (void *)(m + 2 * page + 100), (void *)(m + 3 * page));
	fflush(stdout);
	if (!fgets(line, sizeof line, stdin))
		return 2;
	return show(m + page - 5, m + 2 * page + 100, NULL, m + 3 * page) ? 0 : 1;
}
