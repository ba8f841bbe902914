/* --follow's fixture for a call through a function pointer into a plugin
 * loaded with dlopen: main loads libdlplug.so (dlplug.c) from the path
 * PLUGIN names (the fixture's recipe defines it) and calls run with the
 * plugin's plug_run five times, the fifth failing in plug_run's callee
 * check; then find_key with plug_find and 7, which fails in plug_find's
 * callee plug_lookup, called through the plugin's PLT; then run_odd, once, with a pointer to plug_odd+1, code inside a
 * function of the plugin (which fails too). With FOLLOW_STDIN set in its
 * environment, it calls run with plug_run once per line it reads instead,
 * failing for a line "fail" (--follow -x's tests). */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef PLUGIN
#error "PLUGIN must name the plugin's path"
#endif

#ifdef __clang__
#define KEEP __attribute__((noinline))
#else
#define KEEP __attribute__((noipa))
#endif

typedef int (*op_fn)(int);

KEEP int run(op_fn f, int v)
{
	int r = f(v); /* @run-call */
	if (r < 0)
		return r;
	return 0;
}

KEEP int find_key(op_fn f, int key)
{
	int r = f(key); /* @find-key-call */
	if (r < 0)
		return r;
	return 0;
}

KEEP int run_odd(op_fn f, int v)
{
	int r = f(v); /* @odd-call */
	if (r < 0)
		return r;
	return 0;
}

int main(void)
{
	void *h = dlopen(PLUGIN, RTLD_NOW);
	if (h == NULL) {
		fprintf(stderr, "dlhost: %s\n", dlerror());
		return 2;
	}
	op_fn f = (op_fn)dlsym(h, "plug_run");
	op_fn find = (op_fn)dlsym(h, "plug_find");
	char *odd = dlsym(h, "plug_odd");
	if (f == NULL || find == NULL || odd == NULL) {
		fprintf(stderr, "dlhost: %s\n", dlerror());
		return 2;
	}
	if (getenv("FOLLOW_STDIN") != NULL) {
		char line[64];
		while (fgets(line, sizeof line, stdin) != NULL)
			run(f, strncmp(line, "fail", 4) == 0 ? 4 : 0);
		return 0;
	}
	int fails = 0;
	for (int i = 0; i < 5; i++)
		fails += run(f, i) < 0;
	fails += find_key(find, 7) < 0;
	fails += run_odd((op_fn)(odd + 1), 0) < 0;
	printf("%d failed\n", fails);
	return 0;
}
