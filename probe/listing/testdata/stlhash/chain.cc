// chain prints the bucket counts libstdc++'s _Prime_rehash_policy picks:
// _M_next_bkt(n) for n from 0 to 13, then, from n = 14 on, each distinct
// answer p with n moved to p + 1, until the answer stops changing (the
// last prime of __prime_list). Built by TestSTLBucketCounts.
#include <cstdio>
#include <unordered_map>

int main() {
  std::__detail::_Prime_rehash_policy p;
  for (std::size_t n = 0; n < 14; n++)
    std::printf("%zu\n", p._M_next_bkt(n));
  std::size_t last = 0;
  for (std::size_t n = 14;;) {
    std::size_t b = p._M_next_bkt(n);
    if (b == last)
      break;
    std::printf("%zu\n", b);
    last = b;
    n = b + 1;
  }
}
