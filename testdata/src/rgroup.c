/*
 * rgroup.c: a recursive function called from several threads, failing at
 * its deepest level and in every caller above it, for grouping traces by
 * statement path (--group).
 *
 * Usage: rgroup   (4 workers, 5 calls each, each call 4 levels deep)
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>

#if defined(__clang__)
#define NOINLINE __attribute__((noinline))
#else
#define NOINLINE __attribute__((noinline, noclone))
#endif

#define WORKERS 4
#define CALLS 5
#define DEEPEST 3

volatile int sink;

NOINLINE int descend(int level, int worker)
{
	int r;

	sink = worker;
	if (level >= DEEPEST)
		return -ELOOP; /* @deepest */
	r = descend(level + 1, worker);
	if (r < 0)
		return r; /* @propagate */
	return r + 1;
}

static void *work(void *arg)
{
	int worker = (int)(long)arg;

	for (int i = 0; i < CALLS; i++)
		descend(0, worker);
	return NULL;
}

int main(void)
{
	pthread_t t[WORKERS];

	for (long i = 0; i < WORKERS; i++)
		pthread_create(&t[i], NULL, work, (void *)i);
	for (int i = 0; i < WORKERS; i++)
		pthread_join(t[i], NULL);
	printf("%d calls\n", WORKERS * CALLS);
	return 0;
}
