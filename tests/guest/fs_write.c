/*
 * fs_write: a writable filesystem. Files are created, written, read back,
 * truncated and unlinked with write/pwrite/read/pread, O_APPEND, O_TRUNC,
 * ftruncate and truncate; and MAP_SHARED file mappings, write() and read()
 * all see the same page-cache pages, across fork too, while MAP_PRIVATE
 * copies never reach the file. Hard links and utimensat.
 *
 * The files go in argv[1] if given, else in "/" in our guest (its uname
 * release contains "rvmm") and in /tmp natively, named after the pid so
 * that runs side by side do not meet. Everything created is removed.
 */
#include "tap.h"
#include <signal.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>

static char dir[200];
static int guest;

/* dir/fs_write.PID.name, in one of four rotating buffers. */
static const char *path(const char *name)
{
    static char bufs[4][300];
    static int next;
    char *p = bufs[next++ % 4];
    snprintf(p, sizeof bufs[0], "%s%sfs_write.%d.%s", dir, dir[strlen(dir) - 1] == '/' ? "" : "/", (int)getpid(),
             name);
    return p;
}

static void fill(char *buf, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        buf[i] = (char)('a' + (i * 7 + seed) % 26);
}

static off_t size_of(int fd)
{
    struct stat st;
    return fstat(fd, &st) == 0 ? st.st_size : -1;
}

/* 1 if n bytes at p are all c. */
static int all(const char *p, size_t n, char c)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != c)
            return 0;
    return 1;
}

static char buf[6 * PAGE], back[6 * PAGE];

static void basics(void)
{
    const char *a = path("a");
    int fd = open(a, O_RDWR | O_CREAT | O_EXCL, 0600);
    if (!check(fd >= 0, "open(O_CREAT | O_EXCL) creates a file", "%s: %s", a, strerror(errno)))
        return;
    struct stat st;
    check_ok(fstat(fd, &st), "fstat the new file");
    check(S_ISREG(st.st_mode) && (st.st_mode & 07777) == 0600 && st.st_size == 0 && st.st_nlink == 1,
          "a new empty regular file, mode 0600, one link", "mode %o size %ld nlink %ld", (unsigned)st.st_mode,
          (long)st.st_size, (long)st.st_nlink);
    check_err(open(a, O_RDWR | O_CREAT | O_EXCL, 0600), EEXIST, "O_CREAT | O_EXCL of an existing file -> EEXIST");
    check_err(open(path("nodir/x"), O_RDWR | O_CREAT, 0600), ENOENT, "O_CREAT in a missing directory -> ENOENT");
    check_err(open(path("nope"), O_RDWR), ENOENT, "open of a missing file without O_CREAT -> ENOENT");

    fill(buf, 10000, 1);
    check(write(fd, buf, 10000) == 10000, "write 10000 bytes", "errno %d", errno);
    check(size_of(fd) == 10000 && lseek(fd, 0, SEEK_CUR) == 10000, "the size and the offset are 10000",
          "size %ld", (long)size_of(fd));
    check(read(fd, back, 10) == 0, "read at the end returns 0", "not 0");
    lseek(fd, 0, SEEK_SET);
    memset(back, 0, sizeof back);
    check(read(fd, back, sizeof back) == 10000 && memcmp(back, buf, 10000) == 0, "read() returns what was written",
          "differs");
    fstat(fd, &st);
    check(st.st_blocks >= 24, "st_blocks covers three pages", "st_blocks %ld", (long)st.st_blocks);

    /* pwrite/pread across a page boundary; the offset stays. */
    off_t pos = lseek(fd, 123, SEEK_SET);
    check(pwrite(fd, "ACROSS-THE-EDGE", 15, 4090) == 15, "pwrite 15 bytes across a page boundary", "errno %d", errno);
    memcpy(buf + 4090, "ACROSS-THE-EDGE", 15);
    check(pread(fd, back, 20, 4088) == 20 && memcmp(back, buf + 4088, 20) == 0, "pread sees them", "differs");
    check(lseek(fd, 0, SEEK_CUR) == pos, "pwrite and pread leave the offset", "offset %ld",
          (long)lseek(fd, 0, SEEK_CUR));
    check(write(fd, "mid", 3) == 3 && size_of(fd) == 10000, "a write inside the file keeps its size", "size %ld",
          (long)size_of(fd));
    memcpy(buf + 123, "mid", 3);

    /* A hole: pwrite past the end. */
    check(pwrite(fd, "far", 3, 5 * PAGE + 10) == 3, "pwrite past the end", "errno %d", errno);
    check(size_of(fd) == (off_t)(5 * PAGE + 13), "the file grew to the end of that write", "size %ld",
          (long)size_of(fd));
    memset(back, 1, sizeof back);
    ssize_t n = pread(fd, back, sizeof back, 0);
    check(n == (ssize_t)(5 * PAGE + 13) && memcmp(back, buf, 10000) == 0 && all(back + 10000, 5 * PAGE + 10 - 10000, 0) &&
              memcmp(back + 5 * PAGE + 10, "far", 3) == 0,
          "the hole reads as zeroes between the old data and the new", "n %zd", n);

    /* O_APPEND. */
    int ap = open(a, O_WRONLY | O_APPEND);
    check(ap >= 0, "open O_WRONLY | O_APPEND", "errno %d", errno);
    check(write(ap, "tail", 4) == 4 && lseek(ap, 0, SEEK_CUR) == (off_t)(5 * PAGE + 17),
          "an O_APPEND write goes to the end and moves the offset there", "offset %ld", (long)lseek(ap, 0, SEEK_CUR));
    lseek(ap, 0, SEEK_SET);
    check(write(ap, "more", 4) == 4 && size_of(fd) == (off_t)(5 * PAGE + 21),
          "after lseek(0) the next O_APPEND write still appends", "size %ld", (long)size_of(fd));
    check(pread(fd, back, 8, 5 * PAGE + 13) == 8 && memcmp(back, "tailmore", 8) == 0, "both appends read back",
          "got %.8s", back);
    check_err(read(ap, back, 1), EBADF, "read on an O_WRONLY descriptor -> EBADF");
    int flags = fcntl(ap, F_GETFL);
    check(flags >= 0 && (flags & O_APPEND) && (flags & O_ACCMODE) == O_WRONLY, "F_GETFL shows O_WRONLY | O_APPEND",
          "flags %#x", flags);
    check_ok(fcntl(ap, F_SETFL, flags & ~O_APPEND), "F_SETFL clears O_APPEND");
    lseek(ap, 0, SEEK_SET);
    check(write(ap, "S", 1) == 1 && pread(fd, back, 1, 0) == 1 && back[0] == 'S' && size_of(fd) == (off_t)(5 * PAGE + 21),
          "without O_APPEND the write lands at the offset", "byte %c", back[0]);
    buf[0] = 'S';
    close(ap);

    /* ftruncate down and up. */
    check_ok(ftruncate(fd, 5000), "ftruncate down to 5000");
    check(size_of(fd) == 5000, "the size is 5000", "size %ld", (long)size_of(fd));
    check(pread(fd, back, 100, 4990) == 10 && memcmp(back, buf + 4990, 10) == 0, "a read at the new end is short",
          "differs");
    check_ok(ftruncate(fd, 3 * PAGE), "ftruncate up to three pages");
    memset(back, 1, sizeof back);
    check(pread(fd, back, sizeof back, 0) == (ssize_t)(3 * PAGE) && memcmp(back, buf, 5000) == 0 &&
              all(back + 5000, 3 * PAGE - 5000, 0),
          "growing keeps the old bytes and adds zeroes", "differs");
    check_err(ftruncate(fd, -1), EINVAL, "ftruncate to a negative size -> EINVAL");
    int ro = open(a, O_RDONLY);
    check_err(ftruncate(ro, 0), EINVAL, "ftruncate of a read-only descriptor -> EINVAL");
    check_err(write(ro, "x", 1), EBADF, "write on an O_RDONLY descriptor -> EBADF");
    check_ok(truncate(a, 7), "truncate(path) to 7 bytes");
    check(size_of(ro) == 7, "every descriptor sees the new size", "size %ld", (long)size_of(ro));
    check_ok(fsync(fd), "fsync");
    check_ok(fdatasync(fd), "fdatasync");
    close(ro);

    /* O_TRUNC. */
    int tr = open(a, O_RDWR | O_TRUNC);
    check(tr >= 0 && size_of(tr) == 0, "O_TRUNC empties the file", "size %ld", (long)size_of(tr));
    close(tr);

    /* dup, dup2, dup3, F_DUPFD share the offset; F_GETFD/F_SETFD. */
    lseek(fd, 0, SEEK_SET);
    int d = dup(fd);
    check(d >= 0, "dup", "errno %d", errno);
    check(write(d, "dup", 3) == 3 && lseek(fd, 0, SEEK_CUR) == 3, "a dup shares the offset", "offset %ld",
          (long)lseek(fd, 0, SEEK_CUR));
    check(dup2(fd, 50) == 50 && lseek(50, 0, SEEK_CUR) == 3, "dup2 to 50", "errno %d", errno);
    check(dup2(fd, fd) == fd, "dup2 onto itself returns it", "errno %d", errno);
    check_err(syscall(SYS_dup3, fd, fd, 0), EINVAL, "dup3 onto itself -> EINVAL");
    check(syscall(SYS_dup3, fd, 51, O_CLOEXEC) == 51 && fcntl(51, F_GETFD) == FD_CLOEXEC, "dup3 with O_CLOEXEC",
          "F_GETFD %d", fcntl(51, F_GETFD));
    check(fcntl(51, F_SETFD, 0) == 0 && fcntl(51, F_GETFD) == 0, "F_SETFD clears close-on-exec", "errno %d", errno);
    int hi = fcntl(fd, F_DUPFD_CLOEXEC, 60);
    check(hi >= 60 && fcntl(hi, F_GETFD) == FD_CLOEXEC, "F_DUPFD_CLOEXEC gives a descriptor >= 60", "got %d", hi);
    check_err(fcntl(fd, F_DUPFD, -1), EINVAL, "F_DUPFD with a negative minimum -> EINVAL");
    check_err(dup(1000), EBADF, "dup of a closed descriptor -> EBADF");
    close(d);
    close(50);
    close(51);
    close(hi);

    /* rename, unlink while open. */
    const char *b = path("b");
    check_ok(rename(a, b), "rename a -> b");
    check_err(open(a, O_RDONLY), ENOENT, "the old name is gone");
    int fb = open(b, O_RDONLY);
    check(fb >= 0 && pread(fb, back, 3, 0) == 3 && memcmp(back, "dup", 3) == 0, "the new name has the data",
          "errno %d", errno);
    close(fb);
    check_ok(unlink(b), "unlink a file that is still open");
    check_err(open(b, O_RDONLY), ENOENT, "its name is gone");
    fstat(fd, &st);
    check(st.st_nlink == 0, "the open file has no links", "nlink %ld", (long)st.st_nlink);
    check(pread(fd, back, 3, 0) == 3 && memcmp(back, "dup", 3) == 0 && pwrite(fd, "!", 1, 0) == 1,
          "it is still readable and writable", "errno %d", errno);
    check_err(unlink(b), ENOENT, "unlink again -> ENOENT");
    close(fd);

    /* Directories. */
    const char *sub = path("sub");
    check_ok(mkdir(sub, 0700), "mkdir");
    check_err(mkdir(sub, 0700), EEXIST, "mkdir of an existing name -> EEXIST");
    check_err(unlink(sub), EISDIR, "unlink of a directory -> EISDIR");
    check_err(open(sub, O_RDWR), EISDIR, "open of a directory for writing -> EISDIR");
    char inner[400];
    snprintf(inner, sizeof inner, "%s/f", sub);
    int fi = open(inner, O_WRONLY | O_CREAT, 0600);
    check(fi >= 0, "create a file in the new directory", "errno %d", errno);
    close(fi);
    check_err(rmdir(sub), ENOTEMPTY, "rmdir of a non-empty directory -> ENOTEMPTY");
    check_ok(unlink(inner), "unlink the file in it");
    check_ok(rmdir(sub), "rmdir");
    check_err(rmdir(sub), ENOENT, "rmdir again -> ENOENT");

    char cwd[256];
    char *c = getcwd(cwd, sizeof cwd);
    check(c != NULL && (!guest || strcmp(cwd, "/") == 0), "getcwd", "got %s", c ? cwd : strerror(errno));
    check(syscall(SYS_getcwd, cwd, 1) == -1 && errno == ERANGE, "getcwd into 1 byte -> ERANGE", "errno %d", errno);
}

/* A file of `pages` pages, each filled with its letter ('a', 'b', ...). */
static int letters_file(const char *p, int pages)
{
    int fd = open(p, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd < 0)
        return -1;
    for (int i = 0; i < pages; i++) {
        memset(buf, 'a' + i, PAGE);
        if (write(fd, buf, PAGE) != (ssize_t)PAGE)
            return -1;
    }
    return fd;
}

static void shared_mappings(void)
{
    const char *m = path("m");
    int fd = letters_file(m, 2);
    if (!check(fd >= 0, "make a two-page file", "errno %d", errno))
        return;
    char *s1 = sys_mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (!check(s1 != MAP_FAILED, "mmap it MAP_SHARED, PROT_READ | PROT_WRITE", "errno %d", errno))
        return;
    check(s1[0] == 'a' && s1[PAGE] == 'b', "the mapping shows the file", "%c %c", s1[0], s1[PAGE]);
    s1[100] = 'X';
    char c = 0;
    check(pread(fd, &c, 1, 100) == 1 && c == 'X', "a store through the mapping is seen by read()", "read %c", c);
    check(pwrite(fd, "Y", 1, PAGE + 5) == 1 && ((volatile char *)s1)[PAGE + 5] == 'Y',
          "a write() is seen through the mapping", "mapping has %c", s1[PAGE + 5]);

    char *s2 = sys_mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    check(s2 != MAP_FAILED && s2 != s1, "a second MAP_SHARED mapping", "errno %d", errno);
    if (s2 != MAP_FAILED) {
        s2[200] = 'Z';
        s1[PAGE + 300] = 'W';
        check(((volatile char *)s1)[200] == 'Z' && ((volatile char *)s2)[PAGE + 300] == 'W' && s2[100] == 'X',
              "two shared mappings see each other's stores", "%c %c %c", s1[200], s2[PAGE + 300], s2[100]);
    }

    /* The mapping as the buffer of read() and write() on its own file. */
    check(pwrite(fd, s1, 300, PAGE + 1000) == 300 && memcmp(s1 + PAGE + 1000, s1, 300) == 0,
          "pwrite from the mapping into the same file", "differs");
    check(pread(fd, s2 + 3000, 50, PAGE + 1000) == 50 && memcmp(s1 + 3000, s1 + PAGE + 1000, 50) == 0,
          "pread from the file into its own mapping", "differs");

    /* MAP_PRIVATE: stores stay private. */
    char *p = sys_mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    if (check(p != MAP_FAILED, "a MAP_PRIVATE mapping of the same file", "errno %d", errno)) {
        check(p[100] == 'X' && p[200] == 'Z', "it starts with the file's bytes", "%c %c", p[100], p[200]);
        p[100] = 'P';
        p[PAGE + 5] = 'Q';
        c = 0;
        pread(fd, &c, 1, 100);
        check(c == 'X' && s1[100] == 'X' && s1[PAGE + 5] == 'Y', "its stores reach neither the file nor MAP_SHARED",
              "file %c, shared %c %c", c, s1[100], s1[PAGE + 5]);
        check(p[100] == 'P', "and it keeps its own copy", "%c", p[100]);
        sys_munmap(p, 2 * PAGE);
    }

    /* A hole in the file, filled by a store through the mapping. */
    check_ok(ftruncate(fd, 4 * PAGE), "ftruncate the mapped file up to four pages");
    char *s3 = sys_mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (check(s3 != MAP_FAILED, "map all four pages shared", "errno %d", errno)) {
        check(all(s3 + 2 * PAGE, 2 * PAGE, 0), "the grown part reads as zeroes through the mapping", "non-zero");
        s3[3 * PAGE + 7] = 'H';
        c = 0;
        check(pread(fd, &c, 1, 3 * PAGE + 7) == 1 && c == 'H' && size_of(fd) == (off_t)(4 * PAGE),
              "a store into the hole is file data; the size stays", "read %c, size %ld", c, (long)size_of(fd));
        sys_munmap(s3, 4 * PAGE);
    }
    /* Shrinking a mapped file and growing it again gives zeroes. */
    check_ok(ftruncate(fd, PAGE + 10), "ftruncate down to a page and 10 bytes while mapped");
    check_ok(ftruncate(fd, 2 * PAGE), "and up to two pages again");
    check(s1[PAGE + 9] == 'b' && all(s1 + PAGE + 10, PAGE - 10, 0), "the mapping shows the cut tail as zeroes",
          "byte %d", s1[PAGE + 10]);

    /* Access checks. */
    int ro = open(m, O_RDONLY);
    check(sys_mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, ro, 0) == MAP_FAILED && errno == EACCES,
          "MAP_SHARED, PROT_WRITE of a read-only descriptor -> EACCES", "errno %d", errno);
    char *r = sys_mmap(NULL, PAGE, PROT_READ, MAP_SHARED, ro, 0);
    check(r != MAP_FAILED && r[100] == 'X', "MAP_SHARED, PROT_READ of it works", "errno %d", errno);
    if (r != MAP_FAILED)
        sys_munmap(r, PAGE);
    int wo = open(m, O_WRONLY);
    check(sys_mmap(NULL, PAGE, PROT_READ, MAP_SHARED, wo, 0) == MAP_FAILED && errno == EACCES,
          "mmap of a write-only descriptor -> EACCES", "errno %d", errno);
    close(ro);
    close(wo);

    /* Past the end of the file: SIGBUS. */
    pid_t pid = fork();
    if (pid == 0) {
        char *big = sys_mmap(NULL, 4 * PAGE, PROT_READ, MAP_SHARED, fd, 0);
        (void)((volatile char *)big)[3 * PAGE];
        _exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    check(WIFSIGNALED(status) && WTERMSIG(status) == SIGBUS, "a read of a mapped page past the end -> SIGBUS",
          "status %#x", status);

    if (s2 != MAP_FAILED)
        sys_munmap(s2, 2 * PAGE);
    sys_munmap(s1, 2 * PAGE);
    close(fd);
    check_ok(unlink(m), "unlink the mapped file");
}

static void across_fork(void)
{
    const char *f = path("f");
    int fd = letters_file(f, 2);
    if (!check(fd >= 0, "make a two-page file for fork", "errno %d", errno))
        return;
    char *sh = sys_mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    char *pr = sys_mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    if (!check(sh != MAP_FAILED && pr != MAP_FAILED, "map it shared and private", "errno %d", errno))
        return;
    /* Fault both in before the fork, one page of the private one copied. */
    check(sh[0] == 'a' && pr[PAGE] == 'b', "both show the file", "%c %c", sh[0], pr[PAGE]);
    pr[0] = 'p';
    pid_t pid = fork();
    if (pid == 0) {
        sh[10] = 'C';
        sh[PAGE + 10] = 'D';
        pr[20] = 'E';
        pr[PAGE + 20] = 'F';
        _exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    check(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the child exits 0", "status %#x", status);
    char c[2] = {0, 0};
    pread(fd, &c[0], 1, 10);
    pread(fd, &c[1], 1, PAGE + 10);
    check(sh[10] == 'C' && sh[PAGE + 10] == 'D' && c[0] == 'C' && c[1] == 'D',
          "the child's stores to the MAP_SHARED mapping reach the parent and the file", "%c %c / %c %c", sh[10],
          sh[PAGE + 10], c[0], c[1]);
    pread(fd, &c[0], 1, 20);
    pread(fd, &c[1], 1, PAGE + 20);
    check(pr[20] == 'a' && pr[PAGE + 20] == 'b' && c[0] == 'a' && c[1] == 'b' && pr[0] == 'p',
          "the child's stores to the MAP_PRIVATE mapping reach neither", "%c %c / %c %c", pr[20], pr[PAGE + 20], c[0],
          c[1]);

    /* Truncate while the parent maps every page, then let a child exit
     * (the kernel's selftest=rmapcheck checks the counts at each exit). */
    check_ok(ftruncate(fd, PAGE), "ftruncate a mapped file down by a page");
    pid = fork();
    if (pid == 0)
        _exit(0);
    waitpid(pid, &status, 0);
    check(WIFEXITED(status), "a child exits while a cut page is still mapped", "status %#x", status);
    sys_munmap(sh, 2 * PAGE);
    sys_munmap(pr, 2 * PAGE);
    check_ok(ftruncate(fd, 0), "truncate it to nothing after unmapping");
    close(fd);
    check_ok(unlink(f), "unlink it");
}

/* link: two names for one inode; utimensat and futimens: the times. */
static void links_and_times(void)
{
    char a[256], b[256];
    snprintf(a, sizeof a, "%s", path("link-a"));
    snprintf(b, sizeof b, "%s", path("link-b"));
    int fd = open(a, O_CREAT | O_WRONLY | O_TRUNC, 0644);
    (void)!write(fd, "shared", 6);
    close(fd);
    struct stat sa, sb;
    check(link(a, b) == 0 && stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_ino == sb.st_ino && sa.st_nlink == 2,
          "link: a second name for the same inode, nlink 2", "ino %lu/%lu nlink %lu", (unsigned long)sa.st_ino,
          (unsigned long)sb.st_ino, (unsigned long)sa.st_nlink);
    errno = 0;
    check(link(a, b) == -1 && errno == EEXIST, "link to a taken name: EEXIST", "errno %d", errno);
    errno = 0;
    check(link(dir, path("dir-link")) == -1 && errno == EPERM, "link of a directory: EPERM", "errno %d", errno);
    unlink(a);
    char buf[8] = { 0 };
    fd = open(b, O_RDONLY);
    check(fd >= 0 && read(fd, buf, sizeof buf) == 6 && memcmp(buf, "shared", 6) == 0 && fstat(fd, &sb) == 0 && sb.st_nlink == 1,
          "the data lives on under the other name, nlink 1", "nlink %lu", (unsigned long)sb.st_nlink);
    struct timespec ts[2] = { { 1000000000, 5 }, { 1200000000, 7 } };
    check(utimensat(AT_FDCWD, b, ts, 0) == 0 && stat(b, &sb) == 0 && sb.st_atime == 1000000000 && sb.st_atim.tv_nsec == 5 &&
              sb.st_mtime == 1200000000 && sb.st_mtim.tv_nsec == 7,
          "utimensat sets the access and modification times", "atime %ld mtime %ld", (long)sb.st_atime, (long)sb.st_mtime);
    struct timespec omit_now[2] = { { 0, UTIME_OMIT }, { 0, UTIME_NOW } };
    time_t before = time(NULL);
    check(futimens(fd, omit_now) == 0 && fstat(fd, &sb) == 0 && sb.st_atime == 1000000000 && sb.st_mtime >= before - 1,
          "futimens with UTIME_OMIT and UTIME_NOW", "atime %ld mtime %ld", (long)sb.st_atime, (long)sb.st_mtime);
    struct timespec bad[2] = { { 0, 1000000000 }, { 0, 0 } };
    errno = 0;
    check(utimensat(AT_FDCWD, b, bad, 0) == -1 && errno == EINVAL, "a nanosecond field out of range: EINVAL", "errno %d", errno);
    close(fd);
    unlink(b);
}

int main(int argc, char **argv)
{
    tap_init();
    struct utsname u;
    guest = uname(&u) == 0 && strstr(u.release, "rvmm") != NULL;
    snprintf(dir, sizeof dir, "%s", argc > 1 ? argv[1] : guest ? "/" : "/tmp");
    printf("# files in %s (%s)\n", dir, guest ? "guest" : "native");
    basics();
    shared_mappings();
    across_fork();
    /* access and chmod: existence, unknown mode bits, the execute bit. */
    const char *ap = path("access");
    int afd = open(ap, O_CREAT | O_WRONLY, 0644);
    close(afd);
    errno = 0;
    check(access(ap, F_OK) == 0 && access(ap, R_OK | W_OK) == 0, "access: an existing file, readable and writable", "errno %d", errno);
    errno = 0;
    check(access(path("missing"), F_OK) == -1 && errno == ENOENT, "access of a missing file is ENOENT", "errno %d", errno);
    errno = 0;
    check(access(ap, 8) == -1 && errno == EINVAL, "access with an unknown mode bit is EINVAL", "errno %d", errno);
    check(chmod(ap, 0600) == 0, "chmod 0600", "errno %d", errno);
    struct stat ast;
    stat(ap, &ast);
    errno = 0;
    check((ast.st_mode & 07777) == 0600 && S_ISREG(ast.st_mode) && access(ap, X_OK) == -1 && errno == EACCES, "the mode changed, the type stayed, no execute bit: X_OK is EACCES",
          "mode %o errno %d", ast.st_mode, errno);
    afd = open(ap, O_RDONLY);
    check(fchmod(afd, 0755) == 0 && fstat(afd, &ast) == 0 && (ast.st_mode & 07777) == 0755 && faccessat(AT_FDCWD, ap, X_OK, 0) == 0, "fchmod 0755, and X_OK is granted",
          "mode %o errno %d", ast.st_mode, errno);
    close(afd);
    unlink(ap);
    links_and_times();
    return tap_done();
}
