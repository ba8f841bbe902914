/*
 * errno.c: functions that fail and say why through errno, called from
 * threads created after start-up, so a tracer attached before the program
 * starts sees every thread born.
 *
 * Each of NTHREADS threads calls open_config on its own path, which fails
 * with its own errno (ENOENT, ENOTDIR, EISDIR, ENAMETOOLONG), and main
 * prints "thread I errno E". The main thread then opens /dev/null, which
 * works, and calls parse_port, which sets errno itself, on "http" (EINVAL),
 * "70000" (ERANGE) and "80" (valid), printing "port S errno E" for the two
 * that fail.
 *
 * Usage: errno [ROUNDS]   (exits 0 when every call failed as described;
 * with ROUNDS, does it all that many times, 0 meaning until killed, quietly)
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if defined(__clang__)
#define NOINLINE __attribute__((noinline))
#else
#define NOINLINE __attribute__((noinline, noclone))
#endif

#define NTHREADS 4

/* open_config opens path and closes it again: 0, or -1 with errno set by
 * open. */
NOINLINE int open_config(const char *path, int flags)
{
	int fd = open(path, flags);

	if (fd < 0)
		return -1; /* @open-failed */
	close(fd);
	return 0; /* @open-ok */
}

/* parse_port reads a TCP port number: the port, or -1 with errno EINVAL
 * (not a number) or ERANGE (out of range). */
NOINLINE long parse_port(const char *s)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (end == s || *end != '\0') {
		errno = EINVAL; /* @bad-port */
		return -1;
	}
	if (v < 1 || v > 65535) {
		errno = ERANGE; /* @port-range */
		return -1; /* @port-range-return */
	}
	return v; /* @port-ok */
}

struct job {
	const char *path;
	int flags;
	int want;
	int got;
};

static char long_path[PATH_MAX + 16];
static pthread_barrier_t start;

static void *run(void *arg)
{
	struct job *j = arg;

	/* All threads call at once, so their errnos are live together. */
	pthread_barrier_wait(&start);
	if (open_config(j->path, j->flags) == 0)
		j->got = 0;
	else
		j->got = errno;
	return NULL;
}

/* run_round runs every failing call once, printing what happened when verbose;
 * it returns whether everything failed as described. */
static int run_round(int verbose)
{
	static const char *ports[] = { "http", "70000", "80" };
	struct job jobs[NTHREADS] = {
		{ "/nonexistent/config", O_RDONLY, ENOENT, 0 },
		{ "/dev/null/config", O_RDONLY, ENOTDIR, 0 },
		{ "/", O_WRONLY, EISDIR, 0 },
		{ long_path, O_RDONLY, ENAMETOOLONG, 0 },
	};
	pthread_t tids[NTHREADS];
	int ok = 1;

	for (int i = 0; i < NTHREADS; i++) {
		if (pthread_create(&tids[i], NULL, run, &jobs[i]) != 0) {
			perror("pthread_create");
			return 0;
		}
	}
	for (int i = 0; i < NTHREADS; i++) {
		pthread_join(tids[i], NULL);
		if (verbose)
			printf("thread %d errno %d\n", i, jobs[i].got);
		if (jobs[i].got != jobs[i].want)
			ok = 0;
	}
	if (open_config("/dev/null", O_RDONLY) != 0)
		ok = 0;
	for (int i = 0; i < 3; i++) {
		long p = parse_port(ports[i]);
		int e = errno;

		if (p < 0 && verbose)
			printf("port %s errno %d\n", ports[i], e);
		if ((i == 0 && (p != -1 || e != EINVAL)) || (i == 1 && (p != -1 || e != ERANGE)) || (i == 2 && p != 80))
			ok = 0;
	}
	return ok;
}

int main(int argc, char **argv)
{
	/* With an argument, run that many rounds (0: until killed), 10 ms
	 * apart, printing nothing: a process to attach to with -x. */
	int rounds = argc > 1 ? atoi(argv[1]) : 1;

	memset(long_path, 'x', sizeof(long_path) - 1);
	long_path[0] = '/';
	pthread_barrier_init(&start, NULL, NTHREADS);
	for (int r = 0; rounds == 0 || r < rounds; r++) {
		if (!run_round(argc == 1))
			return 1;
		if (argc > 1)
			usleep(10000);
	}
	return 0;
}
