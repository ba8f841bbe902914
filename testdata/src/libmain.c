/*
 * libmain.c: calls wtf_open from libwtf.so (lib.c) with several names; only
 * "/etc/passwd" opened for writing fails, with -EACCES.
 *
 * Usage: libmain   (exits 0 when exactly that call failed)
 */
#include <errno.h>
#include <stdio.h>

int wtf_open(const char *name, unsigned int flags);

int main(void)
{
	static const struct {
		const char *name;
		unsigned int flags;
	} calls[] = {
		{ "notes.txt", 0 },  { "data.bin", 1 }, { "/tmp/x", 0 },
		{ "/etc/passwd", 1 }, { "log", 3 },
	};
	int failed = 0, access = 0;

	for (int round = 0; round < 10; round++) {
		for (size_t i = 0; i < sizeof(calls) / sizeof(calls[0]); i++) {
			int h = wtf_open(calls[i].name, calls[i].flags);

			if (h < 0) {
				failed++;
				access += h == -EACCES;
			}
		}
	}
	printf("%d failed, %d with EACCES\n", failed, access);
	return failed == 10 && access == 10 ? 0 : 1;
}
