package listing

import "sort"

// SystemTap 4.8 caches a unit's functions in a
// std::unordered_multimap<interned_string, Dwarf_Die> (dwflpp's
// cu_function_cache) and, for a wildcard function pattern, visits them in
// that container's iteration order. The order decides which function
// collects an address first when several collect the same one (section 3.2
// of docs/stap-listing.md), so whythefail reproduces it: multimapOrder
// replays the insertions on a model of libstdc++'s (GCC 12) hashtable.

// stapHash is std::hash<interned_string> of SystemTap 4.8 as Debian
// builds it (without Boost's string_ref, so interned_string is a
// std::string and its hash is std::hash<std::string>): libstdc++'s
// _Hash_bytes, a 64-bit MurmurHash2 variant, with seed 0xc70f6907.
func stapHash(s string) uint64 {
	const mul = 0xc6a4a7935bd1e995
	h := uint64(0xc70f6907) ^ (uint64(len(s)) * mul)
	n := len(s) &^ 7
	for i := 0; i < n; i += 8 {
		w := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
			uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
		h ^= shiftMix(w*mul) * mul
		h *= mul
	}
	if rest := s[n:]; rest != "" {
		var tail uint64
		for i := len(rest) - 1; i >= 0; i-- {
			tail = tail<<8 | uint64(rest[i])
		}
		h ^= tail
		h *= mul
	}
	return shiftMix(shiftMix(h) * mul)
}

func shiftMix(v uint64) uint64 { return v ^ v>>47 }

// stlPrimes is libstdc++'s __prime_list from 17 on (GCC 12), the bucket
// counts _Prime_rehash_policy::_M_next_bkt picks from for 14 buckets or
// more. The last entry is what it returns for anything larger. Checked
// against libstdc++ by TestSTLBucketCounts.
var stlPrimes = []uint64{
	17, 19, 23, 29, 31, 37,
	41, 43, 47, 53, 59, 61,
	67, 71, 73, 79, 83, 89,
	97, 103, 109, 113, 127, 137,
	139, 149, 157, 167, 179, 193,
	199, 211, 227, 241, 257, 277,
	293, 313, 337, 359, 383, 409,
	439, 467, 503, 541, 577, 619,
	661, 709, 761, 823, 887, 953,
	1031, 1109, 1193, 1289, 1381, 1493,
	1613, 1741, 1879, 2029, 2179, 2357,
	2549, 2753, 2971, 3209, 3469, 3739,
	4027, 4349, 4703, 5087, 5503, 5953,
	6427, 6949, 7517, 8123, 8783, 9497,
	10273, 11113, 12011, 12983, 14033, 15173,
	16411, 17749, 19183, 20753, 22447, 24281,
	26267, 28411, 30727, 33223, 35933, 38873,
	42043, 45481, 49201, 53201, 57557, 62233,
	67307, 72817, 78779, 85229, 92203, 99733,
	107897, 116731, 126271, 136607, 147793, 159871,
	172933, 187091, 202409, 218971, 236897, 256279,
	277261, 299951, 324503, 351061, 379787, 410857,
	444487, 480881, 520241, 562841, 608903, 658753,
	712697, 771049, 834181, 902483, 976369, 1056323,
	1142821, 1236397, 1337629, 1447153, 1565659, 1693859,
	1832561, 1982627, 2144977, 2320627, 2510653, 2716249,
	2938679, 3179303, 3439651, 3721303, 4026031, 4355707,
	4712381, 5098259, 5515729, 5967347, 6456007, 6984629,
	7556579, 8175383, 8844859, 9569143, 10352717, 11200489,
	12117689, 13109983, 14183539, 15345007, 16601593, 17961079,
	19431899, 21023161, 22744717, 24607243, 26622317, 28802401,
	31160981, 33712729, 36473443, 39460231, 42691603, 46187573,
	49969847, 54061849, 58488943, 63278561, 68460391, 74066549,
	80131819, 86693767, 93793069, 101473717, 109783337, 118773397,
	128499677, 139022417, 150406843, 162723577, 176048909, 190465427,
	206062531, 222936881, 241193053, 260944219, 282312799, 305431229,
	330442829, 357502601, 386778277, 418451333, 452718089, 489790921,
	529899637, 573292817, 620239453, 671030513, 725980837, 785430967,
	849749479, 919334987, 994618837, 1076067617, 1164186217, 1259520799,
	1362662261, 1474249943, 1594975441, 1725587117, 1866894511, 2019773507,
	2185171673, 2364114217, 2557710269, 2767159799, 2993761039, 3238918481,
	3504151727, 3791104843, 4101556399, 4294967291, 6442450933, 8589934583,
	12884901857, 17179869143, 25769803693, 34359738337, 51539607367, 68719476731,
	103079215087, 137438953447, 206158430123, 274877906899, 412316860387, 549755813881,
	824633720731, 1099511627689, 1649267441579, 2199023255531, 3298534883309, 4398046511093,
	6597069766607, 8796093022151, 13194139533241, 17592186044399, 26388279066581, 35184372088777,
	52776558133177, 70368744177643, 105553116266399, 140737488355213, 211106232532861, 281474976710597,
	562949953421231, 1125899906842597, 2251799813685119, 4503599627370449, 9007199254740881, 18014398509481951,
	36028797018963913, 72057594037927931, 144115188075855859, 288230376151711717, 576460752303423433, 1152921504606846883,
	2305843009213693951, 4611686018427387847, 9223372036854775783, 18446744073709551557,
}

// stlFastBuckets is _M_next_bkt's answer for counts below 14.
var stlFastBuckets = [14]uint64{1, 2, 2, 3, 5, 5, 7, 7, 11, 11, 11, 11, 13, 13}

// stlMultimap models the node list and buckets of libstdc++'s _Hashtable
// for equivalent keys allowed, with the default _Prime_rehash_policy
// (max load factor 1). Node 0 is _M_before_begin; a bucket holds the node
// before its first node, or -1 when empty. Each node carries an int (the
// mapped value).
type stlMultimap struct {
	keys       []string // by node, keys[0] unused
	vals       []int
	hashes     []uint64
	next       []int // next node, -1 at the end
	buckets    []int
	nextResize uint64 // _M_next_resize: the element count that triggers a rehash
}

func newSTLMultimap(n int) *stlMultimap {
	m := &stlMultimap{
		keys:    make([]string, 1, n+1),
		vals:    make([]int, 1, n+1),
		hashes:  make([]uint64, 1, n+1),
		next:    make([]int, 1, n+1),
		buckets: []int{-1}, // the single bucket of an empty container
	}
	m.next[0] = -1
	return m
}

// len returns the number of elements.
func (m *stlMultimap) len() int { return len(m.keys) - 1 }

func (m *stlMultimap) bucket(node int) int {
	return int(m.hashes[node] % uint64(len(m.buckets)))
}

// nextBucketCount is _Prime_rehash_policy::_M_next_bkt: the smallest
// listed bucket count not below n; it sets the next resize point.
func (m *stlMultimap) nextBucketCount(n uint64) uint64 {
	if n < uint64(len(stlFastBuckets)) {
		if n > 0 {
			m.nextResize = stlFastBuckets[n]
		}
		return stlFastBuckets[n]
	}
	last := len(stlPrimes) - 1
	i := sort.Search(last, func(i int) bool { return stlPrimes[i] >= n })
	if i == last {
		m.nextResize = ^uint64(0)
	} else {
		m.nextResize = stlPrimes[i]
	}
	return stlPrimes[i]
}

// needRehash is _Prime_rehash_policy::_M_need_rehash for inserting add
// elements: the new bucket count, or 0 when the buckets stay.
func (m *stlMultimap) needRehash(add int) uint64 {
	elems := uint64(m.len() + add)
	if elems <= m.nextResize {
		return 0
	}
	nb := uint64(len(m.buckets))
	minBuckets := elems
	if m.nextResize == 0 {
		minBuckets = max(minBuckets, 11) // the first allocation
	}
	if minBuckets >= nb {
		return m.nextBucketCount(max(minBuckets+1, nb*2))
	}
	m.nextResize = nb
	return 0
}

// insert adds (key, val) as insert(value_type) does: after a rehash if
// the policy asks for one, then just before the first node with an equal
// key, or at the beginning of its bucket when there is none.
func (m *stlMultimap) insert(key string, val int) {
	if n := m.needRehash(1); n > 0 {
		m.rehash(int(n))
	}
	n := len(m.keys)
	m.keys = append(m.keys, key)
	m.vals = append(m.vals, val)
	m.hashes = append(m.hashes, stapHash(key))
	m.next = append(m.next, -1)
	b := m.bucket(n)
	if prev := m.findBefore(b, key, m.hashes[n]); prev >= 0 {
		m.next[n] = m.next[prev]
		m.next[prev] = n
		return
	}
	m.insertBucketBegin(b, n)
}

// insertAll adds the elements of src, in src's iteration order, as
// insert(first, last) does for a multimap: one rehash sized for all of
// them first, then each element as insert adds it.
func (m *stlMultimap) insertAll(src *stlMultimap) {
	if src.len() == 0 {
		return
	}
	if n := m.needRehash(src.len()); n > 0 {
		m.rehash(int(n))
	}
	for p := src.next[0]; p >= 0; p = src.next[p] {
		m.insert(src.keys[p], src.vals[p])
	}
}

// findBefore returns the node before the first node of bucket b whose key
// equals key, or -1.
func (m *stlMultimap) findBefore(b int, key string, h uint64) int {
	prev := m.buckets[b]
	if prev < 0 {
		return -1
	}
	for p := m.next[prev]; p >= 0; prev, p = p, m.next[p] {
		if m.hashes[p] == h && m.keys[p] == key {
			return prev
		}
		if m.next[p] < 0 || m.bucket(m.next[p]) != b {
			break
		}
	}
	return -1
}

// insertBucketBegin is _M_insert_bucket_begin.
func (m *stlMultimap) insertBucketBegin(b, n int) {
	if m.buckets[b] >= 0 {
		m.next[n] = m.next[m.buckets[b]]
		m.next[m.buckets[b]] = n
		return
	}
	m.next[n] = m.next[0]
	m.next[0] = n
	if m.next[n] >= 0 {
		m.buckets[m.bucket(m.next[n])] = n
	}
	m.buckets[b] = 0
}

// rehash is _M_rehash_aux for equivalent keys: the nodes are re-linked in
// list order, a node following one of the same bucket goes right after it
// (so equal keys keep their relative order), any other goes to the front
// of its bucket, or of the whole list when its bucket is empty.
func (m *stlMultimap) rehash(count int) {
	nb := make([]int, count)
	for i := range nb {
		nb[i] = -1
	}
	m.buckets = nb
	p := m.next[0]
	m.next[0] = -1
	bbegin := 0
	prevBkt := 0
	prevP := -1
	check := false
	for p >= 0 {
		nextP := m.next[p]
		b := m.bucket(p)
		if prevP >= 0 && prevBkt == b {
			m.next[p] = m.next[prevP]
			m.next[prevP] = p
			check = true
		} else {
			if check {
				if m.next[prevP] >= 0 {
					if nbk := m.bucket(m.next[prevP]); nbk != prevBkt {
						nb[nbk] = prevP
					}
				}
				check = false
			}
			if nb[b] < 0 {
				m.next[p] = m.next[0]
				m.next[0] = p
				nb[b] = 0
				if m.next[p] >= 0 {
					nb[bbegin] = p
				}
				bbegin = b
			} else {
				m.next[p] = m.next[nb[b]]
				m.next[nb[b]] = p
			}
		}
		prevP = p
		prevBkt = b
		p = nextP
	}
	if check && prevP >= 0 && m.next[prevP] >= 0 {
		if nbk := m.bucket(m.next[prevP]); nbk != prevBkt {
			nb[nbk] = prevP
		}
	}
}

// multimapOrder returns the positions in keys (the insertion order) in
// the order a libstdc++ std::unordered_multimap with SystemTap's string
// hash iterates them after inserting keys one by one.
func multimapOrder(keys []string) []int {
	m := newSTLMultimap(len(keys))
	for i, k := range keys {
		m.insert(k, i)
	}
	return m.order()
}

// order returns the mapped values in iteration order.
func (m *stlMultimap) order() []int {
	out := make([]int, 0, m.len())
	for p := m.next[0]; p >= 0; p = m.next[p] {
		out = append(out, m.vals[p])
	}
	return out
}
