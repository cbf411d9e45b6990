/*
 * Preloaded before libfaketime by `python -m tests.calendar`.
 *
 * The calendar run fakes the wall clock only (DONT_FAKE_MONOTONIC=1): with faked monotonic
 * clocks, CPython's lock and event timeouts (sem_clockwait on CLOCK_MONOTONIC, which
 * libfaketime 0.9.10 does not intercept) wait for a deadline the real clock never reaches.
 * With real monotonic clocks, libfaketime 0.9.10's clock_nanosleep answers EINVAL to the
 * absolute CLOCK_MONOTONIC sleeps time.sleep() makes. So sleeps on any clock but the wall
 * clock go straight to the kernel; wall-clock sleeps stay libfaketime's.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int clock_nanosleep(clockid_t clock, int flags, const struct timespec *request, struct timespec *remain) {
    static int (*next)(clockid_t, int, const struct timespec *, struct timespec *);
    if (clock != CLOCK_REALTIME) {
        return syscall(SYS_clock_nanosleep, clock, flags, request, remain) == 0 ? 0 : errno;
    }
    if (!next) {
        next = (int (*)(clockid_t, int, const struct timespec *, struct timespec *))dlsym(RTLD_NEXT, "clock_nanosleep");
    }
    return next(clock, flags, request, remain);
}
