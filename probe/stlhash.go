package probe

// SystemTap 4.8 caches a unit's functions in a
// std::unordered_multimap<interned_string, Dwarf_Die> (dwflpp's
// cu_function_cache) and, for a wildcard function pattern, visits them in
// that container's iteration order. The order decides which function
// collects an address first when several collect the same one (section 3.2
// of docs/stap-listing.md), so whythefail reproduces it: multimapOrder
// replays the insertions on a model of libstdc++'s (GCC 12) hashtable.

// stapHash is std::hash<interned_string> of SystemTap built with Boost's
// string_ref (as Debian builds it): h = h*131 + c over the bytes, each byte
// a signed char.
func stapHash(s string) uint64 {
	var h uint64
	for i := 0; i < len(s); i++ {
		h = h*131 + uint64(int64(int8(s[i])))
	}
	return h
}

// stlBucketCounts are the bucket counts an unordered container of
// libstdc++ grows through when elements are inserted one by one into a
// default-constructed one (max_load_factor 1): 13 at the first insertion,
// then _Prime_rehash_policy::_M_next_bkt(2*n) each time the count of
// elements would exceed n. Checked against libstdc++ by
// TestMultimapOrderMatchesLibstdcxx.
var stlBucketCounts = []uint64{
	13, 29, 59, 127, 257, 541, 1109, 2357, 5087, 10273, 20753, 42043, 85229,
	172933, 351061, 712697, 1447153, 2938679, 5967347, 12117689, 24607243,
	49969847, 101473717, 206062531, 418451333, 849749479, 1725587117,
	3504151727, 8589934583,
}

// stlMultimap models the node list and buckets of libstdc++'s _Hashtable
// for equivalent keys allowed. Node 0 is _M_before_begin; a bucket holds
// the node before its first node, or -1 when empty.
type stlMultimap struct {
	keys    []string // by node, keys[0] unused
	hashes  []uint64
	next    []int // next node, -1 at the end
	buckets []int
	grow    int // index into stlBucketCounts of the current bucket count
}

func newSTLMultimap(n int) *stlMultimap {
	m := &stlMultimap{
		keys:    make([]string, 1, n+1),
		hashes:  make([]uint64, 1, n+1),
		next:    make([]int, 1, n+1),
		buckets: []int{-1}, // the single bucket of an empty container
		grow:    -1,
	}
	m.next[0] = -1
	return m
}

func (m *stlMultimap) bucket(node int) int {
	return int(m.hashes[node] % uint64(len(m.buckets)))
}

// insert adds key as _M_insert_multi_node does without a hint: after a
// rehash if the load would exceed 1, then just before the first node with
// an equal key, or at the beginning of its bucket when there is none.
func (m *stlMultimap) insert(key string) {
	count := len(m.keys) - 1
	if m.grow < 0 || uint64(count+1) > stlBucketCounts[m.grow] {
		if m.grow+1 < len(stlBucketCounts) {
			m.grow++
			m.rehash(int(stlBucketCounts[m.grow]))
		}
	}
	n := len(m.keys)
	m.keys = append(m.keys, key)
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
	old := m.buckets
	m.buckets = nb
	_ = old
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
	for _, k := range keys {
		m.insert(k)
	}
	out := make([]int, 0, len(keys))
	for p := m.next[0]; p >= 0; p = m.next[p] {
		out = append(out, p-1)
	}
	return out
}
