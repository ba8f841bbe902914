/* --follow's fixture for calls through the PLT into ifuncs: glibc's strlen
 * and strchr, whose implementation the dynamic linker chose by the CPU's
 * features (__strlen_avx2, __strchr_evex, ...). Built lazily bound
 * ("ifunc": the first call of each goes through the dynamic linker, which
 * fills the GOT slot during it) and with -z now ("ifuncnow": the slots are
 * filled at start-up). main calls parse_pair once, with a setting without a
 * colon: strlen and strchr are called for the first time in that call.
 *
 * Usage: ifunc [SETTING]   (default "nocolon", which fails with -EINVAL)
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#ifdef __clang__
#define KEEP __attribute__((noinline, used))
#else
#define KEEP __attribute__((noipa, used))
#endif

KEEP int check_pair(const char *s)
{
	if (strchr(s, ':') == NULL) /* @check-strchr */
		return -EINVAL;
	return 0;
}

KEEP int parse_pair(const char *s)
{
	size_t n = strlen(s); /* @pair-strlen */
	int r;

	if (n > 64)
		return -ENAMETOOLONG;
	r = check_pair(s); /* @pair-call */
	if (r < 0)
		return r;
	return (int)n;
}

/* done marks the end of the work, for a debugger's breakpoint. */
KEEP void done(int r)
{
	printf("parse_pair: %d\n", r);
}

int main(int argc, char **argv)
{
	done(parse_pair(argc > 1 ? argv[1] : "nocolon"));
	return 0;
}
