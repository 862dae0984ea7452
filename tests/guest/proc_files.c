/*
 * proc_files: /proc as Linux has it, checked the same way natively and in
 * the guest: the directories and links, /proc/PID/{status, limits,
 * environ, auxv, cmdline, exe, fd, fdinfo, pagemap, clear_refs,
 * smaps_rollup, comm}, the global files' keys, and the calls that go
 * with them: statfs, sendfile, copy_file_range, getgroups/setgroups.
 * The /proc/sys writes run only in the guest: natively they would change
 * the host.
 */
#include "tap.h"
#include <dirent.h>
#include <signal.h>
#include <sys/auxv.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <grp.h>

#define PROC_SUPER_MAGIC 0x9fa0
#define PM_PRESENT (1ULL << 63)
#define PM_FILE (1ULL << 61)
#define PM_EXCLUSIVE (1ULL << 56)
#define PM_SOFT_DIRTY (1ULL << 55)
#define PM_PFN ((1ULL << 55) - 1)

static int in_guest;

/* Whether the keys (NULL-terminated) appear in proc_buf's lines in this
 * order, each at the start of a line; the first missing one is named. */
static const char *keys_in_order(const char *const *keys)
{
    const char *at = proc_buf;
    for (; *keys; keys++) {
        char want[64];
        snprintf(want, sizeof want, "%s:", *keys);
        const char *l = at;
        for (;;) {
            if (strncmp(l, want, strlen(want)) == 0)
                break;
            l = strchr(l, '\n');
            if (!l)
                return *keys;
            l++;
        }
        at = l;
    }
    return NULL;
}

static unsigned long long pagemap(void *addr)
{
    int fd = open("/proc/self/pagemap", O_RDONLY);
    unsigned long long e = 0;
    if (pread(fd, &e, 8, (long)((uintptr_t)addr / PAGE * 8)) != 8)
        e = ~0ULL;
    close(fd);
    return e;
}

static int write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY);
    if (fd < 0)
        return -1;
    long r = write(fd, text, strlen(text));
    int e = errno;
    close(fd);
    errno = e;
    return r == (long)strlen(text) ? 0 : -1;
}

static void test_dirs_and_links(int argc, char **argv)
{
    char buf[256];
    ssize_t n = readlink("/proc/self", buf, sizeof buf - 1);
    buf[n > 0 ? n : 0] = 0;
    check(atoi(buf) == getpid(), "/proc/self -> the pid", "%s", buf);
    n = readlink("/proc/thread-self", buf, sizeof buf - 1);
    buf[n > 0 ? n : 0] = 0;
    char want[64];
    snprintf(want, sizeof want, "%d/task/%d", getpid(), getpid());
    check(strcmp(buf, want) == 0, "/proc/thread-self -> PID/task/TID", "%s", buf);
    DIR *d = opendir("/proc");
    int self = 0, mine = 0, meminfo = 0;
    struct dirent *e;
    while (d && (e = readdir(d))) {
        self |= strcmp(e->d_name, "self") == 0 && e->d_type == DT_LNK;
        mine |= atoi(e->d_name) == getpid() && e->d_type == DT_DIR;
        meminfo |= strcmp(e->d_name, "meminfo") == 0 && e->d_type == DT_REG;
    }
    if (d)
        closedir(d);
    check(self && mine && meminfo, "/proc lists self (link), this process (dir), meminfo (file)", "%d %d %d", self, mine, meminfo);
    struct stat st;
    check(lstat("/proc/self/exe", &st) == 0 && S_ISLNK(st.st_mode), "lstat(/proc/self/exe) is a link", "mode %o", st.st_mode);
    struct stat a, b;
    check(stat("/proc/self/exe", &a) == 0 && stat(argv[0], &b) == 0 && a.st_ino == b.st_ino, "/proc/self/exe is the program",
          "ino %lu vs %lu", (unsigned long)a.st_ino, (unsigned long)b.st_ino);
    check(stat("/proc/self/clear_refs", &st) == 0 && (st.st_mode & 0777) == 0200, "stat of write-only clear_refs works (mode 0200)",
          "%s mode %o", strerror(errno), st.st_mode);
    n = readlink("/proc/self/cwd", buf, sizeof buf - 1);
    buf[n > 0 ? n : 0] = 0;
    char cwd[256];
    check(getcwd(cwd, sizeof cwd) && strcmp(buf, cwd) == 0, "/proc/self/cwd -> the working directory", "%s vs %s", buf, cwd);
    check(chdir("/proc/self") == 0 && access("status", R_OK) == 0 && chdir(cwd) == 0, "chdir into /proc/self, then relative names",
          "%s", strerror(errno));

    /* cmdline: the arguments, each NUL-terminated. */
    long len = read_file("/proc/self/cmdline");
    long want_len = 0;
    for (int i = 0; i < argc; i++)
        want_len += strlen(argv[i]) + 1;
    check(len == want_len && strcmp(proc_buf, argv[0]) == 0, "cmdline is argv", "%ld bytes, want %ld", len, want_len);

    /* environ: what the process started with. */
    len = read_file("/proc/self/environ");
    const char *home = getenv("HOME");
    snprintf(buf, sizeof buf, "HOME=%s", home ? home : "");
    int found = 0;
    for (long i = 0; i < len; i += strlen(proc_buf + i) + 1)
        found |= strcmp(proc_buf + i, buf) == 0;
    check(home && found, "environ holds HOME as getenv sees it", "%s", buf);

    /* auxv: (type, value) pairs as getauxval sees them, ending in AT_NULL. */
    int fd = open("/proc/self/auxv", O_RDONLY);
    unsigned long aux[128] = {0};
    n = read(fd, aux, sizeof aux);
    close(fd);
    int pagesz = 0, entry = 0;
    for (long i = 0; i + 1 < n / 8; i += 2) {
        pagesz |= aux[i] == AT_PAGESZ && aux[i + 1] == 4096;
        entry |= aux[i] == AT_ENTRY && aux[i + 1] == getauxval(AT_ENTRY);
    }
    check(pagesz && entry && n % 16 == 0 && aux[n / 8 - 2] == AT_NULL, "auxv: AT_PAGESZ 4096, AT_ENTRY as getauxval, AT_NULL last",
          "%zd bytes", n);
}

static void test_status_and_limits(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR2);
    sigprocmask(SIG_BLOCK, &set, NULL);
    signal(SIGWINCH, SIG_IGN);
    read_file("/proc/self/status");
    static const char *const keys[] = {"Name", "Umask", "State", "Tgid", "Ngid", "Pid", "PPid", "TracerPid", "Uid", "Gid", "FDSize",
                                       "Groups", "NStgid", "NSpid", "NSpgid", "NSsid", "VmPeak", "VmSize", "VmLck", "VmPin", "VmHWM",
                                       "VmRSS", "RssAnon", "RssFile", "RssShmem", "VmData", "VmStk", "VmExe", "VmLib", "VmPTE", "VmSwap",
                                       "HugetlbPages", "CoreDumping", "THP_enabled", "Threads", "SigQ", "SigPnd", "ShdPnd", "SigBlk",
                                       "SigIgn", "SigCgt", "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp",
                                       "Cpus_allowed", "Cpus_allowed_list", "Mems_allowed_list", "voluntary_ctxt_switches",
                                       "nonvoluntary_ctxt_switches", NULL};
    const char *missing = keys_in_order(keys);
    check(!missing, "/proc/self/status has Linux's keys in Linux's order", "missing or out of order: %s", missing);
    const char *blk = find_line("SigBlk:");
    unsigned long long mask = blk ? strtoull(blk + 7, NULL, 16) : 0;
    check(mask == 1ULL << (SIGUSR2 - 1), "SigBlk shows the blocked SIGUSR2", "%llx", mask);
    const char *ign = find_line("SigIgn:");
    mask = ign ? strtoull(ign + 7, NULL, 16) : 0;
    check((mask & (1ULL << (SIGWINCH - 1))) != 0, "SigIgn shows the ignored SIGWINCH", "%llx", mask);
    const char *umask_line = find_line("Umask:");
    check(umask_line && strtol(umask_line + 6, NULL, 8) == (long)umask(022), "Umask is the umask", "%s", umask_line ? umask_line : "none");
    sigprocmask(SIG_UNBLOCK, &set, NULL);
    signal(SIGWINCH, SIG_DFL);

    struct rlimit r;
    getrlimit(RLIMIT_NOFILE, &r);
    read_file("/proc/self/limits");
    const char *l = find_line("Max open files");
    unsigned long soft = 0, hard = 0;
    check(l && sscanf(l + 26, "%lu %lu", &soft, &hard) == 2 && soft == r.rlim_cur && hard == r.rlim_max,
          "limits: Max open files as getrlimit", "%lu %lu", soft, hard);
    check(strncmp(proc_buf, "Limit                     Soft Limit           Hard Limit           Units     \n", 79) == 0,
          "limits: Linux's header", "%.80s", proc_buf);

    check(write_file("/proc/self/comm", "renamed") == 0, "write /proc/self/comm", "%s", strerror(errno));
    read_file("/proc/self/comm");
    check(strcmp(proc_buf, "renamed\n") == 0, "... comm reads it back", "%s", proc_buf);
    char name[16] = "";
    prctl(16 /* PR_GET_NAME */, name);
    check(strcmp(name, "renamed") == 0, "... and PR_GET_NAME agrees", "%s", name);

    int fd = open("/proc/self/status", O_RDONLY);
    char b4[4];
    read(fd, b4, 4);
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fdinfo/%d", fd);
    read_file(path);
    const char *pos = find_line("pos:");
    const char *flags = find_line("flags:");
    check(pos && atoi(pos + 4) == 4 && flags && strtol(flags + 6, NULL, 8) == (O_RDONLY | 0100000),
          "fdinfo: pos after a 4-byte read, flags in octal", "%s", proc_buf);
    close(fd);
}

static void test_global_files(void)
{
    read_file("/proc/meminfo");
    static const char *const mem[] = {"MemTotal", "MemFree", "MemAvailable", "Buffers", "Cached", "SwapCached", "Active", "Inactive",
                                      "Active(anon)", "Inactive(anon)", "Active(file)", "Inactive(file)", "Unevictable", "Mlocked",
                                      "SwapTotal", "SwapFree", "Dirty", "Writeback", "AnonPages", "Mapped", "Shmem", "KReclaimable",
                                      "Slab", "SReclaimable", "SUnreclaim", "KernelStack", "PageTables", "NFS_Unstable", "Bounce",
                                      "WritebackTmp", "CommitLimit", "Committed_AS", "VmallocTotal", "VmallocUsed", "VmallocChunk",
                                      "Percpu", "AnonHugePages", "HugePages_Total", "HugePages_Free", "HugePages_Rsvd",
                                      "HugePages_Surp", "Hugepagesize", "Hugetlb", "DirectMap4k", NULL};
    const char *missing = keys_in_order(mem);
    check(!missing, "/proc/meminfo has Linux's keys in Linux's order", "missing or out of order: %s", missing);
    read_file("/proc/vmstat");
    int plain = 1;
    for (const char *l = proc_buf; *l; l = strchr(l, '\n') + 1) {
        if (strncmp(l, "cow_fault", 9) == 0 || strncmp(l, "pgzero", 6) == 0 || strncmp(l, "allocstall ", 11) == 0)
            plain = 0;
        if (!strchr(l, '\n'))
            break;
    }
    check(find_line("nr_free_pages ") && find_line("pgfault ") && find_line("pgfree ") && plain,
          "/proc/vmstat: Linux's names (nr_free_pages, pgfree, pgfault), none of its own", "%.200s", proc_buf);
    check(read_file("/proc/version") > 0 && strncmp(proc_buf, "Linux version ", 14) == 0, "/proc/version", "%s", proc_buf);
    struct utsname u;
    uname(&u);
    check(strstr(proc_buf, u.release) != NULL, "... names uname's release", "%s vs %s", proc_buf, u.release);
    check(read_file("/proc/cpuinfo") > 0 && find_line("processor") && find_line("flags"), "/proc/cpuinfo: processor and flags lines",
          "%.100s", proc_buf);
    check(read_file("/proc/stat") > 0 && find_line("cpu ") && find_line("ctxt ") && find_line("btime "), "/proc/stat: cpu, ctxt, btime",
          "%.100s", proc_buf);
    check(read_file("/proc/mounts") > 0 && strstr(proc_buf, " /proc proc "), "/proc/mounts lists /proc", "%s", proc_buf);
    check(read_file("/proc/self/mountinfo") > 0 && strstr(proc_buf, " /proc ") && strstr(proc_buf, " - proc proc "),
          "/proc/self/mountinfo lists /proc", "%s", proc_buf);
    check(read_file("/proc/filesystems") > 0 && strstr(proc_buf, "nodev\tproc\n"), "/proc/filesystems has proc", "%s", proc_buf);
    check(read_file("/proc/swaps") > 0 && strncmp(proc_buf, "Filename", 8) == 0, "/proc/swaps: its header", "%s", proc_buf);
    check(read_file("/proc/loadavg") > 0 && strchr(proc_buf, '/'), "/proc/loadavg", "%s", proc_buf);
    check(read_file("/proc/sys/vm/overcommit_memory") > 0, "/proc/sys/vm/overcommit_memory reads", "%s", strerror(errno));
    check_err(open("/proc/sys/vm/drop_caches", O_RDONLY), EACCES, "/proc/sys/vm/drop_caches is write-only");
    struct statfs sf;
    check(statfs("/proc", &sf) == 0 && sf.f_type == PROC_SUPER_MAGIC, "statfs(/proc): proc's magic", "%lx", (long)sf.f_type);
    int fd = open("/proc/self/status", O_RDONLY);
    check(fstatfs(fd, &sf) == 0 && sf.f_type == PROC_SUPER_MAGIC && sf.f_namelen == 255, "fstatfs of a /proc file", "%lx %ld",
          (long)sf.f_type, (long)sf.f_namelen);
    close(fd);
}

static void test_pagemap_and_clear_refs(void)
{
    char *p = anon_pages(2);
    p[0] = 1;
    unsigned long long e0 = pagemap(p), e1 = pagemap(p + PAGE);
    check((e0 & PM_PRESENT) && (e0 & PM_EXCLUSIVE) && !(e0 & PM_FILE) && (e0 & PM_PFN) != 0, "pagemap: a touched page is present, "
          "exclusive, anonymous, with its PFN (root)", "%llx", e0);
    check(!(e1 & PM_PRESENT), "pagemap: an untouched page is not present", "%llx", e1);
    unsigned long long code = pagemap((void *)test_pagemap_and_clear_refs);
    check((code & PM_PRESENT) && (code & PM_FILE), "pagemap: the program's text is a present file page", "%llx", code);
    int fd = open("/proc/self/pagemap", O_RDONLY);
    unsigned long long two[2];
    check_err(pread(fd, two, 8, 4), EINVAL, "pagemap: an unaligned read -> EINVAL");
    close(fd);

    /* Soft-dirty: where the kernel tracks it, a fresh page is dirty. */
    if (!(e0 & PM_SOFT_DIRTY)) {
        printf("# soft-dirty: not tracked by this kernel\n");
    } else {
        check(write_file("/proc/self/clear_refs", "4") == 0, "clear_refs 4 (soft-dirty)", "%s", strerror(errno));
        e0 = pagemap(p);
        check(!(e0 & PM_SOFT_DIRTY) && (e0 & PM_PRESENT), "... clears the page's soft-dirty bit", "%llx", e0);
        p[1] = 2;
        check((pagemap(p) & PM_SOFT_DIRTY) != 0, "... a write sets it again", "%llx", pagemap(p));
        check(!(pagemap(p + PAGE) & PM_SOFT_DIRTY), "... an untouched page stays clean", "%llx", pagemap(p + PAGE));
        char *q = anon_pages(1);
        check((pagemap(q) & PM_SOFT_DIRTY) != 0, "... a new mapping is soft-dirty", "%llx", pagemap(q));
        sys_munmap(q, PAGE);
        sys_mprotect(p, 2 * PAGE, PROT_READ);
        write_file("/proc/self/clear_refs", "4");
        sys_mprotect(p, 2 * PAGE, PROT_READ | PROT_WRITE);
        p[2] = 3;
        check((pagemap(p) & PM_SOFT_DIRTY) != 0, "... a write after mprotect sets it too", "%llx", pagemap(p));
    }
    sys_munmap(p, 2 * PAGE);

    /* clear_refs 5: VmHWM back to VmRSS. */
    char *big = anon_pages(256);
    memset(big, 1, 256 * PAGE);
    sys_munmap(big, 256 * PAGE);
    long hwm = status_kb("VmHWM:"), rss = status_kb("VmRSS:");
    check(hwm >= rss + 512, "VmHWM stays above VmRSS after a munmap", "%ld %ld", hwm, rss);
    check(write_file("/proc/self/clear_refs", "5") == 0, "clear_refs 5", "%s", strerror(errno));
    long old_hwm = hwm;
    hwm = status_kb("VmHWM:");
    rss = status_kb("VmRSS:");
    /* The reset takes the RSS of that moment, a little above now's. */
    check(hwm < old_hwm && hwm - rss <= 64, "... resets VmHWM to VmRSS", "%ld -> %ld, RSS %ld", old_hwm, hwm, rss);
    errno = 0;
    check(write_file("/proc/self/clear_refs", "9") != 0 && errno == EINVAL, "clear_refs 9 -> EINVAL", "%s", strerror(errno));

    read_file("/proc/self/smaps_rollup");
    const char *r = find_line("Rss:");
    long rollup = r ? atol(r + 4) : -1;
    read_file("/proc/self/smaps");
    long sum = 0;
    for (const char *l = proc_buf; (l = strstr(l, "\nRss:")); l++)
        sum += atol(l + 5);
    check(rollup > 0 && labs(rollup - sum) <= 16, "smaps_rollup's Rss is smaps' summed", "%ld vs %ld", rollup, sum);
}

static void test_copies(void)
{
    char path[64], path2[64];
    const char *dir = access("/tmp", W_OK) == 0 ? "/tmp" : "";
    snprintf(path, sizeof path, "%s/proc_files.XXXXXX", dir);
    snprintf(path2, sizeof path2, "%s/proc_files2.XXXXXX", dir);
    int a = mkstemp(path), b = mkstemp(path2);
    char data[10000];
    for (unsigned i = 0; i < sizeof data; i++)
        data[i] = (char)(i * 7);
    write(a, data, sizeof data);
    off_t off = 100;
    long n = syscall(SYS_sendfile, b, a, &off, 5000);
    char back[10000];
    check(n == 5000 && off == 5100 && pread(b, back, 5000, 0) == 5000 && memcmp(back, data + 100, 5000) == 0,
          "sendfile with an offset: 5000 bytes, offset moved", "%ld, off %ld", n, (long)off);
    check(lseek(a, 0, SEEK_CUR) == 10000, "... the input's own offset stays", "%ld", (long)lseek(a, 0, SEEK_CUR));
    int pipefd[2];
    pipe(pipefd);
    lseek(a, 9990, SEEK_SET);
    n = syscall(SYS_sendfile, pipefd[1], a, NULL, 100);
    check(n == 10 && read(pipefd[0], back, 100) == 10 && memcmp(back, data + 9990, 10) == 0, "sendfile to a pipe, to the end", "%ld", n);
    check_err(syscall(SYS_sendfile, pipefd[1], pipefd[0], &off, 10), ESPIPE, "sendfile from a pipe with an offset -> ESPIPE");
    int ro = open(path, O_RDONLY);
    check_err(syscall(SYS_sendfile, ro, a, NULL, 10), EBADF, "sendfile into a read-only descriptor -> EBADF");
    close(ro);
    close(pipefd[0]);
    close(pipefd[1]);

    loff_t in = 0, outo = 20000;
    n = syscall(SYS_copy_file_range, a, &in, b, &outo, 4000, 0);
    check(n == 4000 && in == 4000 && outo == 24000 && pread(b, back, 4000, 20000) == 4000 && memcmp(back, data, 4000) == 0,
          "copy_file_range: 4000 bytes at the offsets given", "%ld", n);
    check_err(syscall(SYS_copy_file_range, a, &in, b, &outo, 10, 1), EINVAL, "copy_file_range with flags -> EINVAL");
    in = 0;
    loff_t same = 100;
    check_err(syscall(SYS_copy_file_range, a, &in, a, &same, 1000, 0), EINVAL, "copy_file_range over itself, overlapping -> EINVAL");
    close(a);
    close(b);
    unlink(path);
    unlink(path2);
}

static void test_groups(void)
{
    gid_t g[8];
    gid_t set[3] = {7, 3, 5};
    check(setgroups(3, set) == 0, "setgroups(7, 3, 5)", "%s", strerror(errno));
    int n = getgroups(8, g);
    check(n == 3, "getgroups: three", "%d", n);
    check_err(getgroups(1, g), EINVAL, "getgroups into a list too small -> EINVAL");
    check(getgroups(0, NULL) == 3, "getgroups(0) counts them", "%d", getgroups(0, NULL));
    read_file("/proc/self/status");
    const char *l = find_line("Groups:");
    check(l && strstr(l, "3") && strstr(l, "5") && strstr(l, "7"), "status lists them in Groups", "%s", l ? l : "none");
    setgroups(0, NULL);
}

/* struct statx (Linux's layout; musl may not have it). */
struct statx_ts {
    int64_t tv_sec;
    uint32_t tv_nsec;
    int32_t pad;
};
struct statx_ {
    uint32_t stx_mask, stx_blksize;
    uint64_t stx_attributes;
    uint32_t stx_nlink, stx_uid, stx_gid;
    uint16_t stx_mode, pad;
    uint64_t stx_ino, stx_size, stx_blocks, stx_attributes_mask;
    struct statx_ts stx_atime, stx_btime, stx_ctime, stx_mtime;
    uint32_t stx_rdev_major, stx_rdev_minor, stx_dev_major, stx_dev_minor;
    uint64_t rest[14];
};
#define STATX_BASIC 0x7ffU

static long sys_statx(const char *path, int flags, unsigned mask, struct statx_ *sx)
{
    return syscall(SYS_statx, AT_FDCWD, path, flags, mask, sx);
}

static void test_fifo_rename_statx(void)
{
    char dir[64], fifo[96], a[96], b[96];
    snprintf(dir, sizeof dir, "%s/pf.XXXXXX", access("/tmp", W_OK) == 0 ? "/tmp" : "");
    mkdtemp(dir);
    snprintf(fifo, sizeof fifo, "%s/fifo", dir);
    check(mkfifo(fifo, 0600) == 0, "mkfifo", "%s", strerror(errno));
    struct stat st;
    check(stat(fifo, &st) == 0 && S_ISFIFO(st.st_mode) && (st.st_mode & 0777) == 0600, "... stat says FIFO, mode 0600", "%o", st.st_mode);
    check_err(open(fifo, O_WRONLY | O_NONBLOCK), ENXIO, "a non-blocking writer with no reader -> ENXIO");
    int rw = open(fifo, O_RDWR);
    check(rw >= 0, "O_RDWR opens without waiting", "%s", strerror(errno));
    close(rw);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        int w = open(fifo, O_WRONLY); /* waits for the reader */
        write(w, "hello", 5);
        usleep(100000);
        write(w, " fifo", 5);
        _exit(0);
    }
    int r = open(fifo, O_RDONLY); /* waits for the writer */
    char buf[16] = "";
    ssize_t n = read(r, buf, 5);
    check(n == 5 && memcmp(buf, "hello", 5) == 0, "a blocking reader and writer meet", "%zd", n);
    waitpid(pid, NULL, 0);
    int avail = -1;
    check(ioctl(r, FIONREAD, &avail) == 0 && avail == 5, "FIONREAD: 5 bytes wait in it", "%d", avail);
    n = read(r, buf, sizeof buf);
    check(n == 5 && read(r, buf, sizeof buf) == 0, "... read, then end of file once the writer is gone", "%zd", n);
    close(r);
    check_err(mknod(fifo, S_IFIFO | 0600, 0), EEXIST, "mknod over an existing name -> EEXIST");
    snprintf(a, sizeof a, "%s/d", dir);
    check_err(mknod(a, S_IFDIR | 0700, 0), EPERM, "mknod of a directory -> EPERM");
    check(mknod(a, 0644, 0) == 0 && stat(a, &st) == 0 && S_ISREG(st.st_mode), "mknod of type 0 makes a regular file", "%s",
          strerror(errno));

    snprintf(b, sizeof b, "%s/e", dir);
    int fd = open(b, O_CREAT | O_WRONLY, 0644);
    write(fd, "bb", 2);
    close(fd);
    check_err(syscall(SYS_renameat2, AT_FDCWD, a, AT_FDCWD, b, 1 /* RENAME_NOREPLACE */), EEXIST,
              "renameat2(RENAME_NOREPLACE) onto a name -> EEXIST");
    check(syscall(SYS_renameat2, AT_FDCWD, a, AT_FDCWD, b, 2 /* RENAME_EXCHANGE */) == 0, "renameat2(RENAME_EXCHANGE)", "%s",
          strerror(errno));
    struct stat sa, sb;
    check(stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_size == 2 && sb.st_size == 0, "... the two swapped", "%ld %ld",
          (long)sa.st_size, (long)sb.st_size);
    check_err(syscall(SYS_renameat2, AT_FDCWD, a, AT_FDCWD, b, 3), EINVAL, "renameat2 with both flags -> EINVAL");

    struct statx_ sx;
    check(sys_statx(a, 0, STATX_BASIC, &sx) == 0 && sx.stx_size == 2 && S_ISREG(sx.stx_mode) && sx.stx_ino == sa.st_ino &&
              (sx.stx_mask & STATX_BASIC) == STATX_BASIC && sx.stx_mtime.tv_sec == sa.st_mtime && sx.stx_nlink == 1,
          "statx: the basic fields, as stat's", "%s", strerror(errno));
    check_err(sys_statx(a, 0x6000, STATX_BASIC, &sx), EINVAL, "statx with sync type 3 -> EINVAL");
    unlink(a);
    unlink(b);
    unlink(fifo);
    rmdir(dir);
}

struct open_how_ {
    uint64_t flags, mode, resolve;
};

static void test_chown_vectors_openat2(void)
{
    char dir[64], f[96], l[96];
    snprintf(dir, sizeof dir, "%s/cv.XXXXXX", access("/tmp", W_OK) == 0 ? "/tmp" : "");
    mkdtemp(dir);
    snprintf(f, sizeof f, "%s/f", dir);
    snprintf(l, sizeof l, "%s/l", dir);
    int fd = open(f, O_CREAT | O_RDWR, 0755);
    chmod(f, 06755);
    struct stat st;
    check(chown(f, 123, 456) == 0 && stat(f, &st) == 0 && st.st_uid == 123 && st.st_gid == 456, "chown sets owner and group",
          "%u %u", st.st_uid, st.st_gid);
    check((st.st_mode & 07777) == 0755, "... and clears set-user-ID and set-group-ID", "%o", st.st_mode & 07777);
    check(fchown(fd, -1, 789) == 0 && fstat(fd, &st) == 0 && st.st_uid == 123 && st.st_gid == 789, "fchown with -1 keeps the owner",
          "%u %u", st.st_uid, st.st_gid);
    symlink("f", l);
    struct stat lst;
    check(lchown(l, 42, 43) == 0 && lstat(l, &lst) == 0 && lst.st_uid == 42 && stat(f, &st) == 0 && st.st_uid == 123,
          "lchown changes the link, not its target", "%u %u", lst.st_uid, st.st_uid);
    check(fchownat(AT_FDCWD, l, 0, 0, 0) == 0 && stat(f, &st) == 0 && st.st_uid == 0, "fchownat follows the link", "%u", st.st_uid);

    struct iovec w[2] = {{"hello ", 6}, {"vectors", 7}};
    check(pwritev(fd, w, 2, 100) == 13 && lseek(fd, 0, SEEK_CUR) == 0, "pwritev at 100: 13 bytes, the offset stays",
          "%ld", (long)lseek(fd, 0, SEEK_CUR));
    char a[6] = "", b[8] = "";
    struct iovec r[2] = {{a, 6}, {b, 7}};
    check(preadv(fd, r, 2, 100) == 13 && memcmp(a, "hello ", 6) == 0 && memcmp(b, "vectors", 7) == 0, "preadv reads them back",
          "%.6s%.7s", a, b);
    check_err(preadv(fd, r, 2, -5), EINVAL, "preadv at a negative offset -> EINVAL");
    int p[2];
    pipe(p);
    check_err(preadv(p[0], r, 1, 0), ESPIPE, "preadv on a pipe -> ESPIPE");
    close(p[0]);
    close(p[1]);
    close(fd);

    int d = open(dir, O_RDONLY | O_DIRECTORY);
    struct open_how_ how = {.flags = O_RDONLY};
    long r2 = syscall(SYS_openat2, d, "f", &how, sizeof how);
    check(r2 >= 0, "openat2 of a plain name", "%s", strerror(errno));
    if (r2 >= 0)
        close(r2);
    how.flags = 1ULL << 40;
    check_err(syscall(SYS_openat2, d, "f", &how, sizeof how), EINVAL, "openat2 with an unknown flag -> EINVAL");
    how = (struct open_how_){.flags = O_RDONLY, .mode = 0644};
    check_err(syscall(SYS_openat2, d, "f", &how, sizeof how), EINVAL, "openat2: a mode without O_CREAT -> EINVAL");
    how = (struct open_how_){.flags = O_RDONLY};
    check_err(syscall(SYS_openat2, d, "f", &how, 16), EINVAL, "openat2 with a short struct -> EINVAL");
    struct {
        struct open_how_ h;
        uint64_t extra;
    } big = {{O_RDONLY, 0, 0}, 1};
    check_err(syscall(SYS_openat2, d, "f", &big, sizeof big), E2BIG, "openat2 with an unknown non-zero field -> E2BIG");
    how = (struct open_how_){.flags = O_RDONLY, .resolve = 8 /* RESOLVE_BENEATH */};
    check_err(syscall(SYS_openat2, d, "../x", &how, sizeof how), EXDEV, "RESOLVE_BENEATH: .. above the directory -> EXDEV");
    check_err(syscall(SYS_openat2, d, "/etc/passwd", &how, sizeof how), EXDEV, "RESOLVE_BENEATH: an absolute path -> EXDEV");
    how.resolve = 4; /* RESOLVE_NO_SYMLINKS */
    check_err(syscall(SYS_openat2, d, "l", &how, sizeof how), ELOOP, "RESOLVE_NO_SYMLINKS through a link -> ELOOP");
    how.resolve = 0x40;
    check_err(syscall(SYS_openat2, d, "f", &how, sizeof how), EINVAL, "an unknown resolve flag -> EINVAL");
    close(d);
    unlink(l);
    unlink(f);
    rmdir(dir);
}

static int set_lock(int fd, int cmd, short type, off_t start, off_t len)
{
    struct flock fl = {.l_type = type, .l_whence = SEEK_SET, .l_start = start, .l_len = len};
    return fcntl(fd, cmd, &fl);
}

#define F_OFD_GETLK_ 36
#define F_OFD_SETLK_ 37

static void test_locks(void)
{
    char path[64];
    snprintf(path, sizeof path, "%s/locks.XXXXXX", access("/tmp", W_OK) == 0 ? "/tmp" : "");
    int fd = mkstemp(path);
    write(fd, "0123456789", 10);
    check(set_lock(fd, F_SETLK, F_WRLCK, 0, 100) == 0, "F_SETLK: a write lock on bytes 0-99", "%s", strerror(errno));
    check(set_lock(fd, F_SETLK, F_RDLCK, 50, 10) == 0, "... the same process may change part of it", "%s", strerror(errno));
    fflush(stdout);
    int to_child[2];
    pipe(to_child);
    pid_t pid = fork();
    if (pid == 0) {
        int f = open(path, O_RDWR);
        struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
        if (fcntl(f, F_GETLK, &fl) != 0 || fl.l_type != F_WRLCK || fl.l_pid != getppid() || fl.l_start != 0 || fl.l_len != 50)
            _exit(1);
        if (set_lock(f, F_SETLK, F_RDLCK, 55, 1) != 0) /* read over read: fine */
            _exit(2);
        if (set_lock(f, F_SETLK, F_WRLCK, 10, 1) != -1 || (errno != EAGAIN && errno != EACCES))
            _exit(3);
        if (set_lock(f, F_SETLK, F_WRLCK, 100, 10) != 0) /* past the parent's lock */
            _exit(4);
        char c;
        read(to_child[0], &c, 1); /* the parent has a descriptor closed */
        if (set_lock(f, F_SETLKW, F_WRLCK, 0, 10) != 0) /* waits until the parent's lock is gone */
            _exit(5);
        _exit(0);
    }
    usleep(100000);
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 105, .l_len = 1};
    check(fcntl(fd, F_GETLK, &fl) == 0 && fl.l_type == F_WRLCK && fl.l_pid == pid, "F_GETLK names the child's lock and pid",
          "type %d pid %d", fl.l_type, fl.l_pid);
    /* Closing any descriptor of the file drops the process's locks. */
    int other = open(path, O_RDONLY);
    close(other);
    write(to_child[1], "x", 1);
    int st;
    waitpid(pid, &st, 0);
    check(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the child sees the lock, is refused, and gets it once a close drops it",
          "child status %#x", st);

    /* OFD locks belong to the description: two opens conflict. */
    int a = open(path, O_RDWR), b = open(path, O_RDWR);
    check(set_lock(a, F_OFD_SETLK_, F_WRLCK, 0, 10) == 0, "F_OFD_SETLK on one description", "%s", strerror(errno));
    check_err(set_lock(b, F_OFD_SETLK_, F_WRLCK, 5, 10), EAGAIN, "... another description of the same process is refused");
    struct flock bad = {.l_type = F_RDLCK, .l_whence = SEEK_SET, .l_pid = 1};
    check_err(fcntl(b, F_OFD_GETLK_, &bad), EINVAL, "F_OFD_GETLK with l_pid set -> EINVAL");
    close(a);
    check(set_lock(b, F_OFD_SETLK_, F_WRLCK, 5, 10) == 0, "... and takes it once the first description is closed", "%s",
          strerror(errno));
    int ro = open(path, O_RDONLY);
    check_err(set_lock(ro, F_SETLK, F_WRLCK, 0, 1), EBADF, "a write lock through a read-only descriptor -> EBADF");
    check_err(set_lock(b, F_SETLK, 7, 0, 1), EINVAL, "an unknown lock type -> EINVAL");

    /* flock: whole-file, per description, apart from record locks. */
    check(flock(ro, LOCK_SH) == 0 && flock(fd, LOCK_SH) == 0, "flock: two shared locks", "%s", strerror(errno));
    check_err(flock(b, LOCK_EX | LOCK_NB), EWOULDBLOCK, "... an exclusive one is refused (EWOULDBLOCK)");
    flock(ro, LOCK_UN);
    flock(fd, LOCK_UN);
    check(flock(b, LOCK_EX | LOCK_NB) == 0, "... and granted once they are unlocked", "%s", strerror(errno));
    check_err(flock(b, 64), EINVAL, "flock with an unknown operation -> EINVAL");
    close(ro);
    close(b);
    close(fd);
    unlink(path);
}

/* The new calls given bad user pointers: EFAULT, nothing else. */
static void test_bad_pointers(void)
{
    void *bad = (void *)8, *kernel = (void *)0xffff888000000000UL;
    check_err(syscall(SYS_capget, bad, bad), EFAULT, "capget with a bad header -> EFAULT");
    gid_t one = 5;
    setgroups(1, &one);
    check_err(syscall(SYS_getgroups, 4, kernel), EFAULT, "getgroups into a kernel address -> EFAULT");
    setgroups(0, NULL);
    check_err(syscall(SYS_statx, AT_FDCWD, "/", 0, 0x7ff, bad), EFAULT, "statx into a bad buffer -> EFAULT");
    check_err(syscall(SYS_statx, AT_FDCWD, bad, 0, 0x7ff, bad), EFAULT, "statx of a bad path -> EFAULT");
    check_err(syscall(SYS_openat2, AT_FDCWD, "/", bad, 24), EFAULT, "openat2 with a bad open_how -> EFAULT");
    int fd = open("/proc/self/maps", O_RDONLY);
    check_err(ioctl(fd, _IOWR('f', 17, char[104]), kernel), EFAULT, "PROCMAP_QUERY from a kernel address -> EFAULT");
    int avail = -1;
    check(ioctl(fd, FIONREAD, &avail) == 0 && avail == 0, "FIONREAD on a /proc file: 0 (its size)", "%d %s", avail, strerror(errno));
    close(fd);
    int p[2];
    pipe(p);
    write(p[1], "x", 1);
    check_err(ioctl(p[0], FIONREAD, bad), EFAULT, "FIONREAD into a bad pointer -> EFAULT");
    check_err(fcntl(p[0], F_GETLK, bad), EFAULT, "F_GETLK from a bad pointer -> EFAULT");
    int self = open("/proc/self/status", O_RDONLY);
    check_err(syscall(SYS_sendfile, p[1], self, bad, 10), EFAULT, "sendfile with a bad offset pointer -> EFAULT");
    check_err(syscall(440 /* process_madvise */, 0, bad, 1, MADV_WILLNEED, 0), EFAULT, "process_madvise with a bad iovec -> EFAULT");
    check_err(syscall(SYS_rt_sigpending, kernel, 8), EFAULT, "rt_sigpending into a kernel address -> EFAULT");
    char buf[64];
    check_err(syscall(SYS_getrusage, 0, bad), EFAULT, "getrusage into a bad pointer -> EFAULT");
    check_err(syscall(SYS_times, bad), EFAULT, "times into a bad pointer -> EFAULT");
    check_err(syscall(SYS_statfs, "/", bad), EFAULT, "statfs into a bad pointer -> EFAULT");
    check_err(syscall(SYS_readlink, "/proc/self/exe", bad, sizeof buf), EFAULT, "readlink into a bad buffer -> EFAULT");
    close(self);
    close(p[0]);
    close(p[1]);
}

/* Only in the guest: these would change the host. */
static void test_sysctl_writes(void)
{
    check(write_file("/proc/sys/vm/overcommit_ratio", "0") == 0 && write_file("/proc/sys/vm/overcommit_memory", "2") == 0,
          "vm.overcommit_memory = 2, overcommit_ratio = 0", "%s", strerror(errno));
    check_err((long)sys_mmap(NULL, 64 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), ENOMEM,
              "... a private writable mapping is refused (ENOMEM)");
    check((long)sys_mmap(NULL, 64 * PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) > 0, "... a read-only one is not charged",
          "%s", strerror(errno));
    errno = 0;
    check(write_file("/proc/sys/vm/overcommit_memory", "3") != 0 && errno == EINVAL, "overcommit_memory = 3 -> EINVAL", "%s",
          strerror(errno));
    write_file("/proc/sys/vm/overcommit_memory", "0");
    write_file("/proc/sys/vm/overcommit_ratio", "50");
    check((long)sys_mmap(NULL, 64 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) > 0, "... back to 0: allowed",
          "%s", strerror(errno));

    read_file("/proc/zoneinfo");
    const char *min = strstr(proc_buf, "zone    DMA32");
    min = min ? strstr(min, "min ") : NULL;
    long before = min ? atol(min + 4) : -1;
    check(write_file("/proc/sys/vm/min_free_kbytes", "4096") == 0, "vm.min_free_kbytes = 4096", "%s", strerror(errno));
    read_file("/proc/zoneinfo");
    min = strstr(proc_buf, "zone    DMA32");
    min = min ? strstr(min, "min ") : NULL;
    long after = min ? atol(min + 4) : -1;
    check(after > before && before > 0, "... raises the DMA32 min watermark", "%ld -> %ld", before, after);

    check(write_file("/proc/sys/vm/max_map_count", "20") == 0, "vm.max_map_count = 20", "%s", strerror(errno));
    int refused = 0;
    for (int i = 0; i < 40 && !refused; i++) {
        void *m = sys_mmap(NULL, PAGE, i % 2 ? PROT_READ : PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        refused = m == MAP_FAILED && errno == ENOMEM;
    }
    check(refused, "... mmap runs out of VMAs (ENOMEM)", "no refusal");
    write_file("/proc/sys/vm/max_map_count", "65530");
    check(write_file("/proc/sys/vm/drop_caches", "3") == 0, "vm.drop_caches = 3", "%s", strerror(errno));
    check(write_file("/proc/sys/vm/mmap_min_addr", "1048576") == 0, "vm.mmap_min_addr = 1 MiB", "%s", strerror(errno));
    void *low = sys_mmap((void *)0x20000, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    check(low == (void *)0x100000, "... a hint below it is raised to it", "%p", low);
    sys_munmap(low, PAGE);
    write_file("/proc/sys/vm/mmap_min_addr", "65536");
}

int main(int argc, char **argv)
{
    tap_init();
    proc_init();
    struct utsname u;
    in_guest = uname(&u) == 0 && strstr(u.release, "rvmm") != NULL;
    test_dirs_and_links(argc, argv);
    test_status_and_limits();
    test_global_files();
    test_pagemap_and_clear_refs();
    test_copies();
    test_groups();
    test_fifo_rename_statx();
    test_locks();
    test_chown_vectors_openat2();
    test_bad_pointers();
    if (in_guest)
        test_sysctl_writes();
    else
        printf("# /proc/sys writes: only in the guest\n");
    return tap_done();
}
