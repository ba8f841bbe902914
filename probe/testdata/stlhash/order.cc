// order reads names, one a line, inserts them in that order into the
// container SystemTap 4.8 caches a unit's functions in, and prints the
// line index (from 0) of each element in iteration order, then the bucket
// count. Built by TestMultimapOrderMatchesLibstdcxx.
#include <cstddef>
#include <iostream>
#include <string>
#include <unordered_map>

// Like std::hash<interned_string> in SystemTap's stringtable.h (Boost
// string_ref build): h = h*131 + c over the chars.
struct stap_hash {
  std::size_t operator()(const std::string &s) const {
    std::size_t h = 0;
    for (char c : s)
      h = h * 131 + c;
    return h;
  }
};

int main() {
  std::unordered_multimap<std::string, int, stap_hash> m;
  std::string line;
  int i = 0;
  while (std::getline(std::cin, line))
    m.insert(std::make_pair(line, i++));
  for (const auto &kv : m)
    std::cout << kv.second << '\n';
  std::cout << "buckets " << m.bucket_count() << '\n';
}
