/*
 * threads.c: NTHREADS threads call check_item concurrently on their own
 * sequences of values. Only thread FAIL_THREAD, at item FAIL_ITEM, passes a
 * value that check_item rejects with -EOVERFLOW, so exactly one invocation in
 * one thread fails.
 *
 * Usage: threads   (exits 0 when exactly that one call failed)
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>

#if defined(__clang__)
#define NOINLINE __attribute__((noinline))
#else
#define NOINLINE __attribute__((noinline, noclone))
#endif

#define NTHREADS 4
#define NITEMS 500
#define FAIL_THREAD 2
#define FAIL_ITEM 250
#define LIMIT 100000

struct worker {
	int id;
	long sum;
	int failures;
	int failed_item;
};

/* check_item scales value by the worker's weight and bounds the result. */
NOINLINE int check_item(const struct worker *w, int value)
{
	long scaled;
	int weight = w->id + 1;

	if (value < 0)
		return -EINVAL; /* @fail-negative */
	scaled = (long)value * weight;
	if (scaled > LIMIT)
		return -EOVERFLOW; /* @fail-overflow */
	return (int)scaled; /* @success */
}

static void *run(void *arg)
{
	struct worker *w = arg;

	for (int i = 0; i < NITEMS; i++) {
		int value = i;
		int r;

		if (w->id == FAIL_THREAD && i == FAIL_ITEM)
			value = LIMIT; /* scaled by 3: too large */
		r = check_item(w, value);
		if (r < 0) {
			w->failures++;
			w->failed_item = i;
			continue;
		}
		w->sum += r;
	}
	return NULL;
}

int main(void)
{
	pthread_t tids[NTHREADS];
	struct worker workers[NTHREADS] = { 0 };
	int failures = 0;

	for (int i = 0; i < NTHREADS; i++) {
		workers[i].id = i;
		if (pthread_create(&tids[i], NULL, run, &workers[i]) != 0) {
			perror("pthread_create");
			return 2;
		}
	}
	for (int i = 0; i < NTHREADS; i++)
		pthread_join(tids[i], NULL);
	for (int i = 0; i < NTHREADS; i++) {
		printf("thread %d: sum %ld, %d failed\n", i, workers[i].sum,
		       workers[i].failures);
		failures += workers[i].failures;
	}
	if (failures != 1 || workers[FAIL_THREAD].failed_item != FAIL_ITEM)
		return 1;
	return 0;
}
