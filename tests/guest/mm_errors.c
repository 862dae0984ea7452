/*
 * mm_errors: the error returns of the memory system calls (EINVAL, ENOMEM,
 * EFAULT, EEXIST is in mm_ops), ENOSYS for an unknown system call, and
 * basic sanity of the small informational system calls. All raw syscalls:
 * musl's wrappers check some of these arguments themselves, and
 * clock_gettime would go through the vDSO.
 */
#include "tap.h"
#include <sys/resource.h>
#include <sys/sysinfo.h>
#include <sys/utsname.h>
#include <time.h>

int main(int argc, char **argv)
{
    tap_init();
    proc_init();
    const int rw = PROT_READ | PROT_WRITE, anon = MAP_PRIVATE | MAP_ANONYMOUS;

    /* mmap */
    check_err((long)sys_mmap(NULL, 0, rw, anon, -1, 0), EINVAL, "mmap of length 0 -> EINVAL");
    check_err((long)sys_mmap(NULL, PAGE, rw, anon, -1, 1), EINVAL, "mmap with an unaligned offset -> EINVAL");
    check_err((long)sys_mmap(NULL, PAGE, rw, MAP_ANONYMOUS, -1, 0), EINVAL,
              "mmap with neither MAP_PRIVATE nor MAP_SHARED -> EINVAL");
    check_err((long)sys_mmap((void *)(PAGE + 1), PAGE, rw, anon | MAP_FIXED, -1, 0), EINVAL,
              "mmap MAP_FIXED at an unaligned address -> EINVAL");
    check_err((long)sys_mmap(NULL, 1UL << 62, rw, anon, -1, 0), ENOMEM, "mmap of 4 EiB -> ENOMEM");

    /* munmap / mprotect */
    char *p = anon_pages(2);
    check_err(sys_munmap(p + 1, PAGE), EINVAL, "munmap at an unaligned address -> EINVAL");
    check_err(sys_munmap(p, 0), EINVAL, "munmap of length 0 -> EINVAL");
    check_err(sys_mprotect(p + 1, PAGE, PROT_READ), EINVAL, "mprotect at an unaligned address -> EINVAL");
    char *gone = anon_pages(1);
    sys_munmap(gone, PAGE);
    check_err(sys_mprotect(gone, PAGE, PROT_READ), ENOMEM, "mprotect of an unmapped range -> ENOMEM");
    check_ok(sys_munmap(gone, PAGE), "munmap of an unmapped range succeeds (nothing to do)");

    /* EFAULT from system calls given bad user pointers */
    check_err(syscall(SYS_write, 1, (void *)1, 10), EFAULT, "write(1, (void *)1, 10) -> EFAULT");
    char *none = sys_mmap(NULL, PAGE, PROT_NONE, anon, -1, 0);
    check_err(syscall(SYS_write, 1, none, 10), EFAULT, "write from a PROT_NONE page -> EFAULT");
    char *ro = sys_mmap(NULL, PAGE, PROT_READ, anon, -1, 0);
    int fd = argc > 0 ? open(argv[0], O_RDONLY) : -1;
    if (check(fd >= 0, "open(argv[0]) for the read test", "open(%s): %s", argc > 0 ? argv[0] : "(no argv[0])",
              strerror(errno))) {
        check_err(syscall(SYS_read, fd, ro, 10), EFAULT, "read into a read-only page -> EFAULT");
        check(ro[0] == 0, "... which stays zero", "ro[0] = %d", ro[0]);
        check_err(syscall(SYS_read, fd, (void *)0xffff888000000000UL, 10), EFAULT,
                  "read into a kernel address -> EFAULT");
        close(fd);
    }
    check_err(syscall(SYS_open, (char *)1, O_RDONLY), EFAULT, "open with a bad path pointer -> EFAULT");
    check_err(syscall(SYS_clock_gettime, CLOCK_MONOTONIC, (void *)1), EFAULT,
              "clock_gettime into a bad pointer -> EFAULT");
    check_err(syscall(SYS_uname, (void *)ro), EFAULT, "uname into a read-only page -> EFAULT");

    /* unknown system call */
    check_err(syscall(1000), ENOSYS, "system call 1000 -> ENOSYS");

    /* clock_gettime */
    struct timespec t0 = {0}, t1 = {0}, tr = {0};
    long r0 = syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &t0);
    for (volatile int i = 0; i < 1000; i++)
        ;
    long r1 = syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &t1);
    check(r0 == 0 && r1 == 0 && t0.tv_nsec >= 0 && t0.tv_nsec < 1000000000 && t1.tv_nsec >= 0 &&
              t1.tv_nsec < 1000000000,
          "clock_gettime(CLOCK_MONOTONIC) returns a valid timespec", "r %ld %ld, tv_nsec %ld %ld", r0, r1,
          (long)t0.tv_nsec, (long)t1.tv_nsec);
    check(t1.tv_sec > t0.tv_sec || (t1.tv_sec == t0.tv_sec && t1.tv_nsec >= t0.tv_nsec),
          "CLOCK_MONOTONIC does not go backwards", "%ld.%09ld then %ld.%09ld", (long)t0.tv_sec, (long)t0.tv_nsec,
          (long)t1.tv_sec, (long)t1.tv_nsec);
    long rr = syscall(SYS_clock_gettime, CLOCK_REALTIME, &tr);
    check(rr == 0 && tr.tv_nsec >= 0 && tr.tv_nsec < 1000000000, "clock_gettime(CLOCK_REALTIME) works",
          "r %ld, tv_nsec %ld", rr, (long)tr.tv_nsec);
    check_err(syscall(SYS_clock_gettime, 12345, &tr), EINVAL, "clock_gettime of an unknown clock -> EINVAL");

    /* uname */
    struct utsname u;
    memset(&u, 0, sizeof u);
    long ru = syscall(SYS_uname, &u);
    check(ru == 0 && u.sysname[0] && u.release[0], "uname fills in sysname and release", "r %ld", ru);
    check(strcmp(u.machine, "x86_64") == 0, "uname's machine is x86_64", "machine %s", u.machine);
    printf("# uname: %s %s %s %s\n", u.sysname, u.release, u.version, u.machine);

    /* getpid */
    long pid = syscall(SYS_getpid), tid = syscall(SYS_gettid);
    check(pid > 0, "getpid is positive", "getpid %ld", pid);
    check(syscall(SYS_getpid) == pid, "getpid is stable", "second getpid %ld", syscall(SYS_getpid));
    check(tid == pid, "gettid == getpid in a single-threaded process", "gettid %ld, getpid %ld", tid, pid);
    printf("# pid %ld, ppid %ld\n", pid, syscall(SYS_getppid));

    /* getrandom */
    unsigned char r1b[32], r2b[32];
    memset(r1b, 0, sizeof r1b);
    memset(r2b, 0, sizeof r2b);
    long g1 = syscall(SYS_getrandom, r1b, sizeof r1b, 0), g2 = syscall(SYS_getrandom, r2b, sizeof r2b, 0);
    int nonzero = 0;
    for (size_t i = 0; i < sizeof r1b; i++)
        nonzero |= r1b[i];
    check(g1 == 32 && g2 == 32, "getrandom fills 32 bytes", "returned %ld and %ld", g1, g2);
    check(nonzero && memcmp(r1b, r2b, sizeof r1b) != 0, "two getrandom results are non-zero and differ",
          "same or zero");
    check_err(syscall(SYS_getrandom, (void *)1, 16, 0), EFAULT, "getrandom into a bad pointer -> EFAULT");

    /* sysinfo */
    struct sysinfo si;
    memset(&si, 0, sizeof si);
    long rs = syscall(SYS_sysinfo, &si);
    unsigned long unit = si.mem_unit ? si.mem_unit : 1;
    check(rs == 0 && si.totalram > 0 && si.freeram <= si.totalram && si.procs >= 1,
          "sysinfo: totalram > 0, freeram <= totalram, procs >= 1", "r %ld, totalram %lu, freeram %lu, procs %u", rs,
          (unsigned long)si.totalram, (unsigned long)si.freeram, (unsigned)si.procs);
    printf("# sysinfo: totalram %lu MiB, freeram %lu MiB, uptime %ld s\n",
           (unsigned long)(si.totalram * unit >> 20), (unsigned long)(si.freeram * unit >> 20), (long)si.uptime);

    /* prlimit64 */
    struct rlimit stk = {0, 0}, nof = {0, 0};
    long rp = syscall(SYS_prlimit64, 0, RLIMIT_STACK, NULL, &stk);
    check(rp == 0 && stk.rlim_cur > 0 && stk.rlim_cur <= stk.rlim_max, "prlimit64 RLIMIT_STACK: 0 < cur <= max",
          "r %ld, cur %llu, max %llu", rp, (unsigned long long)stk.rlim_cur, (unsigned long long)stk.rlim_max);
    rp = syscall(SYS_prlimit64, 0, RLIMIT_NOFILE, NULL, &nof);
    check(rp == 0 && nof.rlim_cur >= 3 && nof.rlim_cur <= nof.rlim_max, "prlimit64 RLIMIT_NOFILE: 3 <= cur <= max",
          "r %ld, cur %llu, max %llu", rp, (unsigned long long)nof.rlim_cur, (unsigned long long)nof.rlim_max);
    check_err(syscall(SYS_prlimit64, 0, 1000, NULL, &nof), EINVAL, "prlimit64 of an unknown resource -> EINVAL");

    return tap_done();
}
