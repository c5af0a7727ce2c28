// An LD_PRELOAD shim for kill_test: the process SIGKILLs itself right after its Nth rename()
// (N = $QRES_KILL_AT_RENAME), the instant a crash or an out-of-memory kill can land between two
// renames of a run's output set. Without the variable it only forwards to libc.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

int rename(const char* from, const char* to) {
  static int (*real_rename)(const char*, const char*);
  static int count;
  if (real_rename == NULL) real_rename = (int (*)(const char*, const char*))dlsym(RTLD_NEXT, "rename");
  const int result = real_rename(from, to);
  const char* kill_at = getenv("QRES_KILL_AT_RENAME");
  if (kill_at != NULL && ++count == atoi(kill_at)) raise(SIGKILL);
  return result;
}
