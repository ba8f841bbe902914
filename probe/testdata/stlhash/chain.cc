// chain prints the bucket counts a default-constructed libstdc++ unordered
// container grows through as elements are inserted one at a time (maximum
// load factor 1): the first insertion asks _M_next_bkt for 12 buckets
// (at least 11, plus one), each later growth for twice the current count.
// Built by TestSTLBucketCounts.
#include <cstdio>
#include <unordered_map>

int main() {
  std::__detail::_Prime_rehash_policy p;
  std::size_t b = p._M_next_bkt(12);
  std::printf("%zu\n", b);
  for (int i = 0; i < 64; i++) {
    std::size_t nb = p._M_next_bkt(2 * b);
    if (nb == b)
      break;
    b = nb;
    std::printf("%zu\n", b);
  }
}
