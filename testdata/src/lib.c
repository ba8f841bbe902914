/*
 * lib.c: libwtf.so, a shared library whose wtf_open refuses absolute names
 * opened for writing with -EACCES. Built with libmain.c, which links it.
 */
#include <errno.h>
#include <string.h>

#define WTF_WRITE 0x1
#define WTF_CREATE 0x2
#define WTF_KNOWN (WTF_WRITE | WTF_CREATE)

struct wtf_stats {
	int opened;
	int refused;
};

struct wtf_stats wtf_stats; /* @global */

/* wtf_open returns a small handle for name, or a negative errno. */
int wtf_open(const char *name, unsigned int flags)
{
	size_t len;
	int handle;

	if (name == NULL)
		return -EFAULT; /* @fail-null */
	if (flags & ~WTF_KNOWN)
		return -EINVAL; /* @fail-flags */
	len = strlen(name);
	if (name[0] == '/' && (flags & WTF_WRITE)) {
		wtf_stats.refused++;
		return -EACCES; /* @fail-access */
	}
	handle = (int)(len % 7) + 3;
	wtf_stats.opened++;
	return handle; /* @success */
}
