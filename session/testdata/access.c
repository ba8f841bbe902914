/* Fixture for access paths, strings and condition functions: inspect() is
 * called twice, with n = 5 and tag "y", then n = 6 and tag "x". With the
 * argument "wait", the program first waits for a line on stdin. */
#include <stdio.h>
#include <string.h>

struct config {
	int id;
	long workers;
	const char *name;
	int ports[4];
};

__attribute__((noinline)) int inspect(struct config *c, int *p, const char *s, struct config *nul, const char *tag, int n)
{
	struct config local = *c;
	int arr[5] = {10, 20, 30, 40, 50};
	int x = *p + n;
	int *px = &x;
	local.workers += 1;
	return *px + arr[2] + (int)local.workers + (nul != NULL) + (s[0] == 'x') + (tag[0] == 'x'); // @ret
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "wait") == 0) {
		char line[16];
		if (!fgets(line, sizeof line, stdin))
			return 2;
	}
	struct config c = {7, 12, "workers", {1, 2, 3, 4}};
	int v = 41;
	int r = inspect(&c, &v, "xylophone-long", NULL, "y", 5);
	c.name = "eightchr";
	r += inspect(&c, &v, "abcdefg", NULL, "x", 6);
	return r > 0 ? 0 : 1;
}
