/* --follow's fixture for calls through the PLT into ifuncs: glibc's strlen
 * and strchr, whose implementation the dynamic linker chose by the CPU's
 * features (__strlen_avx2, __strchr_evex, ...). Built lazily bound
 * ("ifunc": the first call of each goes through the dynamic linker, which
 * fills the GOT slot during it) and with -z now ("ifuncnow": the slots are
 * filled at start-up). main calls parse_pair once, with a setting without a
 * colon: strlen and strchr are called for the first time in that call.
 * Then it asks glibc's getenv for a variable that is not set: getenv calls
 * strlen through libc's own PLT (an IRELATIVE slot, filled at start-up).
 * Last, order compares two strings with strcmp and returns what it returned:
 * the ifunc's implementation is the origin of order's negative return.
 *
 * Usage: ifunc [SETTING]   (default "nocolon", which fails with -EINVAL)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
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

volatile int differ;

KEEP int order(const char *a, const char *b)
{
	int r = strcmp(a, b); /* @order-strcmp */

	if (r != 0)
		differ++;
	return r;
}

/* done marks the end of the work, for a debugger's breakpoint. */
KEEP void done(int r, const char *env, int o)
{
	printf("parse_pair: %d, getenv: %s, order: %d\n", r, env ? env : "(unset)", o);
}

int main(int argc, char **argv)
{
	int r = parse_pair(argc > 1 ? argv[1] : "nocolon");
	const char *env = getenv("ZQ_WHYTHEFAIL_UNSET");
	int o = order("abc", "abd");

	done(r, env, o);
	return 0;
}
