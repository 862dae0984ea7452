/*
 * Waiting and grouping: poll, ppoll, select and pselect on pipes, readv,
 * clock_nanosleep (relative and absolute), process groups and sessions
 * (setpgid, getpgid, getpgrp, setsid, getsid, kill and wait4 of a group),
 * and the wall clock (CLOCK_REALTIME, gettimeofday, time, clock_getres,
 * file times). Run natively and in the guest; the results must agree.
 */
#include "tap.h"

#include <sched.h>

#include <poll.h>
#include <signal.h>
#include <sys/select.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>

static int sigpipe_fd;

static void on_usr1(int sig)
{
    (void)sig;
    char c = 'x';
    if (write(sigpipe_fd, &c, 1) != 1)
        _exit(9);
}

static long ms_since(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

/* The wall clock: today's date, the same from every interface, and on
 * new files. */
static void test_wall_clock(void)
{
    struct timespec rt, res;
    clock_gettime(CLOCK_REALTIME, &rt);
    check(rt.tv_sec > 1700000000, "CLOCK_REALTIME is the date (after 2023), not time since boot", "%ld", (long)rt.tv_sec);
    struct timeval tv;
    gettimeofday(&tv, NULL);
    time_t t = time(NULL);
    check(tv.tv_sec - rt.tv_sec <= 2 && tv.tv_sec >= rt.tv_sec && t >= rt.tv_sec && t - rt.tv_sec <= 2,
          "gettimeofday and time agree with it", "rt %ld tv %ld time %ld", (long)rt.tv_sec, (long)tv.tv_sec, (long)t);
    struct timespec mono;
    clock_gettime(CLOCK_MONOTONIC, &mono);
    check(mono.tv_sec < rt.tv_sec, "CLOCK_MONOTONIC is not the wall clock", "%ld", (long)mono.tv_sec);
    check(clock_getres(CLOCK_MONOTONIC, &res) == 0 && res.tv_sec == 0 && res.tv_nsec > 0 && res.tv_nsec <= 10000000,
          "clock_getres(CLOCK_MONOTONIC)", "%ld ns", res.tv_nsec);
    errno = 0;
    check(clock_gettime(10, &res) == -1 && errno == EINVAL, "clock 10 (the old SGI cycle counter): EINVAL", "errno %d", errno);
    errno = 0;
    check(clock_settime(CLOCK_MONOTONIC, &mono) == -1 && errno == EINVAL, "CLOCK_MONOTONIC cannot be set: EINVAL", "errno %d",
          errno);
    char path[] = "/tmp/rvmm-clock-XXXXXX";
    mkdir("/tmp", 01777); /* the guest's root filesystem may have none */
    int fd = mkstemp(path);
    struct stat st;
    int ok = fd >= 0 && write(fd, "x", 1) == 1 && fstat(fd, &st) == 0;
    check(ok && st.st_mtime >= rt.tv_sec - 2 && st.st_mtime <= time(NULL) + 2, "a new file's mtime is now",
          "mtime %ld now %ld", ok ? (long)st.st_mtime : -1L, (long)time(NULL));
    if (fd >= 0) {
        close(fd);
        unlink(path);
    }
}

int main(void)
{
    tap_init();
    int p[2];
    if (pipe(p))
        return 1;

    /* poll on an empty pipe, then with data, then hung up. */
    struct pollfd fds[3] = { { p[0], POLLIN, 0 }, { -1, POLLIN, 0 }, { 1000, POLLIN, 0 } };
    int n = poll(fds, 3, 0);
    check(n == 1 && fds[0].revents == 0 && fds[1].revents == 0 && fds[2].revents == POLLNVAL, "poll: an empty pipe is not ready, fd -1 is skipped, a closed fd is POLLNVAL",
          "n %d revents %#x %#x %#x", n, fds[0].revents, fds[1].revents, fds[2].revents);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    n = poll(fds, 1, 50);
    long waited = ms_since(&t0);
    check(n == 0 && waited >= 49, "poll with a 50 ms timeout waits it out", "n %d waited %ld ms", n, waited);
    if (write(p[1], "hello world", 11) != 11)
        return 1;
    fds[0].events = POLLIN | POLLOUT;
    n = poll(fds, 1, -1);
    check(n == 1 && fds[0].revents == POLLIN, "poll: data makes the read end readable (and only that)", "n %d revents %#x", n, fds[0].revents);
    struct pollfd wfd = { p[1], POLLOUT, 0 };
    n = poll(&wfd, 1, 0);
    check(n == 1 && wfd.revents == POLLOUT, "poll: the write end has room", "n %d revents %#x", n, wfd.revents);

    /* readv splits the data over two buffers. */
    char a[5], b[16];
    struct iovec iov[2] = { { a, sizeof a }, { b, sizeof b } };
    ssize_t got = readv(p[0], iov, 2);
    check(got == 11 && memcmp(a, "hello", 5) == 0 && memcmp(b, " world", 6) == 0, "readv fills the buffers in turn", "got %zd", got);

    /* select and pselect. */
    fd_set rs;
    FD_ZERO(&rs);
    FD_SET(p[0], &rs);
    struct timeval tv = { 0, 0 };
    n = select(p[0] + 1, &rs, NULL, NULL, &tv);
    check(n == 0 && !FD_ISSET(p[0], &rs), "select: an empty pipe is not readable", "n %d", n);
    if (write(p[1], "z", 1) != 1)
        return 1;
    FD_SET(p[0], &rs);
    fd_set ws;
    FD_ZERO(&ws);
    FD_SET(p[1], &ws);
    n = select(p[1] + 1, &rs, &ws, NULL, NULL);
    check(n == 2 && FD_ISSET(p[0], &rs) && FD_ISSET(p[1], &ws), "select: readable and writable ends are reported", "n %d", n);
    FD_ZERO(&rs);
    FD_SET(p[0], &rs);
    struct timespec ts0 = { 0, 0 };
    sigset_t none;
    sigemptyset(&none);
    n = pselect(p[0] + 1, &rs, NULL, NULL, &ts0, &none);
    check(n == 1 && FD_ISSET(p[0], &rs), "pselect with a mask", "n %d", n);
    char c;
    if (read(p[0], &c, 1) != 1)
        return 1;
    FD_ZERO(&rs);
    FD_SET(60, &rs);
    errno = 0;
    n = select(61, &rs, NULL, NULL, &tv);
    check(n == -1 && errno == EBADF, "select of a closed fd (below the table's 64) is EBADF", "n %d errno %d", n, errno);
    FD_ZERO(&rs);
    FD_SET(999, &rs);
    n = select(1000, &rs, NULL, NULL, &tv);
    check(n == 0, "select looks no further than the fd table's size (fd 999: not there, not an error)", "n %d errno %d", n, errno);
    struct pollfd pf = { p[0], POLLIN, 0 };
    n = ppoll(&pf, 1, &ts0, &none);
    check(n == 0, "ppoll with a zero timeout and a mask", "n %d", n);

    /* Hang-ups. */
    close(p[1]);
    n = poll(&pf, 1, 0);
    check(n == 1 && pf.revents == POLLHUP, "poll: no writer left is POLLHUP", "n %d revents %#x", n, pf.revents);
    int q[2];
    if (pipe(q))
        return 1;
    close(q[0]);
    signal(SIGPIPE, SIG_IGN);
    struct pollfd qf = { q[1], POLLOUT, 0 };
    n = poll(&qf, 1, 0);
    check(n == 1 && qf.revents == (POLLOUT | POLLERR), "poll: no reader left is POLLERR", "n %d revents %#x", n, qf.revents);
    close(q[1]);
    close(p[0]);

    /* clock_nanosleep, relative and absolute. */
    clock_gettime(CLOCK_MONOTONIC, &t0);
    struct timespec d = { 0, 20 * 1000000 };
    int r = clock_nanosleep(CLOCK_MONOTONIC, 0, &d, NULL);
    waited = ms_since(&t0);
    check(r == 0 && waited >= 19, "clock_nanosleep sleeps 20 ms", "r %d waited %ld", r, waited);
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_nsec += 20 * 1000000;
    if (until.tv_nsec >= 1000000000) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000;
    }
    r = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, NULL);
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    check(r == 0 && (now.tv_sec > until.tv_sec || (now.tv_sec == until.tv_sec && now.tv_nsec >= until.tv_nsec)), "clock_nanosleep to an absolute time", "r %d", r);
    d.tv_nsec = 1000000000;
    check(clock_nanosleep(CLOCK_MONOTONIC, 0, &d, NULL) == EINVAL, "clock_nanosleep with 10^9 ns is EINVAL", "no");

    /* Process groups and sessions. */
    pid_t me = getpid();
    check(getpgrp() == getpgid(0) && getsid(0) == getsid(me), "getpgrp, getpgid(0) and getsid agree with themselves", "pgrp %d pgid %d", getpgrp(), getpgid(0));
    int sp[2];
    if (pipe(sp))
        return 1;
    pid_t child = fork();
    if (child == 0) {
        /* Not a group leader: a new session; then it leads one. */
        pid_t s = setsid();
        int ok = s == getpid() && getsid(0) == s && getpgrp() == s;
        errno = 0;
        ok = ok && setsid() == -1 && errno == EPERM;
        _exit(ok ? 0 : 1);
    }
    int st;
    waitpid(child, &st, 0);
    check(WIFEXITED(st) && WEXITSTATUS(st) == 0, "setsid in a child: a new session it leads; again is EPERM", "status %#x", st);

    sigpipe_fd = sp[1];
    signal(SIGUSR1, on_usr1);
    pid_t leader = fork();
    if (leader == 0) {
        setpgid(0, 0);
        pid_t member = fork();
        if (member == 0) {
            c = 'r';
            if (write(sp[1], &c, 1) != 1)
                _exit(9);
            for (;;)
                pause();
        }
        c = 'r';
        if (write(sp[1], &c, 1) != 1)
            _exit(9);
        for (;;)
            pause();
    }
    setpgid(leader, leader);
    char buf[2];
    int ready = read(sp[0], buf, 1) == 1 && read(sp[0], buf + 1, 1) == 1;
    check(getpgid(leader) == leader, "setpgid makes the child lead a group of its own", "pgid %d", getpgid(leader));
    check(kill(-leader, SIGUSR1) == 0, "kill(-pgid) succeeds", "errno %d", errno);
    char xs[2] = { 0, 0 };
    int both = ready && read(sp[0], xs, 1) == 1 && read(sp[0], xs + 1, 1) == 1 && xs[0] == 'x' && xs[1] == 'x';
    check(both, "kill(-pgid) reaches both members of the group", "ready %d got %c%c", ready, xs[0], xs[1]);
    errno = 0;
    check(setpgid(leader, getpgrp() + 100000) == -1 && errno == EPERM, "setpgid into a group that does not exist is EPERM", "errno %d", errno);
    kill(-leader, SIGKILL);
    pid_t w = waitpid(-leader, &st, 0);
    check(w == leader && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "waitpid(-pgid) reaps the group's leader", "w %d status %#x", w, st);
    /* CPU affinity: the calling CPU is in the mask (what nproc counts). */
    cpu_set_t cpus;
    CPU_ZERO(&cpus);
    r = sched_getaffinity(0, sizeof cpus, &cpus);
    check(r == 0 && CPU_COUNT(&cpus) >= 1 && sched_setaffinity(0, sizeof cpus, &cpus) == 0, "sched_getaffinity gives a mask that sched_setaffinity takes back", "r %d count %d errno %d", r,
          CPU_COUNT(&cpus), errno);

    /* vfork: the parent goes on only once the child has exited (or
     * exec'd): what the child wrote is already in the pipe. */
    int vp[2];
    if (pipe2(vp, O_NONBLOCK))
        return 1;
    pid_t vc = vfork();
    if (vc == 0) {
        if (write(vp[1], "v", 1) != 1)
            _exit(9);
        _exit(7);
    }
    char v = 0;
    ssize_t vn = read(vp[0], &v, 1);
    waitpid(vc, &st, 0);
    check(vn == 1 && v == 'v' && WIFEXITED(st) && WEXITSTATUS(st) == 7, "vfork: the parent runs on after the child has exited", "read %zd status %#x", vn, st);
    test_wall_clock();
    return tap_done();
}
