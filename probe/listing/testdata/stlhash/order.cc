// order reads names, one a line, inserts them in that order into the
// container SystemTap 4.8 caches a unit's functions in, and prints the
// line index (from 0) of each element in iteration order, then the bucket
// count. A line "--" ends the first names: the names after it go one by
// one into a second container of the same type, whose elements are then
// inserted into the first with one range insert, as
// module_info::update_symtab adds a unit's ELF aliases. Built by
// TestMultimapOrderMatchesLibstdcxx.
#include <cstddef>
#include <iostream>
#include <string>
#include <unordered_map>

// std::hash<interned_string> of SystemTap 4.8 as Debian builds it
// (stringtable.h without Boost's string_ref): std::hash<std::string>. A
// class of its own, like that specialization, so that libstdc++ takes it
// for a fast hash as it does SystemTap's.
struct stap_hash {
  std::size_t operator()(const std::string &s) const {
    return std::hash<std::string>()(s);
  }
};

int main() {
  typedef std::unordered_multimap<std::string, int, stap_hash> cache;
  cache m, extra;
  cache *into = &m;
  std::string line;
  int i = 0;
  while (std::getline(std::cin, line)) {
    if (line == "--") {
      into = &extra;
      continue;
    }
    into->insert(std::make_pair(line, i++));
  }
  m.insert(extra.begin(), extra.end());
  for (const auto &kv : m)
    std::cout << kv.second << '\n';
  std::cout << "buckets " << m.bucket_count() << '\n';
}
