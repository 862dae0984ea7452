/* Out of memory: a hog child touches memory until something gives, while
 * a small child beside it does its work. In the guest the OOM killer must
 * pick the hog (largest RSS) and kill it with SIGKILL, and the small child
 * and the parent finish. Natively the hog is held by RLIMIT_AS instead (we
 * will not exhaust the host), so there it ends by failing to map. */
#include "tap.h"

#include <signal.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>

static int in_guest(void)
{
    struct utsname u;
    uname(&u);
    return strstr(u.release, "rvmm") != NULL;
}

static int write_adj(const char *value)
{
    int fd = open("/proc/self/oom_score_adj", O_WRONLY);
    if (fd < 0)
        return -1;
    int r = write(fd, value, strlen(value)) == (long)strlen(value) ? 0 : -1;
    close(fd);
    return r;
}

static long read_adj(void)
{
    int fd = open("/proc/self/oom_score_adj", O_RDONLY);
    char b[16] = { 0 };
    if (fd < 0 || read(fd, b, sizeof b - 1) <= 0)
        return -9999;
    close(fd);
    return atol(b);
}

static void hog(void)
{
    /* Volunteer: the report shows it. */
    write_adj("500");
    if (!in_guest()) {
        struct rlimit rl = { 256UL << 20, 256UL << 20 };
        setrlimit(RLIMIT_AS, &rl);
    }
    for (;;) {
        char *p = sys_mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
            _exit(3);
        for (long i = 0; i < (1 << 20); i += PAGE)
            p[i] = 1;
    }
}

static void small(void)
{
    struct timespec ts = { 0, 50 * 1000000L };
    nanosleep(&ts, NULL);
    char *p = anon_pages(16);
    for (int i = 0; i < 16; i++)
        p[i * PAGE] = (char)i;
    for (int i = 0; i < 16; i++)
        if (p[i * PAGE] != (char)i)
            _exit(1);
    _exit(0);
}

int main(void)
{
    tap_init();
    check(write_adj("300") == 0 && read_adj() == 300, "/proc/self/oom_score_adj takes a value and reads it back", "%ld",
          read_adj());
    check(write_adj("1001") != 0, "a value outside -1000..1000 is refused", "accepted");
    /* (Lowering it again needs CAP_SYS_RESOURCE natively: leave it.) */
    pid_t h = fork();
    if (h == 0)
        hog();
    pid_t s = fork();
    if (s == 0)
        small();
    int st_h = 0, st_s = 0;
    for (int i = 0; i < 2; i++) {
        int st;
        pid_t w = waitpid(-1, &st, 0);
        if (w == h)
            st_h = st;
        else if (w == s)
            st_s = st;
    }
    if (in_guest())
        check(WIFSIGNALED(st_h) && WTERMSIG(st_h) == SIGKILL, "the hog is killed by SIGKILL (the OOM killer)",
              "status %#x", st_h);
    else
        check(WIFEXITED(st_h) && WEXITSTATUS(st_h) == 3, "the hog stops at its RLIMIT_AS (natively)", "status %#x", st_h);
    check(WIFEXITED(st_s) && WEXITSTATUS(st_s) == 0, "the small process beside it finishes its work", "status %#x", st_s);
    char *p = anon_pages(8);
    p[0] = p[7 * PAGE] = 1;
    check(p[7 * PAGE] == 1, "and the parent can still allocate afterwards", "%d", p[7 * PAGE]);
    return tap_done();
}
