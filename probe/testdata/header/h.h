static inline int hsq(int v)
{
	int r = v * v;
	if (r > 100)
		r -= 7;
	return r;
}
