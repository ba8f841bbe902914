/* The plugin dlhost loads with dlopen (libdlplug.so, built beside it and
 * not linked to it): --follow's fixture for a call through a pointer into
 * code of another file than the caller's. plug_run's own call of check is
 * the failure's origin when v > 3; plug_find's call of plug_lookup, a
 * global function, goes through the plugin's own PLT (bound in the
 * plugin), and is the origin when key is 7. plug_odd is assembly whose second byte
 * (plug_odd+1) dlhost calls: a pointer to code that starts no function. */
#include <errno.h>

#ifdef __clang__
#define KEEP __attribute__((noinline))
#else
#define KEEP __attribute__((noipa))
#endif

volatile int plug_sink;

static KEEP int check(int v)
{
	plug_sink++;
	if (v > 3)
		return -EINVAL; /* @check-fail */
	return 0; /* @check-ok */
}

KEEP int plug_run(int v)
{
	int r = check(v); /* @plug-call */
	if (r < 0)
		return r;
	return 0;
}

KEEP int plug_lookup(int key)
{
	plug_sink++;
	if (key == 7)
		return -ENOENT; /* @lookup-fail */
	return key; /* @lookup-ok */
}

KEEP int plug_find(int key)
{
	int r = plug_lookup(key); /* @find-call */
	if (r < 0)
		return r;
	return 0;
}

__asm__(".text\n"
	"\t.globl plug_odd\n"
	"\t.type plug_odd, @function\n"
	"plug_odd:\n"
	"\tnop\n"
	"\tmovl $-22, %eax\n"
	"\tret\n"
	"\t.size plug_odd, .-plug_odd\n");
