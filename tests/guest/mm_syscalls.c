/*
 * mm_syscalls: the memory system calls beyond mmap/munmap/mprotect/mremap
 * and their error returns, as Linux gives them: mlock, mlock2, munlock,
 * mlockall, munlockall (VmLck, RLIMIT_MEMLOCK without CAP_IPC_LOCK),
 * mincore, msync, memfd_create with seals, madvise (DONTNEED, FREE,
 * REMOVE, POPULATE_READ/WRITE, DONTFORK, WIPEONFORK, the flag-only
 * advice), mseal, process_madvise, process_mrelease, prctl's memory and
 * process options, and the PROCMAP_QUERY ioctl on /proc/PID/maps.
 * Raw syscalls throughout: musl has wrappers for few of these.
 */
#include "tap.h"
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/uio.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#define MCL_CURRENT_ 1
#define MCL_FUTURE_ 2
#define MCL_ONFAULT_ 4
#define MFD_CLOEXEC_ 1U
#define MFD_ALLOW_SEALING_ 2U
#define F_ADD_SEALS_ 1033
#define F_GET_SEALS_ 1034
#define F_SEAL_SEAL_ 1
#define F_SEAL_SHRINK_ 2
#define F_SEAL_GROW_ 4
#define F_SEAL_WRITE_ 8
#define MADV_FREE_ 8
#define MADV_REMOVE_ 9
#define MADV_DONTFORK_ 10
#define MADV_DOFORK_ 11
#define MADV_HUGEPAGE_ 14
#define MADV_NOHUGEPAGE_ 15
#define MADV_DONTDUMP_ 16
#define MADV_WIPEONFORK_ 18
#define MADV_KEEPONFORK_ 19
#define MADV_COLD_ 20
#define MADV_PAGEOUT_ 21
#define MADV_POPULATE_READ_ 22
#define MADV_POPULATE_WRITE_ 23
#define MADV_DONTNEED_LOCKED_ 24
#define PR_SET_PDEATHSIG_ 1
#define PR_GET_PDEATHSIG_ 2
#define PR_GET_DUMPABLE_ 3
#define PR_SET_DUMPABLE_ 4
#define PR_SET_THP_DISABLE_ 41
#define PR_GET_THP_DISABLE_ 42
#define PR_SET_MDWE_ 65
#define PR_GET_MDWE_ 66
#define PR_MDWE_REFUSE_EXEC_GAIN 1
#define PR_SET_VMA_ 0x53564d41
#define PR_SET_VMA_ANON_NAME_ 0
#define SYS_mseal_ 462
#define SYS_process_madvise_ 440
#define SYS_process_mrelease_ 448
#define SYS_pidfd_open_ 434
#define SYS_memfd_create_ 319
#define SYS_mlock2_ 325

struct procmap_query {
    uint64_t size, query_flags, query_addr;
    uint64_t vma_start, vma_end, vma_flags, vma_page_size, vma_offset, inode;
    uint32_t dev_major, dev_minor, vma_name_size, build_id_size;
    uint64_t vma_name_addr, build_id_addr;
};
#define PROCMAP_QUERY _IOWR('f', 17, struct procmap_query)
#define PROCMAP_QUERY_VMA_READABLE 1
#define PROCMAP_QUERY_VMA_WRITABLE 2
#define PROCMAP_QUERY_COVERING_OR_NEXT_VMA 0x10
#define PROCMAP_QUERY_FILE_BACKED_VMA 0x20

struct cap_header {
    uint32_t version;
    int pid;
};
struct cap_data {
    uint32_t effective, permitted, inheritable;
};
#define CAP_V3 0x20080522
#define CAP_IPC_LOCK 14

/* Bit 0 of each of n mincore bytes at p, as a string of 0s and 1s. */
static const char *resident(void *p, size_t n)
{
    static char s[65], v[64];
    if (syscall(SYS_mincore, p, n * PAGE, v) != 0)
        return "error";
    for (size_t i = 0; i < n; i++)
        s[i] = '0' + (v[i] & 1);
    s[n] = 0;
    return s;
}

static long sys_mlock2(void *p, size_t len, int flags) { return syscall(SYS_mlock2_, p, len, flags); }

/* Runs f in a child process; returns its exit status (0 = every check passed). */
static int in_child(int (*f)(void *), void *arg)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0)
        _exit(f(arg));
    int st;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 100 + WTERMSIG(st);
}

static void test_mlock(void)
{
    char *p = anon_pages(4);
    long before = status_kb("VmLck:");
    check(before == 0, "VmLck starts at 0", "VmLck %ld kB", before);
    check_ok(syscall(SYS_mlock, p + 100, 2 * PAGE), "mlock of an unaligned range");
    check(status_kb("VmLck:") == 12, "... locks every page it touches (12 kB)", "VmLck %ld kB", status_kb("VmLck:"));
    check(strcmp(resident(p, 4), "1110") == 0, "... and faults them in", "mincore %s", resident(p, 4));
    check_ok(syscall(SYS_munlock, p, 4 * PAGE), "munlock");
    check(status_kb("VmLck:") == 0, "... VmLck back to 0", "VmLck %ld kB", status_kb("VmLck:"));
    char *q = anon_pages(3);
    check_ok(sys_mlock2(q, 3 * PAGE, MLOCK_ONFAULT), "mlock2(MLOCK_ONFAULT)");
    check(strcmp(resident(q, 3), "000") == 0, "... faults nothing in", "mincore %s", resident(q, 3));
    check(status_kb("VmLck:") == 12, "... but counts the pages locked", "VmLck %ld kB", status_kb("VmLck:"));
    check_err(sys_mlock2(q, PAGE, 2), EINVAL, "mlock2 with an unknown flag -> EINVAL");
    check_err(sys_madvise(q, PAGE, MADV_DONTNEED), EINVAL, "MADV_DONTNEED on locked memory -> EINVAL");
    check_ok(sys_madvise(q, PAGE, MADV_DONTNEED_LOCKED_), "MADV_DONTNEED_LOCKED on it");
    syscall(SYS_munlock, q, 3 * PAGE);
    sys_munmap(q + PAGE, PAGE);
    check_err(syscall(SYS_mlock, q, 3 * PAGE), ENOMEM, "mlock across a hole -> ENOMEM");
    check(status_kb("VmLck:") == 4, "... after locking the part before it", "VmLck %ld kB", status_kb("VmLck:"));
    check_err(syscall(SYS_mlock, q + PAGE, PAGE), ENOMEM, "mlock of an unmapped page -> ENOMEM");
    check_err(syscall(SYS_msync, q, PAGE, MS_INVALIDATE), EBUSY, "msync(MS_INVALIDATE) of locked memory -> EBUSY");
    syscall(SYS_munlock, q, PAGE);

    check_err(syscall(SYS_mlockall, 0), EINVAL, "mlockall(0) -> EINVAL");
    check_err(syscall(SYS_mlockall, MCL_ONFAULT_), EINVAL, "mlockall(MCL_ONFAULT) alone -> EINVAL");
    check_err(syscall(SYS_mlockall, 8), EINVAL, "mlockall with an unknown flag -> EINVAL");
    check_ok(syscall(SYS_mlockall, MCL_FUTURE_), "mlockall(MCL_FUTURE)");
    check(status_kb("VmLck:") == 0, "... locks nothing that exists", "VmLck %ld kB", status_kb("VmLck:"));
    char *f = anon_pages(2);
    check(status_kb("VmLck:") == 8 && strcmp(resident(f, 2), "11") == 0, "... but a new mapping is locked and populated",
          "VmLck %ld kB, mincore %s", status_kb("VmLck:"), resident(f, 2));
    check_ok(syscall(SYS_munlockall), "munlockall");
    char *g = anon_pages(1);
    check(status_kb("VmLck:") == 0 && strcmp(resident(g, 1), "0") == 0, "... and later mappings are not locked",
          "VmLck %ld kB, mincore %s", status_kb("VmLck:"), resident(g, 1));
    check_ok(syscall(SYS_mlockall, MCL_CURRENT_), "mlockall(MCL_CURRENT)");
    long all = status_kb("VmLck:");
    check(all >= 40 && strcmp(resident(g, 1), "1") == 0, "... locks and populates what exists",
          "VmLck %ld kB, mincore %s", all, resident(g, 1));
    syscall(SYS_munlockall);
    sys_munmap(p, 4 * PAGE);
    sys_munmap(f, 2 * PAGE);
    sys_munmap(g, PAGE);
    sys_munmap(q, 3 * PAGE);
}

/* Without CAP_IPC_LOCK, RLIMIT_MEMLOCK applies. */
static int memlock_limited(void *unused)
{
    (void)unused;
    struct cap_header h = {CAP_V3, 0};
    struct cap_data d[2];
    if (syscall(SYS_capget, &h, d) != 0)
        return 1;
    d[0].effective &= ~(1U << CAP_IPC_LOCK);
    if (syscall(SYS_capset, &h, d) != 0)
        return 2;
    struct rlimit r = {2 * PAGE, 2 * PAGE};
    if (setrlimit(RLIMIT_MEMLOCK, &r) != 0)
        return 3;
    char *p = anon_pages(3);
    if (syscall(SYS_mlock, p, 2 * PAGE) != 0)
        return 4;
    if (syscall(SYS_mlock, p, 3 * PAGE) != -1 || errno != ENOMEM)
        return 5;
    /* Pages locked already count once. */
    if (syscall(SYS_mlock, p, 2 * PAGE) != 0)
        return 6;
    if (sys_mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_LOCKED, -1, 0) != MAP_FAILED || errno != EAGAIN)
        return 7;
    if (syscall(SYS_mlockall, MCL_CURRENT_) != -1 || errno != ENOMEM)
        return 8;
    r.rlim_cur = r.rlim_max = 0;
    setrlimit(RLIMIT_MEMLOCK, &r);
    if (syscall(SYS_mlock, p + 2 * PAGE, PAGE) != -1 || errno != EPERM)
        return 9;
    return 0;
}

/* RLIMIT_AS and RLIMIT_DATA bound mmap, brk and mremap. */
static int address_space_limited(void *unused)
{
    (void)unused;
    long vm = status_kb("VmSize:");
    struct rlimit r = {(vm + 1024) * 1024, RLIM_INFINITY};
    if (setrlimit(RLIMIT_AS, &r) != 0)
        return 1;
    if (sys_mmap(NULL, 2 << 20, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) != MAP_FAILED || errno != ENOMEM)
        return 2;
    char *p = sys_mmap(NULL, 512 << 10, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return 3;
    if ((void *)syscall(SYS_mremap, p, 512 << 10, 2 << 20, 1) != MAP_FAILED || errno != ENOMEM)
        return 4;
    uintptr_t brk0 = sys_brk(0);
    if (sys_brk(brk0 + (4 << 20)) != brk0)
        return 5; /* the break stays where it was */
    r.rlim_cur = RLIM_INFINITY;
    setrlimit(RLIMIT_AS, &r);
    long data = status_kb("VmData:");
    struct rlimit d = {(data + 256) * 1024, RLIM_INFINITY};
    if (setrlimit(RLIMIT_DATA, &d) != 0)
        return 6;
    if (sys_mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) != MAP_FAILED || errno != ENOMEM)
        return 7; /* private writable memory is data */
    if (sys_mmap(NULL, 1 << 20, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) == MAP_FAILED)
        return 8; /* read-only is not */
    if (sys_mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0) == MAP_FAILED)
        return 9; /* nor is shared */
    return 0;
}

static void test_mincore_msync(void)
{
    char *p = anon_pages(3);
    p[PAGE] = 1;
    check(strcmp(resident(p, 3), "010") == 0, "mincore: only the touched page is resident", "%s", resident(p, 3));
    char v[4];
    check_err(syscall(SYS_mincore, p + 1, PAGE, v), EINVAL, "mincore at an unaligned address -> EINVAL");
    check_err(syscall(SYS_mincore, p, PAGE, (void *)1), EFAULT, "mincore into a bad vector -> EFAULT");
    check_ok(syscall(SYS_mincore, p, 0, v), "mincore of length 0");
    sys_madvise(p, 3 * PAGE, MADV_DONTNEED);
    check(strcmp(resident(p, 3), "000") == 0, "... and none after MADV_DONTNEED", "%s", resident(p, 3));
    sys_munmap(p + 2 * PAGE, PAGE);
    check_err(syscall(SYS_mincore, p, 3 * PAGE, v), ENOMEM, "mincore over an unmapped page -> ENOMEM");

    /* /tmp natively; the guest's root has no /tmp. */
    char path[64];
    snprintf(path, sizeof path, "%s/mm_syscalls.XXXXXX", access("/tmp", W_OK) == 0 ? "/tmp" : "");
    int fd = mkstemp(path);
    char buf[2 * 4096];
    memset(buf, 'f', sizeof buf);
    check(write(fd, buf, sizeof buf) == (ssize_t)sizeof buf, "write a two-page file", "%s", strerror(errno));
    char *m = sys_mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    check(strcmp(resident(m, 2), "11") == 0, "mincore: a file's cached pages are resident before any touch",
          "%s", resident(m, 2));
    m[5] = 'X';
    check_ok(syscall(SYS_msync, m, 2 * PAGE, MS_SYNC), "msync(MS_SYNC) of a shared file mapping");
    check(pread(fd, buf, 8, 0) == 8 && buf[5] == 'X', "... the file has the write", "byte 5 is %c", buf[5]);
    check_ok(syscall(SYS_msync, m, PAGE, MS_ASYNC | MS_INVALIDATE), "msync(MS_ASYNC | MS_INVALIDATE)");
    check_ok(syscall(SYS_msync, m, 0, MS_SYNC), "msync of length 0");
    check_err(syscall(SYS_msync, m, PAGE, MS_SYNC | MS_ASYNC), EINVAL, "msync(MS_SYNC | MS_ASYNC) -> EINVAL");
    check_err(syscall(SYS_msync, m + 1, PAGE, MS_SYNC), EINVAL, "msync at an unaligned address -> EINVAL");
    check_err(syscall(SYS_msync, m, PAGE, 8), EINVAL, "msync with an unknown flag -> EINVAL");
    check_err(syscall(SYS_msync, p, 3 * PAGE, MS_SYNC), ENOMEM, "msync over an unmapped page -> ENOMEM");
    check_err(syscall(SYS_msync, p + 2 * PAGE, PAGE, MS_ASYNC), ENOMEM, "msync(MS_ASYNC) of an unmapped page -> ENOMEM");
    sys_munmap(m, 2 * PAGE);
    sys_munmap(p, 2 * PAGE);
    close(fd);
    unlink(path);
}

static void test_memfd(void)
{
    int fd = syscall(SYS_memfd_create_, "probe", MFD_CLOEXEC_);
    check_ok(fd, "memfd_create");
    char link[64] = "", target[128] = "";
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, target, sizeof target - 1);
    target[n > 0 ? n : 0] = 0;
    check(strcmp(target, "/memfd:probe (deleted)") == 0, "its /proc/self/fd link is /memfd:probe (deleted)", "%s", target);
    check(fcntl(fd, F_GETFD) == FD_CLOEXEC, "MFD_CLOEXEC sets close-on-exec", "F_GETFD %d", fcntl(fd, F_GETFD));
    check(fcntl(fd, F_GET_SEALS_) == F_SEAL_SEAL_, "without MFD_ALLOW_SEALING it is sealed against seals",
          "seals %d", fcntl(fd, F_GET_SEALS_));
    check_err(fcntl(fd, F_ADD_SEALS_, F_SEAL_WRITE_), EPERM, "... so F_ADD_SEALS -> EPERM");
    check(ftruncate(fd, 3 * PAGE) == 0, "ftruncate it to three pages", "%s", strerror(errno));
    char *m = sys_mmap(NULL, 3 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    m[PAGE] = 'm';
    char c = 0;
    check(pread(fd, &c, 1, PAGE) == 1 && c == 'm', "a shared mapping of it writes the file", "read %c", c);
    sys_munmap(m, 3 * PAGE);
    close(fd);

    check_err(syscall(SYS_memfd_create_, "x", 0x100U), EINVAL, "memfd_create with an unknown flag -> EINVAL");
    char longname[300];
    memset(longname, 'n', sizeof longname - 1);
    longname[sizeof longname - 1] = 0;
    check_err(syscall(SYS_memfd_create_, longname, 0), EINVAL, "memfd_create with a 299-byte name -> EINVAL");
    check_err(syscall(SYS_memfd_create_, (char *)1, 0), EFAULT, "memfd_create with a bad name pointer -> EFAULT");

    fd = syscall(SYS_memfd_create_, "sealed", MFD_ALLOW_SEALING_);
    check(fcntl(fd, F_GET_SEALS_) == 0, "MFD_ALLOW_SEALING: no seals yet", "seals %d", fcntl(fd, F_GET_SEALS_));
    check(write(fd, "0123456789", 10) == 10, "write 10 bytes", "%s", strerror(errno));
    m = sys_mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    check_err(fcntl(fd, F_ADD_SEALS_, F_SEAL_WRITE_), EBUSY, "F_SEAL_WRITE while a shared writable mapping exists -> EBUSY");
    sys_munmap(m, PAGE);
    check_ok(fcntl(fd, F_ADD_SEALS_, F_SEAL_WRITE_ | F_SEAL_SHRINK_), "F_SEAL_WRITE | F_SEAL_SHRINK once it is gone");
    check(fcntl(fd, F_GET_SEALS_) == (F_SEAL_WRITE_ | F_SEAL_SHRINK_), "F_GET_SEALS reports them", "%d",
          fcntl(fd, F_GET_SEALS_));
    check_err(write(fd, "x", 1), EPERM, "write to a write-sealed memfd -> EPERM");
    check_err(pwrite(fd, "x", 1, 0), EPERM, "pwrite -> EPERM");
    check_err(ftruncate(fd, 5), EPERM, "shrinking a shrink-sealed memfd -> EPERM");
    check_ok(ftruncate(fd, 20), "growing it is still allowed");
    check_err((long)sys_mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), EPERM,
              "a shared writable mapping of it -> EPERM");
    char *ro = sys_mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE, fd, 0);
    check(ro != MAP_FAILED && ro[3] == '3', "a private mapping still reads it", "%s", ro == MAP_FAILED ? strerror(errno) : "");
    check_ok(fcntl(fd, F_ADD_SEALS_, F_SEAL_GROW_ | F_SEAL_SEAL_), "F_SEAL_GROW | F_SEAL_SEAL");
    check_err(ftruncate(fd, 30), EPERM, "growing a grow-sealed memfd -> EPERM");
    check_err(fcntl(fd, F_ADD_SEALS_, F_SEAL_SHRINK_), EPERM, "F_ADD_SEALS after F_SEAL_SEAL -> EPERM");
    check_err(fcntl(fd, F_ADD_SEALS_, 0x100), EINVAL, "F_ADD_SEALS of an unknown seal -> EINVAL");
    close(fd);
    int plain = open("/proc/self/exe", O_RDONLY);
    check_err(fcntl(plain, F_GET_SEALS_), EINVAL, "F_GET_SEALS on a file that cannot be sealed -> EINVAL");
    close(plain);
}

struct fork_probe {
    char *dontfork, *wipe, *shared;
};

static int fork_child(void *arg)
{
    struct fork_probe *f = arg;
    char v;
    if (syscall(SYS_mincore, f->dontfork, PAGE, &v) != -1 || errno != ENOMEM)
        return 1; /* MADV_DONTFORK memory is not in the child */
    if (f->wipe[0] != 0 || f->wipe[PAGE] != 0)
        return 2; /* MADV_WIPEONFORK memory reads zero */
    if (f->shared[0] != 's')
        return 3;
    f->shared[0] = 'c';
    return 0;
}

static void test_madvise(void)
{
    char *p = anon_pages(4);
    memset(p, 7, 4 * PAGE);
    check_ok(sys_madvise(p, 2 * PAGE, MADV_FREE_), "MADV_FREE on private anonymous memory");
    check(p[2 * PAGE] == 7, "... leaves the rest alone", "%d", p[2 * PAGE]);
    check_ok(sys_madvise(p, 4 * PAGE, MADV_DONTNEED), "MADV_DONTNEED");
    check(p[0] == 0 && p[3 * PAGE] == 0, "... the pages read zero after", "%d %d", p[0], p[3 * PAGE]);
    check_err(sys_madvise(p, PAGE, MADV_REMOVE_), EINVAL, "MADV_REMOVE on private anonymous memory -> EINVAL");
    check_err(sys_madvise(p, PAGE, 999), EINVAL, "unknown advice -> EINVAL");
    check_err(sys_madvise(p + 1, PAGE, MADV_WILLNEED), EINVAL, "madvise at an unaligned address -> EINVAL");
    check_ok(sys_madvise(p, 0, MADV_DONTNEED), "madvise of length 0");
    check_ok(sys_madvise(p, 4 * PAGE, MADV_WILLNEED), "MADV_WILLNEED");
    check_ok(sys_madvise(p, PAGE, MADV_COLD_), "MADV_COLD");
    check_ok(sys_madvise(p, PAGE, MADV_PAGEOUT_), "MADV_PAGEOUT");
    check_ok(sys_madvise(p, 4 * PAGE, MADV_HUGEPAGE_), "MADV_HUGEPAGE");
    check_ok(sys_madvise(p, 4 * PAGE, MADV_NOHUGEPAGE_), "MADV_NOHUGEPAGE");
    check_ok(sys_madvise(p, 4 * PAGE, MADV_DONTDUMP_), "MADV_DONTDUMP");

    check_ok(sys_madvise(p, 2 * PAGE, MADV_POPULATE_READ_), "MADV_POPULATE_READ");
    /* Page 3 was read above: the zero page is mapped there. */
    check(strcmp(resident(p, 4), "1101") == 0, "... maps the pages in", "%s", resident(p, 4));
    check_ok(sys_madvise(p + 2 * PAGE, 2 * PAGE, MADV_POPULATE_WRITE_), "MADV_POPULATE_WRITE");
    check(strcmp(resident(p, 4), "1111") == 0, "... maps the rest in", "%s", resident(p, 4));
    long rss = status_kb("RssAnon:");
    check(rss >= 8, "... written pages are anonymous memory (RssAnon)", "RssAnon %ld kB", rss);
    sys_mprotect(p + 3 * PAGE, PAGE, PROT_READ);
    check_err(sys_madvise(p + 3 * PAGE, PAGE, MADV_POPULATE_WRITE_), EINVAL, "MADV_POPULATE_WRITE of read-only memory -> EINVAL");
    sys_mprotect(p + 3 * PAGE, PAGE, PROT_NONE);
    check_err(sys_madvise(p + 3 * PAGE, PAGE, MADV_POPULATE_READ_), EINVAL, "MADV_POPULATE_READ of PROT_NONE memory -> EINVAL");
    sys_munmap(p + 3 * PAGE, PAGE);
    check_err(sys_madvise(p, 4 * PAGE, MADV_POPULATE_READ_), ENOMEM, "MADV_POPULATE_READ over a hole -> ENOMEM");
    check_err(sys_madvise(p, 4 * PAGE, MADV_WILLNEED), ENOMEM, "MADV_WILLNEED over a hole -> ENOMEM");

    /* MADV_SEQUENTIAL changes the VMA: the middle page becomes its own. */
    check_ok(sys_madvise(p + PAGE, PAGE, MADV_SEQUENTIAL), "MADV_SEQUENTIAL on one page");
    char want[64];
    snprintf(want, sizeof want, "%lx-%lx ", (unsigned long)(p + PAGE), (unsigned long)(p + 2 * PAGE));
    read_file("/proc/self/maps");
    check(strstr(proc_buf, want) != NULL, "... which is a VMA of its own in /proc/self/maps", "no line %s", want);
    check_ok(sys_madvise(p, 3 * PAGE, MADV_NORMAL), "MADV_NORMAL joins it again");
    snprintf(want, sizeof want, "%lx-%lx ", (unsigned long)p, (unsigned long)(p + 3 * PAGE));
    read_file("/proc/self/maps");
    check(strstr(proc_buf, want) != NULL, "... one VMA again", "no line %s", want);

    /* MADV_REMOVE punches a hole into shared memory, for every process. */
    char *sh = sys_mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    memset(sh, 's', 2 * PAGE);
    check_ok(sys_madvise(sh, PAGE, MADV_REMOVE_), "MADV_REMOVE on shared anonymous memory");
    check(sh[0] == 0 && sh[PAGE] == 's', "... the page reads zero, its neighbour keeps its data", "%d %d", sh[0], sh[PAGE]);
    check_err(sys_madvise(sh, PAGE, MADV_FREE_), EINVAL, "MADV_FREE on shared memory -> EINVAL");
    check_err(sys_madvise(sh, PAGE, MADV_WIPEONFORK_), EINVAL, "MADV_WIPEONFORK on shared memory -> EINVAL");
    char *ro = sys_mmap(NULL, PAGE, PROT_READ, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    check_ok(sys_madvise(ro, PAGE, MADV_REMOVE_), "MADV_REMOVE on read-only shared memory (it may be written)");

    /* What fork copies. */
    struct fork_probe f = {anon_pages(1), anon_pages(2), sh + PAGE};
    f.dontfork[0] = 'd';
    memset(f.wipe, 'w', 2 * PAGE);
    check_ok(sys_madvise(f.dontfork, PAGE, MADV_DONTFORK_), "MADV_DONTFORK");
    check_ok(sys_madvise(f.wipe, 2 * PAGE, MADV_WIPEONFORK_), "MADV_WIPEONFORK");
    int r = in_child(fork_child, &f);
    check(r == 0, "fork: no MADV_DONTFORK memory, zeroed MADV_WIPEONFORK memory, shared memory shared", "child step %d", r);
    check(f.wipe[0] == 'w' && f.dontfork[0] == 'd' && sh[PAGE] == 'c', "... the parent keeps its data and sees the child's write",
          "%c %c %c", f.wipe[0], f.dontfork[0], sh[PAGE]);
    check_ok(sys_madvise(f.dontfork, PAGE, MADV_DOFORK_), "MADV_DOFORK");
    check_ok(sys_madvise(f.wipe, 2 * PAGE, MADV_KEEPONFORK_), "MADV_KEEPONFORK");
    sys_munmap(p, 3 * PAGE);
    sys_munmap(sh, 2 * PAGE);
    sys_munmap(ro, PAGE);
}

static void test_mseal(void)
{
    char *p = anon_pages(4);
    sys_munmap(p + 3 * PAGE, PAGE);
    check_err(syscall(SYS_mseal_, p, PAGE, 1), EINVAL, "mseal with flags -> EINVAL");
    check_err(syscall(SYS_mseal_, p + 1, PAGE, 0), EINVAL, "mseal at an unaligned address -> EINVAL");
    check_err(syscall(SYS_mseal_, p, 4 * PAGE, 0), ENOMEM, "mseal over an unmapped page -> ENOMEM");
    check_ok(syscall(SYS_mseal_, p + PAGE, PAGE, 0), "mseal the middle page");
    check_err(sys_munmap(p, 3 * PAGE), EPERM, "munmap over it -> EPERM");
    p[0] = 1;
    check(p[0] == 1, "... and nothing was unmapped", "%d", p[0]);
    check_err(sys_mprotect(p + PAGE, PAGE, PROT_READ), EPERM, "mprotect of it -> EPERM");
    check_err(syscall(SYS_mremap, p + PAGE, PAGE, 2 * PAGE, 1 /* MAYMOVE */), EPERM, "mremap of it -> EPERM");
    check_err((long)sys_mmap(p, 3 * PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0), EPERM,
              "mmap(MAP_FIXED) over it -> EPERM");
    check_ok(sys_madvise(p + PAGE, PAGE, MADV_DONTNEED), "MADV_DONTNEED of writable sealed memory is allowed");
    check_ok(sys_munmap(p, PAGE), "the unsealed page next to it can be unmapped");
    read_file("/proc/self/smaps");
    check(strstr(proc_buf, " sl") != NULL, "smaps shows the seal (sl) in VmFlags", "no sl");
    char *ro = sys_mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    syscall(SYS_mseal_, ro, PAGE, 0);
    check_err(sys_madvise(ro, PAGE, MADV_DONTNEED), EPERM, "MADV_DONTNEED of read-only sealed memory -> EPERM");
    check_ok(sys_madvise(ro, PAGE, MADV_WILLNEED), "MADV_WILLNEED of it is fine");
}

static int sleeper(void *unused)
{
    (void)unused;
    pause();
    return 0;
}

static void test_process_calls(void)
{
    int self = syscall(SYS_pidfd_open_, getpid(), 0);
    char *p = anon_pages(4);
    struct iovec iov[2] = {{p, PAGE}, {p + 2 * PAGE, 2 * PAGE}};
    check(syscall(SYS_process_madvise_, self, iov, 2, MADV_WILLNEED, 0) == 3 * (long)PAGE,
          "process_madvise(self, 2 ranges, MADV_WILLNEED) advises all 3 pages", "%s", strerror(errno));
    check(syscall(SYS_process_madvise_, self, iov, 2, MADV_POPULATE_WRITE_, 0) == 3 * (long)PAGE &&
          strcmp(resident(p, 4), "1011") == 0, "process_madvise(self, MADV_POPULATE_WRITE)", "mincore %s", resident(p, 4));
    check_err(syscall(SYS_process_madvise_, self, iov, 2, MADV_WILLNEED, 1), EINVAL, "process_madvise with flags -> EINVAL");
    check_err(syscall(SYS_process_madvise_, 1000, iov, 2, MADV_WILLNEED, 0), EBADF, "process_madvise on a bad fd -> EBADF");
    check_err(syscall(SYS_process_madvise_, self, iov, 2000, MADV_WILLNEED, 0), EINVAL, "process_madvise of 2000 ranges -> EINVAL");
    sys_munmap(p + 3 * PAGE, PAGE);
    check(syscall(SYS_process_madvise_, self, iov, 2, MADV_WILLNEED, 0) == (long)PAGE,
          "process_madvise stops at a range with a hole, after the ones before it", "%s", strerror(errno));
    check_err(syscall(SYS_process_madvise_, self, iov + 1, 1, MADV_WILLNEED, 0), ENOMEM,
              "... and fails with ENOMEM if that is the first");

    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0)
        _exit(sleeper(NULL));
    int child = syscall(SYS_pidfd_open_, pid, 0);
    check_err(syscall(SYS_process_madvise_, child, iov, 1, MADV_DONTNEED, 0), EINVAL,
              "process_madvise(another process, MADV_DONTNEED) -> EINVAL");
    check_err(syscall(SYS_process_mrelease_, child, 0), EINVAL, "process_mrelease of a live process -> EINVAL");
    check_err(syscall(SYS_process_mrelease_, child, 1), EINVAL, "process_mrelease with flags -> EINVAL");
    kill(pid, SIGKILL);
    siginfo_t si;
    waitid(P_PID, pid, &si, WEXITED | WNOWAIT);
    check_err(syscall(SYS_process_mrelease_, child, 0), ESRCH, "process_mrelease of a zombie (its memory is gone) -> ESRCH");
    waitpid(pid, NULL, 0);
    check_err(syscall(SYS_process_mrelease_, child, 0), ESRCH, "process_mrelease of a reaped process -> ESRCH");
    close(child);
    close(self);
    sys_munmap(p, 3 * PAGE);
}

static void test_prctl(void)
{
    char *p = anon_pages(2);
    if (prctl(PR_SET_VMA_, PR_SET_VMA_ANON_NAME_, p, PAGE, "probe name") != 0 && errno == EINVAL) {
        /* A kernel built without CONFIG_ANON_VMA_NAME. */
        printf("# PR_SET_VMA_ANON_NAME: not supported here\n");
        sys_munmap(p, 2 * PAGE);
        goto options;
    }
    check(1, "PR_SET_VMA_ANON_NAME", "-");
    read_file("/proc/self/maps");
    check(strstr(proc_buf, "[anon:probe name]") != NULL, "/proc/self/maps shows [anon:probe name]", "not there");
    check_err(prctl(PR_SET_VMA_, PR_SET_VMA_ANON_NAME_, p, PAGE, "bad$name"), EINVAL, "a name with $ -> EINVAL");
    check_ok(prctl(PR_SET_VMA_, PR_SET_VMA_ANON_NAME_, p, PAGE, NULL), "a NULL name clears it");
    read_file("/proc/self/maps");
    check(strstr(proc_buf, "[anon:probe name]") == NULL, "... gone from maps", "still there");
    check_err(prctl(PR_SET_VMA_, 1, p, PAGE, "x"), EINVAL, "PR_SET_VMA with an unknown attribute -> EINVAL");
    sys_munmap(p, 2 * PAGE);

options:
    check(prctl(PR_GET_DUMPABLE_) == 1, "PR_GET_DUMPABLE is 1", "%d", prctl(PR_GET_DUMPABLE_));
    check_ok(prctl(PR_SET_DUMPABLE_, 0), "PR_SET_DUMPABLE 0");
    check(prctl(PR_GET_DUMPABLE_) == 0, "... reads back 0", "%d", prctl(PR_GET_DUMPABLE_));
    check_err(prctl(PR_SET_DUMPABLE_, 2), EINVAL, "PR_SET_DUMPABLE 2 -> EINVAL");
    prctl(PR_SET_DUMPABLE_, 1);
    int sig = -1;
    check_ok(prctl(PR_SET_PDEATHSIG_, SIGUSR1), "PR_SET_PDEATHSIG");
    check(prctl(PR_GET_PDEATHSIG_, &sig) == 0 && sig == SIGUSR1, "PR_GET_PDEATHSIG reads it back", "%d", sig);
    check_err(prctl(PR_SET_PDEATHSIG_, 65), EINVAL, "PR_SET_PDEATHSIG 65 -> EINVAL");
    prctl(PR_SET_PDEATHSIG_, 0);
    check(prctl(PR_GET_THP_DISABLE_, 0, 0, 0, 0) == 0, "PR_GET_THP_DISABLE is 0", "%s", strerror(errno));
    check_ok(prctl(PR_SET_THP_DISABLE_, 1, 0, 0, 0), "PR_SET_THP_DISABLE");
    check(prctl(PR_GET_THP_DISABLE_, 0, 0, 0, 0) == 1, "... reads back 1", "%s", strerror(errno));
    check(prctl(PR_GET_MDWE_, 0, 0, 0, 0) == 0, "PR_GET_MDWE is 0", "%d", prctl(PR_GET_MDWE_, 0, 0, 0, 0));
    check_err(prctl(12345), EINVAL, "an unknown prctl option -> EINVAL");

    /* MDWE is for good: test it in a child. */
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        if (prctl(PR_SET_MDWE_, PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0) != 0)
            _exit(1);
        if (prctl(PR_GET_MDWE_, 0, 0, 0, 0) != PR_MDWE_REFUSE_EXEC_GAIN)
            _exit(2);
        if (sys_mmap(NULL, PAGE, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) != MAP_FAILED ||
            errno != EACCES)
            _exit(3);
        char *q = anon_pages(1);
        if (sys_mprotect(q, PAGE, PROT_READ | PROT_EXEC) != -1 || errno != EACCES)
            _exit(4);
        if (prctl(PR_SET_MDWE_, 0, 0, 0, 0) != -1 || errno != EPERM)
            _exit(5);
        _exit(0);
    }
    int st;
    waitpid(pid, &st, 0);
    check(WIFEXITED(st) && WEXITSTATUS(st) == 0, "PR_SET_MDWE: no writable-executable memory, no new exec, no way back",
          "child status %#x", st);
}

static void test_procmap_query(void)
{
    char *p = anon_pages(3) + PAGE;
    sys_mprotect(p - PAGE, PAGE, PROT_NONE);
    sys_mprotect(p + PAGE, PAGE, PROT_READ);
    int fd = open("/proc/self/maps", O_RDONLY);
    char name[256];
    struct procmap_query q = {.size = sizeof q, .query_addr = (uint64_t)p, .vma_name_addr = (uint64_t)name,
                              .vma_name_size = sizeof name};
    check_ok(ioctl(fd, PROCMAP_QUERY, &q), "PROCMAP_QUERY at an anonymous page");
    check(q.vma_start == (uint64_t)p && q.vma_end == (uint64_t)p + PAGE &&
          q.vma_flags == (PROCMAP_QUERY_VMA_READABLE | PROCMAP_QUERY_VMA_WRITABLE) && q.vma_name_size == 0,
          "... gives its VMA, rw-, no name", "%lx-%lx flags %lu name size %u", (long)q.vma_start, (long)q.vma_end,
          (unsigned long)q.vma_flags, q.vma_name_size);
    q = (struct procmap_query){.size = sizeof q, .query_addr = (uint64_t)test_procmap_query, .vma_name_addr = (uint64_t)name,
                               .vma_name_size = sizeof name};
    check_ok(ioctl(fd, PROCMAP_QUERY, &q), "PROCMAP_QUERY at main");
    char exe[256] = "";
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[n > 0 ? n : 0] = 0;
    check(q.vma_flags & 4 && q.inode != 0 && strcmp(name, exe) == 0, "... the executable's text: r-x, its inode and path",
          "flags %lu inode %lu name %s", (unsigned long)q.vma_flags, (unsigned long)q.inode, name);
    sys_munmap(p + PAGE, PAGE);
    q = (struct procmap_query){.size = sizeof q, .query_addr = (uint64_t)p + PAGE};
    check_err(ioctl(fd, PROCMAP_QUERY, &q), ENOENT, "PROCMAP_QUERY at an unmapped address -> ENOENT");
    q = (struct procmap_query){.size = sizeof q, .query_addr = 0, .query_flags = PROCMAP_QUERY_COVERING_OR_NEXT_VMA};
    check_ok(ioctl(fd, PROCMAP_QUERY, &q), "PROCMAP_QUERY_COVERING_OR_NEXT_VMA from 0 finds the first VMA");
    q = (struct procmap_query){.size = 8};
    check_err(ioctl(fd, PROCMAP_QUERY, &q), EINVAL, "PROCMAP_QUERY with a short size -> EINVAL");
    q = (struct procmap_query){.size = sizeof q, .query_flags = 0x1000};
    check_err(ioctl(fd, PROCMAP_QUERY, &q), EINVAL, "PROCMAP_QUERY with an unknown flag -> EINVAL");
    close(fd);
    sys_munmap(p - PAGE, 2 * PAGE);
}

int main(void)
{
    tap_init();
    proc_init();
    test_mlock();
    check(in_child(memlock_limited, NULL) == 0, "without CAP_IPC_LOCK: RLIMIT_MEMLOCK limits mlock (ENOMEM), "
          "MAP_LOCKED (EAGAIN), mlockall (ENOMEM); a zero limit is EPERM", "child step %d failed",
          in_child(memlock_limited, NULL));
    int r = in_child(address_space_limited, NULL);
    check(r == 0, "RLIMIT_AS limits mmap, mremap and brk; RLIMIT_DATA private writable memory only", "child step %d failed", r);
    test_mincore_msync();
    test_memfd();
    test_madvise();
    test_mseal();
    test_process_calls();
    test_prctl();
    test_procmap_query();
    return tap_done();
}
