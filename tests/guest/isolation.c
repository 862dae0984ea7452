/*
 * isolation: the bugs that let one process see or corrupt another's memory
 * or lose data, each as the exact sequence that showed it.
 *
 *  1. The shared zero page written through a shared anonymous mapping
 *     (MAP_SHARED_VALIDATE spelling): read fault, then write; a fresh
 *     private page in another process must still read zero. Also through
 *     mprotect, mremap and fork of zero-page PTEs.
 *  2. int-typed arguments with garbage in the upper 32 bits of the
 *     register (glibc loads AT_FDCWD with a 32-bit mov): every implemented
 *     system call must give what the clean call gives.
 *  3. madvise over holes, unmapped ranges and bad advice (Linux's errors).
 *  4. mremap/mprotect/munmap of a huge sparse mapping: only the populated
 *     pages matter.
 *  5. The system-call trampoline (where kvm_pvm's `syscall` lands, the
 *     last page of the user half) entered by a plain jump with forged
 *     RCX/R11: a kernel or non-canonical return address, or IOPL 3 in the
 *     flags, must not survive; the thread dies of SIGSEGV (natively the
 *     jump itself faults).
 *
 * Runs natively too: every expectation is Linux's.
 */
#include "tap.h"
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/ioctl.h>
#include <time.h>

#ifndef MAP_SHARED_VALIDATE
#define MAP_SHARED_VALIDATE 0x03
#endif
#ifndef MREMAP_MAYMOVE
#define MREMAP_MAYMOVE 1
#define MREMAP_FIXED 2
#endif

/* Garbage for the upper half of a 32-bit argument's register. */
#define HI(x) ((long)(((unsigned long)0xdeadbeefUL << 32) | (unsigned int)(x)))

static int all_zero(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return 0;
    return 1;
}

/* A fresh private anonymous page, read: all zero. */
static int fresh_private_page_is_zero(void)
{
    char *p = sys_mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return 0;
    int ok = all_zero(p, PAGE);
    sys_munmap(p, PAGE);
    return ok;
}

/* Runs fresh_private_page_is_zero() in a child: exit 0 when zero. */
static int child_sees_zero(void)
{
    pid_t pid = fork();
    if (pid == 0)
        _exit(fresh_private_page_is_zero() ? 0 : 1);
    int st = -1;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

static void zero_page(void)
{
    const int rw = PROT_READ | PROT_WRITE;
    /* The spelling that reached the zero page: Linux refuses it for
     * anonymous memory (do_mmap knows only MAP_SHARED and MAP_PRIVATE). */
    check_err((long)sys_mmap(NULL, PAGE, rw, MAP_SHARED_VALIDATE | MAP_ANONYMOUS, -1, 0), EINVAL,
              "mmap(MAP_SHARED_VALIDATE | MAP_ANONYMOUS) -> EINVAL");
    check(fresh_private_page_is_zero() && child_sees_zero(), "fresh private pages read zero", "before");
    volatile char *s = sys_mmap(NULL, PAGE, rw, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (check(s != MAP_FAILED, "shared anonymous mmap", "%s", strerror(errno))) {
        char c = s[100]; /* read fault first */
        s[100] = 0x41;   /* then the write fault */
        check(c == 0 && s[100] == 0x41, "read then write a shared anonymous page", "read %d", c);
        check(child_sees_zero(), "another process's fresh private page still reads zero", "after");
        check(fresh_private_page_is_zero(), "this process's fresh private page still reads zero", "after");
        /* The page is shared with a child, and stays so. */
        pid_t pid = fork();
        if (pid == 0) {
            s[200] = 0x42;
            _exit(0);
        }
        waitpid(pid, NULL, 0);
        check(s[200] == 0x42, "a child's write to the shared page is seen", "%d", s[200]);
        /* Read-only then writable again: still the same shared page. */
        check_ok(sys_mprotect((void *)s, PAGE, PROT_READ), "mprotect the shared page read-only");
        check_ok(sys_mprotect((void *)s, PAGE, rw), "... and read-write again");
        s[300] = 0x43;
        pid = fork();
        if (pid == 0)
            _exit(s[300] == 0x43 && s[100] == 0x41 ? 0 : 1);
        int st = -1;
        waitpid(pid, &st, 0);
        check(WIFEXITED(st) && WEXITSTATUS(st) == 0, "a child sees the writes", "status %#x", st);
        sys_munmap((void *)s, PAGE);
    }

    /* Private anonymous zero-page PTEs through mprotect, mremap, fork. */
    char *p = sys_mmap(NULL, 4 * PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    volatile char sum = 0;
    for (int i = 0; i < 4; i++)
        sum += p[i * PAGE]; /* zero-page PTEs */
    check_ok(sys_mprotect(p, 4 * PAGE, rw), "mprotect read-only zero pages to read-write");
    p[0] = 1;
    char *q = (char *)syscall(SYS_mremap, p, 4 * PAGE, 8 * PAGE, MREMAP_MAYMOVE);
    check(q != MAP_FAILED, "mremap of zero-page PTEs", "%s", strerror(errno));
    if (q != MAP_FAILED) {
        q[PAGE] = 2;
        pid_t pid = fork();
        if (pid == 0) {
            q[2 * PAGE] = 3;
            _exit(fresh_private_page_is_zero() && q[3 * PAGE] == 0 ? 0 : 1);
        }
        int st = -1;
        waitpid(pid, &st, 0);
        check(WIFEXITED(st) && WEXITSTATUS(st) == 0, "a child writes zero-page PTEs it inherited", "status %#x", st);
        check(q[0] == 1 && q[PAGE] == 2 && q[2 * PAGE] == 0 && q[3 * PAGE] == 0, "the parent keeps its own view",
              "%d %d %d %d", q[0], q[PAGE], q[2 * PAGE], q[3 * PAGE]);
        sys_munmap(q, 8 * PAGE);
    }
    check(fresh_private_page_is_zero() && child_sees_zero(), "fresh pages read zero after all of it", "after");
}

/* Each call twice: clean, and with garbage in the upper half of every
 * int-typed argument. The results must be the same. */
static void int_arguments(void)
{
    /* Relative paths: AT_FDCWD is what the upper half broke. */
    const char *dir = "isolation-dir";
    syscall(SYS_mkdirat, AT_FDCWD, dir, 0755);
    check_ok(syscall(SYS_mkdirat, HI(AT_FDCWD), "isolation-dir/sub", HI(0755)),
             "mkdirat(AT_FDCWD, mode with garbage above)");
    long fd = syscall(SYS_openat, HI(AT_FDCWD), "isolation-dir/f", HI(O_RDWR | O_CREAT | O_TRUNC), HI(0644));
    check_ok(fd, "openat(AT_FDCWD as glibc passes it, flags and mode with garbage above)");
    if (fd < 0)
        return;
    check(syscall(SYS_write, HI(fd), "hello", 5) == 5, "write(fd with garbage above)", "%s", strerror(errno));
    check(syscall(SYS_lseek, HI(fd), 0, HI(SEEK_SET)) == 0, "lseek(fd, 0, whence with garbage above)", "%s",
          strerror(errno));
    char buf[8] = {0};
    check(syscall(SYS_read, HI(fd), buf, 5) == 5 && memcmp(buf, "hello", 5) == 0, "read(fd with garbage above)", "%s",
          strerror(errno));
    check(syscall(SYS_pwrite64, HI(fd), "HE", 2, 0) == 2, "pwrite64(fd with garbage above)", "%s", strerror(errno));
    check(syscall(SYS_pread64, HI(fd), buf, 5, 0) == 5 && memcmp(buf, "HEllo", 5) == 0, "pread64(fd with garbage above)",
          "%s", strerror(errno));
    struct stat a, b;
    check(syscall(SYS_fstat, fd, &a) == 0 && syscall(SYS_fstat, HI(fd), &b) == 0 && a.st_ino == b.st_ino,
          "fstat(fd with garbage above)", "%s", strerror(errno));
    check(syscall(SYS_newfstatat, HI(AT_FDCWD), "isolation-dir/f", &b, HI(0)) == 0 && a.st_ino == b.st_ino,
          "newfstatat(AT_FDCWD and flags with garbage above)", "%s", strerror(errno));
    check(syscall(SYS_newfstatat, HI(fd), "", &b, HI(AT_EMPTY_PATH)) == 0 && a.st_ino == b.st_ino,
          "newfstatat(fd, \"\", AT_EMPTY_PATH with garbage above)", "%s", strerror(errno));
    check_ok(syscall(SYS_ftruncate, HI(fd), 3), "ftruncate(fd with garbage above)");
    check_ok(syscall(SYS_fsync, HI(fd)), "fsync(fd with garbage above)");
    long d = syscall(SYS_dup, HI(fd));
    check(d > fd, "dup(fd with garbage above)", "%ld: %s", d, strerror(errno));
    check(syscall(SYS_dup2, HI(fd), HI(d)) == d, "dup2(both with garbage above)", "%s", strerror(errno));
    check(syscall(SYS_dup3, HI(fd), HI(d), HI(O_CLOEXEC)) == d, "dup3(all with garbage above)", "%s", strerror(errno));
    check(syscall(SYS_fcntl, HI(d), HI(F_GETFD)) == FD_CLOEXEC, "fcntl(fd and cmd with garbage above)", "%s",
          strerror(errno));
    long d2 = syscall(SYS_fcntl, HI(fd), HI(F_DUPFD), HI(20));
    check(d2 >= 20, "fcntl(F_DUPFD, int argument with garbage above)", "%ld: %s", d2, strerror(errno));
    if (d2 >= 0)
        close(d2);
    check_ok(syscall(SYS_close, HI(d)), "close(fd with garbage above)");
    check_err(syscall(SYS_close, d), EBADF, "... which closed that descriptor");
    char *m = (char *)syscall(SYS_mmap, NULL, PAGE, PROT_READ, MAP_SHARED, HI(fd), 0);
    check(m != MAP_FAILED && memcmp(m, "HEl", 3) == 0, "mmap(fd with garbage above)", "%s", strerror(errno));
    if (m != MAP_FAILED)
        sys_munmap(m, PAGE);
    check_ok(syscall(SYS_close, HI(fd)), "close the file");
    check_ok(syscall(SYS_unlinkat, HI(AT_FDCWD), "isolation-dir/f", HI(0)), "unlinkat(AT_FDCWD, flags 0, garbage above)");
    check_ok(syscall(SYS_unlinkat, HI(AT_FDCWD), "isolation-dir/sub", HI(AT_REMOVEDIR)),
             "unlinkat(AT_REMOVEDIR with garbage above)");
    syscall(SYS_rmdir, dir);

    long o = syscall(SYS_open, ".", HI(O_RDONLY | O_DIRECTORY), HI(0));
    check(o >= 0, "open(flags and mode with garbage above)", "%s", strerror(errno));
    if (o >= 0)
        close(o);
    check_ok(syscall(SYS_mkdir, "isolation-dir2", HI(0700)), "mkdir(mode with garbage above)");
    struct stat ds;
    check(stat("isolation-dir2", &ds) == 0 && (ds.st_mode & 0777) == 0700, "... with the mode's low bits", "%o",
          ds.st_mode);
    syscall(SYS_rmdir, "isolation-dir2");

    /* Calls whose clean result depends on the host (a tty or not): the
     * same result either way. */
    unsigned short ws[4];
    long clean = syscall(SYS_ioctl, 1, TIOCGWINSZ, ws);
    int clean_errno = clean < 0 ? errno : 0;
    long dirty = syscall(SYS_ioctl, HI(1), HI(TIOCGWINSZ), ws);
    check(clean == dirty && (dirty >= 0 || errno == clean_errno), "ioctl(fd and cmd with garbage above)",
          "clean %ld, with garbage %ld (%s)", clean, dirty, strerror(errno));
    unsigned long fs1 = 1, fs2 = 2;
    check(syscall(SYS_arch_prctl, 0x1003, &fs1) == 0 && syscall(SYS_arch_prctl, HI(0x1003), &fs2) == 0 && fs1 == fs2,
          "arch_prctl(ARCH_GET_FS with garbage above)", "%#lx %#lx", fs1, fs2);
    unsigned long act[4];
    check_ok(syscall(SYS_rt_sigaction, HI(SIGUSR1), NULL, act, 8), "rt_sigaction(signal with garbage above)");

    int pfd[2];
    check(syscall(SYS_pipe2, pfd, HI(O_CLOEXEC)) == 0 && syscall(SYS_fcntl, pfd[0], F_GETFD) == FD_CLOEXEC,
          "pipe2(flags with garbage above)", "%s", strerror(errno));
    close(pfd[0]);
    close(pfd[1]);

    /* Processes: wait4(-1) and kill with 32-bit pid and signal. */
    pid_t pid = fork();
    if (pid == 0) {
        syscall(SYS_exit_group, HI(7));
        _exit(99);
    }
    int st = -1;
    long w = syscall(SYS_wait4, (long)(unsigned int)-1, &st, HI(0), NULL);
    check(w == pid && WIFEXITED(st) && WEXITSTATUS(st) == 7, "wait4(-1 zero-extended) reaps; exit_group's code too",
          "wait4 %ld (child %d), status %#x, %s", w, pid, st, strerror(errno));
    int sync[2];
    pipe(sync);
    pid = fork();
    if (pid == 0) {
        close(sync[1]);
        char c;
        read(sync[0], &c, 1); /* until the parent is done */
        _exit(0);
    }
    close(sync[0]);
    check_ok(syscall(SYS_kill, HI(pid), HI(0)), "kill(child, 0) with garbage above both");
    check_ok(syscall(SYS_kill, HI(pid), HI(SIGKILL)), "kill(child, SIGKILL) with garbage above both");
    st = -1;
    w = syscall(SYS_wait4, HI(pid), &st, HI(0), NULL);
    check(w == pid && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "the child died of SIGKILL",
          "wait4 %ld, status %#x, %s", w, st, strerror(errno));
    close(sync[1]);

    struct timespec ts;
    check_ok(syscall(SYS_clock_gettime, HI(CLOCK_MONOTONIC), &ts), "clock_gettime(clock with garbage above)");
    unsigned long set = 0, old;
    check_ok(syscall(SYS_rt_sigprocmask, HI(SIG_BLOCK), &set, &old, 8), "rt_sigprocmask(how with garbage above)");
    char rnd[8];
    check(syscall(SYS_getrandom, rnd, 8, HI(0)) == 8, "getrandom(flags with garbage above)", "%s", strerror(errno));
    unsigned long lim[2];
    check_ok(syscall(SYS_prlimit64, HI(0), HI(RLIMIT_NOFILE), NULL, lim), "prlimit64(pid and resource with garbage above)");
    char *p = anon_pages(1);
    check_ok(syscall(SYS_madvise, p, PAGE, HI(MADV_DONTNEED)), "madvise(advice with garbage above)");
    sys_munmap(p, PAGE);
    pid = fork();
    if (pid == 0)
        syscall(SYS_exit, HI(3));
    st = -1;
    waitpid(pid, &st, 0);
    check(WIFEXITED(st) && WEXITSTATUS(st) == 3, "exit(code with garbage above)", "status %#x", st);
    pid = syscall(SYS_clone, HI(SIGCHLD), 0, NULL, NULL, 0);
    if (pid == 0)
        _exit(5);
    st = -1;
    w = waitpid(pid, &st, 0);
    check(pid > 0 && w == pid && WIFEXITED(st) && WEXITSTATUS(st) == 5, "clone(SIGCHLD with garbage above) forks",
          "clone %d, wait %ld, status %#x", pid, w, st);
}

static void madvise_errors(void)
{
    char *p = anon_pages(4);
    memset(p, 7, 4 * PAGE);
    sys_munmap(p + PAGE, PAGE); /* a hole */
    check_err(sys_madvise(p, 4 * PAGE, MADV_DONTNEED), ENOMEM, "madvise(DONTNEED) over a hole -> ENOMEM");
    check(p[0] == 0 && p[2 * PAGE] == 0 && p[3 * PAGE] == 0, "... after dropping the mapped parts", "%d %d %d", p[0],
          p[2 * PAGE], p[3 * PAGE]);
    check_err(sys_madvise(p + PAGE, PAGE, MADV_NORMAL), ENOMEM, "madvise of an unmapped range -> ENOMEM");
    check_err(sys_madvise(p, PAGE, 12345), EINVAL, "madvise with unknown advice -> EINVAL");
    check_err(sys_madvise(p + 1, PAGE, MADV_NORMAL), EINVAL, "madvise at an unaligned address -> EINVAL");
    check_ok(sys_madvise(p, 0, MADV_DONTNEED), "madvise of length 0 succeeds");
    check_err(sys_madvise(p, (size_t)-1, MADV_NORMAL), EINVAL, "madvise of a length that wraps -> EINVAL");
    check_ok(sys_madvise(p + 2 * PAGE, 2 * PAGE, MADV_WILLNEED), "madvise(WILLNEED) of a mapped range");
    sys_munmap(p, 4 * PAGE);
}

static void sparse_mremap(void)
{
    /* 64 GiB of address space, a few pages touched at its ends and in the middle. */
    const size_t len = 64UL << 30;
    char *p = sys_mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (!check(p != MAP_FAILED, "a 64 GiB MAP_NORESERVE mapping", "%s", strerror(errno)))
        return;
    size_t offs[4] = {0, (2UL << 20) + 5 * PAGE, len / 2, len - PAGE};
    for (int i = 0; i < 4; i++)
        p[offs[i]] = (char)(i + 1);
    char *q = (char *)syscall(SYS_mremap, p, len, len + (2UL << 20), MREMAP_MAYMOVE);
    if (q == p) {
        /* Grown in place: move it explicitly, over a reserved range. */
        char *dest = sys_mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        q = dest == MAP_FAILED ? dest
                               : (char *)syscall(SYS_mremap, p, len + (2UL << 20), len, MREMAP_MAYMOVE | MREMAP_FIXED, dest);
    }
    int ok = q != MAP_FAILED;
    for (int i = 0; ok && i < 4; i++)
        ok = q[offs[i]] == (char)(i + 1);
    check(ok && q[PAGE] == 0, "mremap moves a 64 GiB sparse mapping with its pages", "%p -> %p: %s", (void *)p,
          (void *)q, strerror(errno));
    if (q == MAP_FAILED)
        return;
    check_ok(sys_mprotect(q, len, PROT_READ), "mprotect of all of it");
    check(q[len / 2] == 3, "its pages stay", "%d", q[len / 2]);
    check_ok(sys_munmap(q, len), "munmap of all of it");
}

/* A long write() must not keep every other process off the CPU: a child
 * counting in shared memory gets to run while the parent writes 8 MiB. */
static void long_calls_let_others_run(void)
{
    volatile unsigned long *shared = sys_mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    const size_t len = 8UL << 20;
    char *buf = sys_mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (!check(shared != MAP_FAILED && buf != MAP_FAILED, "buffers for the long write", "%s", strerror(errno)))
        return;
    memset(buf, 'w', len);
    int fd = open("isolation-long", O_RDWR | O_CREAT | O_TRUNC, 0600);
    shared[0] = 0; /* go */
    shared[1] = 0; /* count */
    shared[2] = 0; /* stop */
    pid_t pid = fork();
    if (pid == 0) {
        while (!shared[0])
            ;
        while (!shared[2])
            shared[1]++;
        _exit(0);
    }
    /* Let the child reach its first loop, then start. */
    struct timespec ts = {0, 50 * 1000 * 1000};
    nanosleep(&ts, NULL);
    shared[0] = 1;
    /* Natively the write takes a millisecond or two and the child may be
     * waiting for a core: try a few times. In the guest one write takes
     * over a second of emulated kernel time. */
    unsigned long during = 0;
    long w = 0;
    for (int tries = 0; tries < 50 && during == 0; tries++) {
        lseek(fd, 0, SEEK_SET);
        unsigned long before = shared[1];
        w = write(fd, buf, len);
        during = shared[1] - before;
        if (w != (long)len)
            break;
    }
    shared[2] = 1;
    waitpid(pid, NULL, 0);
    check(w == (long)len, "an 8 MiB write", "%ld: %s", w, strerror(errno));
    check(during > 0, "another process ran during it", "the child counted %lu", during);
    close(fd);
    unlink("isolation-long");
    sys_munmap(buf, len);
    sys_munmap((void *)shared, PAGE);
}

/* 5. Jumps to the trampoline with forged RCX (return address) and R11
 * (flags). `cli_probe` exits 7 if `cli` worked at ring 3 (IOPL 3 leaked
 * into the flags), and faults otherwise. */
__asm__(".text\n.globl cli_probe\ncli_probe:\n cli\n mov $60, %eax\n mov $7, %edi\n syscall\n ud2\n");
extern void cli_probe(void);

#define TRAMPOLINE 0x7ffffffff000UL

static void __attribute__((noreturn)) jump_to_trampoline(unsigned long rcx, unsigned long r11)
{
    __asm__ volatile("mov %0, %%rcx\n mov %1, %%r11\n mov $39, %%eax\n jmp *%2" ::"r"(rcx), "r"(r11), "r"(TRAMPOLINE)
                     : "rcx", "r11", "rax", "memory");
    __builtin_unreachable();
}

static int dies_of(int sig, unsigned long rcx, unsigned long r11)
{
    pid_t c = fork();
    if (c == 0)
        jump_to_trampoline(rcx, r11);
    int st;
    waitpid(c, &st, 0);
    return WIFSIGNALED(st) && WTERMSIG(st) == sig;
}

static void forged_trampoline_entry(void)
{
    check(dies_of(SIGSEGV, 0xffffffff81000000UL, 0x202), "a jump to the syscall trampoline returning to a kernel address dies of SIGSEGV",
          "it did not");
    check(dies_of(SIGSEGV, 0x0000800000000000UL, 0x202), "and one returning to a non-canonical address", "it did not");
    check(dies_of(SIGSEGV, (unsigned long)cli_probe, 0x3202), "IOPL 3 in forged flags does not let cli run at ring 3",
          "cli ran, or something else happened");
}

int main(void)
{
    tap_init();
    zero_page();
    int_arguments();
    madvise_errors();
    sparse_mremap();
    long_calls_let_others_run();
    forged_trampoline_entry();
    return tap_done();
}
