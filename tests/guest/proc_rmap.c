/* A pseudo-random fork / copy-on-write / munmap / exit workload (fixed
 * seed, so every run does the same), with /proc/self/smaps checks. Booted
 * with selftest=rmapcheck, the guest kernel checks every page's map and
 * reference counts against its page tables at each exit. */
#include "tap.h"

#include <sys/wait.h>
#include <time.h>

#define REGIONS 4
#define PAGES 16

static unsigned long long rng = 0x9e3779b97f4a7c15ULL;
static unsigned rnd(unsigned n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (unsigned)(rng % n);
}

static char *region[REGIONS];

static void scribble(int rounds)
{
    for (int i = 0; i < rounds; i++) {
        int r = rnd(REGIONS), p = rnd(PAGES);
        if (region[r])
            region[r][p * PAGE + rnd(64)] = (char)rnd(256);
    }
}

static void child_work(void)
{
    scribble(8);
    int r = rnd(REGIONS);
    if (region[r]) {
        int p = rnd(PAGES - 2);
        sys_munmap(region[r] + p * PAGE, 2 * PAGE);
        region[r] = NULL; /* this copy no longer scribbles there */
    }
    scribble(4);
    if (rnd(3) == 0) {
        pid_t g = fork();
        if (g == 0) {
            scribble(6);
            _exit(0);
        }
        waitpid(g, NULL, 0);
    }
    _exit(0);
}

/* Sum of the Rss lines of /proc/self/smaps, in kB. */
static long smaps_rss_kb(int *vmas)
{
    int fd = open("/proc/self/smaps", O_RDONLY);
    if (fd < 0)
        return -1;
    long n = 0, r;
    while ((r = read(fd, proc_buf + n, sizeof proc_buf - 1 - n)) > 0)
        n += r;
    close(fd);
    proc_buf[n] = 0;
    long total = 0;
    *vmas = 0;
    for (char *l = proc_buf; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        if (strncmp(l, "Rss:", 4) == 0)
            total += atol(l + 4);
        if (strncmp(l, "VmFlags:", 8) == 0)
            (*vmas)++;
    }
    return total;
}

int main(void)
{
    tap_init();
    memset(proc_buf, 0, sizeof proc_buf);
    for (int r = 0; r < REGIONS; r++) {
        region[r] = anon_pages(PAGES);
        for (int p = 0; p < PAGES; p += 2)
            region[r][p * PAGE] = 1;
    }
    int live = 0, made = 0, reaped = 0;
    for (int round = 0; round < 24; round++) {
        switch (rnd(4)) {
        case 0:
        case 1: {
            pid_t c = fork();
            if (c == 0)
                child_work();
            if (c > 0) {
                live++;
                made++;
            }
            break;
        }
        case 2:
            scribble(10);
            break;
        case 3: {
            int r = rnd(REGIONS);
            if (region[r] && rnd(2)) {
                sys_munmap(region[r], PAGES * PAGE);
                region[r] = NULL;
            } else if (!region[r]) {
                region[r] = anon_pages(PAGES);
            }
            break;
        }
        }
        if (live > 3 || (live > 0 && rnd(3) == 0)) {
            if (waitpid(-1, NULL, 0) > 0) {
                live--;
                reaped++;
            }
        }
    }
    while (live > 0 && waitpid(-1, NULL, 0) > 0) {
        live--;
        reaped++;
    }
    check(made > 4 && reaped == made, "the workload forked children and reaped them all", "made %d reaped %d", made, reaped);

    /* smaps: one entry per mapping, and its Rss lines add up to VmRSS
     * (neither counts the shared zero page). */
    int vmas = 0;
    long rss = smaps_rss_kb(&vmas);
    long vmrss = status_kb("VmRSS:");
    check(vmas > 3, "smaps has an entry per mapping", "%d entries", vmas);
    check(rss == vmrss, "smaps Rss adds up to VmRSS", "smaps %ld kB, VmRSS %ld kB", rss, vmrss);

    /* A page shared with a live child shows as Shared in smaps; once the
     * child is gone it is private again. */
    /* Three pages with the outer two unmapped: a mapping of its own that
     * cannot merge with a neighbour. */
    char *s3 = anon_pages(3);
    sys_munmap(s3, PAGE);
    sys_munmap(s3 + 2 * PAGE, PAGE);
    char *s = s3 + PAGE;
    s[0] = 5;
    pid_t c = fork();
    if (c == 0) {
        struct timespec ts = { 0, 200 * 1000000L };
        nanosleep(&ts, NULL);
        _exit(s[0] == 5 ? 0 : 1);
    }
    int fd = open("/proc/self/smaps", O_RDONLY);
    long n = 0, r;
    while ((r = read(fd, proc_buf + n, sizeof proc_buf - 1 - n)) > 0)
        n += r;
    close(fd);
    proc_buf[n] = 0;
    char key[32];
    snprintf(key, sizeof key, "%lx-", (unsigned long)s);
    char *e = strstr(proc_buf, key);
    char *shared = e ? strstr(e, "Shared_Dirty:") : NULL;
    char *pss = e ? strstr(e, "Pss:") : NULL;
    check(shared && atol(shared + 13) == 4, "a page shared with a child after fork is Shared_Dirty", "%.40s",
          shared ? shared : "(no entry)");
    check(pss && atol(pss + 4) == 2, "and counts half towards Pss", "%.20s", pss ? pss : "(no entry)");
    int st;
    waitpid(c, &st, 0);
    check(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the child saw the shared page's data", "status %#x", st);
    return tap_done();
}
