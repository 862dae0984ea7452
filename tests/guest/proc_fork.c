/* Processes: fork with copy-on-write, wait4, exit statuses, signals'
 * default actions in children, a bounded fork bomb, execve.
 * Runs natively and as init in the guest with the same expectations. */
#include "tap.h"

#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>

static void nap_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

/* Forks; the child runs fn(arg) and _exits with its result. */
static pid_t spawn(int (*fn)(long), long arg)
{
    pid_t pid = fork();
    if (pid == 0)
        _exit(fn(arg));
    return pid;
}

static char *shared_before;   /* written before fork */

static int child_reads_and_writes(long unused)
{
    (void)unused;
    /* The child sees the parent's data as of the fork ... */
    int saw = strcmp(shared_before, "written by the parent before fork") == 0;
    /* ... and its writes stay its own. */
    strcpy(shared_before, "written by the child");
    return saw ? 7 : 1;
}

static int child_touches(long i)
{
    char *p = anon_pages(8);
    for (int k = 0; k < 8; k++)
        p[k * PAGE] = (char)i;
    for (int k = 0; k < 8; k++)
        if (p[k * PAGE] != (char)i)
            return 255;
    return (int)i;
}

static int child_segfaults(long unused)
{
    (void)unused;
    volatile int *null = 0;
    return *null;
}

static int child_sleeps(long ms)
{
    nap_ms(ms);
    return 3;
}

static int child_exits(long code) { return (int)code; }

/* --- FPU/SSE state across context switches, signals and fork ---
 * Each helper keeps its value in xmm6 inside one asm statement around raw
 * system calls, so no compiler or libc code can touch the register in
 * between: what comes back out is what the kernel preserved. */

/* xmm6 = v, then n rounds of write(wfd, buf, 1) + read(rfd, buf, 1): with
 * a partner doing the same on the other pipe ends, every read blocks and
 * the two processes switch back and forth. Returns xmm6 at the end. */
static uint64_t xmm_across_switches(uint64_t v, int wfd, int rfd, char *buf, int n)
{
    uint64_t out;
    __asm__ volatile("movq %[v], %%xmm6\n"
                     "1:\n"
                     "mov $1, %%eax\n mov %[wfd], %%edi\n mov %[buf], %%rsi\n mov $1, %%edx\n syscall\n"
                     "mov $0, %%eax\n mov %[rfd], %%edi\n mov %[buf], %%rsi\n mov $1, %%edx\n syscall\n"
                     "decl %[n]\n jnz 1b\n"
                     "movq %%xmm6, %[out]\n"
                     : [out] "=r"(out), [n] "+r"(n)
                     : [v] "r"(v), [wfd] "r"(wfd), [rfd] "r"(rfd), [buf] "r"(buf)
                     : "rax", "rdi", "rsi", "rdx", "rcx", "r11", "xmm6", "memory");
    return out;
}

/* The handler uses xmm6 for its own value. */
static void clobber_xmm6(int sig)
{
    (void)sig;
    __asm__ volatile("mov $0xbad, %%eax\n movq %%rax, %%xmm6" ::: "rax", "xmm6");
}

/* xmm6 = v, then kill(getpid(), sig): the handler runs on the way back.
 * Returns xmm6 after. */
static uint64_t xmm_across_signal(uint64_t v, int sig)
{
    uint64_t out;
    __asm__ volatile("movq %[v], %%xmm6\n"
                     "mov $39, %%eax\n syscall\n"
                     "mov %%eax, %%edi\n mov %[sig], %%esi\n mov $62, %%eax\n syscall\n"
                     "movq %%xmm6, %[out]\n"
                     : [out] "=r"(out)
                     : [v] "r"(v), [sig] "r"(sig)
                     : "rax", "rdi", "rsi", "rdx", "rcx", "r11", "xmm6", "memory");
    return out;
}

/* xmm6 = v, then a raw fork; *xmm gets xmm6 after it, in both. Returns
 * what fork returned. */
static long xmm_across_fork(uint64_t v, uint64_t *xmm)
{
    long pid;
    uint64_t out;
    __asm__ volatile("movq %[v], %%xmm6\n"
                     "mov $57, %%eax\n syscall\n"
                     "movq %%xmm6, %[out]\n"
                     : "=a"(pid), [out] "=r"(out)
                     : [v] "r"(v)
                     : "rdi", "rsi", "rdx", "rcx", "r11", "xmm6", "memory");
    *xmm = out;
    return pid;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "exec-child") == 0)
        return argc > 2 ? atoi(argv[2]) : 42;
    tap_init();
    pid_t me = getpid();

    /* fork basics and copy-on-write both ways. */
    shared_before = anon_pages(1);
    strcpy(shared_before, "written by the parent before fork");
    pid_t c = spawn(child_reads_and_writes, 0);
    check(c > 0, "fork returns the child's pid in the parent", "got %d", c);
    strcpy(shared_before + 40, "parent after fork");
    int st = 0;
    pid_t w = waitpid(c, &st, 0);
    check(w == c, "waitpid returns the child", "got %d, want %d", w, c);
    check(WIFEXITED(st) && WEXITSTATUS(st) == 7, "the child saw the parent's data as of the fork", "status %#x", st);
    check(strcmp(shared_before, "written by the parent before fork") == 0, "the child's write did not reach the parent",
          "parent sees '%s'", shared_before);
    check(strcmp(shared_before + 40, "parent after fork") == 0, "the parent's own write after fork stays", "'%s'",
          shared_before + 40);

    /* MAP_SHARED | MAP_ANONYMOUS stays shared across fork, including
     * pages first touched after the fork, in either process. */
    char *shm = sys_mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    check(shm != MAP_FAILED, "mmap MAP_SHARED|MAP_ANONYMOUS", "errno %d", errno);
    strcpy(shm, "before fork");
    c = fork();
    if (c == 0) {
        int ok = strcmp(shm, "before fork") == 0;
        strcpy(shm, "child wrote page 0");
        strcpy(shm + 2 * PAGE, "child wrote page 2");
        _exit(ok ? 0 : 1);
    }
    waitpid(c, &st, 0);
    check(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the child sees shared memory written before fork", "status %#x", st);
    check(strcmp(shm, "child wrote page 0") == 0, "the parent sees the child's write to a shared page", "'%s'", shm);
    check(strcmp(shm + 2 * PAGE, "child wrote page 2") == 0, "and to a page first touched in the child", "'%s'",
          shm + 2 * PAGE);
    check(shm[PAGE] == 0 && shm[3 * PAGE] == 0, "untouched shared pages read zero", "%d %d", shm[PAGE], shm[3 * PAGE]);
    sys_munmap(shm, 4 * PAGE);

    /* getppid in a child. */
    c = fork();
    if (c == 0)
        _exit(getppid() == me ? 0 : 1);
    waitpid(c, &st, 0);
    check(WIFEXITED(st) && WEXITSTATUS(st) == 0, "getppid in the child is the parent's pid", "status %#x", st);

    /* 16 children, each touching 8 pages, reaped with their statuses. */
    pid_t kids[16];
    for (int i = 0; i < 16; i++)
        kids[i] = spawn(child_touches, i + 10);
    int good = 0;
    for (int i = 0; i < 16; i++) {
        pid_t got = waitpid(-1, &st, 0);
        int which = -1;
        for (int k = 0; k < 16; k++)
            if (kids[k] == got)
                which = k;
        if (which >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == which + 10)
            good++;
    }
    check(good == 16, "16 children touch their pages and are reaped with their exit codes", "%d good", good);
    errno = 0;
    check_err(waitpid(-1, &st, 0), ECHILD, "no children left: ECHILD");

    /* WNOHANG on a running child. */
    c = spawn(child_sleeps, 50);
    w = waitpid(c, &st, WNOHANG);
    check(w == 0, "WNOHANG on a sleeping child returns 0", "got %d", w);
    w = waitpid(c, &st, 0);
    check(w == c && WIFEXITED(st) && WEXITSTATUS(st) == 3, "then it is reaped after its sleep", "got %d status %#x", w, st);

    /* A fatal signal in a child; the parent goes on. */
    c = spawn(child_segfaults, 0);
    waitpid(c, &st, 0);
    check(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV, "a segfaulting child dies of SIGSEGV", "status %#x", st);

    /* kill of a sleeping child. */
    c = spawn(child_sleeps, 10000);
    nap_ms(20);
    check_ok(kill(c, SIGKILL), "kill(child, SIGKILL)");
    waitpid(c, &st, 0);
    check(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "the killed child dies of SIGKILL", "status %#x", st);
    check_err(kill(c, 0), ESRCH, "a reaped child is gone: ESRCH");

    /* execve of a program with arguments, in a child. */
    c = fork();
    if (c == 0) {
        char *args[] = { argv[0], "exec-child", "42", NULL };
        char *env[] = { "A=1", NULL };
        execve(argv[0], args, env);
        _exit(99);
    }
    waitpid(c, &st, 0);
    check(WIFEXITED(st) && WEXITSTATUS(st) == 42, "execve in a child runs the program with its arguments", "status %#x", st);
    c = fork();
    if (c == 0) {
        char *args[] = { "/no/such/program", NULL };
        execve(args[0], args, NULL);
        _exit(errno == ENOENT ? 5 : 6);
    }
    waitpid(c, &st, 0);
    check(WIFEXITED(st) && WEXITSTATUS(st) == 5, "execve of a missing file fails with ENOENT and the caller goes on",
          "status %#x", st);

    /* A fork bomb bounded by RLIMIT_NPROC, which counts the tasks of the
     * caller's real user (root is exempt): as nobody, in a child, so that
     * natively too it stops at the limit. */
    pid_t bomber = fork();
    if (bomber == 0) {
        struct rlimit rl = { 40, 40 };
        setrlimit(RLIMIT_NPROC, &rl);
        if (setgid(65534) != 0 || setuid(65534) != 0)
            _exit(90);
        int forked = 0, eagain = 0;
        for (int i = 0; i < 200; i++) {
            pid_t p = spawn(child_exits, 0);
            if (p < 0) {
                eagain = errno == EAGAIN;
                break;
            }
            forked++;
        }
        int reaped = 0;
        while (waitpid(-1, &st, 0) > 0)
            reaped++;
        _exit((forked > 0 && forked < 40 && eagain ? 0 : 1) | (reaped == forked ? 0 : 2));
    }
    waitpid(bomber, &st, 0);
    check(WIFEXITED(st) && !(WEXITSTATUS(st) & ~2), "a fork bomb stops with EAGAIN at its user's RLIMIT_NPROC", "status %#x", st);
    check(WIFEXITED(st) && !(WEXITSTATUS(st) & ~1), "and every child it made is reaped", "status %#x", st);

    /* A system call writing into the same COW page after each of several
     * forks: every write faults in the kernel at the same address (the
     * page is write-protected again by each fork) and each must succeed.
     * The guest once took the third such fault in a row for a loop and
     * returned EFAULT. */
    static char cow_buf[PAGE] __attribute__((aligned(4096)));
    cow_buf[0] = 1;
    int pfd[2], cow_ok = 0;
    check_ok(pipe(pfd), "pipe for the COW reads");
    for (int i = 0; i < 5; i++) {
        /* No status: its write would be a kernel fault elsewhere. */
        waitpid(spawn(child_exits, 0), NULL, 0);
        char b = 'a' + i;
        if (write(pfd[1], &b, 1) == 1 && read(pfd[0], cow_buf, 1) == 1 && cow_buf[0] == b)
            cow_ok++;
    }
    check(cow_ok == 5, "read(2) into a COW page after each of 5 forks", "%d of 5 reads worked (errno %d)", cow_ok, errno);
    close(pfd[0]);
    close(pfd[1]);

    /* The FPU/SSE registers belong to their process: across switches
     * between two processes that each keep a value in xmm6, across a
     * signal handler that uses xmm6, and across fork. */
    {
        int a[2], b[2];
        static char pbuf[2][8];
        check_ok(pipe(a), "pipe a");
        check_ok(pipe(b), "pipe b");
        pid_t k = fork();
        if (k == 0)
            _exit(xmm_across_switches(0x1111222233334444ULL, b[1], a[0], pbuf[1], 200) == 0x1111222233334444ULL ? 0 : 1);
        /* Without a partner (fork failed) the ping-pong would wait forever. */
        uint64_t mine = k > 0 ? xmm_across_switches(0x5555666677778888ULL, a[1], b[0], pbuf[0], 200) : 0;
        st = -1;
        if (k > 0)
            waitpid(k, &st, 0);
        check(mine == 0x5555666677778888ULL, "xmm6 survives 200 switches to another process", "got %#llx",
              (unsigned long long)mine);
        check(WIFEXITED(st) && WEXITSTATUS(st) == 0, "and so does the other process's", "status %#x", st);
        close(a[0]), close(a[1]), close(b[0]), close(b[1]);

        signal(SIGUSR2, clobber_xmm6);
        uint64_t after = xmm_across_signal(0x0123456789abcdefULL, SIGUSR2);
        check(after == 0x0123456789abcdefULL, "xmm6 survives a signal handler that uses it", "got %#llx",
              (unsigned long long)after);
        signal(SIGUSR2, SIG_DFL);

        uint64_t x;
        long f = xmm_across_fork(0x0fedcba987654321ULL, &x);
        if (f == 0)
            _exit(x == 0x0fedcba987654321ULL ? 0 : 1);
        waitpid((pid_t)f, &st, 0);
        check(x == 0x0fedcba987654321ULL, "xmm6 survives fork in the parent", "got %#llx", (unsigned long long)x);
        check(WIFEXITED(st) && WEXITSTATUS(st) == 0, "and the child starts with the parent's", "status %#x", st);
    }

    /* sched_yield and nanosleep. */
    check_ok(sched_yield(), "sched_yield");
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    nap_ms(30);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    check(ms >= 29, "nanosleep(30 ms) sleeps at least 30 ms", "slept %ld ms", ms);

    /* glibc's fork: clone with the thread-id flags and no new stack. */
    {
        pid_t ptid = 0, ctid = 0;
        long flags = CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID | CLONE_PARENT_SETTID | SIGCHLD;
        long pid = syscall(SYS_clone, flags, 0, &ptid, &ctid, 0);
        if (pid == 0)
            _exit(ctid == syscall(SYS_getpid) && ptid == 0 ? 0 : 1); /* the parent's ptid write is not in our copy */
        int st = -1;
        waitpid((pid_t)pid, &st, 0);
        check(pid > 0 && ptid == pid && ctid == 0, "clone(CHILD_SETTID|CHILD_CLEARTID|PARENT_SETTID|SIGCHLD) forks (glibc's fork)",
              "pid %ld, ptid %d, ctid %d", pid, ptid, ctid);
        check(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the child finds its tid at ctid", "status %#x", st);
        check_err(syscall(SYS_clone, CLONE_SETTLS | SIGCHLD, 0, NULL, NULL, 0xffff800000000000UL), EPERM,
                  "clone(CLONE_SETTLS) with a kernel address -> EPERM");
    }

    /* raise and abort: tgkill to oneself. */
    {
        int st = -1;
        pid_t pid = fork();
        if (pid == 0) {
            signal(SIGUSR1, SIG_IGN);
            raise(SIGUSR1); /* ignored */
            _exit(7);
        }
        waitpid(pid, &st, 0);
        check(WIFEXITED(st) && WEXITSTATUS(st) == 7, "raise of an ignored signal does nothing", "status %#x", st);
        pid = fork();
        if (pid == 0) {
            abort();
            _exit(1);
        }
        waitpid(pid, &st, 0);
        check(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT, "abort() dies of SIGABRT", "status %#x", st);
        long me = syscall(SYS_getpid);
        check_ok(syscall(SYS_tgkill, me, me, 0), "tgkill(self, self, 0)");
        check_err(syscall(SYS_tgkill, me + 100000, me, 0), ESRCH, "tgkill with the wrong thread group -> ESRCH");
        check_err(syscall(SYS_tgkill, me, 0, 0), EINVAL, "tgkill of tid 0 -> EINVAL");
        check_ok(syscall(SYS_tkill, me, 0), "tkill(self, 0)");
    }
    return tap_done();
}
