/*
 * Users and permissions, as Linux has them: run as root with a scratch
 * directory on a tmpfs (natively: a private mount and PID namespace with a
 * tmpfs mounted there; in the guest: the root filesystem, a tmpfs too),
 * it prints one line per check. The guest must print exactly what Linux
 * prints.
 *
 *   creds DIR              the whole run, as root
 *   creds DIR after-exec   (internal) the second half, as nobody after
 *                          an execve
 *
 * As root it creates files and directories with given modes under a
 * umask, chowns and chmods them, checks the set-ID bits chown clears and
 * what statfs says; then a child drops to nobody and checks each denial
 * and each permission: reading, writing, searching, creating and removing
 * (the sticky bit), chmod, chown, utimensat, truncate, execve without an
 * execute bit, kill of its root parent, mlock against RLIMIT_MEMLOCK and
 * raising a hard limit, that it cannot become root again, its capability
 * sets, and that its own /proc/self/pagemap is closed to it until it
 * executes again, after which it shows no page frame numbers.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/fsuid.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define NOBODY 65534

/* <linux/capability.h>, which musl does not ship. */
#define _LINUX_CAPABILITY_VERSION_3 0x20080522
#define CAP_KILL 5
struct __user_cap_header_struct {
    uint32_t version;
    int pid;
};
struct __user_cap_data_struct {
    uint32_t effective, permitted, inheritable;
};

static const char *dir;

static void setid_exec(void);

static const char *path(const char *name)
{
    static char buf[4][512];
    static int next;
    char *b = buf[next++ % 4];
    snprintf(b, sizeof buf[0], "%s/%s", dir, name);
    return b;
}

/* "ok" or the errno's name, for a call's result. */
static const char *res(long r)
{
    if (r >= 0)
        return "ok";
    switch (errno) {
    case EPERM: return "EPERM";
    case EACCES: return "EACCES";
    case ENOENT: return "ENOENT";
    case EINVAL: return "EINVAL";
    case ENOMEM: return "ENOMEM";
    case EEXIST: return "EEXIST";
    case EAGAIN: return "EAGAIN";
    default: {
        static char other[32];
        snprintf(other, sizeof other, "errno %d", errno);
        return other;
    }
    }
}

static void show(const char *what, long r)
{
    printf("%s: %s\n", what, res(r));
}

static void show_stat(const char *name)
{
    struct stat st;
    if (lstat(path(name), &st) != 0) {
        printf("stat %s: %s\n", name, res(-1));
        return;
    }
    printf("stat %s: uid %u gid %u mode %04o\n", name, st.st_uid, st.st_gid, st.st_mode & 07777);
}

static int make(const char *name, mode_t mode)
{
    int fd = open(path(name), O_CREAT | O_EXCL | O_WRONLY, mode);
    if (fd < 0)
        return -1;
    int r = write(fd, "data\n", 5) == 5 ? 0 : -1;
    close(fd);
    return r;
}

/* The capability sets from /proc/self/status, as "Inh Prm Eff Amb" with
 * each shown as 0 or "some". */
static void show_caps(const char *when)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    printf("caps %s:", when);
    while (f && fgets(line, sizeof line, f)) {
        unsigned long long v;
        char key[16];
        if (sscanf(line, "Cap%3s:\t%llx", key, &v) == 2 && strcmp(key, "Bnd") != 0)
            printf(" %s=%s", key, v ? "some" : "0");
        if (!strncmp(line, "Uid:", 4) || !strncmp(line, "Gid:", 4)) {
            line[strcspn(line, "\n")] = 0;
            for (char *c = line; *c; c++)
                if (*c == '\t')
                    *c = ' ';
            printf(" [%s]", line);
        }
    }
    printf("\n");
    if (f)
        fclose(f);
}

static void show_dumpable(const char *when)
{
    struct stat st;
    int fd = open("/proc/self/pagemap", O_RDONLY);
    printf("%s: dumpable %d, /proc/self/pagemap open: %s", when, prctl(PR_GET_DUMPABLE), res(fd));
    if (stat("/proc/self/status", &st) == 0)
        printf(", /proc/self/status owner %u:%u", st.st_uid, st.st_gid);
    if (fd >= 0) {
        static volatile char page[4096] __attribute__((aligned(4096)));
        page[0] = 1;
        uint64_t entry = 0;
        off_t off = (uintptr_t)page / 4096 * 8;
        if (pread(fd, &entry, 8, off) == 8)
            printf(", present %d, pfn %s", (int)(entry >> 63), (entry & ((1ULL << 55) - 1)) ? "shown" : "zero");
        close(fd);
    }
    printf("\n");
}

/* Everything a non-root user must be refused or allowed. */
static void as_nobody(void)
{
    uid_t r, e, s;
    getresuid(&r, &e, &s);
    printf("ids: uid %u euid %u suid %u gid %u egid %u groups %d\n", r, e, s, getgid(), getegid(), getgroups(0, NULL));
    show_caps("nobody");
    show("setuid(0)", setuid(0));
    show("setreuid(-1, 0)", setreuid(-1, 0));
    show("setresuid(0, 0, 0)", setresuid(0, 0, 0));
    show("setgid(0)", setgid(0));
    gid_t g = 0;
    show("setgroups([0])", setgroups(1, &g));
    show("setuid(nobody)", setuid(NOBODY));
    printf("setfsuid(0) returns %d, then %d\n", setfsuid(0), setfsuid(-1));

    show("open root's 0600 file", open(path("secret"), O_RDONLY));
    show("open a file in root's 0700 directory", open(path("private/inner"), O_RDONLY));
    struct stat st;
    show("stat a file in root's 0700 directory", stat(path("private/inner"), &st));
    show("open root's 0644 file for reading", open(path("public"), O_RDONLY));
    show("open root's 0644 file for writing", open(path("public"), O_WRONLY));
    show("access(R_OK) of root's 0644 file", access(path("public"), R_OK));
    show("access(W_OK) of root's 0644 file", access(path("public"), W_OK));
    show("access(X_OK) of a 0644 file", access(path("public"), X_OK));
    show("create in root's 0755 directory", open(path("newfile"), O_CREAT | O_WRONLY, 0644));
    show("mkdir in root's 0755 directory", mkdir(path("newdir"), 0755));
    show("unlink root's file in root's 0755 directory", unlink(path("public")));
    show("truncate root's 0644 file", truncate(path("public"), 0));
    show("chmod root's file", chmod(path("public"), 0777));
    show("utimensat(NULL) of root's 0666 file", utimensat(AT_FDCWD, path("shared"), NULL, 0));
    show("utimensat(NULL) of root's 0644 file", utimensat(AT_FDCWD, path("public"), NULL, 0));
    struct timespec ts[2] = { { 1, 0 }, { 2, 0 } };
    show("utimensat(times) of root's 0666 file", utimensat(AT_FDCWD, path("shared"), ts, 0));
    char *args[] = { "x", NULL };
    show("execve of a 0644 file", execve(path("public"), args, NULL));

    /* The sticky /tmp: one's own files come and go, others' stay. */
    show("create in the sticky directory", make("tmp/mine", 0600));
    show_stat("tmp/mine");
    show("chmod own file", chmod(path("tmp/mine"), 0640));
    show("chown own file to root", chown(path("tmp/mine"), 0, -1));
    show("chown own file to group 0", chown(path("tmp/mine"), -1, 0));
    show("chown own file to own group", chown(path("tmp/mine"), -1, NOBODY));
    show("utimensat(times) of own file", utimensat(AT_FDCWD, path("tmp/mine"), ts, 0));
    show("unlink root's file in the sticky directory", unlink(path("tmp/roots")));
    show("rename root's file in the sticky directory", rename(path("tmp/roots"), path("tmp/taken")));
    show("write root's 0666 file in the sticky directory", open(path("tmp/roots"), O_WRONLY));
    show("rename own file in the sticky directory", rename(path("tmp/mine"), path("tmp/mine2")));
    show("unlink own file in the sticky directory", unlink(path("tmp/mine2")));
    show("create in the set-group-ID directory", make("sgid/bynobody", 0644));
    show_stat("sgid/bynobody");

    /* Signals and limits. */
    show("kill(root parent, 0)", kill(getppid(), 0));
    show("kill(self, 0)", kill(getpid(), 0));
    struct rlimit rl;
    getrlimit(RLIMIT_MEMLOCK, &rl);
    printf("RLIMIT_MEMLOCK: %lu %lu\n", (unsigned long)rl.rlim_cur, (unsigned long)rl.rlim_max);
    void *big = mmap(NULL, 128 << 10, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    show("mlock 128 KiB over a 64 KiB limit", mlock(big, 128 << 10));
    show("mlock 16 KiB", mlock(big, 16 << 10));
    struct rlimit up = { 64 << 10, 1 << 20 };
    show("raise the hard RLIMIT_MEMLOCK", setrlimit(RLIMIT_MEMLOCK, &up));
    struct rlimit down = { 32 << 10, 32 << 10 };
    show("lower the hard RLIMIT_MEMLOCK", setrlimit(RLIMIT_MEMLOCK, &down));
    show("raise it back", setrlimit(RLIMIT_MEMLOCK, &rl));
    show("setpriority(-5)", setpriority(PRIO_PROCESS, 0, -5));
    show("setpriority(5)", setpriority(PRIO_PROCESS, 0, 5));
    show("setpriority of root parent", setpriority(PRIO_PROCESS, getppid(), 5));
    show("prlimit of root parent", prlimit(getppid(), RLIMIT_MEMLOCK, NULL, &rl));

    /* Capabilities by the system call. */
    struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
    struct __user_cap_data_struct data[2];
    show("capget", syscall(SYS_capget, &hdr, data));
    printf("capget: effective %x permitted %x inheritable %x\n", data[0].effective, data[0].permitted, data[0].inheritable);
    data[0].effective = data[0].permitted = 1 << CAP_KILL;
    show("capset to gain CAP_KILL", syscall(SYS_capset, &hdr, data));
    printf("PR_CAPBSET_READ(CAP_KILL): %d\n", prctl(PR_CAPBSET_READ, CAP_KILL));
    show("PR_CAPBSET_DROP", prctl(PR_CAPBSET_DROP, CAP_KILL));

    show_dumpable("after setuid");
}

/* Linux's capability fix-ups around setuid, in children of root. */
static void fixups(void)
{
    pid_t c = fork();
    if (c == 0) {
        /* PR_SET_KEEPCAPS keeps the permitted set, not the effective one. */
        prctl(PR_SET_KEEPCAPS, 1);
        printf("PR_GET_KEEPCAPS: %d\n", prctl(PR_GET_KEEPCAPS));
        show("setresuid(nobody) with KEEPCAPS", setresuid(NOBODY, NOBODY, NOBODY));
        show_caps("keepcaps");
        _exit(0);
    }
    waitpid(c, NULL, 0);
    c = fork();
    if (c == 0) {
        /* Only the effective uid leaves 0: capabilities come back with it. */
        show("seteuid(nobody)", seteuid(NOBODY));
        show_caps("euid nobody");
        show("open root's 0600 file as euid nobody", open(path("secret"), O_RDONLY));
        show("seteuid(0)", seteuid(0));
        show("open root's 0600 file as euid 0 again", open(path("secret"), O_RDONLY));
        /* access() checks with the real uid; here both are root. */
        show("setresuid(nobody, 0, 0)", setresuid(NOBODY, 0, 0));
        show("access(R_OK) of root's 0600 file with real uid nobody", access(path("secret"), R_OK));
        show("faccessat(AT_EACCESS) of it", faccessat(AT_FDCWD, path("secret"), R_OK, AT_EACCESS));
        _exit(0);
    }
    waitpid(c, NULL, 0);
    c = fork();
    if (c == 0) {
        /* The filesystem uid alone. */
        printf("setfsuid(nobody) returns %d\n", setfsuid(NOBODY));
        show("open root's 0600 file as fsuid nobody", open(path("secret"), O_RDONLY));
        show("create a file as fsuid nobody", make("tmp/byfsuid", 0644));
        show_stat("tmp/byfsuid");
        _exit(0);
    }
    waitpid(c, NULL, 0);
}

static void as_root(void)
{
    umask(022);
    printf("umask was %04o\n", umask(027));
    show("mkdir 0777 under umask 027", mkdir(path("d777"), 0777));
    show_stat("d777");
    show("create 0666 under umask 027", make("f666", 0666));
    show_stat("f666");
    umask(022);
    show("mkdir private 0700", mkdir(path("private"), 0700));
    make("private/inner", 0644);
    make("secret", 0600);
    make("public", 0644);
    make("shared", 0666);
    chmod(path("shared"), 0666);
    show("mkdir tmp 01777", mkdir(path("tmp"), 01777));
    chmod(path("tmp"), 01777);
    show_stat("tmp");
    make("tmp/roots", 0666);
    chmod(path("tmp/roots"), 0666);
    show("mkdir sgid", mkdir(path("sgid"), 0777));
    chmod(path("sgid"), 02777);
    show("chown sgid to group 100", chown(path("sgid"), -1, 100));
    show_stat("sgid");
    show("mkdir in the set-group-ID directory", mkdir(path("sgid/sub"), 0755));
    show_stat("sgid/sub");
    make("sgid/byroot", 0644);
    show_stat("sgid/byroot");

    /* chown and the set-ID bits. */
    make("suid", 0755);
    show("chmod 06755", chmod(path("suid"), 06755));
    show_stat("suid");
    show("chown to 1000:1000", chown(path("suid"), 1000, 1000));
    show_stat("suid");
    chmod(path("suid"), 06745);
    show("chown -1:-1 of a 06745 file", chown(path("suid"), -1, -1));
    show_stat("suid");
    show("chmod 04755 of a directory", chmod(path("d777"), 04755));
    show("chown of a set-ID directory", chown(path("d777"), 5, 5));
    show_stat("d777");
    show("lchown of a symlink", (symlink("public", path("link")), lchown(path("link"), 7, 7)));
    struct stat st;
    lstat(path("link"), &st);
    printf("symlink owner %u:%u, target owner ", st.st_uid, st.st_gid);
    stat(path("link"), &st);
    printf("%u:%u\n", st.st_uid, st.st_gid);

    /* Root and execute bits. */
    char *args[] = { "x", NULL };
    show("execve of a 0644 file as root", execve(path("public"), args, NULL));
    show("access(X_OK) of a 0644 file as root", access(path("public"), X_OK));
    show("access(X_OK) of a 0700 directory as root", access(path("private"), X_OK));
    show("access(W_OK) of a 0444 file as root", (make("ro", 0444), access(path("ro"), W_OK)));

    /* Filesystem statistics. */
    struct statfs sf;
    show("statfs", statfs(dir, &sf));
    printf("statfs: type %#lx bsize %ld namelen %ld frsize %ld\n", (long)sf.f_type, (long)sf.f_bsize, (long)sf.f_namelen, (long)sf.f_frsize);
    printf("statfs: blocks > 0 %d, free <= blocks %d, files > 0 %d\n", sf.f_blocks > 0, sf.f_bfree <= sf.f_blocks, sf.f_files > 0);
    statfs("/proc", &sf);
    printf("statfs /proc: type %#lx\n", (long)sf.f_type);
    int fd = open(path("public"), O_RDONLY);
    fstatfs(fd, &sf);
    close(fd);
    printf("fstatfs: type %#lx\n", (long)sf.f_type);

    fixups();
    setid_exec();

    /* A child drops to nobody and checks; then executes again. */
    struct rlimit rl = { 64 << 10, 64 << 10 };
    setrlimit(RLIMIT_MEMLOCK, &rl);
    pid_t c = fork();
    if (c == 0) {
        gid_t none = 0;
        show("setgroups(0)", setgroups(0, &none));
        show("setgid(nobody)", setgid(NOBODY));
        show("setuid(nobody)", setuid(NOBODY));
        as_nobody();
        fflush(stdout);
        char *again[] = { (char *)path("prog"), (char *)dir, "after-exec", NULL };
        execve(again[0], again, NULL);
        printf("execve: %s\n", res(-1));
        _exit(1);
    }
    int status;
    waitpid(c, &status, 0);
    printf("child: exit %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}

/* Copies this program to DIR/NAME with GROUP and MODE, for children
 * to execute as nobody. */
static void copy_self(const char *name, gid_t group, mode_t mode)
{
    char buf[65536];
    int in = open("/proc/self/exe", O_RDONLY);
    int out = open(path(name), O_CREAT | O_WRONLY | O_TRUNC, 0700);
    ssize_t n;
    while (in >= 0 && out >= 0 && (n = read(in, buf, sizeof buf)) > 0)
        if (write(out, buf, n) != n)
            break;
    close(in);
    close(out);
    chown(path(name), 0, group);
    chmod(path(name), mode);
}

/* Run by nobody from a set-user-ID root, set-group-ID 100 copy. */
static int after_setid_exec(void)
{
    uid_t r, e, s;
    gid_t rg, eg, sg;
    getresuid(&r, &e, &s);
    getresgid(&rg, &eg, &sg);
    printf("set-ID exec: uid %u %u %u gid %u %u %u, AT_SECURE %lu, dumpable %d\n", r, e, s, rg, eg, sg, getauxval(AT_SECURE),
           prctl(PR_GET_DUMPABLE));
    show_caps("set-ID exec");
    show("open root's 0600 file", open(path("secret"), O_RDONLY));
    show("setuid(0) back to root for good", setuid(0));
    getresuid(&r, &e, &s);
    printf("then: uid %u %u %u\n", r, e, s);
    return 8;
}

/* nobody executes a set-ID copy of this program. */
static void setid_exec(void)
{
    copy_self("setid", 100, 06755);
    show_stat("setid");
    pid_t c = fork();
    if (c == 0) {
        gid_t none = 0;
        if (setgroups(0, &none) || setgid(NOBODY) || setuid(NOBODY))
            _exit(1);
        char *again[] = { (char *)path("setid"), (char *)dir, "setid-exec", NULL };
        execve(again[0], again, NULL);
        printf("execve: %s\n", res(-1));
        _exit(1);
    }
    int status;
    waitpid(c, &status, 0);
    printf("set-ID child: exit %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc < 2) {
        fprintf(stderr, "usage: creds DIR\n");
        return 2;
    }
    dir = argv[1];
    if (argc > 2 && strcmp(argv[2], "setid-exec") == 0)
        return after_setid_exec();
    if (argc > 2 && strcmp(argv[2], "after-exec") == 0) {
        show_caps("after exec");
        show_dumpable("after exec");
        return 7;
    }
    mkdir(dir, 0755);
    chmod(dir, 0755);
    copy_self("prog", 0, 0755);
    as_root();
    return 0;
}
