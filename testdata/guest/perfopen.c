/* perfopen: the seed article's failing call. perf_event_open with a
 * branch_sample_type bit above PERF_SAMPLE_BRANCH_MAX fails with EINVAL in
 * perf_copy_attr. With an argument N it makes the call N times; with a
 * second argument "wait" it waits for a line on stdin before each call (so
 * a tracer can start, and place more probes, between them). Static, so it
 * runs in the busybox guest. Prints the errno and exits 1 when the last call
 * fails, 0 when it succeeds. */
#include <errno.h>
#include <linux/perf_event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv) {
	int n = argc > 1 ? atoi(argv[1]) : 1;
	int wait = argc > 2 && strcmp(argv[2], "wait") == 0;
	struct perf_event_attr attr;
	memset(&attr, 0, sizeof attr);
	attr.size = sizeof attr;
	attr.type = PERF_TYPE_HARDWARE;
	attr.config = PERF_COUNT_HW_CPU_CYCLES;
	attr.sample_type = PERF_SAMPLE_BRANCH_STACK;
	attr.branch_sample_type = 1ULL << 40; /* @bad-branch-type */
	long fd = -1;
	for (int i = 0; i < n; i++) {
		char line[16];
		if (wait && !fgets(line, sizeof line, stdin))
			return 2;
		fd = syscall(SYS_perf_event_open, &attr, 0, -1, -1, 0);
	}
	if (fd < 0) {
		printf("perf_event_open: errno %d (%s)\n", errno, strerror(errno));
		return 1;
	}
	printf("perf_event_open: fd %ld\n", fd);
	return 0;
}
