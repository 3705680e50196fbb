/* LD_PRELOAD shim on flock(2), for tests of file systems without locks and of held locks
 * (tests/e2e/test_lockless_fs.py). RIG_FLOCK_ERRNO chooses what every flock call does:
 *   ENOLCK, EOPNOTSUPP, ENOSYS: fail with that errno (NFS without lockd, Lustre without flock);
 *   EWOULDBLOCK: fail as if another process held the lock (unlocking succeeds);
 *   unset or anything else: the real flock.
 * HDF5 locks files with flock, so the shim reaches HDF5's locking as well as rig's. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>

int flock(int fd, int operation) {
  const char* e = getenv("RIG_FLOCK_ERRNO");
  if (e) {
    if (strcmp(e, "ENOLCK") == 0) return errno = ENOLCK, -1;
    if (strcmp(e, "EOPNOTSUPP") == 0) return errno = EOPNOTSUPP, -1;
    if (strcmp(e, "ENOSYS") == 0) return errno = ENOSYS, -1;
    if (strcmp(e, "EWOULDBLOCK") == 0) {
      if (operation & LOCK_UN) return 0;
      return errno = EWOULDBLOCK, -1;
    }
  }
  static int (*real)(int, int);
  if (!real) real = (int (*)(int, int))dlsym(RTLD_NEXT, "flock");
  return real ? real(fd, operation) : (errno = ENOSYS, -1);
}
