/* Threads and futexes, as libc uses them: pthread_create and join with
 * mutexes and condition variables over 8 threads, thread ids and
 * /proc/self/task, futex operations directly (EAGAIN, ETIMEDOUT, EINVAL,
 * WAKE counts, REQUEUE, WAKE_OP, bitsets), a futex shared between
 * processes through MAP_SHARED memory, signals to one thread and to the
 * process, robust mutexes whose owner died, exit_group from a thread, a
 * process whose main thread ends first, execve from a thread, vfork's
 * shared memory, pidfds with poll and waitid, SIGCHLD ignored, and
 * RLIMIT_NPROC. Run natively and in the guest with the same results.
 * argv[1] "exec-child" is the image a thread execs. */
#include "tap.h"

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>

/* <linux/futex.h>, which musl-gcc does not see. */
#define FUTEX_WAIT 0
#define FUTEX_WAKE 1
#define FUTEX_CMP_REQUEUE 4
#define FUTEX_WAKE_OP 5
#define FUTEX_WAIT_BITSET 9
#define FUTEX_PRIVATE_FLAG 128
#define FUTEX_WAIT_PRIVATE (FUTEX_WAIT | FUTEX_PRIVATE_FLAG)
#define FUTEX_WAKE_PRIVATE (FUTEX_WAKE | FUTEX_PRIVATE_FLAG)
#define FUTEX_CMP_REQUEUE_PRIVATE (FUTEX_CMP_REQUEUE | FUTEX_PRIVATE_FLAG)
#define FUTEX_WAKE_OP_PRIVATE (FUTEX_WAKE_OP | FUTEX_PRIVATE_FLAG)
#define FUTEX_WAIT_BITSET_PRIVATE (FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG)
#define FUTEX_BITSET_MATCH_ANY 0xffffffffu
#define FUTEX_OP_ADD 1
#define FUTEX_OP_CMP_EQ 0
#define FUTEX_OP(op, oparg, cmp, cmparg) \
    (((op & 0xf) << 28) | ((cmp & 0xf) << 24) | ((oparg & 0xfff) << 12) | (cmparg & 0xfff))

#define NTHREADS 8
#define ROUNDS 2000

static long sys_futex(void *uaddr, int op, unsigned val, const void *timeout_or_val2, void *uaddr2, unsigned val3)
{
    return syscall(SYS_futex, uaddr, op, val, timeout_or_val2, uaddr2, val3);
}

static pid_t gettid_(void)
{
    return (pid_t)syscall(SYS_gettid);
}

/* --- 8 threads, a mutex, a condition variable --- */

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static long counter;
static int arrived, go;
static pid_t tids[NTHREADS];

static void *worker(void *arg)
{
    long i = (long)arg;
    tids[i] = gettid_();
    pthread_mutex_lock(&lock);
    arrived++;
    pthread_cond_broadcast(&cond);
    while (!go)
        pthread_cond_wait(&cond, &lock);
    pthread_mutex_unlock(&lock);
    for (int r = 0; r < ROUNDS; r++) {
        pthread_mutex_lock(&lock);
        counter++;
        pthread_mutex_unlock(&lock);
        if (r % 500 == 0)
            sched_yield();
    }
    return (void *)(i * 10);
}

static int count_tasks(void)
{
    int fd = open("/proc/self/task", O_RDONLY | O_DIRECTORY);
    if (fd < 0)
        return -errno;
    char buf[4096];
    int n = 0;
    long got;
    while ((got = syscall(SYS_getdents64, fd, buf, sizeof buf)) > 0) {
        for (long off = 0; off < got;) {
            unsigned short reclen = *(unsigned short *)(buf + off + 16);
            const char *name = buf + off + 19;
            if (name[0] != '.')
                n++;
            off += reclen;
        }
    }
    close(fd);
    return n;
}

static void test_pthreads(void)
{
    pthread_t th[NTHREADS];
    int created = 0;
    for (long i = 0; i < NTHREADS; i++)
        created += pthread_create(&th[i], NULL, worker, (void *)i) == 0;
    check(created == NTHREADS, "8 threads are created", "%d created", created);
    pthread_mutex_lock(&lock);
    while (arrived < created)
        pthread_cond_wait(&cond, &lock);
    pthread_mutex_unlock(&lock);
    int tasks = count_tasks();
    check(tasks == NTHREADS + 1, "/proc/self/task lists the main thread and the 8", "%d entries", tasks);
    int distinct = 1;
    for (int i = 0; i < NTHREADS; i++)
        for (int j = 0; j < i; j++)
            distinct &= tids[i] != tids[j] && tids[i] != getpid();
    check(distinct, "each thread has its own tid, none the pid", "tids differ: %d", distinct);
    pthread_mutex_lock(&lock);
    go = 1;
    pthread_cond_broadcast(&cond);
    pthread_mutex_unlock(&lock);
    int joined = 0, values = 1;
    for (long i = 0; i < created; i++) {
        void *ret;
        joined += pthread_join(th[i], &ret) == 0;
        values &= (long)ret == i * 10;
    }
    check(joined == created && values, "every thread is joined with its return value", "%d joined, values %d", joined, values);
    check(counter == (long)NTHREADS * ROUNDS, "the mutex kept every increment", "counter %ld, want %ld", counter,
          (long)NTHREADS * ROUNDS);
    check(count_tasks() == 1, "and then only the main thread is left", "%d", count_tasks());
}

/* --- futex operations --- */

static int fword;
/* Set by the waiter once its FUTEX_WAIT returned. */
static int fword_waited;

static void *wake_after(void *arg)
{
    (void)arg;
    struct timespec d = { 0, 20 * 1000 * 1000 };
    nanosleep(&d, NULL);
    __atomic_store_n(&fword, 1, __ATOMIC_SEQ_CST);
    long n;
    /* The waiter may not be asleep yet: wake until it was, or until it
     * came back without sleeping (it saw the word change first: EAGAIN,
     * which a loaded host can make happen). */
    do {
        n = sys_futex(&fword, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
        if (n == 0)
            nanosleep(&d, NULL);
    } while (n == 0 && !__atomic_load_n(&fword_waited, __ATOMIC_SEQ_CST));
    return (void *)(n != 0 ? n : 1L);
}

static int waiters_ready;
static int qword, qword2;

static void *wait_on_qword(void *arg)
{
    (void)arg;
    __atomic_add_fetch(&waiters_ready, 1, __ATOMIC_SEQ_CST);
    long r = sys_futex(&qword, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
    return (void *)r;
}

static void wait_until_asleep(pthread_t *th, int n)
{
    /* A thread is asleep on a futex when /proc says so. */
    for (int tries = 0; tries < 500; tries++) {
        int sleeping = 0;
        for (int i = 0; i < n; i++) {
            char path[64], buf[256];
            snprintf(path, sizeof path, "/proc/self/task/%d/stat", (int)tids[i]);
            int fd = open(path, O_RDONLY);
            if (fd < 0)
                continue;
            long got = read(fd, buf, sizeof buf - 1);
            close(fd);
            if (got > 0) {
                buf[got] = 0;
                char *p = strrchr(buf, ')');
                sleeping += p && p[2] == 'S';
            }
        }
        if (sleeping == n && waiters_ready == n)
            return;
        struct timespec d = { 0, 2 * 1000 * 1000 };
        nanosleep(&d, NULL);
    }
    (void)th;
}

static void *record_tid_then_wait(void *arg)
{
    tids[(long)arg] = gettid_();
    return wait_on_qword(arg);
}

static void test_futex(void)
{
    int word = 5;
    struct timespec ts = { 0, 30 * 1000 * 1000 };
    errno = 0;
    check(sys_futex(&word, FUTEX_WAIT_PRIVATE, 6, NULL, NULL, 0) == -1 && errno == EAGAIN,
          "FUTEX_WAIT on a word that differs: EAGAIN", "errno %d", errno);
    errno = 0;
    check(sys_futex(&word, FUTEX_WAIT_PRIVATE, 5, &ts, NULL, 0) == -1 && errno == ETIMEDOUT,
          "FUTEX_WAIT with a 30 ms timeout: ETIMEDOUT", "errno %d", errno);
    errno = 0;
    check(sys_futex((char *)&word + 1, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0) == -1 && errno == EINVAL,
          "a misaligned futex: EINVAL", "errno %d", errno);
    errno = 0;
    check(sys_futex(&word, FUTEX_WAIT_BITSET_PRIVATE, 5, NULL, NULL, 0) == -1 && errno == EINVAL,
          "FUTEX_WAIT_BITSET with an empty bitset: EINVAL", "errno %d", errno);
    check(sys_futex(&word, FUTEX_WAKE_PRIVATE, 10, NULL, NULL, 0) == 0, "FUTEX_WAKE with no waiters wakes 0", "woke some");
    errno = 0;
    check(sys_futex(&word, 99, 0, NULL, NULL, 0) == -1 && errno == ENOSYS, "an unknown futex op: ENOSYS", "errno %d", errno);
    errno = 0;
    check(sys_futex(NULL, FUTEX_WAIT, 0, NULL, NULL, 0) == -1 && errno == EFAULT, "FUTEX_WAIT on NULL: EFAULT", "errno %d",
          errno);

    /* An absolute CLOCK_MONOTONIC deadline in the past times out at once. */
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    errno = 0;
    check(sys_futex(&word, FUTEX_WAIT_BITSET_PRIVATE, 5, &now, NULL, FUTEX_BITSET_MATCH_ANY) == -1 && errno == ETIMEDOUT,
          "FUTEX_WAIT_BITSET with a deadline passed: ETIMEDOUT", "errno %d", errno);

    /* A wait woken by another thread. */
    pthread_t th;
    fword = 0;
    pthread_create(&th, NULL, wake_after, NULL);
    long r = sys_futex(&fword, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
    int wait_errno = errno;
    __atomic_store_n(&fword_waited, 1, __ATOMIC_SEQ_CST);
    errno = wait_errno;
    void *woke;
    pthread_join(th, &woke);
    check((r == 0 || (r == -1 && errno == EAGAIN)) && (long)woke == 1, "FUTEX_WAIT is woken by FUTEX_WAKE from another thread",
          "r %ld errno %d woke %ld", r, errno, (long)woke);

    /* Three waiters: REQUEUE wakes one and moves one, then WAKE on the
     * second word wakes the moved one, then the last is woken. */
    pthread_t w[3];
    waiters_ready = 0;
    qword = 0;
    for (long i = 0; i < 3; i++)
        pthread_create(&w[i], NULL, record_tid_then_wait, (void *)i);
    wait_until_asleep(w, 3);
    errno = 0;
    long moved = sys_futex(&qword, FUTEX_CMP_REQUEUE_PRIVATE, 1, (void *)1L, &qword2, 1);
    check(moved == -1 && errno == EAGAIN, "FUTEX_CMP_REQUEUE with a stale value: EAGAIN", "r %ld errno %d", moved, errno);
    moved = sys_futex(&qword, FUTEX_CMP_REQUEUE_PRIVATE, 1, (void *)1L, &qword2, 0);
    check(moved == 2, "FUTEX_CMP_REQUEUE wakes 1 and requeues 1", "returned %ld", moved);
    long on2 = sys_futex(&qword2, FUTEX_WAKE_PRIVATE, 5, NULL, NULL, 0);
    check(on2 == 1, "the requeued waiter is woken through the second word", "woke %ld", on2);
    /* FUTEX_WAKE_OP: *qword2 += 1 (old 0, "== 0" passes), wake 1 on each. */
    long op = sys_futex(&qword, FUTEX_WAKE_OP_PRIVATE, 1, (void *)1L, &qword2, FUTEX_OP(FUTEX_OP_ADD, 1, FUTEX_OP_CMP_EQ, 0));
    check(op == 1 && qword2 == 1, "FUTEX_WAKE_OP adds to the second word and wakes the last waiter", "r %ld qword2 %d", op,
          qword2);
    int all_zero = 1;
    for (int i = 0; i < 3; i++) {
        void *ret;
        pthread_join(w[i], &ret);
        all_zero &= (long)ret == 0;
    }
    check(all_zero, "every woken waiter's FUTEX_WAIT returned 0", "one did not");
}

/* --- a futex shared between processes --- */

static void test_shared_futex(void)
{
    int *shared = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    *shared = 0;
    pid_t c = fork();
    if (c == 0) {
        struct timespec d = { 0, 30 * 1000 * 1000 };
        nanosleep(&d, NULL);
        __atomic_store_n(shared, 1, __ATOMIC_SEQ_CST);
        long n = 0;
        for (int i = 0; i < 100 && n == 0; i++) {
            n = sys_futex(shared, FUTEX_WAKE, 1, NULL, NULL, 0);
            if (n == 0)
                nanosleep(&d, NULL);
        }
        _exit(n == 1 ? 0 : 1);
    }
    long r = sys_futex(shared, FUTEX_WAIT, 0, NULL, NULL, 0);
    int e = errno;
    int st;
    waitpid(c, &st, 0);
    /* Woken (the child's wake found this waiter), or, on a loaded machine
     * where the child stored 1 before this wait began, EAGAIN (and then the
     * child had nobody to wake). */
    int woken = r == 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0;
    int late = r == -1 && e == EAGAIN && WIFEXITED(st);
    check(woken || late, "a shared futex in MAP_SHARED memory is woken by another process", "r %ld errno %d status %#x", r, e, st);
    munmap(shared, PAGE);
}

/* --- signals to a thread and to the process --- */

static volatile pid_t handled_by;
static volatile int handled_count;

static void on_usr(int sig)
{
    (void)sig;
    handled_by = gettid_();
    handled_count++;
}

static volatile int stop_spinning;
static volatile pid_t spinner_tid;

static void *spinner(void *arg)
{
    (void)arg;
    spinner_tid = gettid_();
    while (!stop_spinning)
        sched_yield();
    return NULL;
}

static void test_signals(void)
{
    signal(SIGUSR1, on_usr);
    signal(SIGUSR2, on_usr);
    pthread_t th;
    stop_spinning = 0;
    spinner_tid = 0;
    pthread_create(&th, NULL, spinner, NULL);
    while (!spinner_tid)
        sched_yield();
    handled_by = 0;
    pthread_kill(th, SIGUSR1);
    for (int i = 0; i < 1000 && !handled_by; i++)
        sched_yield();
    check(handled_by == spinner_tid, "pthread_kill runs the handler in that thread", "handled by %d, thread %d", (int)handled_by,
          (int)spinner_tid);

    /* Blocked here, open there: a signal to the process goes to the thread. */
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR2);
    pthread_sigmask(SIG_BLOCK, &set, &old);
    handled_by = 0;
    kill(getpid(), SIGUSR2);
    for (int i = 0; i < 1000 && !handled_by; i++)
        sched_yield();
    check(handled_by == spinner_tid, "kill to the process is taken by the thread that does not block it",
          "handled by %d, thread %d", (int)handled_by, (int)spinner_tid);
    stop_spinning = 1;
    pthread_join(th, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    signal(SIGUSR1, SIG_DFL);
    signal(SIGUSR2, SIG_DFL);
}

/* --- robust mutexes --- */

static pthread_mutex_t robust;

static void *lock_and_die(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&robust);
    return NULL; /* exits holding it */
}

static void test_robust(void)
{
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    pthread_mutex_init(&robust, &a);
    pthread_t th;
    pthread_create(&th, NULL, lock_and_die, NULL);
    pthread_join(th, NULL);
    int r = pthread_mutex_lock(&robust);
    check(r == EOWNERDEAD, "a robust mutex whose owner died: EOWNERDEAD for the next locker", "got %d", r);
    if (r == EOWNERDEAD) {
        pthread_mutex_consistent(&robust);
        pthread_mutex_unlock(&robust);
    }
    void *head;
    size_t len;
    check(syscall(SYS_get_robust_list, 0, &head, &len) == 0 && len == 24, "get_robust_list: the caller's head, 24 bytes",
          "len %zu", len);
    errno = 0;
    check(syscall(SYS_set_robust_list, head, 23) == -1 && errno == EINVAL, "set_robust_list with a wrong size: EINVAL",
          "errno %d", errno);
}

/* --- how a threaded process ends --- */

static void *exit_group_3(void *arg)
{
    (void)arg;
    exit(3);
}

static int pipefd[2];

static void *write_then_exit(void *arg)
{
    (void)arg;
    struct timespec d = { 0, 30 * 1000 * 1000 };
    nanosleep(&d, NULL);
    (void)!write(pipefd[1], "x", 1);
    /* The last thread out: its code is the process's (Linux). */
    syscall(SYS_exit, 5);
    return NULL;
}

static const char *self_path;

static void *exec_self(void *arg)
{
    (void)arg;
    char *args[] = { (char *)self_path, "exec-child", NULL };
    execv(self_path, args);
    _exit(100);
}

static void *sleep_forever(void *arg)
{
    (void)arg;
    for (;;)
        pause();
    return NULL;
}

static void test_endings(void)
{
    int st;
    pid_t c = fork();
    if (c == 0) {
        pthread_t th;
        pthread_create(&th, NULL, exit_group_3, NULL);
        for (;;)
            pause();
    }
    waitpid(c, &st, 0);
    check(WIFEXITED(st) && WEXITSTATUS(st) == 3, "exit() in a thread ends the whole process with its code", "status %#x", st);

    (void)!pipe(pipefd);
    c = fork();
    if (c == 0) {
        pthread_t th;
        pthread_create(&th, NULL, write_then_exit, NULL);
        /* The leader ends alone (the thread exit call, not libc's). */
        syscall(SYS_exit, 0);
    }
    char ch = 0;
    (void)!read(pipefd[0], &ch, 1);
    waitpid(c, &st, 0);
    check(ch == 'x' && WIFEXITED(st) && WEXITSTATUS(st) == 5,
          "a process whose main thread exits first lives on in its other thread, whose code it ends with", "byte %c status %#x", ch ? ch : '0', st);
    close(pipefd[0]);
    close(pipefd[1]);

    c = fork();
    if (c == 0) {
        pthread_t th, sleeper;
        pthread_create(&sleeper, NULL, sleep_forever, NULL);
        pthread_create(&th, NULL, exec_self, NULL);
        for (;;)
            pause();
    }
    pid_t w = waitpid(c, &st, 0);
    check(w == c && WIFEXITED(st) && WEXITSTATUS(st) == 7, "execve from a thread replaces the whole process, same pid",
          "waited %d of %d, status %#x", (int)w, (int)c, st);

    c = fork();
    if (c == 0) {
        pthread_t th;
        pthread_create(&th, NULL, sleep_forever, NULL);
        raise(SIGTERM);
        _exit(1);
    }
    waitpid(c, &st, 0);
    check(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM, "a fatal signal ends every thread", "status %#x", st);
}

/* --- vfork, pidfds, waitid, SIGCHLD ignored, limits --- */

static volatile int vfork_var;

static void test_process_calls(void)
{
    vfork_var = 0;
    pid_t v = vfork();
    if (v == 0) {
        vfork_var = 42;
        _exit(0);
    }
    int st;
    waitpid(v, &st, 0);
    check(vfork_var == 42, "a vfork child runs in its parent's memory", "var %d", vfork_var);

    pid_t c = fork();
    if (c == 0) {
        struct timespec d = { 0, 50 * 1000 * 1000 };
        nanosleep(&d, NULL);
        _exit(9);
    }
    int pfd = (int)syscall(SYS_pidfd_open, c, 0);
    check(pfd >= 0, "pidfd_open of a child", "errno %d", errno);
    struct pollfd p = { pfd, POLLIN, 0 };
    int before = poll(&p, 1, 0);
    int ready = poll(&p, 1, 5000);
    check(before == 0 && ready == 1 && (p.revents & POLLIN), "its pidfd turns readable when the child exits",
          "before %d ready %d revents %#x", before, ready, p.revents);
    siginfo_t si;
    memset(&si, 0, sizeof si);
    int r = (int)syscall(SYS_waitid, 3 /* P_PIDFD */, pfd, &si, WEXITED, NULL);
    check(r == 0 && si.si_pid == c && si.si_code == CLD_EXITED && si.si_status == 9, "waitid(P_PIDFD) reaps it",
          "r %d pid %d code %d status %d", r, (int)si.si_pid, si.si_code, si.si_status);
    close(pfd);

    c = fork();
    if (c == 0) {
        for (;;)
            pause();
    }
    pfd = (int)syscall(SYS_pidfd_open, c, 0);
    r = (int)syscall(SYS_pidfd_send_signal, pfd, SIGTERM, NULL, 0);
    waitpid(c, &st, 0);
    check(r == 0 && WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM, "pidfd_send_signal delivers", "r %d status %#x", r, st);
    errno = 0;
    r = (int)syscall(SYS_pidfd_send_signal, pfd, SIGTERM, NULL, 0);
    check(r == -1 && errno == ESRCH, "and says ESRCH once the process is gone", "r %d errno %d", r, errno);
    close(pfd);
    errno = 0;
    check(syscall(SYS_pidfd_open, getpid(), 1) == -1 && errno == EINVAL, "pidfd_open with unknown flags: EINVAL",
          "errno %d", errno);

    memset(&si, 0xff, sizeof si);
    c = fork();
    if (c == 0) {
        for (;;)
            pause();
    }
    r = waitid(P_ALL, 0, &si, WEXITED | WNOHANG);
    check(r == 0 && si.si_pid == 0, "waitid with WNOHANG and nothing ready: 0, si_pid 0", "r %d pid %d", r, (int)si.si_pid);
    kill(c, SIGKILL);
    r = waitid(P_PID, c, &si, WEXITED);
    check(r == 0 && si.si_code == CLD_KILLED && si.si_status == SIGKILL, "waitid(P_PID) sees CLD_KILLED and the signal",
          "code %d status %d", si.si_code, si.si_status);
    errno = 0;
    check(waitid(P_ALL, 0, &si, WNOHANG) == -1 && errno == EINVAL, "waitid without WEXITED/WSTOPPED/WCONTINUED: EINVAL",
          "errno %d", errno);

    signal(SIGCHLD, SIG_IGN);
    c = fork();
    if (c == 0)
        _exit(0);
    errno = 0;
    pid_t w = waitpid(c, &st, 0);
    check(w == -1 && errno == ECHILD, "with SIGCHLD ignored, children are reaped by the kernel", "waitpid %d errno %d", (int)w,
          errno);
    signal(SIGCHLD, SIG_DFL);

    struct rlimit rl;
    check(getrlimit(RLIMIT_NPROC, &rl) == 0 && rl.rlim_cur > 0, "getrlimit(RLIMIT_NPROC)", "cur %lu", (unsigned long)rl.rlim_cur);
    char buf[32] = { 0 };
    int fd = open("/proc/sys/kernel/threads-max", O_RDONLY);
    long got = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
    if (fd >= 0)
        close(fd);
    check(got > 0 && atol(buf) >= 20, "/proc/sys/kernel/threads-max is the kernel's task limit", "read %ld: %s", got, buf);
    struct rlimit lower = { 1, 1 }, back;
    errno = 0;
    struct rlimit bad = { 10, 5 };
    check(setrlimit(RLIMIT_NPROC, &bad) == -1 && errno == EINVAL, "a soft limit above the hard one: EINVAL", "errno %d",
          errno);
    check(setrlimit(RLIMIT_NOFILE, &(struct rlimit){ 64, 64 }) == 0 && getrlimit(RLIMIT_NOFILE, &back) == 0 && back.rlim_cur == 64,
          "setrlimit(RLIMIT_NOFILE) is read back", "cur %lu", (unsigned long)back.rlim_cur);
    (void)lower;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "exec-child") == 0)
        return count_tasks() == 1 && getpid() == gettid_() ? 7 : 8;
    self_path = argv[0];
    tap_init();
    test_pthreads();
    test_futex();
    test_shared_futex();
    test_signals();
    test_robust();
    test_endings();
    test_process_calls();
    return tap_done();
}
