/*
 * recurse.c: a recursive-descent parser of nested brackets. Nesting deeper
 * than MAX_DEPTH fails with -E2BIG: the failing invocation of parse_group is
 * the one at depth MAX_DEPTH+1 (depth counts from 1 at the outermost group),
 * and every enclosing invocation then returns the same error.
 *
 * Usage: recurse   (exits 0 when every input parses as expected)
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#if defined(__clang__)
#define NOINLINE __attribute__((noinline))
#else
#define NOINLINE __attribute__((noinline, noclone))
#endif

#define MAX_DEPTH 4

/* parse_group parses "(" items ")" at *p and returns the number of atoms. */
NOINLINE int parse_group(const char **p, int depth)
{
	int atoms = 0;

	if (depth > MAX_DEPTH)
		return -E2BIG; /* @fail-depth */
	if (**p != '(')
		return -EINVAL; /* @fail-open */
	(*p)++;
	while (**p != ')') {
		if (**p == '\0')
			return -EINVAL; /* @fail-eof */
		if (**p == '(') {
			int n = parse_group(p, depth + 1); /* @recurse */

			if (n < 0)
				return n; /* @propagate */
			atoms += n;
		} else {
			atoms++;
			(*p)++;
		}
	}
	(*p)++;
	return atoms; /* @success */
}

struct testcase {
	const char *input;
	int want;
};

int main(void)
{
	static const struct testcase cases[] = {
		{ "(a)", 1 },
		{ "(a(b)c)", 3 },
		{ "((((x))))", 1 },
		{ "(a(b(c(d(e)))))", -E2BIG }, /* fails at depth 5 */
		{ "(a(b)", -EINVAL },
	};
	int bad = 0;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *p = cases[i].input;
		int got = parse_group(&p, 1);

		printf("%-18s %d\n", cases[i].input, got);
		if (got != cases[i].want)
			bad++;
	}
	return bad == 0 ? 0 : 1;
}
