/*
 * cxx.cc: a namespaced class with overloaded methods, for demangled names in
 * listings. Parser::parse(const char*, size_t) fails with -EINVAL on a
 * non-digit; the other overloads call it.
 *
 * Usage: cxx   (exits 0 when exactly the "12x" input failed)
 */
#include <cerrno>
#include <cstdio>
#include <cstring>

#if defined(__clang__)
#define NOINLINE __attribute__((noinline))
#else
#define NOINLINE __attribute__((noinline, noclone))
#endif

namespace wtf {

class Parser {
public:
	explicit Parser(int base) : base_(base), calls_(0) {}
	int parse(const char *s, size_t n);
	int parse(const char *s);
	static int parse(int v);
	int calls() const { return calls_; }

private:
	int base_;
	int calls_;
};

NOINLINE int Parser::parse(const char *s, size_t n)
{
	int value = 0;

	calls_++;
	for (size_t i = 0; i < n; i++) {
		int digit = s[i] - '0';

		if (digit < 0 || digit >= base_)
			return -EINVAL; /* @fail-digit */
		value = value * base_ + digit;
	}
	return value; /* @success */
}

NOINLINE int Parser::parse(const char *s)
{
	return parse(s, std::strlen(s));
}

NOINLINE int Parser::parse(int v)
{
	return v < 0 ? -ERANGE : v;
}

} // namespace wtf

int main()
{
	wtf::Parser p(10);
	const char *inputs[] = { "7", "42", "12x", "1000" };
	int failed = 0;

	for (const char *in : inputs) {
		int r = p.parse(in);

		std::printf("%s -> %d\n", in, r);
		if (r < 0)
			failed += std::strcmp(in, "12x") == 0 && r == -EINVAL ? 1 : 100;
	}
	if (wtf::Parser::parse(5) != 5)
		failed += 100;
	return failed == 1 && p.calls() == 4 ? 0 : 1;
}
