/*
 * Shared helpers for the user-program tests (tests/guest/mm_*.c, fatal.c).
 *
 * Each program prints TAP-style lines, "ok N - description" or
 * "not ok N - description # details", then "N passed, M failed", and exits
 * 0 only when every check passed. Diagnostics are "# ..." lines.
 *
 * The programs are built with `musl-gcc -static -O2` (tests/build.rs) and
 * must give the same results natively on Linux and in our guest. They use
 * raw syscalls (syscall(SYS_...)) wherever musl would check arguments
 * itself or hide what the kernel did, and read /proc with plain
 * open/read into buffers that are touched before any measurement, so that
 * reading RSS does not change it.
 */
#ifndef RVMM_TAP_H
#define RVMM_TAP_H

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

/* Every helper is static and may go unused in a given program. */
#define HELPER static __attribute__((unused))

#define PAGE 4096UL
#define PAGE_ALIGN(x) (((uintptr_t)(x) + PAGE - 1) & ~(PAGE - 1))

static int tap_n, tap_passed, tap_failed;

/* Shared buffer for /proc reads; touched by proc_init() so that reading
 * /proc later faults in no new pages. */
static char proc_buf[64 * 1024];

/* Line-buffered stdout: every TAP line is one write(1, ...), and nothing is
 * lost if the program dies half-way. */
HELPER void tap_init(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
}

/* One check: "ok N - desc", or "not ok N - desc # details" where details
 * is printf(fmt, ...). Returns cond. */
__attribute__((format(printf, 3, 4)))
HELPER int check(int cond, const char *desc, const char *fmt, ...)
{
    tap_n++;
    if (cond) {
        tap_passed++;
        printf("ok %d - %s\n", tap_n, desc);
    } else {
        tap_failed++;
        printf("not ok %d - %s # ", tap_n, desc);
        va_list ap;
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        printf("\n");
    }
    return cond;
}

/* A syscall that must fail with errno `want`: r is what syscall() returned. */
HELPER int check_err(long r, int want, const char *desc)
{
    int e = errno;
    return check(r == -1 && e == want, desc, "got %ld, errno %d (%s), want errno %d (%s)", r,
                 r == -1 ? e : 0, r == -1 ? strerror(e) : "none", want, strerror(want));
}

/* A syscall that must succeed (return >= 0). */
HELPER int check_ok(long r, const char *desc)
{
    int e = errno;
    return check(r >= 0, desc, "got %ld, errno %d (%s)", r, r == -1 ? e : 0, r == -1 ? strerror(e) : "none");
}

HELPER int tap_done(void)
{
    printf("%d passed, %d failed\n", tap_passed, tap_failed);
    fflush(stdout);
    return tap_failed == 0 && tap_passed > 0 ? 0 : 1;
}

/* ---- raw memory syscalls (musl's wrappers check some arguments themselves) */

HELPER void *sys_mmap(void *addr, size_t len, int prot, int flags, int fd, long off)
{
    return (void *)syscall(SYS_mmap, addr, len, prot, flags, fd, off);
}

HELPER long sys_munmap(void *addr, size_t len) { return syscall(SYS_munmap, addr, len); }
HELPER long sys_mprotect(void *addr, size_t len, int prot) { return syscall(SYS_mprotect, addr, len, prot); }
HELPER long sys_madvise(void *addr, size_t len, int advice) { return syscall(SYS_madvise, addr, len, advice); }
/* brk returns the (new or unchanged) break, never an error code. */
HELPER uintptr_t sys_brk(uintptr_t addr) { return (uintptr_t)syscall(SYS_brk, addr); }

/* An anonymous private read-write mapping of n pages, or exits. */
HELPER char *anon_pages(size_t n)
{
    void *p = sys_mmap(NULL, n * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        printf("Bail out! mmap of %zu pages failed: %s\n", n, strerror(errno));
        exit(2);
    }
    return p;
}

/* ---- /proc files */


HELPER void proc_init(void)
{
    memset(proc_buf, 1, sizeof proc_buf);
    proc_buf[0] = 0;
}

/* Reads all of `path` into proc_buf (NUL-terminated); returns its length,
 * or -1 (errno set). */
HELPER long read_file(const char *path)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        proc_buf[0] = 0;
        return -1;
    }
    size_t len = 0;
    for (;;) {
        ssize_t r = read(fd, proc_buf + len, sizeof proc_buf - 1 - len);
        if (r < 0) {
            int e = errno;
            close(fd);
            proc_buf[0] = 0;
            errno = e;
            return -1;
        }
        if (r == 0 || len + r >= sizeof proc_buf - 1) {
            len += r;
            break;
        }
        len += r;
    }
    close(fd);
    proc_buf[len] = 0;
    return (long)len;
}

/* The line of proc_buf that starts with `key` (e.g. "VmRSS:"), or NULL. */
HELPER const char *find_line(const char *key)
{
    size_t klen = strlen(key);
    for (const char *l = proc_buf; *l;) {
        if (strncmp(l, key, klen) == 0)
            return l;
        const char *nl = strchr(l, '\n');
        if (!nl)
            break;
        l = nl + 1;
    }
    return NULL;
}

/* Prints the line of proc_buf starting with `key` as a "# " diagnostic. */
HELPER void print_line(const char *key)
{
    const char *l = find_line(key);
    if (l)
        printf("#   %.*s\n", (int)strcspn(l, "\n"), l);
}

/* Prints the first `max` lines of proc_buf as "# " diagnostics. */
HELPER void print_lines(int max)
{
    const char *l = proc_buf;
    for (int i = 0; i < max && *l; i++) {
        int n = (int)strcspn(l, "\n");
        printf("#   %.*s\n", n, l);
        l += n;
        if (*l == '\n')
            l++;
    }
}

/* The number after `key` in /proc/self/status (kB), or -1. */
HELPER long status_kb(const char *key)
{
    if (read_file("/proc/self/status") < 0)
        return -1;
    const char *l = find_line(key);
    if (!l)
        return -1;
    return strtol(l + strlen(key), NULL, 10);
}

/* One line of /proc/self/maps. */
struct vma {
    uintptr_t start, end;
    char perms[5];
    char name[256];
};

/* Parses one maps line at l into v; returns the next line or NULL. */
HELPER const char *parse_vma(const char *l, struct vma *v)
{
    char *e;
    v->start = strtoul(l, &e, 16);
    if (*e != '-')
        return NULL;
    v->end = strtoul(e + 1, &e, 16);
    while (*e == ' ')
        e++;
    memcpy(v->perms, e, 4);
    v->perms[4] = 0;
    /* perms offset dev inode name */
    for (int field = 0; field < 4 && *e && *e != '\n'; field++) {
        while (*e && *e != ' ' && *e != '\n')
            e++;
        while (*e == ' ')
            e++;
    }
    size_t n = strcspn(e, "\n");
    if (n >= sizeof v->name)
        n = sizeof v->name - 1;
    memcpy(v->name, e, n);
    v->name[n] = 0;
    const char *nl = strchr(e, '\n');
    return nl ? nl + 1 : e + strlen(e);
}

/* Reads /proc/self/maps and finds the VMA containing addr; returns 1 if
 * there is one (filled into *out), 0 if addr is unmapped, -1 if maps could
 * not be read. */
HELPER int vma_at(uintptr_t addr, struct vma *out)
{
    if (read_file("/proc/self/maps") < 0)
        return -1;
    struct vma v;
    for (const char *l = proc_buf; l && *l;) {
        l = parse_vma(l, &v);
        if (!l)
            break;
        if (v.start <= addr && addr < v.end) {
            if (out)
                *out = v;
            return 1;
        }
    }
    return 0;
}

/* Reads /proc/self/maps and finds the VMA named `name` (e.g. "[heap]"). */
HELPER int vma_named(const char *name, struct vma *out)
{
    if (read_file("/proc/self/maps") < 0)
        return -1;
    struct vma v;
    for (const char *l = proc_buf; l && *l;) {
        l = parse_vma(l, &v);
        if (!l)
            break;
        if (strcmp(v.name, name) == 0) {
            if (out)
                *out = v;
            return 1;
        }
    }
    return 0;
}

/* Prints /proc/self/maps as "# " diagnostics. */
HELPER void print_maps(void)
{
    printf("# /proc/self/maps:\n");
    if (read_file("/proc/self/maps") < 0) {
        printf("#   (cannot read: %s)\n", strerror(errno));
        return;
    }
    print_lines(64);
}

#endif
