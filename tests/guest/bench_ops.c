/* The operations of issue 17's table, timed with CLOCK_MONOTONIC: run it
 * natively and as init in the guest and compare the lines. Each line is
 * "NAME: X us/UNIT (N UNITs)".
 *
 *   bench_ops [SCALE]   (default 1: a few seconds in the guest here; the
 *                        counts are multiplied by SCALE)
 *
 * Everything is made with raw system calls or plain memory accesses, so
 * the numbers are the kernel's, not the C library's (malloc excepted,
 * which is the point of its line). */
#include "tap.h"

#include <sys/wait.h>
#include <time.h>

static long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000L + ts.tv_nsec;
}

static void report(const char *name, long ns, long n, const char *unit)
{
    printf("%s: %.2f us/%s (%ld %ss)\n", name, (double)ns / 1000.0 / (double)n, unit, n, unit);
}

int main(int argc, char **argv)
{
    long scale = argc > 1 ? atol(argv[1]) : 1;
    if (scale <= 0 || scale > 10000) {
        fprintf(stderr, "usage: bench_ops [SCALE]\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    long t, n;

    n = 200 * scale;
    t = now_ns();
    for (long i = 0; i < n; i++)
        syscall(SYS_getppid);
    report("getppid round trip", now_ns() - t, n, "call");

    n = 50 * scale;
    t = now_ns();
    for (long i = 0; i < n; i++) {
        void *p = (void *)syscall(SYS_mmap, 0, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        syscall(SYS_munmap, p, PAGE);
    }
    report("mmap + munmap of 4 KiB, untouched", now_ns() - t, n, "pair");

    int fd[2];
    if (pipe(fd) != 0)
        return 1;
    static char buf[64];
    n = 50 * scale;
    t = now_ns();
    for (long i = 0; i < n; i++) {
        syscall(SYS_write, fd[1], buf, sizeof buf);
        syscall(SYS_read, fd[0], buf, sizeof buf);
    }
    report("pipe write + read, 64 B", now_ns() - t, n, "pair");

    long pages = 256 * scale;
    char *m = (char *)syscall(SYS_mmap, 0, pages * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    t = now_ns();
    for (long i = 0; i < pages; i++)
        m[i * PAGE] = 1;
    report("anonymous first touch", now_ns() - t, pages, "page");

    t = now_ns();
    pid_t c = (pid_t)syscall(SYS_fork);
    if (c == 0)
        syscall(SYS_exit_group, 0);
    syscall(SYS_wait4, c, NULL, 0, NULL);
    report("fork + exit + wait, per touched page", now_ns() - t, pages, "page");

    t = now_ns();
    c = (pid_t)syscall(SYS_fork);
    if (c == 0) {
        for (long i = 0; i < pages; i++)
            m[i * PAGE] = 2;
        syscall(SYS_exit_group, 0);
    }
    syscall(SYS_wait4, c, NULL, 0, NULL);
    report("fork + COW of every page + exit, per page", now_ns() - t, pages, "page");

    t = now_ns();
    syscall(SYS_munmap, m, pages * PAGE);
    report("munmap, per touched page", now_ns() - t, pages, "page");

    /* A file the size of 256 pages, in the page cache, read through a
     * private mapping one byte per page: Linux maps the cached pages
     * around each fault (fault-around), so there are far fewer faults
     * than pages. /tmp natively, the working directory in the guest. */
    char path[64];
    snprintf(path, sizeof path, "/tmp/bench_ops.%d", (int)getpid());
    int f = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (f < 0) {
        snprintf(path, sizeof path, "bench_ops.%d", (int)getpid());
        f = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    }
    if (f < 0)
        return 1;
    static char page[PAGE];
    for (long i = 0; i < pages; i++) {
        page[0] = (char)i;
        syscall(SYS_write, f, page, PAGE);
    }
    volatile char *fm = (char *)syscall(SYS_mmap, 0, pages * PAGE, PROT_READ, MAP_PRIVATE, f, 0);
    t = now_ns();
    for (long i = 0; i < pages; i++)
        (void)fm[i * PAGE];
    report("file read through mmap, cached, per page", now_ns() - t, pages, "page");
    syscall(SYS_munmap, fm, pages * PAGE);
    close(f);
    unlink(path);

    n = 100 * scale;
    char **blocks = malloc(n * sizeof *blocks);
    t = now_ns();
    for (long i = 0; i < n; i++) {
        blocks[i] = malloc(512);
        blocks[i][0] = 1;
    }
    report("malloc(512) + touch", now_ns() - t, n, "call");
    for (long i = 0; i < n; i++)
        free(blocks[i]);
    free(blocks);
    return 0;
}
