/* Fixture for the session tests: check() fails (returns -22) only for n == 13.
 * Modes: loop (n = 0..49 in one thread), recurse (check(11, 3)), threads (four
 * threads each running the loop), spin N (N successful calls, for benchmarks).
 * With a second argument "wait", the program first waits for a line on stdin.
 * Markers name the lines the tests expect. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

long counter;

__attribute__((noinline)) int check(int n, int depth)
{
	int r = 0;                        // @init
	long sq = (long)n * n;            // @sq
	counter += sq & 1 ? n : 2 * n;    // @count
	if (depth > 0)                    // @rec
		r = check(n + 1, depth - 1);  // @call
	if (n == 13)                      // @test
		return -22;                   // @fail
	return r;                         // @ok
}

static void *loop(void *arg)
{
	int fails = 0;
	for (int i = 0; i < 50; i++)
		if (check(i, 0) != 0)
			fails++;
	return (void *)(long)fails;
}

int main(int argc, char **argv)
{
	if (argc > 2 && strcmp(argv[2], "wait") == 0) {
		char line[16];
		if (!fgets(line, sizeof line, stdin))
			return 2;
	}
	if (argc > 1 && strcmp(argv[1], "recurse") == 0)
		return check(11, 3) == -22 ? 0 : 1;
	if (argc > 1 && strcmp(argv[1], "threads") == 0) {
		pthread_t t[4];
		for (int i = 0; i < 4; i++)
			pthread_create(&t[i], NULL, loop, NULL);
		for (int i = 0; i < 4; i++)
			pthread_join(t[i], NULL);
		return 0;
	}
	if (argc > 2 && strcmp(argv[1], "spin") == 0) {
		long n = atol(argv[2]);
		for (long i = 0; i < n; i++)
			check((int)(i % 13), 0);
		return 0;
	}
	return loop(NULL) == (void *)1 ? 0 : 1;
}
