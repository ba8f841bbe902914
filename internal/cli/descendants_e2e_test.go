package cli_test

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/whythefail/whythefail/internal/fixture"
)

// familyC forks the ways a -c command's descendants can: a child that forks
// a grandchild before it reaches any probe (the grandchild is the first of
// its line to call check), and a child that starts a thread, which forks a
// grandchild. Only the -c command itself and the grandchildren call check;
// each process prints its role and pid.
const familyC = `#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

__attribute__((noipa)) int check(int n)
{
	if (n > 1)
		return -n; /* @fail */
	return 0;
}

static void say(const char *role, int r)
{
	printf("%s %d %d\n", role, (int)getpid(), r);
	fflush(stdout);
}

static pid_t spawn(const char *role, int n)
{
	pid_t p = fork();
	if (p < 0)
		exit(2);
	if (p == 0) {
		say(role, check(n));
		_exit(0);
	}
	return p;
}

static void *thread(void *arg)
{
	(void)arg;
	waitpid(spawn("grandchild-of-thread", 3), NULL, 0);
	return NULL;
}

int main(void)
{
	pid_t c1, c2;

	say("parent", check(1));
	c1 = fork();
	if (c1 == 0) {
		waitpid(spawn("grandchild", 2), NULL, 0);
		_exit(0);
	}
	c2 = fork();
	if (c2 == 0) {
		pthread_t t;
		if (pthread_create(&t, NULL, thread, NULL) != 0)
			_exit(2);
		pthread_join(t, NULL);
		_exit(0);
	}
	waitpid(c1, NULL, 0);
	waitpid(c2, NULL, 0);
	say("parent", check(4));
	return 0;
}
`

// TestTraceDescendants checks that a -c command's descendants are traced
// however they were created: grandchildren whose parents never reached a
// probe, one forked by a thread. Forks are followed with raw tracepoints,
// so this also holds where tracefs is not mounted.
func TestTraceDescendants(t *testing.T) {
	fixture.RequireBPF(t)
	dir := t.TempDir()
	p := compileC(t, dir, "family.c", "family", familyC, "-g", "-O2", "-pthread")
	pidsFile := filepath.Join(dir, "pids")
	r := traceRun(t, fmt.Sprintf("process(%q)", p.Bin), "check", "$return < 0", "-c", fmt.Sprintf("%q > %q", p.Bin, pidsFile))
	defer dumpOnFailure(t, r)
	if r.status != 0 || !onlyNotes(r.stderr) {
		t.Errorf("exit status %d, stderr %q; want 0 and notes at most", r.status, r.stderr)
	}
	b, err := os.ReadFile(pidsFile)
	if err != nil {
		t.Fatal(err)
	}
	// pid -> return value of its failing check, as the program saw it.
	want := map[int]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Fields(l)
		if len(f) != 3 {
			t.Fatalf("unexpected line %q from the program", l)
		}
		pid, _ := strconv.Atoi(f[1])
		if f[2] != "0" {
			want[pid] = f[2]
		}
	}
	if len(want) != 3 {
		t.Fatalf("the program reported %d failing calls, want 3:\n%s", len(want), b)
	}
	traces, stats := parseOutput(t, r.stdout)
	checkStats(t, stats, 4, 3, 1)
	got := map[int]string{}
	for _, tr := range traces {
		got[tr.tid] = tr.ret
		if tr.comm != "family" || tr.function != "check" {
			t.Errorf("trace header %q: want comm family, function check", tr.header)
		}
		if n := len(tr.stmts); n == 0 || !hasLine(tr, p.Lines["fail"]) {
			t.Errorf("trace %q does not reach line %d (@fail): lines %v", tr.header, p.Lines["fail"], printedLines(tr))
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("traces by pid: %v, want %v (the failing calls the processes reported)", got, want)
	}
}
