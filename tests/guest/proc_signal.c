/*
 * Signals delivered to handlers, as Linux x86-64 delivers them: siginfo
 * and ucontext, recovery from SIGSEGV with mprotect, SA_RESTART against
 * EINTR on a blocking read, SIGCHLD with rt_sigsuspend, alarm and
 * setitimer with pause, the alternate stack, masks and pending signals,
 * SIG_IGN, SA_RESETHAND, SIGPIPE, and the FPU state put back by
 * rt_sigreturn; sigtimedwait and sigqueue, POSIX timers (timer_create
 * and the rest), and job control (stop, continue, WUNTRACED, WCONTINUED). Run natively and in the guest; the results
 * must agree.
 */
#include "tap.h"
#include <sys/resource.h>
#include <sys/stat.h>

#include <signal.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <ucontext.h>

static volatile sig_atomic_t hits, last_sig, last_code, last_pid, last_status;
static volatile uintptr_t last_addr, handler_sp, last_rip;
static int pipefd[2];
static volatile char *guarded;

static void on_info(int sig, siginfo_t *si, void *ctx)
{
    ucontext_t *uc = ctx;
    int local;
    hits++;
    last_sig = sig;
    last_code = si->si_code;
    last_pid = si->si_pid;
    last_status = si->si_status;
    last_addr = (uintptr_t)si->si_addr;
    last_rip = uc->uc_mcontext.gregs[REG_RIP];
    handler_sp = (uintptr_t)&local;
}

static void on_plain(int sig)
{
    hits++;
    last_sig = sig;
}

static void on_segv(int sig, siginfo_t *si, void *ctx)
{
    (void)ctx;
    hits++;
    last_sig = sig;
    last_code = si->si_code;
    last_addr = (uintptr_t)si->si_addr;
    /* Make the page accessible: the faulting store then succeeds. */
    mprotect((void *)guarded, PAGE, PROT_READ | PROT_WRITE);
}

static void on_alarm_write(int sig)
{
    (void)sig;
    hits++;
    char c = 'w';
    if (write(pipefd[1], &c, 1) != 1)
        _exit(99);
}

static void on_fpu(int sig)
{
    (void)sig;
    /* Clobber the SSE registers the interrupted code was using. */
    volatile double d = 3.25;
    for (int i = 0; i < 10; i++)
        d = d * 1.5 + 0.25;
    __asm__ volatile("xorps %%xmm0, %%xmm0\n\txorps %%xmm8, %%xmm8" ::: "xmm0", "xmm8");
    hits++;
}

static void set_action(int sig, void (*fn)(int, siginfo_t *, void *), void (*plain)(int), int flags)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    if (fn) {
        sa.sa_sigaction = fn;
        flags |= SA_SIGINFO;
    } else {
        sa.sa_handler = plain;
    }
    sa.sa_flags = flags;
    sigemptyset(&sa.sa_mask);
    if (sigaction(sig, &sa, NULL))
        printf("# sigaction(%d) failed: %s\n", sig, strerror(errno));
}

/* A read of an empty pipe, interrupted by a timer whose handler writes a
 * byte into the pipe: with SA_RESTART the read restarts and gets it. */
static void read_interrupted(int restart, ssize_t *n, int *err)
{
    set_action(SIGALRM, NULL, on_alarm_write, restart ? SA_RESTART : 0);
    struct itimerval it = { { 0, 0 }, { 0, 20000 } };
    setitimer(ITIMER_REAL, &it, NULL);
    char c;
    errno = 0;
    *n = read(pipefd[0], &c, 1);
    *err = errno;
    if (*n < 0) {
        /* Take the byte the handler left. */
        if (read(pipefd[0], &c, 1) != 1)
            printf("# no byte left by the handler\n");
    }
}

/* sigtimedwait, sigqueue's value, and a periodic POSIX timer. */
static volatile sig_atomic_t queued_value;

static void on_queued(int sig, siginfo_t *si, void *ctx)
{
    (void)sig;
    (void)ctx;
    queued_value = si->si_code == SI_QUEUE ? si->si_value.sival_int : -1;
}

static void test_waiting_and_timers(void)
{
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR2);
    sigprocmask(SIG_BLOCK, &set, &old);

    struct timespec short_wait = { 0, 20 * 1000 * 1000 };
    errno = 0;
    int r = sigtimedwait(&set, NULL, &short_wait);
    check(r == -1 && errno == EAGAIN, "sigtimedwait with nothing pending times out with EAGAIN", "r %d errno %d", r, errno);

    union sigval v = { .sival_int = 1234 };
    sigqueue(getpid(), SIGUSR2, v);
    siginfo_t si;
    memset(&si, 0, sizeof si);
    r = sigwaitinfo(&set, &si);
    check(r == SIGUSR2 && si.si_code == SI_QUEUE && si.si_value.sival_int == 1234 && si.si_pid == getpid(),
          "sigqueue, then sigwaitinfo takes it with SI_QUEUE, the value and our pid", "r %d code %d value %d", r, si.si_code,
          si.si_value.sival_int);

    struct sigaction sa = { 0 };
    sa.sa_sigaction = on_queued;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGUSR1, &sa, NULL);
    queued_value = 0;
    v.sival_int = 77;
    sigqueue(getpid(), SIGUSR1, v);
    check(queued_value == 77, "a handler gets sigqueue's value", "value %d", (int)queued_value);
    signal(SIGUSR1, SIG_DFL);

    /* A timer every 10 ms, notifying with SIGUSR2 (blocked: taken by
     * sigwaitinfo). */
    struct sigevent sev = { 0 };
    sev.sigev_notify = SIGEV_SIGNAL;
    sev.sigev_signo = SIGUSR2;
    sev.sigev_value.sival_int = 55;
    timer_t tid;
    check(timer_create(CLOCK_MONOTONIC, &sev, &tid) == 0, "timer_create(CLOCK_MONOTONIC, SIGEV_SIGNAL)", "errno %d", errno);
    struct itimerspec its = { { 0, 10 * 1000 * 1000 }, { 0, 10 * 1000 * 1000 } }, cur;
    check(timer_settime(tid, 0, &its, NULL) == 0, "timer_settime arms it every 10 ms", "errno %d", errno);
    int ticks = 0, good = 1;
    for (int i = 0; i < 3; i++) {
        memset(&si, 0, sizeof si);
        r = sigwaitinfo(&set, &si);
        ticks += r == SIGUSR2;
        good &= si.si_code == SI_TIMER && si.si_value.sival_int == 55;
    }
    check(ticks == 3 && good, "it expires again and again, each with SI_TIMER and its value", "ticks %d good %d", ticks, good);
    check(timer_gettime(tid, &cur) == 0 && cur.it_interval.tv_nsec == 10 * 1000 * 1000 && cur.it_value.tv_sec == 0 &&
              cur.it_value.tv_nsec > 0 && cur.it_value.tv_nsec <= 10 * 1000 * 1000,
          "timer_gettime: the period and what is left of it", "interval %ld left %ld", cur.it_interval.tv_nsec,
          cur.it_value.tv_nsec);
    check(timer_getoverrun(tid) >= 0, "timer_getoverrun", "errno %d", errno);
    struct itimerspec off = { { 0, 0 }, { 0, 0 } };
    timer_settime(tid, 0, &off, NULL);
    check(timer_delete(tid) == 0, "timer_delete", "errno %d", errno);
    errno = 0;
    check(syscall(SYS_timer_delete, 12345) == -1 && errno == EINVAL, "timer_delete of no timer: EINVAL", "errno %d", errno);
    errno = 0;
    check(syscall(SYS_timer_create, 12345, NULL, &tid) == -1 && errno == EINVAL, "timer_create on an unknown clock: EINVAL",
          "errno %d", errno);
    /* Whatever a late expiry left pending goes before the mask does. */
    struct timespec zero = { 0, 0 };
    while (sigtimedwait(&set, NULL, &zero) > 0)
        ;
    sigprocmask(SIG_SETMASK, &old, NULL);
}

/* The state letter of process `pid` in /proc/PID/stat ('?' if none). */
static char proc_state(pid_t pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return '?';
    long n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return '?';
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    return p && p[1] && p[2] ? p[2] : '?';
}

/* What the job-control scenario saw, sent back from the helper that ran it. */
struct job_control {
    int w1, st1, w2, w3, st3, r4, code4, status4, w5, st5;
    char state;
};

/* The child is put in a process group of its own under a helper that is
 * not init: a group whose only outside parent is init is orphaned, and
 * the terminal stop signals do nothing to it (as Linux's). */
static void test_job_control(void)
{
    int fds[2];
    pipe(fds);
    fflush(stdout);
    pid_t helper = fork();
    if (helper == 0) {
        struct job_control j = {0};
        pid_t c = fork();
        if (c == 0) {
            setpgid(0, 0);
            for (;;)
                pause();
        }
        setpgid(c, c);
        kill(c, SIGSTOP);
        j.w1 = waitpid(c, &j.st1, WUNTRACED);
        j.state = proc_state(c);
        int again;
        j.w2 = waitpid(c, &again, WUNTRACED | WNOHANG);
        kill(c, SIGCONT);
        j.w3 = waitpid(c, &j.st3, WCONTINUED);
        kill(c, SIGTSTP);
        siginfo_t si;
        memset(&si, 0, sizeof si);
        j.r4 = waitid(P_PID, c, &si, WSTOPPED);
        j.code4 = si.si_code;
        j.status4 = si.si_status;
        kill(c, SIGKILL);
        j.w5 = waitpid(c, &j.st5, 0);
        j.w1 = j.w1 == c;
        j.w3 = j.w3 == c;
        j.w5 = j.w5 == c;
        write(fds[1], &j, sizeof j);
        _exit(0);
    }
    struct job_control j;
    memset(&j, 0, sizeof j);
    read(fds[0], &j, sizeof j);
    waitpid(helper, NULL, 0);
    close(fds[0]);
    close(fds[1]);
    check(j.w1 && WIFSTOPPED(j.st1) && WSTOPSIG(j.st1) == SIGSTOP, "SIGSTOP stops a child; waitpid(WUNTRACED) reports it",
          "waited %d status %#x", j.w1, j.st1);
    check(j.state == 'T', "a stopped process is T in /proc/PID/stat", "state %c", j.state);
    check(j.w2 == 0, "a stop is reported once", "waited %d", j.w2);
    check(j.w3 && WIFCONTINUED(j.st3), "SIGCONT continues it; waitpid(WCONTINUED) reports it", "waited %d status %#x", j.w3, j.st3);
    check(j.r4 == 0 && j.code4 == CLD_STOPPED && j.status4 == SIGTSTP, "waitid(WSTOPPED): CLD_STOPPED with SIGTSTP",
          "r %d code %d status %d", j.r4, j.code4, j.status4);
    check(j.w5 && WIFSIGNALED(j.st5) && WTERMSIG(j.st5) == SIGKILL, "SIGKILL ends a stopped process", "status %#x", j.st5);
}

/* Core dumps: none under RLIMIT_CORE 0 (the default), an ELF core file
 * named "core" and WCOREDUMP once the limit allows. */
static void test_core_dumps(void)
{
    char dir[64];
    snprintf(dir, sizeof dir, "%s/core.XXXXXX", access("/tmp", W_OK) == 0 ? "/tmp" : "");
    mkdtemp(dir);
    char pattern[64] = "";
    int pf = open("/proc/sys/kernel/core_pattern", O_RDONLY);
    if (pf >= 0) {
        ssize_t n = read(pf, pattern, sizeof pattern - 1);
        pattern[n > 0 ? n : 0] = 0;
        close(pf);
    }
    for (int allow = 0; allow < 2; allow++) {
        fflush(stdout);
        pid_t pid = fork();
        if (pid == 0) {
            struct rlimit r = {allow ? RLIM_INFINITY : 0, RLIM_INFINITY};
            setrlimit(RLIMIT_CORE, &r);
            if (chdir(dir) != 0)
                _exit(9);
            abort();
        }
        int st;
        waitpid(pid, &st, 0);
        int cored = WIFSIGNALED(st) && WCOREDUMP(st);
        if (!allow) {
            check(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT && !cored, "abort under RLIMIT_CORE 0: SIGABRT, no core", "status %#x", st);
            continue;
        }
        check(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT && cored, "abort with RLIMIT_CORE unlimited: WCOREDUMP", "status %#x", st);
        if (strcmp(pattern, "core\n") != 0) {
            printf("# core_pattern is %s: the core file is not ours to check\n", pattern);
            continue;
        }
        char path[96];
        snprintf(path, sizeof path, "%s/core", dir);
        unsigned char h[20] = {0};
        int fd = open(path, O_RDONLY);
        struct stat cs;
        check(fd >= 0 && read(fd, h, sizeof h) == sizeof h && memcmp(h, "\x7f" "ELF", 4) == 0 && h[16] == 4 && fstat(fd, &cs) == 0 &&
                  (cs.st_mode & 0777) == 0600,
              "... and an ELF core file (ET_CORE, mode 0600) in the working directory", "%s", strerror(errno));
        close(fd);
        unlink(path);
    }
    rmdir(dir);
}

static volatile int usr2_hits;
static void on_usr2(int sig)
{
    (void)sig;
    usr2_hits++;
}

/* A deleted timer's pending signal: still pending, never delivered.
 * A terminal stop signal to an orphaned process group: discarded. */
static void test_timer_delete_and_orphans(void)
{
    signal(SIGUSR2, on_usr2);
    sigset_t s, p;
    sigemptyset(&s);
    sigaddset(&s, SIGUSR2);
    sigprocmask(SIG_BLOCK, &s, NULL);
    struct sigevent ev = {.sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGUSR2};
    timer_t t;
    timer_create(CLOCK_MONOTONIC, &ev, &t);
    struct itimerspec its = {{0, 0}, {0, 10000000}};
    timer_settime(t, 0, &its, NULL);
    usleep(50000);
    timer_delete(t);
    sigpending(&p);
    check(sigismember(&p, SIGUSR2), "a deleted timer's signal is still pending", "not pending");
    sigprocmask(SIG_UNBLOCK, &s, NULL);
    sigpending(&p);
    check(usr2_hits == 0 && !sigismember(&p, SIGUSR2), "... and is dropped, not delivered, once unblocked", "%d hits", usr2_hits);
    signal(SIGUSR2, SIG_DFL);

    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        setsid(); /* its own group, its parent in another session: orphaned */
        raise(SIGTSTP);
        raise(SIGTTOU);
        _exit(7);
    }
    int st;
    waitpid(c, &st, WUNTRACED);
    check(WIFEXITED(st) && WEXITSTATUS(st) == 7, "SIGTSTP and SIGTTOU do nothing to an orphaned process group", "status %#x", st);
}

int main(void)
{
    tap_init();
    pid_t me = getpid();

    /* 1. kill to self: the handler runs before kill returns, with
     * SI_USER and our pid, and the program goes on. */
    set_action(SIGUSR1, on_info, NULL, 0);
    hits = 0;
    kill(me, SIGUSR1);
    check(hits == 1 && last_sig == SIGUSR1 && last_code == SI_USER && last_pid == me, "kill(getpid(), SIGUSR1) runs the SA_SIGINFO handler with SI_USER and our pid",
          "hits %d sig %d code %d pid %d", (int)hits, (int)last_sig, (int)last_code, (int)last_pid);
    check(last_rip != 0, "the handler's ucontext holds the interrupted rip", "rip %#lx", (unsigned long)last_rip);

    /* 2. raise uses tgkill: SI_TKILL. */
    hits = 0;
    raise(SIGUSR1);
    check(hits == 1 && last_code == SI_TKILL, "raise() delivers with SI_TKILL", "hits %d code %d", (int)hits, (int)last_code);

    /* 3. SIGSEGV on a PROT_NONE page: the handler mprotects it and returns,
     * and the store that faulted is done again and succeeds. */
    guarded = mmap(NULL, PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    set_action(SIGSEGV, on_segv, NULL, 0);
    hits = 0;
    guarded[100] = 42;
    check(hits == 1 && last_code == SEGV_ACCERR && last_addr == (uintptr_t)guarded + 100 && guarded[100] == 42,
          "SIGSEGV recovery: si_addr and SEGV_ACCERR, mprotect in the handler, the store completes", "hits %d code %d addr %#lx", (int)hits, (int)last_code,
          (unsigned long)last_addr);
    signal(SIGSEGV, SIG_DFL);

    /* 4. SA_RESTART against EINTR on a blocking pipe read. */
    if (pipe(pipefd))
        return 1;
    ssize_t n;
    int err;
    hits = 0;
    read_interrupted(0, &n, &err);
    check(hits == 1 && n == -1 && err == EINTR, "without SA_RESTART a blocking read fails with EINTR", "hits %d n %zd errno %d", (int)hits, n, err);
    hits = 0;
    read_interrupted(1, &n, &err);
    check(hits == 1 && n == 1, "with SA_RESTART the read is restarted and gets the handler's byte", "hits %d n %zd errno %d", (int)hits, n, err);

    /* 5. SIGCHLD with rt_sigsuspend: blocked around fork, then waited for
     * with an empty mask; si_status is the child's exit code. */
    sigset_t block, old, none;
    sigemptyset(&block);
    sigaddset(&block, SIGCHLD);
    sigemptyset(&none);
    set_action(SIGCHLD, on_info, NULL, 0);
    sigprocmask(SIG_BLOCK, &block, &old);
    hits = 0;
    pid_t child = fork();
    if (child == 0)
        _exit(3);
    errno = 0;
    int r = sigsuspend(&none);
    int suspend_errno = errno;
    sigset_t now;
    sigprocmask(SIG_SETMASK, NULL, &now);
    check(r == -1 && suspend_errno == EINTR && hits == 1 && last_sig == SIGCHLD && last_code == CLD_EXITED && last_pid == child && last_status == 3,
          "SIGCHLD wakes sigsuspend: CLD_EXITED, the child's pid and status", "r %d errno %d hits %d code %d pid %d status %d", r, suspend_errno, (int)hits,
          (int)last_code, (int)last_pid, (int)last_status);
    check(sigismember(&now, SIGCHLD), "sigsuspend puts the old mask back", "SIGCHLD not blocked");
    int st;
    waitpid(child, &st, 0);
    sigprocmask(SIG_SETMASK, &old, NULL);
    signal(SIGCHLD, SIG_DFL);

    /* 6. alarm and pause. */
    set_action(SIGALRM, NULL, on_plain, 0);
    hits = 0;
    alarm(1);
    errno = 0;
    r = pause();
    check(r == -1 && errno == EINTR && hits == 1 && last_sig == SIGALRM, "alarm(1) ends pause() with EINTR after the handler", "r %d errno %d hits %d", r,
          errno, (int)hits);
    check(alarm(0) == 0, "no alarm is left", "one was");

    /* 7. The alternate stack: an SA_ONSTACK handler runs on it. */
    static char altstack[64 * 1024];
    stack_t ss = { .ss_sp = altstack, .ss_size = sizeof altstack, .ss_flags = 0 };
    check(sigaltstack(&ss, NULL) == 0, "sigaltstack installs a 64 KiB stack", "%s", strerror(errno));
    set_action(SIGUSR2, on_info, NULL, SA_ONSTACK);
    hits = 0;
    raise(SIGUSR2);
    check(hits == 1 && handler_sp >= (uintptr_t)altstack && handler_sp < (uintptr_t)altstack + sizeof altstack, "an SA_ONSTACK handler runs on the alternate stack",
          "hits %d sp %#lx stack %p", (int)hits, (unsigned long)handler_sp, (void *)altstack);
    stack_t cur;
    sigaltstack(NULL, &cur);
    check(cur.ss_sp == altstack && cur.ss_size == sizeof altstack && cur.ss_flags == 0, "sigaltstack reports it back", "sp %p size %zu flags %d", cur.ss_sp,
          cur.ss_size, cur.ss_flags);
    ss.ss_size = 100;
    errno = 0;
    check(sigaltstack(&ss, NULL) == -1 && errno == ENOMEM, "a stack below MINSIGSTKSZ is ENOMEM", "errno %d", errno);

    /* 8. A blocked signal waits in the pending set and is delivered when
     * unblocked, before sigprocmask returns. */
    set_action(SIGUSR1, on_info, NULL, 0);
    sigemptyset(&block);
    sigaddset(&block, SIGUSR1);
    sigprocmask(SIG_BLOCK, &block, &old);
    hits = 0;
    raise(SIGUSR1);
    sigset_t pend;
    sigpending(&pend);
    int was_pending = sigismember(&pend, SIGUSR1);
    int hits_blocked = hits;
    sigprocmask(SIG_SETMASK, &old, NULL);
    check(hits_blocked == 0 && was_pending && hits == 1, "a blocked signal is pending and runs once unblocked", "while blocked %d pending %d after %d",
          hits_blocked, was_pending, (int)hits);

    /* 9. SIG_IGN discards. */
    signal(SIGUSR1, SIG_IGN);
    hits = 0;
    raise(SIGUSR1);
    sigpending(&pend);
    check(hits == 0 && !sigismember(&pend, SIGUSR1), "an ignored signal is discarded", "hits %d", (int)hits);

    /* 10. SA_RESETHAND: the second one takes the default action. */
    child = fork();
    if (child == 0) {
        set_action(SIGUSR1, on_info, NULL, SA_RESETHAND);
        raise(SIGUSR1);
        if (hits != 1)
            _exit(2);
        raise(SIGUSR1);
        _exit(0);
    }
    waitpid(child, &st, 0);
    check(WIFSIGNALED(st) && WTERMSIG(st) == SIGUSR1, "SA_RESETHAND: the handler runs once, then the default action kills", "status %#x", st);

    /* 11. SIGPIPE: ignored, the write says EPIPE; handled, the handler runs
     * and the write says EPIPE too. */
    int p2[2];
    if (pipe(p2))
        return 1;
    close(p2[0]);
    signal(SIGPIPE, SIG_IGN);
    errno = 0;
    n = write(p2[1], "x", 1);
    check(n == -1 && errno == EPIPE, "SIGPIPE ignored: write to a pipe without readers is EPIPE", "n %zd errno %d", n, errno);
    set_action(SIGPIPE, NULL, on_plain, 0);
    hits = 0;
    errno = 0;
    n = write(p2[1], "x", 1);
    check(n == -1 && errno == EPIPE && hits == 1 && last_sig == SIGPIPE, "SIGPIPE handled: the handler runs, write is EPIPE", "n %zd errno %d hits %d", n,
          errno, (int)hits);
    close(p2[1]);

    /* 12. The FPU state survives a handler that clobbers it: a value in
     * xmm0 and xmm8 across a kill system call made from assembly. */
    set_action(SIGUSR2, NULL, on_fpu, 0);
    hits = 0;
    uint64_t in = 0x0123456789abcdefULL, out0, out8;
    long nr = SYS_kill, ret;
    __asm__ volatile("movq %[in], %%xmm0\n\t"
                     "movq %[in], %%xmm8\n\t"
                     "syscall\n\t"
                     "movq %%xmm0, %[o0]\n\t"
                     "movq %%xmm8, %[o8]"
                     : [o0] "=r"(out0), [o8] "=r"(out8), "=a"(ret)
                     : [in] "r"(in), "a"(nr), "D"((long)me), "S"((long)SIGUSR2)
                     : "rcx", "r11", "memory", "xmm0", "xmm8");
    check(ret == 0 && hits == 1 && out0 == in && out8 == in, "rt_sigreturn puts back the SSE registers the handler clobbered", "ret %ld hits %d xmm0 %#lx xmm8 %#lx",
          ret, (int)hits, (unsigned long)out0, (unsigned long)out8);

    /* 13. abort() ends with SIGABRT even with SIGABRT caught and returning. */
    child = fork();
    if (child == 0) {
        set_action(SIGABRT, NULL, on_plain, 0);
        abort();
    }
    waitpid(child, &st, 0);
    check(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT, "abort() ends in SIGABRT", "status %#x", st);

    test_waiting_and_timers();
    test_job_control();
    test_core_dumps();
    test_timer_delete_and_orphans();
    return tap_done();
}
