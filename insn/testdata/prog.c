/* Fixture for insn tests: a mix of control flow, arithmetic, floating point
 * and vector code so the compilers emit many instruction encodings. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct item {
	int id;
	double weight;
	char name[16];
};

static int classify(int x)
{
	switch (x) {
	case 0: return 10;
	case 1: return 21;
	case 2: return 32;
	case 3: return 43;
	case 4: return 54;
	case 5: return 65;
	case 6: return 76;
	default: return -1;
	}
}

double mean(const struct item *items, int n)
{
	double sum = 0;
	for (int i = 0; i < n; i++)
		sum += items[i].weight * 1.5 + (double)items[i].id;
	return n ? sum / n : 0.0;
}

long long mix(long long a, unsigned short b, signed char c)
{
	long long r = a * 0x123456789LL;
	r ^= (long long)b << 17;
	r += c;
	r = r / 7 + r % 13;
	return r > 0 ? r : -r;
}

__attribute__((target("avx2"))) void scale(float *restrict dst, const float *restrict src, int n, float k)
{
	for (int i = 0; i < n; i++)
		dst[i] = src[i] * k + dst[i];
}

int find(struct item *items, int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (strcmp(items[i].name, name) == 0)
			return classify(items[i].id % 8);
	return -22;
}

int main(int argc, char **argv)
{
	struct item items[3] = {{1, 2.0, "a"}, {2, 3.5, "b"}, {3, 0.25, "c"}};
	float a[64], b[64];
	for (int i = 0; i < 64; i++) {
		a[i] = i;
		b[i] = 64 - i;
	}
	scale(a, b, 64, 0.5f);
	printf("%f %lld %d %f\n", mean(items, 3), mix(argc, 7, -3),
	       find(items, 3, argc > 1 ? argv[1] : "b"), a[5]);
	return 0;
}
