/* openmissing: opens a file that does not exist (ENOENT from
 * do_sys_openat2). With an argument N it opens it N times; with a second
 * argument "wait" it first waits for a line on stdin (so a tracer can start
 * after it). Static, so it runs in the busybox guest. Prints the errno and exits 1 when the last
 * call fails. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
	int n = argc > 1 ? atoi(argv[1]) : 1;
	if (argc > 2 && strcmp(argv[2], "wait") == 0) {
		char line[16];
		if (!fgets(line, sizeof line, stdin))
			return 2;
	}
	int fd = -1;
	for (int i = 0; i < n; i++)
		fd = openat(AT_FDCWD, "/whythefail/missing", O_RDONLY); /* @openat */
	if (fd < 0) {
		printf("openat: errno %d (%s)\n", errno, strerror(errno));
		return 1;
	}
	printf("openat: fd %d\n", fd);
	return 0;
}
