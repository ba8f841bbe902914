/*
 * inline.c: validate calls check_range, which is always_inline, and classify,
 * a small static function that gcc and clang inline at -O2, so the binary has
 * inlined instances (DW_TAG_inlined_subroutine) of both. The value 250 in the
 * third batch is out of range and makes validate fail with -EDOM.
 *
 * Usage: inline   (exits 0 when only the third batch failed)
 */
#include <errno.h>
#include <stdio.h>

#if defined(__clang__)
#define NOINLINE __attribute__((noinline))
#else
#define NOINLINE __attribute__((noinline, noclone))
#endif

static inline __attribute__((always_inline)) int check_range(int v, int lo, int hi)
{
	if (v < lo)
		return -ERANGE; /* @range-low */
	if (v > hi)
		return -EDOM; /* @range-high */
	return 0; /* @range-ok */
}

static int classify(int v)
{
	int bucket = v / 10; /* @classify */

	return bucket > 9 ? 9 : bucket;
}

/* validate checks every value and counts them per bucket. */
NOINLINE int validate(const int *vals, int n, int *hist)
{
	for (int i = 0; i < n; i++) {
		int err = check_range(vals[i], 0, 200); /* @call-range */

		if (err < 0)
			return err; /* @fail */
		hist[classify(vals[i])]++; /* @call-classify */
	}
	return n; /* @success */
}

int main(void)
{
	static const int batches[3][4] = {
		{ 1, 20, 35, 199 },
		{ 7, 7, 70, 100 },
		{ 5, 250, 60, 8 },
	};
	int hist[10] = { 0 };
	int failed = 0;

	for (int b = 0; b < 3; b++) {
		int r = validate(batches[b], 4, hist);

		printf("batch %d: %d\n", b, r);
		if (r < 0)
			failed += b == 2 && r == -EDOM ? 1 : 100;
	}
	return failed == 1 ? 0 : 1;
}
