/*
 * fuzz: a seeded, deterministic random-system-call fuzzer.
 *
 *   fuzz [--seed N] [--calls N] [--dir D] [--inject] [--verbose]
 *
 * Defaults: seed 1, 2000 calls. Each "call" is one randomly chosen
 * operation, most of them on memory, all made with raw system calls. The
 * program keeps a model of what it made: its regions (address, length,
 * kind, and per page the protection and the expected content: zero, a
 * byte pattern, "the file", or unknown), two files of whole pages, its
 * descriptors, pipes (with their bytes), a few names in its directory,
 * the break, two signal dispositions and the signal mask. Every result
 * is checked against what Linux does; a difference is a finding:
 *
 *   fuzz: FINDING seed S call I: <what> ... expected ..., found ...
 *
 * followed by the last 16 system calls (and model notes such as stores)
 * as "# " lines. The first line is "fuzz: seed S, N calls", the last
 * "fuzz: seed S: N calls, K findings"; the exit status is 0 iff K == 0.
 * --verbose prints every call as it is made.
 *
 * What is checked, besides each call's result or errno:
 *  - fresh anonymous pages, private and shared, read zero (also after
 *    MADV_DONTNEED of private ones, and brk pages given back and regrown);
 *  - stores stay (pages are re-read between calls and after every
 *    operation on them); MAP_FIXED, mremap (shrink, grow in place,
 *    MREMAP_MAYMOVE, MREMAP_FIXED), partial munmap and mprotect keep the
 *    other pages' contents; so do all of these on 4 MiB regions advised
 *    MADV_HUGEPAGE, where writes may map 2 MiB transparent huge pages
 *    that the operations split, fork shares and a later write copies;
 *  - file mappings: two MAP_SHARED maps of one file see each other's
 *    stores, write/pwrite/writev and read/pread see them too, private
 *    pages read the file until written (MADV_DONTNEED makes them read it
 *    again), pages past the end of the file fault with SIGBUS, and
 *    truncation takes even private copies past the new end (Linux
 *    truncate_pagecache);
 *  - fork: the child writes pages the parent chose: the parent sees those
 *    to shared pages after wait4, not those to private ones (copy on
 *    write); the child also runs random memory operations on what it
 *    inherited against its copy of the model;
 *  - the pattern "mmap MAP_SHARED_VALIDATE|MAP_ANONYMOUS, read a byte,
 *    write 0x41" followed by fresh private pages, in a child and in the
 *    parent, that must read zero (Linux refuses MAP_SHARED_VALIDATE for
 *    anonymous memory with EINVAL, and so does our guest now; a kernel
 *    that takes it as MAP_SHARED is accepted too, which is how this found
 *    writes into the shared zero page; then MAP_SHARED is used);
 *  - accesses that must fault: a forked child touches the address and must
 *    die of SIGSEGV (PROT_NONE, writes to read-only pages, unmapped,
 *    kernel and low addresses; SIGSEGV or SIGBUS for a non-canonical one)
 *    or SIGBUS (a file mapping past the end of the file), since our kernel
 *    delivers no signal handlers;
 *  - bad buffers (NULL, kernel half, non-canonical, never mapped,
 *    PROT_NONE, read-only for reads) give EFAULT, and a buffer running
 *    into a PROT_NONE page a short count or EFAULT;
 *  - descriptors: random numbers (-1, 0..70, garbage in the upper 32 bits,
 *    which Linux ignores), the lowest free number from open, dup, fcntl
 *    F_DUPFD and pipe, dup2/dup3 rules, close-on-exec, access modes;
 *  - mlock/munlock, msync, the madvise hints and mincore on ranges of
 *    ours change no contents;
 *  - a fixed list of harmless system calls that our guest may not have
 *    (getpgrp, times, getitimer, semctl, mlock2, msync, mincore,
 *    sched_getaffinity): Linux's result or ENOSYS; unknown numbers ENOSYS.
 *
 * The model is conservative: where Linux allows more than one outcome,
 * any is accepted, and where a result leaves contents uncertain the pages
 * are marked unknown. The program only unmaps, remaps or protects its own
 * regions, only kills itself or its own live children with signal 0, never
 * execs (execve of a missing path or a bad pointer must fail), and never
 * blocks: pipes hold at most 512 bytes, reads are made only when data is
 * there, there are no writers, or the pipe is O_NONBLOCK; nanosleep is of
 * at most 1 us; wait4 only waits for its own children.
 *
 * Files go in a directory of their own: D/fuzz.PID, where D is --dir, or
 * "/" in our guest (uname release contains "rvmm"), or /tmp natively.
 * Everything created there is removed at the end.
 *
 * The random numbers come from splitmix64 seeded with --seed only, and
 * what the program does does not depend on where the kernel puts things,
 * so one seed makes the same calls and prints the same lines (only the
 * addresses in the "# " lines of a finding may differ natively, where
 * mmap addresses are randomized). Natively, run it only in a namespace:
 *
 *   unshare --fork --pid --mount-proc --net ./fuzz --seed 1 --calls 20000
 */
#include "tap.h"
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysinfo.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>

#ifndef MAP_SHARED_VALIDATE
#define MAP_SHARED_VALIDATE 0x03
#endif
#ifndef TCGETS
#define TCGETS 0x5401
#endif
#ifndef MREMAP_MAYMOVE
#define MREMAP_MAYMOVE 1
#endif
#ifndef MREMAP_FIXED
#define MREMAP_FIXED 2
#endif

/* Addresses that are never user memory. */
#define KERNEL_ADDR 0xffff800000000000UL
#define NONCANON_ADDR 0x0000800000000000UL
/* Below Linux's mmap_min_addr (64 KiB): never mapped. */
#define LOW_ADDR 0x1000UL

#define barrier() __asm__ volatile("" ::: "memory")

/* ------------------------------------------------------------------------
 * Run state
 */
static unsigned long long seed = 1;
static unsigned long ncalls = 2000;
static unsigned long call_i;     /* the current call, 0-based */
static unsigned long nfindings;  /* findings in this process */
/* --inject: the kernel fails allocations on purpose (fail_page_alloc=,
 * failslab=), so a call that should succeed may instead refuse with
 * ENOMEM or EAGAIN, as Linux's do when memory runs out; those are
 * counted, not findings. */
static int inject;
static unsigned long nrefused;
static int in_child;             /* 1 in a forked child of op_fork */
static int guest;                /* running in our guest kernel */
static int verbose;              /* --verbose: print every call */
static long my_pid, my_ppid;     /* getpid()/getppid() at start */
#define MAX_PRINTED 40           /* findings printed in full */

/* ------------------------------------------------------------------------
 * Random numbers: splitmix64, seeded only from --seed.
 */
static uint64_t rng_state;

static uint64_t rnd(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* A number in [0, n); 0 when n is 0. */
static uint64_t below(uint64_t n)
{
    return n ? rnd() % n : 0;
}

/* True with the given percentage. */
static int chance(unsigned percent)
{
    return below(100) < percent;
}

/* A byte pattern for a whole page: 0x10..0x7f (0 means "zero page"). */
static int random_pattern(void)
{
    return 0x10 + (int)below(0x70);
}

/* ------------------------------------------------------------------------
 * Errno names for messages.
 */
static const char *errname(int e)
{
    static char buf[16];
    switch (e) {
    case 0: return "no error";
    case EPERM: return "EPERM";
    case ENOENT: return "ENOENT";
    case ESRCH: return "ESRCH";
    case EINTR: return "EINTR";
    case EIO: return "EIO";
    case ENOEXEC: return "ENOEXEC";
    case EBADF: return "EBADF";
    case ECHILD: return "ECHILD";
    case EAGAIN: return "EAGAIN";
    case ENOMEM: return "ENOMEM";
    case EACCES: return "EACCES";
    case EFAULT: return "EFAULT";
    case EBUSY: return "EBUSY";
    case EEXIST: return "EEXIST";
    case ENODEV: return "ENODEV";
    case ENOTDIR: return "ENOTDIR";
    case EISDIR: return "EISDIR";
    case EINVAL: return "EINVAL";
    case EMFILE: return "EMFILE";
    case ENOTTY: return "ENOTTY";
    case EFBIG: return "EFBIG";
    case ENOSPC: return "ENOSPC";
    case ESPIPE: return "ESPIPE";
    case EPIPE: return "EPIPE";
    case ERANGE: return "ERANGE";
    case ENAMETOOLONG: return "ENAMETOOLONG";
    case ENOSYS: return "ENOSYS";
    case ENOTEMPTY: return "ENOTEMPTY";
    case EOPNOTSUPP: return "EOPNOTSUPP";
    case EOVERFLOW: return "EOVERFLOW";
    }
    snprintf(buf, sizeof buf, "errno %d", e);
    return buf;
}

/* ------------------------------------------------------------------------
 * System calls go through sc_call(), which keeps a ring of the last 16
 * (with the model's own notes, such as stores, in between).
 */
#define RING 16
struct ring_ent {
    unsigned long call;
    const char *name;
    int na;       /* arguments to print */
    long a[6];
    long ret;
    int err;      /* errno when ret == -1 */
    int note;     /* a model note, not a system call */
};
static struct ring_ent ring[RING];
static unsigned long ring_pos;

static void print_ent(const struct ring_ent *x);

static long sc_call(const char *name, long nr, int na, const long *a)
{
    errno = 0;
    long r = syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
    int e = errno;
    struct ring_ent *x = &ring[ring_pos++ % RING];
    x->call = call_i;
    x->name = name;
    x->na = na;
    memcpy(x->a, a, sizeof x->a);
    x->ret = r;
    x->err = r == -1 ? e : 0;
    x->note = 0;
    if (verbose)
        print_ent(x);
    errno = e;
    return r;
}

/* SC(SYS_x, args...): a recorded raw system call; pointers cast to long. */
#define NARGS(...) (int)(sizeof((long[]){__VA_ARGS__}) / sizeof(long))
#define SC(nr, ...) sc_call(#nr, nr, NARGS(__VA_ARGS__), (long[6]){__VA_ARGS__})
/* SCN("name", number, args...): the same for a bare system call number. */
#define SCN(name, nr, ...) sc_call(name, nr, NARGS(__VA_ARGS__), (long[6]){__VA_ARGS__})

/* A model note in the ring, e.g. "store" (address, pattern). */
static void note(const char *what, long a0, long a1)
{
    struct ring_ent *x = &ring[ring_pos++ % RING];
    memset(x, 0, sizeof *x);
    x->call = call_i;
    x->name = what;
    x->na = 2;
    x->a[0] = a0;
    x->a[1] = a1;
    x->note = 1;
    if (verbose)
        print_ent(x);
}

static void print_num(long v)
{
    if (v >= -4096 && v <= 4096)
        printf("%ld", v);
    else
        printf("%#lx", (unsigned long)v);
}

/* One "#   call I: name(args) = result" line. */
static void print_ent(const struct ring_ent *x)
{
    const char *name = strncmp(x->name, "SYS_", 4) == 0 ? x->name + 4 : x->name;
    printf("#   call %lu: %s%s(", x->call, x->note ? "model: " : "", name);
    for (int i = 0; i < x->na; i++) {
        if (i)
            printf(", ");
        print_num(x->a[i]);
    }
    printf(")");
    if (!x->note) {
        printf(" = ");
        print_num(x->ret);
        if (x->ret == -1)
            printf(" (%s)", errname(x->err));
    }
    printf("\n");
}

static void print_ring(void)
{
    printf("# the last calls, oldest first:\n");
    unsigned long first = ring_pos > RING ? ring_pos - RING : 0;
    for (unsigned long k = first; k < ring_pos; k++)
        print_ent(&ring[k % RING]);
}

/* One finding: "fuzz: FINDING seed S call I: ..." and the ring. */
__attribute__((format(printf, 1, 2))) static void finding(const char *fmt, ...)
{
    nfindings++;
    if (nfindings > MAX_PRINTED) {
        if (nfindings == MAX_PRINTED + 1)
            printf("fuzz: seed %llu call %lu: more findings, not printed\n", seed, call_i);
        return;
    }
    printf("fuzz: FINDING seed %llu call %lu: %s", seed, call_i, in_child ? "in a forked child: " : "");
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    print_ring();
}

/* Whether a failed call only ran out of memory under --inject. */
static int refused(long r, int e)
{
    if (inject && r == -1 && (e == ENOMEM || e == EAGAIN)) {
        nrefused++;
        return 1;
    }
    return 0;
}

/* What a call returned, for messages: "-1 (EINVAL)" or "0x7f...". */
static const char *res(long r, int e)
{
    static char bufs[4][48];
    static int next;
    char *b = bufs[next++ % 4];
    if (r == -1)
        snprintf(b, sizeof bufs[0], "-1 (%s)", errname(e));
    else if (r >= -4096 && r <= 4096)
        snprintf(b, sizeof bufs[0], "%ld", r);
    else
        snprintf(b, sizeof bufs[0], "%#lx", (unsigned long)r);
    return b;
}

/* The call must have failed with `want` (or `alt`, when alt != 0). */
static int want_err2(long r, int want, int alt, const char *what)
{
    int e = errno;
    if (r == -1 && (e == want || (alt && e == alt)))
        return 1;
    if (alt)
        finding("%s: expected -1 (%s or %s), found %s", what, errname(want), errname(alt), res(r, e));
    else
        finding("%s: expected -1 (%s), found %s", what, errname(want), res(r, e));
    return 0;
}

static int want_err(long r, int want, const char *what)
{
    return want_err2(r, want, 0, what);
}

/* The call must have succeeded (any non-error result). */
static int want_ok(long r, const char *what)
{
    int e = errno;
    if (r != -1)
        return 1;
    if (!refused(r, e))
        finding("%s: expected success, found %s", what, res(r, e));
    return 0;
}

/* The call must have returned exactly `want`. */
static int want_val(long r, long want, const char *what)
{
    int e = errno;
    if (r == want)
        return 1;
    if (!refused(r, e))
        finding("%s: expected %s, found %s", what, res(want, 0), res(r, e));
    return 0;
}

/* A system call not in our guest's table: Linux's result, or ENOSYS. */
static int is_enosys(long r)
{
    return r == -1 && errno == ENOSYS;
}

/* ------------------------------------------------------------------------
 * Files: NFILES files of up to FMAXP pages, each page all zero, all one
 * byte pattern, or unknown. Their sizes are always whole pages.
 */
#define NFILES 2
#define FMAXP 16
#define F_ZERO 0    /* the same values as S_ZERO and S_UNKNOWN below */
#define F_UNKNOWN 1
struct mfile {
    char path[300];
    size_t size; /* pages */
    uint8_t st[FMAXP];
};
static struct mfile files[NFILES];
static char dir[256];

/* ------------------------------------------------------------------------
 * Regions: the mappings this program made. Per page: a state byte and the
 * protection. State: S_ZERO, S_UNKNOWN, S_FILE (a private file page not
 * yet written: it reads the file), or a pattern 0x10..0x7f; plus
 * S_TOUCHED once the page was accessed (for the budget of touched pages).
 * For a shared file mapping the content lives in files[], and the state is
 * only S_FILE (and S_TOUCHED).
 */
enum { K_ANON, K_SHANON, K_FILE, K_SHFILE };
static const char *const kind_name[] = {"private anonymous", "shared anonymous", "private file", "shared file"};

#define S_ZERO 0x00
#define S_UNKNOWN 0x01
#define S_FILE 0x02
#define V_SIGBUS 0x03 /* resolve(): the page is past the end of its file */
#define S_TOUCHED 0x80
#define S_VAL 0x7f

#define MAXREG 64
#define REG_SOFT_MAX 56      /* new regions beyond this drop an old one */
#define INLINE_PAGES 32      /* small regions keep their page arrays inline */
#define TOUCH_MAX 1024       /* at most ~4 MiB of touched pages */
#define MAXBIG 2             /* huge MAP_NORESERVE regions at a time */
#define BIG_PAGES (1UL << 18) /* 1 GiB */
#define MAXHUGE 2            /* regions advised MADV_HUGEPAGE at a time */
#define HUGE_PAGES 1024      /* 4 MiB: holds at least one aligned 2 MiB */

struct region {
    uintptr_t addr;
    size_t n;        /* pages */
    int kind;
    int file;        /* file mappings: index in files[] */
    size_t fpage;    /* file mappings: the file page of page 0 */
    int split;       /* may span more than one VMA (mremap may say EFAULT) */
    uint8_t *mem;    /* page arrays when n > INLINE_PAGES, else NULL */
    uint8_t small[2 * INLINE_PAGES];
};
static struct region reg[MAXREG];
static int nreg;
static long touched; /* pages with S_TOUCHED in all regions */

/* The page arrays: n states, then n protections. */
static uint8_t *arr(struct region *r)
{
    return r->mem ? r->mem : r->small;
}
#define ST(r, i) (arr(r)[(i)])
#define PR(r, i) (arr(r)[(r)->n + (i)])

/* Memory for the model itself (not a region): raw mmap, no malloc, since
 * brk is fuzzed. */
static void *raw_alloc(size_t bytes)
{
    void *p = (void *)syscall(SYS_mmap, 0, PAGE_ALIGN(bytes), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                              -1, 0);
    if (p == MAP_FAILED) {
        printf("fuzz: seed %llu: cannot allocate %zu bytes for the model: %s\n", seed, bytes, strerror(errno));
        exit(2);
    }
    return p;
}

static void raw_free(void *p, size_t bytes)
{
    syscall(SYS_munmap, p, PAGE_ALIGN(bytes));
}

/* Sets up r's page arrays for n pages (contents undefined). */
static void reg_arrays(struct region *r, size_t n)
{
    r->n = n;
    r->mem = n > INLINE_PAGES ? raw_alloc(2 * n) : NULL;
}

static void reg_free_arrays(struct region *r)
{
    if (r->mem)
        raw_free(r->mem, 2 * r->n);
    r->mem = NULL;
}

/* Forgets pages [off, off + cnt) of r for the touched count. */
static void untouch_range(struct region *r, size_t off, size_t cnt)
{
    for (size_t i = off; i < off + cnt; i++)
        if (ST(r, i) & S_TOUCHED)
            touched--;
}

/* Adds a region (states `st` for every page, protection `prot`); returns
 * its index, or -1 when the table is full. */
static int reg_add(uintptr_t addr, size_t n, int kind, int file, size_t fpage, int prot, int st)
{
    if (nreg >= MAXREG)
        return -1;
    struct region *r = &reg[nreg];
    memset(r, 0, sizeof *r);
    r->addr = addr;
    r->kind = kind;
    r->file = file;
    r->fpage = fpage;
    reg_arrays(r, n);
    memset(arr(r), st, n);
    memset(arr(r) + n, prot, n);
    return nreg++;
}

/* Removes region idx from the model (not from memory). */
static void reg_remove(int idx)
{
    struct region *r = &reg[idx];
    untouch_range(r, 0, r->n);
    reg_free_arrays(r);
    reg[idx] = reg[--nreg];
}

/* A new region from pages [off, off + cnt) of src. */
static void reg_take(struct region *dst, struct region *src, size_t off, size_t cnt)
{
    memset(dst, 0, sizeof *dst);
    dst->addr = src->addr + off * PAGE;
    dst->kind = src->kind;
    dst->file = src->file;
    dst->fpage = src->fpage + off;
    dst->split = src->split;
    reg_arrays(dst, cnt);
    memcpy(arr(dst), arr(src) + off, cnt);
    memcpy(arr(dst) + cnt, arr(src) + src->n + off, cnt);
}

/* Slots needed to cut [off, off + cnt) out of region idx. */
static int cut_needs_slot(int idx, size_t off, size_t cnt)
{
    return off > 0 && off + cnt < reg[idx].n;
}

/* Cuts pages [off, off + cnt) out of region idx (after munmap or a
 * MAP_FIXED over them). The caller made sure a slot is free if needed. */
static void reg_cut(int idx, size_t off, size_t cnt)
{
    struct region old = reg[idx];
    size_t n = old.n;
    if (off == 0 && cnt >= n) {
        reg_remove(idx);
        return;
    }
    struct region left, right;
    int has_left = off > 0, has_right = off + cnt < n;
    untouch_range(&reg[idx], off, cnt);
    if (has_left)
        reg_take(&left, &reg[idx], 0, off);
    if (has_right)
        reg_take(&right, &reg[idx], off + cnt, n - off - cnt);
    /* reg_take copies from reg[idx]; the arrays of old go now */
    reg_free_arrays(&old);
    if (has_left) {
        reg[idx] = left;
        if (has_right)
            reg[nreg++] = right;
    } else {
        reg[idx] = right;
    }
}

/* A region overlapping [addr, addr + len) other than `except`, or -1. */
static int reg_overlap(uintptr_t addr, size_t len, int except)
{
    for (int i = 0; i < nreg; i++)
        if (i != except && addr < reg[i].addr + reg[i].n * PAGE && reg[i].addr < addr + len)
            return i;
    return -1;
}

static int nbig(void)
{
    int k = 0;
    for (int i = 0; i < nreg; i++)
        k += reg[i].n > 4096;
    return k;
}

/* What page i of r must read now: S_ZERO, S_UNKNOWN, a pattern, or
 * V_SIGBUS (a file page past the end of the file). */
static int resolve(struct region *r, size_t i)
{
    int s = ST(r, i) & S_VAL;
    if (r->kind == K_SHFILE || (r->kind == K_FILE && s == S_FILE)) {
        size_t fp = r->fpage + i;
        if (fp >= files[r->file].size)
            return V_SIGBUS;
        return files[r->file].st[fp];
    }
    return s;
}

static int can_touch(struct region *r, size_t i)
{
    return (ST(r, i) & S_TOUCHED) || touched < TOUCH_MAX;
}

static void touch(struct region *r, size_t i)
{
    if (!(ST(r, i) & S_TOUCHED)) {
        ST(r, i) |= S_TOUCHED;
        touched++;
    }
}

/* Page i of r now holds v (S_ZERO, S_UNKNOWN or a pattern). */
static void page_set(struct region *r, size_t i, int v)
{
    touch(r, i);
    if (r->kind == K_SHFILE)
        files[r->file].st[r->fpage + i] = (uint8_t)v;
    else
        ST(r, i) = (uint8_t)((ST(r, i) & S_TOUCHED) | v);
}

/* The first offset in the page at p that is not `want`, or PAGE. */
static size_t page_mismatch(const uint8_t *p, uint8_t want)
{
    barrier();
    const uint64_t *w = (const uint64_t *)p;
    uint64_t ww = want * 0x0101010101010101ULL;
    for (size_t k = 0; k < PAGE / 8; k++)
        if (w[k] != ww)
            for (size_t b = k * 8; b < k * 8 + 8; b++)
                if (p[b] != want)
                    return b;
    return PAGE;
}

/* Checks page i of region idx if it is readable and its content known;
 * `when` says what happened before, for the message. */
static void page_verify(int idx, size_t i, const char *when)
{
    struct region *r = &reg[idx];
    if (!(PR(r, i) & PROT_READ) || !can_touch(r, i))
        return;
    int v = resolve(r, i);
    if (v == V_SIGBUS)
        return;
    touch(r, i);
    const uint8_t *p = (const uint8_t *)(r->addr + i * PAGE);
    if (v == S_UNKNOWN) {
        (void)*(volatile const uint8_t *)p;
        return;
    }
    uint8_t want = v == S_ZERO ? 0 : (uint8_t)v;
    size_t bad = page_mismatch(p, want);
    if (bad < PAGE) {
        /* for a file mapping: whether the page should show the file */
        const char *how = "";
        if (r->kind == K_SHFILE || (r->kind == K_FILE && (ST(r, i) & S_VAL) == S_FILE))
            how = " (reads the file)";
        else if (r->kind == K_FILE)
            how = " (written: a private copy)";
        finding("%s: page %zu of %zu of a %s region at %#lx%s: expected every byte 0x%02x, found 0x%02x at offset "
                "%zu",
                when, i, r->n, kind_name[r->kind], (unsigned long)r->addr, how, want, p[bad], bad);
        page_set(r, i, S_UNKNOWN);
    }
}

/* Writes pattern pat over page i of r (which must be writable). */
static void page_store(struct region *r, size_t i, int pat)
{
    uint8_t *p = (uint8_t *)(r->addr + i * PAGE);
    note("store", (long)p, pat);
    memset(p, pat, PAGE);
    barrier();
    page_set(r, i, pat);
}

/* Whether page i of r can be written now (in a child: not shared pages,
 * whose content the parent models). */
static int page_writable(struct region *r, size_t i)
{
    if (!(PR(r, i) & PROT_WRITE) || !can_touch(r, i) || resolve(r, i) == V_SIGBUS)
        return 0;
    return !(in_child && (r->kind == K_SHANON || r->kind == K_SHFILE));
}

/* A random region index, or -1 if there are none. Big regions are picked
 * less often. */
static int pick_region(void)
{
    if (!nreg)
        return -1;
    int idx = (int)below(nreg);
    if (reg[idx].n > 4096 && chance(50))
        idx = (int)below(nreg);
    return idx;
}

/* A random page of region idx: in a big region, one of a sparse set. */
static size_t pick_page(int idx)
{
    struct region *r = &reg[idx];
    if (r->n > 4096 && chance(70)) {
        size_t slot = below(64);
        return (slot * (r->n / 64) + below(4)) % r->n;
    }
    return below(r->n);
}

/* A random subrange [*off, *off + *cnt) of region idx, sometimes all. */
static void pick_range(int idx, size_t *off, size_t *cnt)
{
    size_t n = reg[idx].n;
    if (n == 1 || chance(35)) {
        *off = 0;
        *cnt = n;
        return;
    }
    *off = below(n);
    size_t max = n - *off;
    *cnt = 1 + (max > 64 && chance(70) ? below(64) : below(max));
}

static int random_prot(void)
{
    unsigned v = (unsigned)below(100);
    return v < 70 ? PROT_READ | PROT_WRITE : v < 88 ? PROT_READ : PROT_NONE;
}

/* ------------------------------------------------------------------------
 * Descriptors: what each of fds 0..FDMAX-1 is, in this model.
 */
#define FDMAX 71
#define MAXOWN 32 /* descriptors of ours open at a time */
/* FD_FOREIGN: open at start, not ours (never closed or used for I/O);
 * the kinds from FD_FILE on are ours. */
enum { FD_NONE, FD_FOREIGN, FD_FILE, FD_PIPER, FD_PIPEW, FD_DIR };
struct mfd {
    uint8_t kind;
    uint8_t obj;     /* FD_FILE: file index; FD_PIPE*: pipe index */
    uint8_t acc;     /* FD_FILE: O_RDONLY, O_WRONLY or O_RDWR */
    uint8_t cloexec;
};
static struct mfd fds[FDMAX];

#define NPIPES 4
#define PIPE_KEEP 512 /* bytes kept in a pipe at most: writes never block */
struct mpipe {
    int live;
    int nr, nw;   /* read and write ends open */
    int nonblock;
    size_t len;
    uint8_t data[PIPE_KEEP];
};
static struct mpipe pipes[NPIPES];

static int own_fds(void)
{
    int k = 0;
    for (int i = 0; i < FDMAX; i++)
        k += fds[i].kind >= FD_FILE;
    return k;
}

/* The lowest fd >= from that the model says is free, or -1. */
static int lowest_free(int from)
{
    for (int i = from < 0 ? 0 : from; i < FDMAX; i++)
        if (fds[i].kind == FD_NONE)
            return i;
    return -1;
}

/* fd was closed: forget it (and a pipe with no ends left). */
static void fd_forget(int fd)
{
    struct mfd *f = &fds[fd];
    if (f->kind == FD_PIPER || f->kind == FD_PIPEW) {
        struct mpipe *p = &pipes[f->obj];
        if (f->kind == FD_PIPER)
            p->nr--;
        else
            p->nw--;
        if (p->nr == 0 && p->nw == 0)
            p->live = 0;
    }
    memset(f, 0, sizeof *f);
}

/* fd now refers to what `like` does (dup), with close-on-exec cloexec. */
static void fd_copy(int fd, int like, int cloexec)
{
    fds[fd] = fds[like];
    fds[fd].cloexec = (uint8_t)cloexec;
    if (fds[fd].kind == FD_PIPER)
        pipes[fds[fd].obj].nr++;
    if (fds[fd].kind == FD_PIPEW)
        pipes[fds[fd].obj].nw++;
}

/* A descriptor that we opened and the model did not expect at that
 * number (or beyond FDMAX): close it and carry on. */
static void stray_fd(long fd)
{
    if (fd >= 0 && (fd >= FDMAX || fds[fd].kind == FD_NONE))
        SC(SYS_close, fd);
}

/* ------------------------------------------------------------------------
 * Forked children. fork_child() flushes stdout first so the child's
 * buffer is empty; children end with exit_group.
 */
static long fork_child(void)
{
    fflush(stdout);
    return SC(SYS_fork);
}

static __attribute__((noreturn)) void child_exit(int code)
{
    fflush(stdout);
    syscall(SYS_exit_group, code);
    __builtin_unreachable();
}

/* Waits for our child pid; returns its status, or -1 (a finding). */
static int reap(long pid, const char *what)
{
    int status = 0;
    long w = SC(SYS_wait4, pid, (long)&status, 0, 0);
    if (w != pid) {
        finding("%s: wait4(%ld) expected the child, found %s", what, pid, res(w, errno));
        return -1;
    }
    return status;
}

static const char *status_str(int st)
{
    static char buf[64];
    if (WIFEXITED(st))
        snprintf(buf, sizeof buf, "exit status %d", WEXITSTATUS(st));
    else if (WIFSIGNALED(st))
        snprintf(buf, sizeof buf, "killed by signal %d (%s)", WTERMSIG(st),
                 WTERMSIG(st) == SIGSEGV ? "SIGSEGV" : WTERMSIG(st) == SIGBUS ? "SIGBUS" : "other");
    else
        snprintf(buf, sizeof buf, "status %#x", st);
    return buf;
}

/* A child that touches addr (reads, or writes if `write`) must die of
 * signal sig (sig 0: of SIGSEGV or SIGBUS: a non-canonical address gives
 * SIGBUS on some Linux machines). */
static void expect_fault(uintptr_t addr, int write, int sig, const char *what)
{
    if (in_child)
        return;
    long pid = fork_child();
    if (pid == 0) {
        if (write)
            *(volatile uint8_t *)addr = 0x55;
        else
            (void)*(volatile uint8_t *)addr;
        syscall(SYS_exit_group, 0);
    }
    if (pid < 0) {
        if (!refused(pid, errno))
            finding("fork for a fault check: expected a child, found %s", res(pid, errno));
        return;
    }
    int st = reap(pid, what);
    int ok = WIFSIGNALED(st) && (sig ? WTERMSIG(st) == sig : WTERMSIG(st) == SIGSEGV || WTERMSIG(st) == SIGBUS);
    if (st != -1 && !ok)
        finding("%s: a child that %s %#lx must die of %s, found %s", what, write ? "writes" : "reads",
                (unsigned long)addr, sig == SIGBUS ? "SIGBUS" : sig ? "SIGSEGV" : "SIGSEGV or SIGBUS",
                status_str(st));
}

/* Removes a random region from memory and the model, to make room. */
static void drop_region(void)
{
    int idx = pick_region();
    if (idx < 0)
        return;
    long r = SC(SYS_munmap, (long)reg[idx].addr, (long)(reg[idx].n * PAGE));
    want_val(r, 0, "munmap of a whole region");
    reg_remove(idx);
}

/* A descriptor of ours for file f, open read-write: an existing one, or
 * a new one. Returns -1 (a finding was made) if it cannot. */
static int file_fd(int f)
{
    for (int i = 0; i < FDMAX; i++)
        if (fds[i].kind == FD_FILE && fds[i].obj == f && fds[i].acc == O_RDWR)
            return i;
    if (own_fds() >= MAXOWN) {
        /* close one of ours first */
        for (int i = FDMAX - 1; i >= 0; i--)
            if (fds[i].kind >= FD_FILE) {
                want_val(SC(SYS_close, i), 0, "close of an open descriptor");
                fd_forget(i);
                break;
            }
    }
    int want = lowest_free(0);
    long fd = SC(SYS_open, (long)files[f].path, O_RDWR);
    if (!want_ok(fd, "open of our file O_RDWR"))
        return -1;
    if (fd != want) {
        finding("open: expected the lowest free descriptor %d, found %ld", want, fd);
        stray_fd(fd);
        return -1;
    }
    fds[fd].kind = FD_FILE;
    fds[fd].obj = (uint8_t)f;
    fds[fd].acc = O_RDWR;
    return (int)fd;
}

/* ------------------------------------------------------------------------
 * Memory operations
 */

static void one_op(int child);
static void spot_check(void);

/* mmap of a new region: private or shared, anonymous or of a file. */
static void op_mmap(void)
{
    if (nreg >= REG_SOFT_MAX)
        drop_region();
    unsigned v = (unsigned)below(100);
    int kind = v < 45 ? K_ANON : v < 65 ? K_SHANON : v < 83 ? K_FILE : K_SHFILE;
    if (in_child && kind == K_SHFILE)
        kind = K_FILE;
    size_t n = chance(85) ? 1 + below(8) : 1 + below(128);
    int prot = random_prot();
    int flags = 0, fd = -1, f = 0;
    size_t fpage = 0;
    switch (kind) {
    case K_ANON:
        flags = MAP_PRIVATE | MAP_ANONYMOUS | (chance(10) ? MAP_NORESERVE : 0);
        break;
    case K_SHANON:
        flags = (chance(30) ? MAP_SHARED_VALIDATE : MAP_SHARED) | MAP_ANONYMOUS;
        break;
    default:
        f = (int)below(NFILES);
        fpage = below(files[f].size + 2); /* may start past the end */
        if (in_child) {
            /* a child does not open files (offsets are shared) */
            for (fd = 0; fd < FDMAX; fd++)
                if (fds[fd].kind == FD_FILE && fds[fd].obj == f && fds[fd].acc == O_RDWR)
                    break;
            if (fd == FDMAX)
                return;
        } else {
            fd = file_fd(f);
        }
        if (fd < 0)
            return;
        flags = kind == K_SHFILE ? MAP_SHARED : MAP_PRIVATE;
        break;
    }
    int populate = n <= 8 && touched + (long)n <= TOUCH_MAX && chance(10);
    if (populate)
        flags |= MAP_POPULATE;
    long r = SC(SYS_mmap, 0, (long)(n * PAGE), prot, flags, fd, (long)(fpage * PAGE));
    if (r == -1 && (flags & MAP_TYPE) == MAP_SHARED_VALIDATE && kind == K_SHANON && errno == EINVAL) {
        /* Linux refuses MAP_SHARED_VALIDATE for anonymous memory; our
         * guest takes it as MAP_SHARED. Both are fine: use MAP_SHARED. */
        flags = (flags & ~MAP_TYPE) | MAP_SHARED;
        r = SC(SYS_mmap, 0, (long)(n * PAGE), prot, flags, fd, (long)(fpage * PAGE));
    }
    if (!want_ok(r, "mmap of a new region"))
        return;
    uintptr_t a = (uintptr_t)r;
    int o = reg_overlap(a, n * PAGE, -1);
    if (a % PAGE || o >= 0) {
        finding("mmap(NULL, %zu pages) expected a page-aligned free range, found %#lx (overlapping region at %#lx)", n,
                (unsigned long)a, o >= 0 ? (unsigned long)reg[o].addr : 0UL);
        return; /* leave it: the model no longer knows that memory */
    }
    int idx = reg_add(a, n, kind, f, fpage, prot, kind >= K_FILE ? S_FILE : S_ZERO);
    if (idx < 0) {
        SC(SYS_munmap, (long)a, (long)(n * PAGE));
        return;
    }
    if (populate) {
        /* MAP_POPULATE of a writable private file mapping write-faults:
         * the pages are private copies of the file now */
        struct region *r = &reg[idx];
        for (size_t i = 0; i < n; i++) {
            int val = resolve(r, i);
            if (val == V_SIGBUS)
                break; /* populating stops at the end of the file */
            touch(r, i);
            if (kind == K_FILE && (prot & PROT_WRITE))
                page_set(r, i, val);
        }
    }
    page_verify(idx, below(n), "a new mapping");
}

/* A huge MAP_NORESERVE region (1 GiB or 64 MiB), touched sparsely later. */
static void op_big(void)
{
    if (nbig() >= MAXBIG || nreg >= REG_SOFT_MAX)
        return;
    size_t n = chance(50) ? BIG_PAGES : BIG_PAGES / 16;
    int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;
    long r = SC(SYS_mmap, 0, (long)(n * PAGE), PROT_READ | PROT_WRITE, flags, -1, 0);
    if (!want_ok(r, "mmap of a big MAP_NORESERVE region"))
        return;
    uintptr_t a = (uintptr_t)r;
    if (a % PAGE || reg_overlap(a, n * PAGE, -1) >= 0) {
        finding("mmap of %zu pages expected a free range, found %#lx", n, (unsigned long)a);
        return;
    }
    int idx = reg_add(a, n, K_ANON, 0, 0, PROT_READ | PROT_WRITE, S_ZERO);
    if (idx < 0) {
        SC(SYS_munmap, (long)a, (long)(n * PAGE));
        return;
    }
    /* touch a few pages far apart */
    for (int k = 0; k < 4; k++) {
        size_t i = pick_page(idx);
        if (chance(50) && page_writable(&reg[idx], i))
            page_store(&reg[idx], i, random_pattern());
        page_verify(idx, i, "a big MAP_NORESERVE region");
    }
}

/* Regions the size op_huge makes (or what is left of them). */
static int nhuge(void)
{
    int k = 0;
    for (int i = 0; i < nreg; i++)
        k += reg[i].n >= HUGE_PAGES / 2 && reg[i].n <= 4096;
    return k;
}

/* 4 MiB of private anonymous memory advised MADV_HUGEPAGE: a write may
 * fault in a 2 MiB transparent huge page, which the other operations then
 * split (munmap, mprotect, mremap of part of it, MADV_PAGEOUT), share
 * (fork) and copy (a write after fork). What each page reads stays the
 * model's. */
static void op_huge(void)
{
    if (nhuge() >= MAXHUGE || nreg >= REG_SOFT_MAX)
        return;
    size_t n = HUGE_PAGES;
    long r = SC(SYS_mmap, 0, (long)(n * PAGE), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (!want_ok(r, "mmap of a region for huge pages"))
        return;
    uintptr_t a = (uintptr_t)r;
    if (a % PAGE || reg_overlap(a, n * PAGE, -1) >= 0) {
        finding("mmap of %zu pages expected a free range, found %#lx", n, (unsigned long)a);
        return;
    }
    want_val(SC(SYS_madvise, (long)a, (long)(n * PAGE), 14 /* MADV_HUGEPAGE */), 0, "madvise(MADV_HUGEPAGE)");
    int idx = reg_add(a, n, K_ANON, 0, 0, PROT_READ | PROT_WRITE, S_ZERO);
    if (idx < 0) {
        SC(SYS_munmap, (long)a, (long)(n * PAGE));
        return;
    }
    for (int k = 0; k < 3; k++) {
        size_t i = pick_page(idx);
        if (page_writable(&reg[idx], i))
            page_store(&reg[idx], i, random_pattern());
        page_verify(idx, pick_page(idx), "a region advised MADV_HUGEPAGE");
    }
}

/* munmap of a whole region or part of one; unaligned or empty ones fail. */
static void op_munmap(void)
{
    int idx = pick_region();
    if (idx < 0)
        return;
    struct region *r = &reg[idx];
    unsigned v = (unsigned)below(100);
    if (v < 5) {
        long x = SC(SYS_munmap, (long)(r->addr + 1 + below(PAGE - 1)), PAGE);
        want_err(x, EINVAL, "munmap at an unaligned address");
        return;
    }
    if (v < 8) {
        want_err(SC(SYS_munmap, (long)r->addr, 0), EINVAL, "munmap of length 0");
        return;
    }
    size_t off, cnt;
    pick_range(idx, &off, &cnt);
    if (cut_needs_slot(idx, off, cnt) && nreg >= MAXREG) {
        off = 0;
        cnt = r->n;
    }
    uintptr_t a = r->addr + off * PAGE;
    /* an unaligned length is rounded up */
    size_t len = cnt * PAGE - (chance(20) ? below(PAGE) : 0);
    int check = chance(6);
    long x = SC(SYS_munmap, (long)a, (long)len);
    if (!want_val(x, 0, "munmap of (part of) a region"))
        return;
    /* (before reg_cut, whose model memory could land in the range) */
    if (check) {
        uintptr_t t = a + below(cnt) * PAGE;
        expect_fault(t, chance(50), SIGSEGV, "after munmap");
    }
    reg_cut(idx, off, cnt);
}

/* mprotect of a region or part of one to NONE, READ or READ|WRITE. */
static void op_mprotect(void)
{
    int idx = pick_region();
    if (idx < 0)
        return;
    struct region *r = &reg[idx];
    unsigned v = (unsigned)below(100);
    if (v < 4) {
        long x = SC(SYS_mprotect, (long)(r->addr + 1 + below(PAGE - 1)), PAGE, PROT_READ);
        want_err(x, EINVAL, "mprotect at an unaligned address");
        return;
    }
    if (v < 6) {
        long x = SC(SYS_mprotect, (long)r->addr, PAGE, PROT_READ | 0x10000);
        want_err(x, EINVAL, "mprotect with an unknown protection bit");
        return;
    }
    size_t off, cnt;
    pick_range(idx, &off, &cnt);
    int prot = random_prot();
    long x = SC(SYS_mprotect, (long)(r->addr + off * PAGE), (long)(cnt * PAGE), prot);
    if (!want_val(x, 0, "mprotect of (part of) a region"))
        return;
    memset(&PR(r, off), prot, cnt);
    if (cnt < r->n)
        r->split = 1;
    page_verify(idx, off + below(cnt), "after mprotect");
}

/* madvise: MADV_DONTNEED (anonymous private pages read zero afterwards,
 * private file pages read the file again, shared pages keep their data),
 * the harmless hints, and the EINVAL cases. */
static void op_madvise(void)
{
    int idx = pick_region();
    if (idx < 0)
        return;
    struct region *r = &reg[idx];
    unsigned v = (unsigned)below(100);
    if (v < 4) {
        want_err(SC(SYS_madvise, (long)(r->addr + 1 + below(PAGE - 1)), PAGE, MADV_DONTNEED), EINVAL,
                 "madvise at an unaligned address");
        return;
    }
    if (v < 7) {
        want_err(SC(SYS_madvise, (long)r->addr, PAGE, 12345), EINVAL, "madvise with unknown advice");
        return;
    }
    if (v < 9) {
        want_val(SC(SYS_madvise, (long)r->addr, 0, MADV_DONTNEED), 0, "madvise of length 0");
        return;
    }
    size_t off, cnt;
    pick_range(idx, &off, &cnt);
    if (v < 22) {
        static const int hints[] = {MADV_NORMAL, MADV_RANDOM, MADV_SEQUENTIAL, MADV_WILLNEED};
        int h = hints[below(4)];
        long x = SC(SYS_madvise, (long)(r->addr + off * PAGE), (long)(cnt * PAGE), h);
        want_val(x, 0, "madvise with a hint");
        if (h != MADV_WILLNEED && cnt < r->n)
            r->split = 1; /* the hint flags split VMAs */
        return;
    }
    if (v < 34 && r->kind == K_ANON) {
        /* MADV_PAGEOUT and MADV_COLD on private anonymous memory: the pages
         * may go to swap (with a swap device) but read the same; EINVAL for
         * locked memory. (On file mappings Linux also writes back and drops
         * page-cache pages, which the model does not follow.) */
        int h = chance(70) ? 21 /* MADV_PAGEOUT */ : 20 /* MADV_COLD */;
        long x = SC(SYS_madvise, (long)(r->addr + off * PAGE), (long)(cnt * PAGE), h);
        if (x != 0 && !(x == -1 && errno == EINVAL))
            finding("madvise(%s): expected 0 (or EINVAL for locked memory), found %s", h == 21 ? "MADV_PAGEOUT" : "MADV_COLD", res(x, errno));
        for (int k = 0; k < 3; k++)
            page_verify(idx, off + below(cnt), "after madvise(MADV_PAGEOUT): the page reads the same");
        return;
    }
    long x = SC(SYS_madvise, (long)(r->addr + off * PAGE), (long)(cnt * PAGE), MADV_DONTNEED);
    if (!want_val(x, 0, "madvise(MADV_DONTNEED)"))
        return;
    for (size_t i = off; i < off + cnt; i++) {
        if (r->kind == K_ANON || r->kind == K_FILE) {
            if (ST(r, i) & S_TOUCHED)
                touched--;
            ST(r, i) = r->kind == K_ANON ? S_ZERO : S_FILE;
        }
    }
    for (int k = 0; k < 2; k++)
        page_verify(idx, off + below(cnt), "after madvise(MADV_DONTNEED)");
}

/* Stores a new pattern over a few writable pages. */
static void op_store(void)
{
    for (int k = 0; k < 3; k++) {
        int idx = pick_region();
        if (idx < 0)
            return;
        size_t i = pick_page(idx);
        if (page_writable(&reg[idx], i))
            page_store(&reg[idx], i, random_pattern());
    }
}

/* Checks every page of a region (up to 32 of a big one). */
static void op_check(void)
{
    int idx = pick_region();
    if (idx < 0)
        return;
    size_t n = reg[idx].n;
    if (n <= 32)
        for (size_t i = 0; i < n; i++)
            page_verify(idx, i, "a full check");
    else
        for (int k = 0; k < 32; k++)
            page_verify(idx, pick_page(idx), "a full check");
}

/* A child must die touching what must fault. */
static void op_fault(void)
{
    unsigned v = (unsigned)below(100);
    if (v < 15) {
        static const uintptr_t bad[] = {0, KERNEL_ADDR, NONCANON_ADDR, LOW_ADDR};
        int b = (int)below(4);
        uintptr_t t = bad[b] + below(16) * PAGE;
        expect_fault(t, chance(50), bad[b] == NONCANON_ADDR ? 0 : SIGSEGV,
                     "a never-mapped address");
        return;
    }
    for (int tries = 0; tries < 8; tries++) {
        int idx = pick_region();
        if (idx < 0)
            return;
        struct region *r = &reg[idx];
        size_t i = pick_page(idx);
        uintptr_t a = r->addr + i * PAGE + below(PAGE);
        int p = PR(r, i), val = resolve(r, i);
        if (p == PROT_NONE) {
            expect_fault(a, chance(50), SIGSEGV, "a PROT_NONE page");
            return;
        }
        if (p == PROT_READ && val != V_SIGBUS) {
            expect_fault(a, 1, SIGSEGV, "a write to a read-only page");
            return;
        }
        if ((p & PROT_READ) && val == V_SIGBUS) {
            expect_fault(a, 0, SIGBUS, "a file mapping past the end of the file");
            return;
        }
    }
}

/* mremap: shrink, grow in place (into pages it just unmapped itself, so
 * that there is room whatever the address layout), MREMAP_MAYMOVE,
 * MREMAP_FIXED to a free spot, and the EINVAL cases. A region that may
 * span several VMAs (after a partial mprotect) is only shrunk: whether
 * Linux merged its VMAs again depends on the layout, and runs of one seed
 * must do the same. */
static void op_mremap(void)
{
    int idx = pick_region();
    if (idx < 0)
        return;
    struct region *r = &reg[idx];
    size_t n = r->n;
    uintptr_t addr = r->addr;
    unsigned v = (unsigned)below(100);
    if (v < 8) {
        long x;
        switch (below(4)) {
        case 0:
            x = SC(SYS_mremap, (long)(addr + 1 + below(PAGE - 1)), PAGE, PAGE, 0, 0);
            want_err(x, EINVAL, "mremap at an unaligned address");
            break;
        case 1:
            x = SC(SYS_mremap, (long)addr, PAGE, 0, MREMAP_MAYMOVE, 0);
            want_err(x, EINVAL, "mremap to length 0");
            break;
        case 2:
            x = SC(SYS_mremap, (long)addr, (long)(n * PAGE), (long)(n * PAGE), MREMAP_FIXED, (long)(addr + 64 * PAGE));
            want_err(x, EINVAL, "mremap with MREMAP_FIXED but not MREMAP_MAYMOVE");
            break;
        default:
            x = SC(SYS_mremap, (long)addr, (long)(n * PAGE), (long)(n * PAGE), MREMAP_MAYMOVE | MREMAP_FIXED, (long)addr);
            want_err(x, EINVAL, "mremap with MREMAP_FIXED onto the old range");
            break;
        }
        return;
    }
    /* the new length and flags */
    size_t nn = n;
    int flags = 0, mode = (int)below(4);
    int check_old = chance(10);
    long spot = 0;
    if (mode != 0 && r->split)
        mode = 0;
    if (mode == 0) { /* shrink in place */
        if (n < 2)
            return;
        nn = 1 + below(n - 1);
    } else if (mode == 1) { /* unmap the tail, then grow back in place */
        if (r->kind == K_SHANON || n < 2)
            return; /* Linux: SIGBUS past the shmem object's end */
        /* (no model memory is allocated in between: it could take the
         * freed range) */
        size_t m = 1 + below(n - 1);
        if (!want_val(SC(SYS_munmap, (long)(addr + (n - m) * PAGE), (long)(m * PAGE)), 0, "munmap of a region's tail"))
            return;
        long x = SC(SYS_mremap, (long)addr, (long)((n - m) * PAGE), (long)(n * PAGE), 0, 0);
        if (!want_val(x, (long)addr, "mremap growing a region in place into the range it just unmapped")) {
            reg_cut(idx, n - m, m);
            return;
        }
        /* the tail is new: zero, or the file again */
        untouch_range(r, n - m, m);
        memset(&ST(r, n - m), r->kind >= K_FILE ? S_FILE : S_ZERO, m);
        memset(&PR(r, n - m), PR(r, n - m - 1), m);
        page_verify(idx, n - m + below(m), "the grown tail after mremap");
        return;
    } else {
        flags = MREMAP_MAYMOVE;
        if (r->kind == K_SHANON)
            nn = chance(50) ? n : 1 + below(n);
        else
            nn = chance(30) ? n : chance(60) ? n + 1 + below(8) : 1 + below(n);
        if (mode == 3) {
            /* a free spot: a reservation that MREMAP_FIXED replaces */
            flags |= MREMAP_FIXED;
            spot = SC(SYS_mmap, 0, (long)(nn * PAGE), PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
            if (!want_ok(spot, "mmap of a PROT_NONE reservation"))
                return;
        }
    }
    long x = SC(SYS_mremap, (long)addr, (long)(n * PAGE), (long)(nn * PAGE), flags, spot);
    if (x == -1) {
        int e = errno;
        if (!(r->split && e == EFAULT))
            finding("mremap of a %s region of %zu pages to %zu pages (flags %d)%s: expected success%s, found %s",
                    kind_name[r->kind], n, nn, flags, r->split ? " (maybe several VMAs)" : "",
                    r->split ? " or EFAULT" : "", res(x, e));
        if (spot)
            SC(SYS_munmap, spot, (long)(nn * PAGE));
        return;
    }
    uintptr_t a = (uintptr_t)x;
    if (a != addr && check_old) {
        /* the old range is gone (unless the new one overlaps it); checked
         * before the model allocates anything that could land there */
        uintptr_t old = addr + below(n) * PAGE;
        if (old < a || old >= a + nn * PAGE)
            expect_fault(old, 0, SIGSEGV, "the old range after mremap moved a region");
    }
    int bad = a % PAGE != 0;
    if (flags == 0 && a != addr)
        bad = 1;
    if (spot && a != (uintptr_t)spot)
        bad = 1;
    if (reg_overlap(a, nn * PAGE, idx) >= 0)
        bad = 1;
    if (bad) {
        finding("mremap of %zu pages at %#lx to %zu pages (flags %d, new address %#lx): found %#lx, not the "
                "expected place or overlapping another region",
                n, (unsigned long)addr, nn, flags, (unsigned long)spot, (unsigned long)a);
        reg_remove(idx); /* the model no longer knows */
        return;
    }
    /* the region moves and/or changes length: new page arrays */
    struct region nr = *r;
    size_t keep = nn < n ? nn : n;
    untouch_range(r, keep, n - keep);
    nr.addr = a;
    reg_arrays(&nr, nn);
    memcpy(arr(&nr), arr(r), keep);
    memcpy(arr(&nr) + nn, arr(r) + n, keep);
    if (nn > n) {
        memset(arr(&nr) + n, r->kind >= K_FILE ? S_FILE : S_ZERO, nn - n);
        memset(arr(&nr) + nn + n, PR(r, n - 1), nn - n);
    }
    reg_free_arrays(r);
    *r = nr;
    page_verify(idx, below(nn), "after mremap");
}

/* RAM in pages (sysinfo at start): Linux's heuristic overcommit refuses
 * a private writable mapping larger than all of it with ENOMEM, so a
 * request that fits the host may not fit a small guest. */
static unsigned long ram_pages;

static int overcommit_refuses(size_t pages, int prot, int flags)
{
    return (flags & MAP_SHARED) == 0 && (prot & PROT_WRITE) != 0 && (flags & MAP_NORESERVE) == 0 && pages > ram_pages;
}

/* mmap with MAP_FIXED over part of a region of ours (replacing it),
 * MAP_FIXED_NOREPLACE over one (EEXIST) or at a free spot, and a hint
 * address over one (the kernel must pick another place). */
static void op_fixed(void)
{
    int idx = pick_region();
    if (idx < 0)
        return;
    if (nreg + 2 > MAXREG)
        drop_region();
    idx = pick_region();
    if (idx < 0)
        return;
    struct region *r = &reg[idx];
    size_t off, cnt;
    pick_range(idx, &off, &cnt);
    uintptr_t a = r->addr + off * PAGE;
    unsigned v = (unsigned)below(100);
    if (v < 12) {
        long x = SC(SYS_mmap, (long)a, (long)(cnt * PAGE), PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE,
                    -1, 0);
        want_err(x, EEXIST, "mmap MAP_FIXED_NOREPLACE over a mapping");
        return;
    }
    if (v < 24) {
        long x = SC(SYS_mmap, (long)a, (long)(cnt * PAGE), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (!want_ok(x, "mmap with a hint address inside a mapping"))
            return;
        if ((uintptr_t)x % PAGE || reg_overlap((uintptr_t)x, cnt * PAGE, -1) >= 0) {
            finding("mmap with a hint inside a mapping: found %#lx, overlapping a region of ours", (unsigned long)x);
            return;
        }
        if (reg_add((uintptr_t)x, cnt, K_ANON, 0, 0, PROT_READ | PROT_WRITE, S_ZERO) < 0)
            SC(SYS_munmap, x, (long)(cnt * PAGE));
        return;
    }
    if (v < 32) {
        /* a free spot: reserve it, give it back, then NOREPLACE there */
        long spot = SC(SYS_mmap, 0, (long)(cnt * PAGE), PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (!want_ok(spot, "mmap of a reservation"))
            return;
        SC(SYS_munmap, spot, (long)(cnt * PAGE));
        long x = SC(SYS_mmap, spot, (long)(cnt * PAGE), PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
        if (!want_val(x, spot, "mmap MAP_FIXED_NOREPLACE at a free address"))
            return;
        if (reg_add((uintptr_t)x, cnt, K_ANON, 0, 0, PROT_READ | PROT_WRITE, S_ZERO) < 0)
            SC(SYS_munmap, x, (long)(cnt * PAGE));
        return;
    }
    /* MAP_FIXED over [a, a + cnt pages) */
    unsigned k = (unsigned)below(100);
    int kind = k < 50 ? K_ANON : k < 70 ? K_SHANON : k < 85 ? K_FILE : K_SHFILE;
    if (in_child && kind == K_SHFILE)
        kind = K_FILE;
    int prot = random_prot(), flags, fd = -1, f = 0;
    size_t fpage = 0;
    if (kind >= K_FILE) {
        f = (int)below(NFILES);
        fpage = below(files[f].size + 2);
        for (fd = 0; fd < FDMAX; fd++)
            if (fds[fd].kind == FD_FILE && fds[fd].obj == f && fds[fd].acc == O_RDWR)
                break;
        if (fd == FDMAX)
            fd = in_child ? -1 : file_fd(f);
        if (fd < 0)
            return;
        flags = kind == K_SHFILE ? MAP_SHARED : MAP_PRIVATE;
    } else {
        flags = (kind == K_SHANON ? MAP_SHARED : MAP_PRIVATE) | MAP_ANONYMOUS;
    }
    r = &reg[idx];
    int split = r->split;
    long x = SC(SYS_mmap, (long)a, (long)(cnt * PAGE), prot, flags | MAP_FIXED, fd, (long)(fpage * PAGE));
    int ok = x == -1 && errno == ENOMEM && overcommit_refuses(cnt, prot, flags)
                 ? 0
                 : want_val(x, (long)a, "mmap MAP_FIXED over a region of ours");
    /* on failure the old pages may be gone too: forget them */
    reg_cut(idx, off, cnt);
    if (!ok)
        return;
    int ni = reg_add(a, cnt, kind, f, fpage, prot, kind >= K_FILE ? S_FILE : S_ZERO);
    if (ni < 0) {
        SC(SYS_munmap, (long)a, (long)(cnt * PAGE));
        return;
    }
    reg[ni].split = split;
    page_verify(ni, below(cnt), "a MAP_FIXED mapping over an old one");
}

/* ------------------------------------------------------------------------
 * brk: the break moves up and down above where it started; new pages read
 * zero, also after a shrink and regrow.
 */
#define BRK_MAX 64
static uintptr_t brk0;     /* the break at start */
static uintptr_t brk_base; /* PAGE_ALIGN(brk0): our pages start here */
static uintptr_t brk_cur;  /* the break now */
static uint8_t brk_st[BRK_MAX]; /* S_ZERO or a pattern */

static size_t brk_pages(void)
{
    return (PAGE_ALIGN(brk_cur) - brk_base) / PAGE;
}

static void brk_verify(size_t j)
{
    const uint8_t *p = (const uint8_t *)(brk_base + j * PAGE);
    uint8_t want = brk_st[j];
    size_t bad = page_mismatch(p, want);
    if (bad < PAGE) {
        finding("brk page %zu at %#lx: expected every byte 0x%02x, found 0x%02x at offset %zu", j, (unsigned long)p,
                want, p[bad], bad);
        memset((void *)p, want, PAGE);
    }
}

static void op_brk(void)
{
    unsigned v = (unsigned)below(100);
    if (v < 8) {
        want_val(SC(SYS_brk, 0), (long)brk_cur, "brk(0) returns the break");
        return;
    }
    if (v < 14) {
        /* below the start or in the kernel half: refused, the break stays */
        long target = chance(50) ? (long)(brk0 - PAGE * (1 + below(16))) : (long)(KERNEL_ADDR + below(64) * PAGE);
        want_val(SC(SYS_brk, target), (long)brk_cur, "brk to an impossible address returns the old break");
        return;
    }
    if (v < 60) {
        uintptr_t target = brk_base + below(BRK_MAX + 1) * PAGE;
        if (chance(25) && target > brk_base)
            target -= 1 + below(PAGE - 1);
        if (target < brk0)
            target = brk0;
        long x = SC(SYS_brk, (long)target);
        if (x == (long)target) {
            size_t old_top = brk_pages();
            brk_cur = target;
            size_t new_top = brk_pages();
            /* pages given back read zero when they come back */
            for (size_t j = new_top; j < old_top; j++)
                brk_st[j] = S_ZERO;
        } else if (!(x == (long)brk_cur && target > brk_cur)) {
            finding("brk(%#lx) from %#lx: expected %#lx%s, found %s", (unsigned long)target, (unsigned long)brk_cur,
                    (unsigned long)target, target > brk_cur ? " (or the old break)" : "", res(x, errno));
            if (x != -1 && (uintptr_t)x >= brk0 && (uintptr_t)x <= brk_base + BRK_MAX * PAGE) {
                brk_cur = (uintptr_t)x;
                memset(brk_st, S_ZERO, sizeof brk_st);
                for (size_t j = 0; j < brk_pages(); j++)
                    memset((void *)(brk_base + j * PAGE), 0, PAGE);
            }
            return;
        }
    }
    /* check and write a few pages of the heap */
    size_t np = brk_pages();
    for (int k = 0; k < 3 && np; k++) {
        size_t j = below(np);
        brk_verify(j);
        if (chance(50)) {
            int pat = random_pattern();
            note("store", (long)(brk_base + j * PAGE), pat);
            memset((void *)(brk_base + j * PAGE), pat, PAGE);
            brk_st[j] = (uint8_t)pat;
        }
    }
}

/* ------------------------------------------------------------------------
 * fork: the child writes a few pages chosen by the parent, does random
 * memory operations on what it inherited and checks its model, and exits
 * with its number of findings. The parent then sees the child's writes to
 * shared pages and not those to private ones.
 */
#define CHILD_WRITES 4
static void op_fork(void)
{
    struct {
        int idx;
        size_t i;
        int pat;
    } w[CHILD_WRITES];
    int nw = 0;
    for (int k = 0; k < CHILD_WRITES; k++) {
        int idx = pick_region();
        if (idx < 0)
            break;
        size_t i = pick_page(idx);
        struct region *r = &reg[idx];
        if (!(PR(r, i) & PROT_WRITE) || resolve(r, i) == V_SIGBUS || !can_touch(r, i))
            continue;
        w[nw].idx = idx;
        w[nw].i = i;
        w[nw].pat = random_pattern();
        nw++;
    }
    uint64_t child_seed = rnd();
    int nops = 2 + (int)below(6);
    long pid = fork_child();
    if (pid == 0) {
        in_child = 1;
        nfindings = 0;
        rng_state = child_seed;
        for (int k = 0; k < nw; k++)
            page_store(&reg[w[k].idx], w[k].i, w[k].pat);
        for (int k = 0; k < nw; k++)
            page_verify(w[k].idx, w[k].i, "a page the child wrote");
        want_val(SC(SYS_getppid), my_pid, "getppid in a child");
        want_err(SC(SYS_wait4, -1, 0, WNOHANG, 0), ECHILD, "wait4 in a child without children");
        for (int k = 0; k < nops; k++) {
            one_op(1);
            spot_check();
        }
        child_exit(nfindings > 100 ? 100 : (int)nfindings);
    }
    if (pid < 0) {
        if (!refused(pid, errno))
            finding("fork: expected a child, found %s", res(pid, errno));
        return;
    }
    want_val(SC(SYS_kill, pid, 0), 0, "kill(child, 0)");
    int st = reap(pid, "fork");
    if (st == -1)
        return;
    int clean = WIFEXITED(st);
    if (clean)
        nfindings += (unsigned long)WEXITSTATUS(st);
    else
        finding("a forked child doing memory operations: expected it to exit, found %s", status_str(st));
    /* the child's writes: shared pages changed, private pages did not */
    for (int k = 0; k < nw; k++) {
        struct region *r = &reg[w[k].idx];
        if (r->kind == K_SHANON || r->kind == K_SHFILE)
            page_set(r, w[k].i, clean ? w[k].pat : S_UNKNOWN);
    }
    for (int k = 0; k < nw; k++)
        page_verify(w[k].idx, w[k].i,
                    reg[w[k].idx].kind == K_SHANON || reg[w[k].idx].kind == K_SHFILE
                        ? "the parent reading a shared page its child wrote"
                        : "the parent reading a private page its child wrote (copy on write)");
}

/* The bug pattern: a MAP_SHARED_VALIDATE|MAP_ANONYMOUS page is read, then
 * written with 0x41; then fresh private anonymous pages, in a forked child
 * and in the parent, must still read zero. (Linux refuses
 * MAP_SHARED_VALIDATE for anonymous memory with EINVAL; then MAP_SHARED.) */
static void op_shared_zero(void)
{
    while (nreg > REG_SOFT_MAX - 2)
        drop_region();
    const int rw = PROT_READ | PROT_WRITE;
    long a = SC(SYS_mmap, 0, PAGE, rw, MAP_SHARED_VALIDATE | MAP_ANONYMOUS, -1, 0);
    if (a == -1 && errno == EINVAL)
        a = SC(SYS_mmap, 0, PAGE, rw, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (!want_ok(a, "mmap of a shared anonymous page"))
        return;
    if (a % PAGE || reg_overlap((uintptr_t)a, PAGE, -1) >= 0) {
        finding("mmap of a shared anonymous page: found %#lx, overlapping a region of ours", (unsigned long)a);
        return;
    }
    volatile uint8_t *p = (volatile uint8_t *)a;
    size_t off = below(PAGE);
    uint8_t b = p[off];
    if (b != 0)
        finding("a fresh shared anonymous page: expected 0 at offset %zu, found 0x%02x", off, b);
    note("store", a, 0x41);
    if (chance(50))
        p[below(PAGE)] = 0x41; /* one byte first, then the rest */
    memset((void *)a, 0x41, PAGE);
    barrier();
    long pid = fork_child();
    if (pid == 0) {
        in_child = 1;
        nfindings = 0;
        long q = SC(SYS_mmap, 0, PAGE, rw, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (want_ok(q, "mmap of a private anonymous page in a child")) {
            size_t bad = page_mismatch((const uint8_t *)q, 0);
            if (bad < PAGE)
                finding("a fresh private anonymous page in a child, after its parent wrote 0x41 to a shared "
                        "anonymous page: expected all zero, found 0x%02x at offset %zu",
                        ((uint8_t *)q)[bad], bad);
        }
        size_t bad = page_mismatch((const uint8_t *)a, 0x41);
        if (bad < PAGE)
            finding("the shared anonymous page in a child: expected every byte 0x41, found 0x%02x at offset %zu",
                    ((uint8_t *)a)[bad], bad);
        child_exit(nfindings > 100 ? 100 : (int)nfindings);
    }
    if (pid < 0) {
        if (!refused(pid, errno))
            finding("fork: expected a child, found %s", res(pid, errno));
        return;
    }
    long q = SC(SYS_mmap, 0, PAGE, rw, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    int qi = -1;
    if (want_ok(q, "mmap of a private anonymous page")) {
        if (q % PAGE || reg_overlap((uintptr_t)q, PAGE, -1) >= 0 || (q == a))
            finding("mmap of a private anonymous page: found %#lx, overlapping a region of ours", (unsigned long)q);
        else
            qi = reg_add((uintptr_t)q, 1, K_ANON, 0, 0, rw, S_ZERO);
    }
    int st = reap(pid, "the shared-anonymous child");
    if (st != -1) {
        if (WIFEXITED(st))
            nfindings += (unsigned long)WEXITSTATUS(st);
        else
            finding("the child checking fresh pages: expected it to exit, found %s", status_str(st));
    }
    int ai = reg_add((uintptr_t)a, 1, K_SHANON, 0, 0, rw, 0x41 | S_TOUCHED);
    if (ai >= 0)
        touched++;
    if (qi >= 0)
        page_verify(qi, 0, "a fresh private anonymous page after a shared page was written");
    if (ai >= 0)
        page_verify(ai, 0, "the shared anonymous page written with 0x41");
}

/* A hole: three pages with the middle one unmapped. madvise and mprotect
 * over it fail with ENOMEM; msync and mincore too (or ENOSYS); a read
 * into the hole is EFAULT. */
static void op_hole(void)
{
    const int rw = PROT_READ | PROT_WRITE;
    long a = SC(SYS_mmap, 0, 3 * PAGE, rw, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (!want_ok(a, "mmap of three pages"))
        return;
    if (!want_val(SC(SYS_munmap, a + (long)PAGE, PAGE), 0, "munmap of the middle page"))
        return;
    switch (below(4)) {
    case 0:
        want_err(SC(SYS_madvise, a, 3 * PAGE, MADV_DONTNEED), ENOMEM, "madvise over an unmapped hole");
        break;
    case 1:
        want_err(SC(SYS_mprotect, a, 3 * PAGE, PROT_READ), ENOMEM, "mprotect over an unmapped hole");
        break;
    case 2: {
        static unsigned char vec[4];
        long x = SCN("mincore", 27, a, 3 * PAGE, (long)vec);
        if (!is_enosys(x))
            want_err(x, ENOMEM, "mincore over an unmapped hole");
        x = SCN("msync", 26, a, 3 * PAGE, MS_ASYNC);
        if (!is_enosys(x))
            want_err(x, ENOMEM, "msync over an unmapped hole");
        break;
    }
    default:
        if (!in_child) {
            int f = (int)below(NFILES);
            int fd = file_fd(f);
            if (fd >= 0 && files[f].size > 0)
                want_err(SC(SYS_pread64, fd, a + (long)PAGE, 64, 0), EFAULT, "pread into an unmapped hole");
        }
        if (chance(20)) {
            uintptr_t t = (uintptr_t)a + PAGE + below(PAGE);
            expect_fault(t, chance(50), SIGSEGV, "an unmapped hole");
        }
        break;
    }
    want_val(SC(SYS_munmap, a, 3 * PAGE), 0, "munmap over a hole");
}

/* The errors of mmap that are the same on every Linux. */
static void op_mmap_errors(void)
{
    const int rw = PROT_READ | PROT_WRITE, anon = MAP_PRIVATE | MAP_ANONYMOUS;
    switch (below(7)) {
    case 0:
        want_err(SC(SYS_mmap, 0, 0, rw, anon, -1, 0), EINVAL, "mmap of length 0");
        break;
    case 1:
        want_err(SC(SYS_mmap, 0, PAGE, rw, MAP_ANONYMOUS, -1, 0), EINVAL, "mmap without MAP_PRIVATE or MAP_SHARED");
        break;
    case 2:
        want_err(SC(SYS_mmap, (long)(0x10000000 + 1 + below(PAGE - 1)), PAGE, rw, anon | MAP_FIXED, -1, 0), EINVAL,
                 "mmap MAP_FIXED at an unaligned address");
        break;
    case 3:
        want_err(SC(SYS_mmap, 0, 1L << 62, rw, anon, -1, 0), ENOMEM, "mmap of 4 EiB");
        break;
    case 4: {
        int fd = lowest_free(3);
        if (fd >= 0)
            want_err(SC(SYS_mmap, 0, PAGE, PROT_READ, MAP_PRIVATE, fd, 0), EBADF, "mmap of a closed descriptor");
        break;
    }
    case 5:
        want_err(SC(SYS_mmap, 0, PAGE, PROT_READ, MAP_PRIVATE, -1, 0), EBADF, "mmap of fd -1 without MAP_ANONYMOUS");
        break;
    default: {
        int f = (int)below(NFILES);
        int fd = in_child ? -1 : file_fd(f);
        if (fd >= 0)
            want_err(SC(SYS_mmap, 0, PAGE, PROT_READ, MAP_PRIVATE, fd, (long)(1 + below(PAGE - 1))), EINVAL,
                     "mmap of a file at an unaligned offset");
        break;
    }
    }
}

/* ------------------------------------------------------------------------
 * File contents and I/O between files and regions
 */
static uint8_t scratch[2 * PAGE] __attribute__((aligned(4096)));
static uint8_t *edge;      /* a read-write page (all EDGE_PAT) followed by a PROT_NONE page */
static uint8_t *guard_ro;  /* a read-only page of zeros */
#define EDGE_PAT 0x5a

/* Checks that n bytes at p equal file f from byte offset off (where the
 * model knows the file). */
static void file_bytes_verify(int f, size_t off, const uint8_t *p, size_t n, const char *what)
{
    for (size_t b = 0; b < n; b++) {
        size_t k = (off + b) / PAGE;
        if (k >= files[f].size || files[f].st[k] == F_UNKNOWN)
            continue;
        uint8_t want = files[f].st[k] == F_ZERO ? 0 : files[f].st[k];
        if (p[b] != want) {
            finding("%s: byte %zu of file f%d: expected 0x%02x, found 0x%02x", what, off + b, f, want, p[b]);
            files[f].st[k] = F_UNKNOWN;
            return;
        }
    }
}

/* Reads page k of file f with pread and checks it. */
static void file_page_verify(int f, size_t k)
{
    int fd = file_fd(f);
    if (fd < 0)
        return;
    long x = SC(SYS_pread64, fd, (long)scratch, PAGE, (long)(k * PAGE));
    long want = k < files[f].size ? (long)PAGE : 0;
    if (want_val(x, want, "pread of a page of our file") && x > 0)
        file_bytes_verify(f, k * PAGE, scratch, PAGE, "pread of a page of our file");
}

/* A region page that a system call can read from (src) or write into. */
static int pick_io_page(int *idx, size_t *i)
{
    *idx = pick_region();
    if (*idx < 0)
        return 0;
    *i = pick_page(*idx);
    return can_touch(&reg[*idx], *i);
}

/* write/pwrite/writev of a region page to a file page, read/pread of a
 * file page into a region page, pread checks and fstat of the size. */
static void op_io(void)
{
    int f = (int)below(NFILES);
    int fd = file_fd(f);
    if (fd < 0)
        return;
    size_t size = files[f].size;
    if (size == 0) {
        want_val(SC(SYS_pread64, fd, (long)scratch, PAGE, 0), 0, "pread of an empty file");
        return;
    }
    size_t k = below(size);
    unsigned v = (unsigned)below(100);
    int idx;
    size_t i;
    if (v < 25) {
        /* region page -> file page */
        if (!pick_io_page(&idx, &i))
            return;
        struct region *r = &reg[idx];
        uintptr_t a = r->addr + i * PAGE;
        int val = resolve(r, i);
        int ok = (PR(r, i) & PROT_READ) && val != V_SIGBUS;
        long x;
        if (chance(50)) {
            if (!want_val(SC(SYS_lseek, fd, (long)(k * PAGE), SEEK_SET), (long)(k * PAGE), "lseek"))
                return;
            x = SC(SYS_write, fd, (long)a, PAGE);
        } else {
            x = SC(SYS_pwrite64, fd, (long)a, PAGE, (long)(k * PAGE));
        }
        if (ok) {
            if (want_val(x, PAGE, "write of a readable region page to our file")) {
                touch(r, i);
                files[f].st[k] = (uint8_t)val;
            } else {
                files[f].st[k] = F_UNKNOWN;
            }
        } else if (val == V_SIGBUS && (PR(r, i) & PROT_READ)) {
            want_err(x, EFAULT, "write to a file from a page past the end of its own file");
            if (x != -1)
                files[f].st[k] = F_UNKNOWN;
        } else {
            want_err(x, EFAULT, "write to a file from a PROT_NONE page");
            if (x != -1)
                files[f].st[k] = F_UNKNOWN;
        }
        if (chance(30))
            file_page_verify(f, k);
        return;
    }
    if (v < 50 && !in_child) {
        /* file page -> region page */
        if (!pick_io_page(&idx, &i))
            return;
        struct region *r = &reg[idx];
        uintptr_t a = r->addr + i * PAGE;
        int val = resolve(r, i);
        int ok = (PR(r, i) & PROT_WRITE) && val != V_SIGBUS;
        long x;
        if (chance(50)) {
            if (!want_val(SC(SYS_lseek, fd, (long)(k * PAGE), SEEK_SET), (long)(k * PAGE), "lseek"))
                return;
            x = SC(SYS_read, fd, (long)a, PAGE);
        } else {
            x = SC(SYS_pread64, fd, (long)a, PAGE, (long)(k * PAGE));
        }
        if (ok) {
            int fv = files[f].st[k];
            if (want_val(x, PAGE, "read of a file page into a writable region page"))
                page_set(r, i, fv);
            else
                page_set(r, i, S_UNKNOWN);
            page_verify(idx, i, "a region page read(2) filled from our file");
        } else {
            want_err(x, EFAULT,
                     val == V_SIGBUS ? "read into a page past the end of its file" : "read into a read-only or PROT_NONE page");
            if (x != -1 && (PR(r, i) & PROT_WRITE))
                page_set(r, i, S_UNKNOWN);
            else if (x == -1)
                page_verify(idx, i, "a page that read(2) could not write");
        }
        return;
    }
    if (v < 70) {
        file_page_verify(f, k);
        return;
    }
    if (v < 78) {
        struct stat st;
        memset(&st, 0, sizeof st);
        if (want_val(SC(SYS_fstat, fd, (long)&st), 0, "fstat of our file") &&
            (!S_ISREG(st.st_mode) || st.st_size != (off_t)(size * PAGE)))
            finding("fstat of our file: expected a regular file of %zu bytes, found mode %#o size %ld", size * PAGE,
                    (unsigned)st.st_mode, (long)st.st_size);
        return;
    }
    if (v < 94) {
        /* a new pattern from our buffer: pwrite, or writev of two halves */
        int pat = random_pattern();
        memset(scratch, pat, PAGE);
        long x;
        if (chance(50)) {
            x = SC(SYS_pwrite64, fd, (long)scratch, PAGE, (long)(k * PAGE));
        } else {
            static struct iovec iov[2];
            iov[0].iov_base = scratch;
            iov[0].iov_len = PAGE / 2;
            iov[1].iov_base = scratch + PAGE / 2;
            iov[1].iov_len = PAGE / 2;
            if (!want_val(SC(SYS_lseek, fd, (long)(k * PAGE), SEEK_SET), (long)(k * PAGE), "lseek"))
                return;
            x = SC(SYS_writev, fd, (long)iov, 2);
        }
        files[f].st[k] = want_val(x, PAGE, "write of a page to our file") ? (uint8_t)pat : F_UNKNOWN;
        return;
    }
    want_val(SC(SYS_fsync, fd), 0, "fsync of our file");
}

/* ftruncate or truncate of one of our files to a whole number of pages.
 * Shrinking drops the pages past the end from every mapping, even the
 * private copies (Linux truncate_pagecache): those read the file again,
 * or fault with SIGBUS; growing adds zero pages. */
static void op_truncate(void)
{
    int f = (int)below(NFILES);
    size_t s = chance(70) ? 1 + below(FMAXP) : below(FMAXP + 1);
    long x;
    if (chance(50)) {
        int fd = file_fd(f);
        if (fd < 0)
            return;
        x = SC(SYS_ftruncate, fd, (long)(s * PAGE));
    } else {
        x = SC(SYS_truncate, (long)files[f].path, (long)(s * PAGE));
    }
    if (!want_val(x, 0, "truncate of our file"))
        return;
    size_t old = files[f].size;
    for (size_t k = s; k < FMAXP; k++)
        files[f].st[k] = F_ZERO;
    files[f].size = s;
    if (s < old)
        for (int j = 0; j < nreg; j++) {
            struct region *r = &reg[j];
            if (r->kind != K_FILE || r->file != f)
                continue;
            for (size_t i = 0; i < r->n; i++)
                if (r->fpage + i >= s)
                    ST(r, i) = (uint8_t)((ST(r, i) & S_TOUCHED) | S_FILE);
        }
    /* check a page of a mapping of the file: zero, or SIGBUS */
    for (int j = 0; j < nreg; j++) {
        struct region *r = &reg[j];
        if (r->kind < K_FILE || r->file != f || r->n > 4096)
            continue;
        size_t i = below(r->n);
        if ((PR(r, i) & PROT_READ) && resolve(r, i) == V_SIGBUS) {
            if (chance(25))
                expect_fault(r->addr + i * PAGE, 0, SIGBUS, "a file page past the end after truncate");
        } else {
            page_verify(j, i, "a file mapping after truncate");
        }
        break;
    }
}

/* Two MAP_SHARED mappings of the same file pages and a MAP_PRIVATE one:
 * a store through one shared mapping is seen through the other and
 * through the private one (not written yet), and by pread; a pwrite is
 * seen through all three; a store to the private one is seen by no
 * other. The mappings stay as regions. */
static void op_alias(void)
{
    while (nreg > REG_SOFT_MAX - 3)
        drop_region();
    int f = (int)below(NFILES);
    if (files[f].size == 0)
        return;
    int fd = file_fd(f);
    if (fd < 0)
        return;
    size_t fp = below(files[f].size);
    size_t n = 1 + below(files[f].size - fp);
    const int rw = PROT_READ | PROT_WRITE;
    int ix[3];
    for (int k = 0; k < 3; k++) {
        int kind = k < 2 ? K_SHFILE : K_FILE;
        long a = SC(SYS_mmap, 0, (long)(n * PAGE), rw, kind == K_SHFILE ? MAP_SHARED : MAP_PRIVATE, fd,
                    (long)(fp * PAGE));
        if (!want_ok(a, "mmap of our file") || reg_overlap((uintptr_t)a, n * PAGE, -1) >= 0) {
            if (a != -1)
                finding("mmap of our file: found %#lx, overlapping a region of ours", (unsigned long)a);
            return;
        }
        ix[k] = reg_add((uintptr_t)a, n, kind, f, fp, rw, S_FILE);
        if (ix[k] < 0) {
            SC(SYS_munmap, a, (long)(n * PAGE));
            return;
        }
    }
    size_t i = below(n);
    int from = (int)below(2);
    switch (below(3)) {
    case 0:
        /* store through one shared mapping */
        if (can_touch(&reg[ix[from]], i))
            page_store(&reg[ix[from]], i, random_pattern());
        break;
    case 1: {
        /* pwrite to the file */
        int pat = random_pattern();
        memset(scratch, pat, PAGE);
        long x = SC(SYS_pwrite64, fd, (long)scratch, PAGE, (long)((fp + i) * PAGE));
        files[f].st[fp + i] = want_val(x, PAGE, "pwrite of a page") ? (uint8_t)pat : F_UNKNOWN;
        break;
    }
    default:
        /* store to the private mapping: a copy, not the file */
        if (can_touch(&reg[ix[2]], i))
            page_store(&reg[ix[2]], i, random_pattern());
        break;
    }
    page_verify(ix[1 - from], i, "the other shared mapping of the same file page");
    page_verify(ix[from], i, "a shared mapping of a file page");
    page_verify(ix[2], i, "a private mapping of the same file page");
    if (chance(30))
        file_page_verify(f, fp + i);
}

/* ------------------------------------------------------------------------
 * Bad buffers: NULL, kernel-half, non-canonical, never mapped, PROT_NONE
 * (and read-only for reads) must give EFAULT; a buffer that runs into a
 * PROT_NONE page gives a short count or EFAULT.
 */
static uintptr_t bad_buffer(int for_read, const char **what)
{
    switch (below(for_read ? 7 : 6)) {
    case 0:
        *what = "NULL";
        return 0;
    case 1:
        *what = "a kernel address";
        {
            uintptr_t t = KERNEL_ADDR + below(256) * PAGE;
            return t + below(PAGE);
        }
    case 2:
        *what = "a non-canonical address";
        return NONCANON_ADDR + below(256) * PAGE;
    case 3:
        *what = "a never-mapped low address";
        return LOW_ADDR * (1 + below(14));
    case 4:
        *what = "a PROT_NONE page";
        return (uintptr_t)edge + PAGE + below(PAGE / 2);
    case 5:
        for (int tries = 0; tries < 4; tries++) {
            int idx = pick_region();
            if (idx < 0)
                break;
            size_t i = pick_page(idx);
            if (PR(&reg[idx], i) == PROT_NONE) {
                *what = "a PROT_NONE region page";
                return reg[idx].addr + i * PAGE;
            }
        }
        *what = "a PROT_NONE page";
        return (uintptr_t)edge + PAGE;
    default:
        *what = "a read-only page";
        return (uintptr_t)guard_ro + below(PAGE / 2);
    }
}

/* The pipe with a read end we can use now (with data, or nonblocking, or
 * no writers), or -1. *rfd is set to one of its read descriptors. */
static int pipe_readable(int *rfd)
{
    for (int k = 0; k < 4; k++) {
        int fd = (int)below(FDMAX);
        for (int j = 0; j < FDMAX; j++, fd = (fd + 1) % FDMAX)
            if (fds[fd].kind == FD_PIPER)
                break;
        if (fds[fd].kind != FD_PIPER)
            return -1;
        struct mpipe *p = &pipes[fds[fd].obj];
        if (p->len > 0 || p->nonblock || p->nw == 0) {
            *rfd = fd;
            return fds[fd].obj;
        }
    }
    return -1;
}

/* A write end of a pipe that has readers and room, or -1. */
static int pipe_writable(int *wfd, size_t room)
{
    int fd = (int)below(FDMAX);
    for (int j = 0; j < FDMAX; j++, fd = (fd + 1) % FDMAX)
        if (fds[fd].kind == FD_PIPEW) {
            struct mpipe *p = &pipes[fds[fd].obj];
            if (p->nr > 0 && p->len + room <= PIPE_KEEP) {
                *wfd = fd;
                return fds[fd].obj;
            }
        }
    return -1;
}

/* Closes every descriptor of pipe pi (its content is no longer known). */
static void pipe_retire(int pi)
{
    for (int fd = 0; fd < FDMAX; fd++)
        if ((fds[fd].kind == FD_PIPER || fds[fd].kind == FD_PIPEW) && fds[fd].obj == pi) {
            want_val(SC(SYS_close, fd), 0, "close of a pipe descriptor");
            fd_forget(fd);
        }
}

static void refill_edge(void)
{
    memset(edge, EDGE_PAT, PAGE);
}

static void op_badbuf(void)
{
    const char *what;
    char msg[160];
    unsigned v = (unsigned)below(100);
    if (v < 30) {
        /* a file: read/pread into, write/pwrite from a bad buffer */
        int f = (int)below(NFILES);
        int fd = file_fd(f);
        if (fd < 0 || files[f].size == 0)
            return;
        size_t off = below(files[f].size * PAGE - 64);
        size_t n = 1 + below(PAGE);
        int rd = chance(50);
        uintptr_t b = bad_buffer(rd, &what);
        long x;
        if (chance(50)) {
            if (!want_val(SC(SYS_lseek, fd, (long)off, SEEK_SET), (long)off, "lseek"))
                return;
            x = rd ? SC(SYS_read, fd, (long)b, (long)n) : SC(SYS_write, fd, (long)b, (long)n);
        } else {
            x = rd ? SC(SYS_pread64, fd, (long)b, (long)n, (long)off) : SC(SYS_pwrite64, fd, (long)b, (long)n, (long)off);
        }
        snprintf(msg, sizeof msg, "%s of our file %s %s", rd ? "read" : "write", rd ? "into" : "from", what);
        want_err(x, EFAULT, msg);
        if (!rd && x > 0)
            for (size_t k = off / PAGE; k <= (off + (size_t)x - 1) / PAGE && k < FMAXP; k++)
                files[f].st[k] = F_UNKNOWN;
        if (!rd && chance(30))
            file_page_verify(f, off / PAGE);
        return;
    }
    if (v < 42) {
        /* a buffer that runs from a good page into a PROT_NONE one */
        int f = (int)below(NFILES);
        int fd = file_fd(f);
        if (fd < 0 || files[f].size == 0)
            return;
        size_t k = 1 + below(256);
        size_t n = k + 1 + below(PAGE);
        size_t off = below(files[f].size * PAGE - PAGE);
        uint8_t *b = edge + PAGE - k;
        if (chance(50)) {
            long x = SC(SYS_pread64, fd, (long)b, (long)n, (long)off);
            if (x == -1) {
                want_err(x, EFAULT, "pread into a buffer running into a PROT_NONE page");
            } else if (x < 1 || x > (long)k) {
                finding("pread of %zu bytes into a buffer with %zu good bytes: expected 1..%zu or EFAULT, found %ld", n,
                        k, k, x);
            } else {
                file_bytes_verify(f, off, b, (size_t)x, "pread into a buffer running into a PROT_NONE page");
            }
        } else {
            long x = SC(SYS_pwrite64, fd, (long)b, (long)n, (long)off);
            if (x == -1) {
                want_err(x, EFAULT, "pwrite from a buffer running into a PROT_NONE page");
            } else if (x < 1 || x > (long)k) {
                finding("pwrite of %zu bytes from a buffer with %zu good bytes: expected 1..%zu or EFAULT, found %ld",
                        n, k, k, x);
                x = (long)n;
            }
            if (x > 0)
                for (size_t p = off / PAGE; p <= (off + (size_t)x - 1) / PAGE && p < FMAXP; p++)
                    files[f].st[p] = F_UNKNOWN;
        }
        refill_edge();
        return;
    }
    if (v < 52) {
        /* pipes */
        int fd;
        if (chance(50)) {
            int pi = pipe_writable(&fd, 64);
            if (pi < 0)
                return;
            size_t n = 1 + below(64);
            uintptr_t b = bad_buffer(0, &what);
            long x = SC(SYS_write, fd, (long)b, (long)n);
            snprintf(msg, sizeof msg, "write to a pipe from %s", what);
            want_err(x, EFAULT, msg);
            if (x != -1)
                pipe_retire(pi);
        } else {
            int pi = pipe_readable(&fd);
            if (pi < 0 || pipes[pi].len == 0)
                return;
            uintptr_t b = bad_buffer(1, &what);
            long x = SC(SYS_read, fd, (long)b, 16);
            snprintf(msg, sizeof msg, "read from a pipe with data into %s", what);
            want_err(x, EFAULT, msg);
            pipe_retire(pi); /* whether the data was used up may differ */
        }
        return;
    }
    uintptr_t b = bad_buffer(1, &what);
    long x;
    switch (below(14)) {
    case 0:
        x = SC(SYS_getrandom, (long)b, 1 + (long)below(64), 0);
        snprintf(msg, sizeof msg, "getrandom into %s", what);
        break;
    case 1:
        x = SC(SYS_uname, (long)b);
        snprintf(msg, sizeof msg, "uname into %s", what);
        break;
    case 2:
        x = SC(SYS_clock_gettime, CLOCK_MONOTONIC, (long)b);
        snprintf(msg, sizeof msg, "clock_gettime into %s", what);
        break;
    case 3: {
        int fd = file_fd((int)below(NFILES));
        if (fd < 0)
            return;
        x = SC(SYS_fstat, fd, (long)b);
        snprintf(msg, sizeof msg, "fstat into %s", what);
        break;
    }
    case 4:
        x = SC(SYS_getcwd, (long)b, 256);
        snprintf(msg, sizeof msg, "getcwd into %s", what);
        break;
    case 5:
        if (b == 0)
            b = KERNEL_ADDR; /* NULL means: do not return it */
        x = SC(SYS_rt_sigprocmask, SIG_BLOCK, 0, (long)b, 8);
        snprintf(msg, sizeof msg, "rt_sigprocmask old set into %s", what);
        break;
    case 6:
        if (b == 0)
            b = KERNEL_ADDR;
        x = SC(SYS_rt_sigaction, SIGUSR1, 0, (long)b, 8);
        snprintf(msg, sizeof msg, "rt_sigaction old action into %s", what);
        break;
    case 7:
        b = bad_buffer(0, &what);
        x = SC(SYS_open, (long)b, O_RDONLY);
        snprintf(msg, sizeof msg, "open of a path at %s", what);
        stray_fd(x);
        break;
    case 8:
        x = SC(SYS_stat, (long)files[0].path, (long)b);
        snprintf(msg, sizeof msg, "stat into %s", what);
        break;
    case 9:
        b = bad_buffer(0, &what);
        x = SC(SYS_nanosleep, (long)b, 0);
        snprintf(msg, sizeof msg, "nanosleep with a request at %s", what);
        break;
    case 10: {
        /* (the file offset first: a failed write far past the end may
         * still move the end on Linux) */
        int fd = file_fd((int)below(NFILES));
        if (fd < 0 || SC(SYS_lseek, fd, 0, SEEK_SET) != 0)
            return;
        b = bad_buffer(0, &what);
        x = SC(SYS_writev, fd, (long)b, 1);
        snprintf(msg, sizeof msg, "writev with the iovec array at %s", what);
        break;
    }
    case 11: {
        int fd = file_fd((int)below(NFILES));
        if (fd < 0 || SC(SYS_lseek, fd, 0, SEEK_SET) != 0)
            return;
        static struct iovec iov;
        b = bad_buffer(0, &what);
        iov.iov_base = (void *)b;
        iov.iov_len = 1 + below(64);
        x = SC(SYS_writev, fd, (long)&iov, 1);
        snprintf(msg, sizeof msg, "writev of a buffer at %s", what);
        break;
    }
    case 12: {
        /* pipe2 into a bad array: no descriptors may be left behind */
        x = SC(SYS_pipe2, (long)b, 0);
        snprintf(msg, sizeof msg, "pipe2 into %s", what);
        break;
    }
    default: {
        b = bad_buffer(0, &what);
        x = SC(SYS_mkdir, (long)b, 0700);
        snprintf(msg, sizeof msg, "mkdir of a path at %s", what);
        break;
    }
    }
    want_err(x, EFAULT, msg);
    if (guard_ro[0] != 0 || page_mismatch(guard_ro, 0) < PAGE)
        finding("the read-only page changed after %s", msg);
}

/* ------------------------------------------------------------------------
 * Descriptors: random numbers (-1, 0..70, and garbage in the upper 32
 * bits, which Linux ignores: the fd arguments are unsigned int), dup,
 * dup2, dup3, fcntl, close, and pipes.
 */

/* A random descriptor value; *fd is what the kernel sees (-1: none). */
static long random_fd_value(int *fd)
{
    unsigned v = (unsigned)below(100);
    if (v < 8) {
        *fd = -1;
        return -1;
    }
    long low = (long)below(FDMAX);
    *fd = (int)low;
    if (v < 70)
        return low;
    static const unsigned long garbage[] = {0xdeadbeef00000000UL, 0x100000000UL, 0xffffffff00000000UL};
    unsigned long hi = chance(50) ? garbage[below(3)] : (rnd() & 0xffffffff00000000UL);
    return (long)(hi | (unsigned long)low);
}

/* What Linux's fstat/fcntl must say about model descriptor fd. */
static void check_fstat(long fdv, int fd)
{
    struct stat st;
    memset(&st, 0, sizeof st);
    long x = SC(SYS_fstat, fdv, (long)&st);
    int k = fd < 0 ? FD_NONE : fds[fd].kind;
    if (k == FD_NONE) {
        want_err(x, EBADF, "fstat of a closed descriptor");
        return;
    }
    if (!want_val(x, 0, "fstat of an open descriptor"))
        return;
    int ok = 1;
    if (k == FD_FILE)
        ok = S_ISREG(st.st_mode) && st.st_size == (off_t)(files[fds[fd].obj].size * PAGE);
    else if (k == FD_PIPER || k == FD_PIPEW)
        ok = S_ISFIFO(st.st_mode);
    else if (k == FD_DIR)
        ok = S_ISDIR(st.st_mode);
    if (!ok)
        finding("fstat of descriptor %d (model kind %d): unexpected mode %#o or size %ld", fd, k,
                (unsigned)st.st_mode, (long)st.st_size);
}

/* Makes room for one more descriptor of ours, closing one (not `keep`)
 * if needed. */
static int fd_room_keep(int keep)
{
    if (own_fds() < MAXOWN)
        return 1;
    for (int i = FDMAX - 1; i >= 0; i--)
        if (fds[i].kind >= FD_FILE && i != keep) {
            want_val(SC(SYS_close, i), 0, "close of an open descriptor");
            fd_forget(i);
            return 1;
        }
    return 0;
}

static int fd_room(void)
{
    return fd_room_keep(-1);
}

/* A target for dup2/dup3: 3..70, not one we did not open. */
static int dup_target(void)
{
    for (int tries = 0; tries < 8; tries++) {
        int t = 3 + (int)below(FDMAX - 3);
        if (fds[t].kind != FD_FOREIGN)
            return t;
    }
    return -1;
}

static void op_randfd(void)
{
    int fd;
    long fdv = random_fd_value(&fd);
    int k = fd < 0 ? FD_NONE : fds[fd].kind;
    if (k == FD_FOREIGN) {
        /* not ours: only look at it */
        want_ok(SC(SYS_fcntl, fdv, F_GETFD), "fcntl(F_GETFD) of a descriptor open at start");
        return;
    }
    int closed = k == FD_NONE;
    long x;
    switch (below(18)) {
    case 0:
        check_fstat(fdv, fd);
        break;
    case 1:
        x = SC(SYS_close, fdv);
        if (closed)
            want_err(x, EBADF, "close of a closed descriptor");
        else if (want_val(x, 0, "close of an open descriptor"))
            fd_forget(fd);
        break;
    case 2:
        x = SC(SYS_fcntl, fdv, F_GETFD);
        if (closed)
            want_err(x, EBADF, "fcntl(F_GETFD) of a closed descriptor");
        else
            want_val(x, fds[fd].cloexec ? FD_CLOEXEC : 0, "fcntl(F_GETFD)");
        break;
    case 3:
        x = SC(SYS_fcntl, fdv, F_GETFL);
        if (closed) {
            want_err(x, EBADF, "fcntl(F_GETFL) of a closed descriptor");
        } else if (want_ok(x, "fcntl(F_GETFL)")) {
            int acc = k == FD_FILE ? fds[fd].acc : k == FD_PIPEW ? O_WRONLY : O_RDONLY;
            if ((x & O_ACCMODE) != acc)
                finding("fcntl(F_GETFL) of descriptor %d: expected access mode %d, found flags %#lx", fd, acc, x);
            if ((k == FD_PIPER || k == FD_PIPEW) && !!(x & O_NONBLOCK) != pipes[fds[fd].obj].nonblock)
                finding("fcntl(F_GETFL) of pipe descriptor %d: O_NONBLOCK expected %d, found flags %#lx", fd,
                        pipes[fds[fd].obj].nonblock, x);
        }
        break;
    case 4:
        x = SC(SYS_lseek, fdv, 0, SEEK_CUR);
        if (closed)
            want_err(x, EBADF, "lseek of a closed descriptor");
        else if (k == FD_PIPER || k == FD_PIPEW)
            want_err(x, ESPIPE, "lseek of a pipe");
        else if (k == FD_FILE)
            want_ok(x, "lseek(SEEK_CUR) of a file");
        break;
    case 5:
        if (closed) {
            want_err(SC(SYS_read, fdv, (long)scratch, 16), EBADF, "read of a closed descriptor");
        } else if (k == FD_FILE && fds[fd].acc == O_WRONLY) {
            want_err(SC(SYS_read, fdv, (long)scratch, 16), EBADF, "read of a write-only descriptor");
        } else if (k == FD_PIPEW) {
            want_err(SC(SYS_read, fdv, (long)scratch, 16), EBADF, "read of a pipe's write end");
        } else if (k == FD_DIR) {
            want_err(SC(SYS_read, fdv, (long)scratch, 16), EISDIR, "read of a directory");
        } else if (k == FD_FILE) {
            size_t f = fds[fd].obj, off = below(files[f].size * PAGE + 1);
            x = SC(SYS_pread64, fdv, (long)scratch, 16, (long)off);
            long want = (long)(files[f].size * PAGE - off);
            if (want_val(x, want < 16 ? want : 16, "pread of our file"))
                file_bytes_verify((int)f, off, scratch, (size_t)x, "pread of our file");
        } else if (k == FD_PIPER) {
            struct mpipe *p = &pipes[fds[fd].obj];
            if (p->len == 0 && p->nw > 0 && !p->nonblock)
                break; /* would block */
            size_t n = 1 + below(32);
            x = SC(SYS_read, fdv, (long)scratch, (long)n);
            if (p->len == 0 && p->nw == 0) {
                want_val(x, 0, "read of an empty pipe without writers (end of file)");
            } else if (p->len == 0) {
                want_err(x, EAGAIN, "read of an empty O_NONBLOCK pipe");
            } else {
                size_t want = n < p->len ? n : p->len;
                if (want_val(x, (long)want, "read of a pipe with data")) {
                    if (memcmp(scratch, p->data, want) != 0)
                        finding("read of a pipe: the %zu bytes read are not the ones written", want);
                    memmove(p->data, p->data + want, p->len - want);
                    p->len -= want;
                } else {
                    pipe_retire(fds[fd].obj);
                }
            }
        }
        break;
    case 6:
        if (closed) {
            want_err(SC(SYS_write, fdv, (long)scratch, 16), EBADF, "write to a closed descriptor");
        } else if (k == FD_FILE) {
            size_t f = fds[fd].obj;
            if (files[f].size == 0)
                break;
            size_t pg = below(files[f].size);
            int pat = random_pattern();
            memset(scratch, pat, PAGE);
            x = SC(SYS_pwrite64, fdv, (long)scratch, PAGE, (long)(pg * PAGE));
            if (fds[fd].acc == O_RDONLY)
                want_err(x, EBADF, "pwrite to a read-only descriptor");
            else
                files[f].st[pg] = want_val(x, PAGE, "pwrite of a page") ? (uint8_t)pat : F_UNKNOWN;
        } else if (k == FD_PIPER) {
            want_err(SC(SYS_write, fdv, (long)scratch, 16), EBADF, "write to a pipe's read end");
        } else if (k == FD_DIR) {
            want_err(SC(SYS_write, fdv, (long)scratch, 16), EBADF, "write to a directory opened O_RDONLY");
        } else if (k == FD_PIPEW) {
            struct mpipe *p = &pipes[fds[fd].obj];
            size_t n = 1 + below(32);
            if (p->nr == 0 || p->len + n > PIPE_KEEP)
                break; /* no reader: SIGPIPE; full: might block */
            for (size_t b = 0; b < n; b++)
                scratch[b] = (uint8_t)rnd();
            x = SC(SYS_write, fdv, (long)scratch, (long)n);
            if (want_val(x, (long)n, "write to a pipe with room")) {
                memcpy(p->data + p->len, scratch, n);
                p->len += n;
            } else {
                pipe_retire(fds[fd].obj);
            }
        }
        break;
    case 7:
        if (!closed && !fd_room_keep(fd))
            break;
        x = SC(SYS_dup, fdv);
        if (closed) {
            want_err(x, EBADF, "dup of a closed descriptor");
        } else {
            int want = lowest_free(0);
            if (want_val(x, want, "dup (the lowest free descriptor)"))
                fd_copy(want, fd, 0);
            else
                stray_fd(x);
        }
        break;
    case 8:
        if (closed) {
            want_err(SC(SYS_ftruncate, fdv, 0), EBADF, "ftruncate of a closed descriptor");
        } else if (k != FD_FILE || fds[fd].acc == O_RDONLY) {
            /* not a regular file open for writing */
            want_err(SC(SYS_ftruncate, fdv, 0), EINVAL, "ftruncate of a pipe, directory or read-only file");
        } else {
            size_t f = fds[fd].obj;
            want_val(SC(SYS_ftruncate, fdv, (long)(files[f].size * PAGE)), 0, "ftruncate to the same size");
        }
        break;
    case 9:
        if (closed)
            want_err(SC(SYS_fsync, fdv), EBADF, "fsync of a closed descriptor");
        else if (k == FD_FILE)
            want_val(SC(SYS_fsync, fdv), 0, "fsync of our file");
        break;
    case 10:
        x = SC(SYS_ioctl, fdv, TCGETS, (long)scratch);
        if (closed)
            want_err(x, EBADF, "ioctl of a closed descriptor");
        else
            want_err(x, ENOTTY, "ioctl(TCGETS) of a file, pipe or directory");
        break;
    case 11:
        x = SC(SYS_pread64, fdv, (long)scratch, 16, 0);
        if (closed)
            want_err(x, EBADF, "pread of a closed descriptor");
        else if (k == FD_PIPER || k == FD_PIPEW)
            want_err(x, ESPIPE, "pread of a pipe");
        else if (k == FD_DIR)
            want_err(x, EISDIR, "pread of a directory");
        else if (fds[fd].acc == O_WRONLY)
            want_err(x, EBADF, "pread of a write-only descriptor");
        else
            want_val(x, files[fds[fd].obj].size ? 16 : 0, "pread of 16 bytes of our file");
        break;
    case 12:
        if (closed) {
            /* mmap's fd is not given garbage upper bits */
            x = SC(SYS_mmap, 0, PAGE, PROT_READ, MAP_PRIVATE, fd, 0);
            want_err(x, EBADF, "mmap of a closed descriptor");
        } else if (k == FD_FILE && fds[fd].acc == O_WRONLY) {
            x = SC(SYS_mmap, 0, PAGE, PROT_READ, MAP_PRIVATE, fd, 0);
            want_err(x, EACCES, "mmap of a write-only descriptor");
        } else if (k == FD_FILE) {
            x = SC(SYS_mmap, 0, PAGE, PROT_READ, MAP_PRIVATE, fd, 0);
            if (want_ok(x, "mmap of our file")) {
                if (reg_overlap((uintptr_t)x, PAGE, -1) >= 0)
                    finding("mmap of our file: found %#lx, overlapping a region of ours", (unsigned long)x);
                else
                    want_val(SC(SYS_munmap, x, PAGE), 0, "munmap of a file mapping");
            }
        }
        break;
    case 13:
    case 14: {
        int t = dup_target();
        if (t < 0)
            break;
        int three = chance(50), cloexec = three && chance(50);
        int badflags = three && chance(10);
        if (!closed && fds[t].kind == FD_NONE && !fd_room_keep(fd))
            break;
        if (fds[t].kind == FD_FOREIGN)
            break;
        x = three ? SC(SYS_dup3, fdv, t, badflags ? 0x1 : cloexec ? O_CLOEXEC : 0) : SC(SYS_dup2, fdv, t);
        if (three && (badflags || fd == t)) {
            want_err(x, EINVAL, badflags ? "dup3 with unknown flags" : "dup3 onto itself");
        } else if (closed) {
            want_err(x, EBADF, three ? "dup3 of a closed descriptor" : "dup2 of a closed descriptor");
        } else if (fd == t) {
            want_val(x, t, "dup2 onto itself");
        } else if (want_val(x, t, three ? "dup3" : "dup2")) {
            if (fds[t].kind != FD_NONE)
                fd_forget(t);
            fd_copy(t, fd, cloexec);
        }
        break;
    }
    case 15: {
        int min = (int)below(FDMAX);
        int cl = chance(50);
        if (!closed && !fd_room_keep(fd))
            break;
        x = SC(SYS_fcntl, fdv, cl ? F_DUPFD_CLOEXEC : F_DUPFD, min);
        if (closed) {
            want_err(x, EBADF, "fcntl(F_DUPFD) of a closed descriptor");
        } else {
            int want = lowest_free(min);
            if (want < 0) {
                stray_fd(x);
            } else if (want_val(x, want, "fcntl(F_DUPFD): the lowest free descriptor from the minimum")) {
                fd_copy(want, fd, cl);
            } else {
                stray_fd(x);
            }
        }
        break;
    }
    case 16: {
        int cl = chance(50);
        x = SC(SYS_fcntl, fdv, F_SETFD, cl ? FD_CLOEXEC : 0);
        if (closed)
            want_err(x, EBADF, "fcntl(F_SETFD) of a closed descriptor");
        else if (want_val(x, 0, "fcntl(F_SETFD)"))
            fds[fd].cloexec = (uint8_t)cl;
        break;
    }
    default:
        x = SC(SYS_fcntl, fdv, 12345, 0);
        want_err(x, closed ? EBADF : EINVAL, closed ? "fcntl of a closed descriptor" : "fcntl with an unknown command");
        break;
    }
}

/* Pipes: pipe/pipe2 (flags 0, O_NONBLOCK, O_CLOEXEC), writes and reads of
 * known bytes (never more than PIPE_KEEP inside, never a read that could
 * block), and closes. */
static void op_pipe(void)
{
    static int pfd[2];
    unsigned v = (unsigned)below(100);
    int live = 0;
    for (int i = 0; i < NPIPES; i++)
        live += pipes[i].live;
    if (v < 25 || !live) {
        int pi = -1;
        for (int i = 0; i < NPIPES; i++)
            if (!pipes[i].live)
                pi = i;
        if (chance(10)) {
            want_err(SC(SYS_pipe2, (long)pfd, 0x1), EINVAL, "pipe2 with unknown flags");
            return;
        }
        if (pi < 0 || own_fds() + 2 > MAXOWN)
            return;
        int flags = 0;
        if (chance(50))
            flags |= O_NONBLOCK;
        if (chance(30))
            flags |= O_CLOEXEC;
        int want0 = lowest_free(0);
        if (want0 < 0)
            return;
        fds[want0].kind = FD_PIPER; /* for the next lowest */
        int want1 = lowest_free(0);
        fds[want0].kind = FD_NONE;
        if (want1 < 0)
            return;
        pfd[0] = pfd[1] = -1;
        long x = flags == 0 && chance(50) ? SC(SYS_pipe, (long)pfd) : SC(SYS_pipe2, (long)pfd, flags);
        if (!want_val(x, 0, "pipe"))
            return;
        if (pfd[0] != want0 || pfd[1] != want1) {
            finding("pipe: expected descriptors %d and %d (the lowest free), found %d and %d", want0, want1, pfd[0],
                    pfd[1]);
            stray_fd(pfd[0]);
            stray_fd(pfd[1]);
            return;
        }
        struct mpipe *p = &pipes[pi];
        memset(p, 0, sizeof *p);
        p->live = 1;
        p->nr = p->nw = 1;
        p->nonblock = !!(flags & O_NONBLOCK);
        fds[want0] = (struct mfd){FD_PIPER, (uint8_t)pi, O_RDONLY, !!(flags & O_CLOEXEC)};
        fds[want1] = (struct mfd){FD_PIPEW, (uint8_t)pi, O_WRONLY, !!(flags & O_CLOEXEC)};
        return;
    }
    int fd;
    if (v < 55) {
        size_t n = 1 + below(64);
        int pi = pipe_writable(&fd, n);
        if (pi < 0)
            return;
        struct mpipe *p = &pipes[pi];
        /* from our buffer, or from a readable region page of known content */
        const uint8_t *src = scratch;
        int idx;
        size_t i;
        if (chance(30) && pick_io_page(&idx, &i) && (PR(&reg[idx], i) & PROT_READ) && resolve(&reg[idx], i) != V_SIGBUS &&
            resolve(&reg[idx], i) != S_UNKNOWN) {
            touch(&reg[idx], i);
            src = (const uint8_t *)(reg[idx].addr + i * PAGE);
            int val = resolve(&reg[idx], i);
            memset(scratch + PAGE, val == S_ZERO ? 0 : val, n);
        } else {
            for (size_t b = 0; b < n; b++)
                scratch[PAGE + b] = (uint8_t)rnd();
            memcpy(scratch, scratch + PAGE, n);
        }
        long x = SC(SYS_write, fd, (long)src, (long)n);
        if (want_val(x, (long)n, "write to a pipe with room")) {
            memcpy(p->data + p->len, scratch + PAGE, n);
            p->len += n;
        } else {
            pipe_retire(pi);
        }
        return;
    }
    if (v < 88) {
        int pi = pipe_readable(&fd);
        if (pi < 0)
            return;
        struct mpipe *p = &pipes[pi];
        size_t n = 1 + below(p->len + 16);
        long x = SC(SYS_read, fd, (long)scratch, (long)n);
        if (p->len == 0 && p->nw == 0) {
            want_val(x, 0, "read of an empty pipe without writers (end of file)");
        } else if (p->len == 0) {
            want_err(x, EAGAIN, "read of an empty O_NONBLOCK pipe");
        } else {
            size_t want = n < p->len ? n : p->len;
            if (want_val(x, (long)want, "read of a pipe with data")) {
                if (memcmp(scratch, p->data, want) != 0)
                    finding("read of a pipe: the %zu bytes read are not the ones written", want);
                memmove(p->data, p->data + want, p->len - want);
                p->len -= want;
            } else {
                pipe_retire(pi);
            }
        }
        return;
    }
    /* close one end */
    int start = (int)below(FDMAX);
    for (int j = 0; j < FDMAX; j++) {
        int c = (start + j) % FDMAX;
        if (fds[c].kind == FD_PIPER || fds[c].kind == FD_PIPEW) {
            if (want_val(SC(SYS_close, c), 0, "close of a pipe end"))
                fd_forget(c);
            return;
        }
    }
}

/* ------------------------------------------------------------------------
 * Paths in our directory: x0..x3 are nothing, an empty file, or an empty
 * directory.
 */
#define NNAMES 4
enum { N_NONE, N_FILE, N_DIR };
static int names[NNAMES];

static const char *name_path(int i)
{
    static char bufs[2][320];
    static int next;
    char *b = bufs[next++ % 2];
    snprintf(b, sizeof bufs[0], "%s/x%d", dir, i);
    return b;
}

/* mkdir, rmdir, unlink, open, stat, rename and truncate of the names
 * x0..x3 (and paths below them), with the results their kinds call for;
 * opens of our data files read-only or write-only; stat of their size. */
static void op_paths(void)
{
    int i = (int)below(NNAMES), j = (int)below(NNAMES);
    const char *p = name_path(i);
    int n = names[i];
    long x;
    struct stat st;
    switch (below(14)) {
    case 0:
    case 1:
        x = chance(50) ? SC(SYS_mkdir, (long)p, 0700) : SC(SYS_mkdirat, AT_FDCWD, (long)p, 0700);
        if (n == N_NONE) {
            if (want_val(x, 0, "mkdir of a new name"))
                names[i] = N_DIR;
        } else {
            want_err(x, EEXIST, "mkdir of an existing name");
        }
        break;
    case 2:
        x = chance(50) ? SC(SYS_rmdir, (long)p) : SC(SYS_unlinkat, AT_FDCWD, (long)p, AT_REMOVEDIR);
        if (n == N_DIR) {
            if (want_val(x, 0, "rmdir of an empty directory"))
                names[i] = N_NONE;
        } else {
            want_err(x, n == N_FILE ? ENOTDIR : ENOENT, "rmdir of a file or missing name");
        }
        break;
    case 3:
        x = chance(50) ? SC(SYS_unlink, (long)p) : SC(SYS_unlinkat, AT_FDCWD, (long)p, 0);
        if (n == N_FILE) {
            if (want_val(x, 0, "unlink of a file"))
                names[i] = N_NONE;
        } else {
            want_err(x, n == N_DIR ? EISDIR : ENOENT, "unlink of a directory or missing name");
        }
        break;
    case 4:
    case 5: {
        if (!fd_room())
            break;
        int excl = chance(30);
        int flags = O_CREAT | O_RDWR | (excl ? O_EXCL : 0);
        int want = lowest_free(0);
        x = chance(50) ? SC(SYS_open, (long)p, flags, 0600) : SC(SYS_openat, AT_FDCWD, (long)p, flags, 0600);
        if (n == N_DIR) {
            want_err(x, excl ? EEXIST : EISDIR, "open(O_CREAT | O_RDWR) of a directory");
            stray_fd(x);
        } else if (excl && n == N_FILE) {
            want_err(x, EEXIST, "open(O_CREAT | O_EXCL) of an existing file");
            stray_fd(x);
        } else if (want_val(x, want, "open(O_CREAT): the lowest free descriptor")) {
            names[i] = N_FILE;
            want_val(SC(SYS_close, x), 0, "close");
        } else {
            stray_fd(x);
        }
        break;
    }
    case 6: {
        if (!fd_room())
            break;
        int want = lowest_free(0);
        x = SC(SYS_openat, AT_FDCWD, (long)p, O_RDONLY | O_DIRECTORY);
        if (n == N_DIR) {
            if (want_val(x, want, "open(O_DIRECTORY) of a directory")) {
                fds[x] = (struct mfd){FD_DIR, 0, O_RDONLY, 0};
                check_fstat(x, (int)x);
            } else {
                stray_fd(x);
            }
        } else {
            want_err(x, n == N_FILE ? ENOTDIR : ENOENT, "open(O_DIRECTORY) of a file or missing name");
            stray_fd(x);
        }
        break;
    }
    case 7:
    case 8: {
        memset(&st, 0, sizeof st);
        unsigned w = (unsigned)below(3);
        x = w == 0 ? SC(SYS_stat, (long)p, (long)&st)
                   : w == 1 ? SC(SYS_lstat, (long)p, (long)&st) : SC(SYS_newfstatat, AT_FDCWD, (long)p, (long)&st, 0);
        if (n == N_NONE) {
            want_err(x, ENOENT, "stat of a missing name");
        } else if (want_val(x, 0, "stat of an existing name")) {
            if (n == N_FILE ? !S_ISREG(st.st_mode) || st.st_size != 0 : !S_ISDIR(st.st_mode))
                finding("stat of %s: expected an empty %s, found mode %#o size %ld", p,
                        n == N_FILE ? "file" : "directory", (unsigned)st.st_mode, (long)st.st_size);
        }
        break;
    }
    case 9: {
        /* rename(x_i, x_j) */
        const char *q = name_path(j);
        int m = names[j];
        x = SC(SYS_rename, (long)p, (long)q);
        if (n == N_NONE)
            want_err(x, ENOENT, "rename of a missing name");
        else if (i == j)
            want_val(x, 0, "rename onto itself");
        else if (n == N_FILE && m == N_DIR)
            want_err(x, EISDIR, "rename of a file onto a directory");
        else if (n == N_DIR && m == N_FILE)
            want_err(x, ENOTDIR, "rename of a directory onto a file");
        else if (want_val(x, 0, "rename")) {
            names[j] = n;
            names[i] = N_NONE;
        }
        break;
    }
    case 10: {
        /* a path through a file or a missing directory */
        char q[400];
        snprintf(q, sizeof q, "%s/y", p);
        if (!fd_room())
            break;
        x = SC(SYS_open, (long)q, O_RDWR | O_CREAT, 0600);
        if (n == N_DIR) {
            /* a file inside the directory: fine; remove it again */
            if (want_ok(x, "open(O_CREAT) of a new file in a directory")) {
                stray_fd(x);
                want_val(SC(SYS_unlink, (long)q), 0, "unlink of the new file");
            }
        } else {
            want_err(x, n == N_FILE ? ENOTDIR : ENOENT, "open(O_CREAT) of a path below a file or missing name");
            stray_fd(x);
        }
        break;
    }
    case 11:
        x = SC(SYS_truncate, (long)p, 0);
        if (n == N_FILE)
            want_val(x, 0, "truncate of an empty file");
        else
            want_err(x, n == N_DIR ? EISDIR : ENOENT, "truncate of a directory or missing name");
        break;
    case 12: {
        /* one of our data files, read-only or write-only */
        if (!fd_room())
            break;
        int f = (int)below(NFILES), acc = chance(50) ? O_RDONLY : O_WRONLY;
        int want = lowest_free(0);
        x = SC(SYS_open, (long)files[f].path, acc);
        if (want_val(x, want, "open of our file: the lowest free descriptor"))
            fds[x] = (struct mfd){FD_FILE, (uint8_t)f, (uint8_t)acc, 0};
        else
            stray_fd(x);
        break;
    }
    default: {
        /* our data files: stat says their size */
        int f = (int)below(NFILES);
        memset(&st, 0, sizeof st);
        x = SC(SYS_stat, (long)files[f].path, (long)&st);
        if (want_val(x, 0, "stat of our file") && st.st_size != (off_t)(files[f].size * PAGE))
            finding("stat of our file f%d: expected size %zu, found %ld", f, files[f].size * PAGE, (long)st.st_size);
        break;
    }
    }
}

/* ------------------------------------------------------------------------
 * Process, time and signal calls
 */
static struct timespec last_mono;
static char cwd0[512];
static long cwd0_len;

static void op_misc(void)
{
    static struct timespec ts;
    static struct utsname u;
    static char buf[512];
    long x;
    switch (below(12)) {
    case 0:
        want_val(SC(SYS_getpid), my_pid, "getpid");
        want_val(SC(SYS_gettid), my_pid, "gettid of a single-threaded process");
        break;
    case 1:
        want_val(SC(SYS_getppid), my_ppid, "getppid");
        break;
    case 2:
        want_val(SC(SYS_sched_yield), 0, "sched_yield");
        break;
    case 3:
        memset(&u, 0, sizeof u);
        if (want_val(SC(SYS_uname, (long)&u), 0, "uname") && (strcmp(u.machine, "x86_64") != 0 || !u.sysname[0]))
            finding("uname: expected machine x86_64 and a sysname, found \"%s\" \"%s\"", u.machine, u.sysname);
        break;
    case 4:
        x = SC(SYS_clock_gettime, CLOCK_MONOTONIC, (long)&ts);
        if (want_val(x, 0, "clock_gettime(CLOCK_MONOTONIC)")) {
            if (ts.tv_nsec < 0 || ts.tv_nsec >= 1000000000 || ts.tv_sec < last_mono.tv_sec ||
                (ts.tv_sec == last_mono.tv_sec && ts.tv_nsec < last_mono.tv_nsec))
                finding("clock_gettime(CLOCK_MONOTONIC): expected a valid time not before %ld.%09ld, found %ld.%09ld",
                        (long)last_mono.tv_sec, (long)last_mono.tv_nsec, (long)ts.tv_sec, (long)ts.tv_nsec);
            last_mono = ts;
        }
        if (chance(30))
            want_err(SC(SYS_clock_gettime, 12345, (long)&ts), EINVAL, "clock_gettime of an unknown clock");
        break;
    case 5: {
        size_t n = 1 + below(256);
        x = SC(SYS_getrandom, (long)buf, (long)n, chance(50) ? 1 /* GRND_NONBLOCK */ : 0);
        want_val(x, (long)n, "getrandom of up to 256 bytes");
        if (chance(20))
            want_err(SC(SYS_getrandom, (long)buf, 16, 0x100), EINVAL, "getrandom with unknown flags");
        break;
    }
    case 6:
        want_val(SC(SYS_kill, my_pid, 0), 0, "kill(self, 0)");
        break;
    case 7:
        want_err(SC(SYS_wait4, -1, 0, WNOHANG, 0), ECHILD, "wait4 without children");
        break;
    case 8:
        /* a tiny or zero sleep, or an invalid one */
        ts.tv_sec = 0;
        ts.tv_nsec = chance(5) ? 1000 : 0;
        if (chance(30)) {
            if (chance(50))
                ts.tv_nsec = 1000000000;
            else
                ts.tv_sec = -1;
            want_err(SC(SYS_nanosleep, (long)&ts, 0), EINVAL, "nanosleep with an invalid time");
        } else {
            want_val(SC(SYS_nanosleep, (long)&ts, 0), 0, "nanosleep of at most 1 us");
        }
        break;
    case 9:
        memset(buf, 0, sizeof buf);
        x = SC(SYS_getcwd, (long)buf, sizeof buf);
        if (want_val(x, cwd0_len, "getcwd returns the length with the NUL") && strcmp(buf, cwd0) != 0)
            finding("getcwd: expected \"%s\", found \"%s\"", cwd0, buf);
        if (chance(30))
            want_err(SC(SYS_getcwd, (long)buf, 1), ERANGE, "getcwd into a 1-byte buffer");
        break;
    case 10: {
        static struct iovec iov[2];
        x = SC(SYS_writev, 1, (long)iov, -1);
        want_err(x, EINVAL, "writev with a negative count");
        x = SC(SYS_writev, 1, (long)iov, 0);
        want_val(x, 0, "writev of no buffers");
        break;
    }
    default: {
        /* execve must fail: a missing path, an empty one, a bad pointer */
        static char *argv_[] = {"fuzz-missing", NULL};
        static char *envp_[] = {NULL};
        unsigned w = (unsigned)below(3);
        if (w == 0) {
            x = SC(SYS_execve, (long)"/fuzz-missing-dir/nothing", (long)argv_, (long)envp_);
            want_err(x, ENOENT, "execve of a missing path");
        } else if (w == 1) {
            x = SC(SYS_execve, (long)"", (long)argv_, (long)envp_);
            want_err(x, ENOENT, "execve of an empty path");
        } else {
            const char *what;
            uintptr_t b = bad_buffer(0, &what);
            x = SC(SYS_execve, (long)b, (long)argv_, (long)envp_);
            char msg[96];
            snprintf(msg, sizeof msg, "execve of a path at %s", what);
            want_err(x, EFAULT, msg);
        }
        break;
    }
    }
}

/* Signal dispositions of SIGUSR1/SIGUSR2 (only SIG_DFL and SIG_IGN) and
 * the blocked mask. */
struct ksigaction {
    unsigned long handler, flags, restorer, mask;
};
static unsigned long handler_model[3]; /* [1] SIGUSR1, [2] SIGUSR2 */
static unsigned long mask_model;

static void op_signal(void)
{
    static struct ksigaction act, old;
    static unsigned long set, oldset;
    int which = 1 + (int)below(2);
    int sig = which == 1 ? SIGUSR1 : SIGUSR2;
    long x;
    switch (below(6)) {
    case 0:
    case 1: {
        memset(&act, 0, sizeof act);
        memset(&old, 0xff, sizeof old);
        int set_it = chance(60);
        act.handler = chance(50) ? (unsigned long)SIG_IGN : (unsigned long)SIG_DFL;
        x = SC(SYS_rt_sigaction, sig, set_it ? (long)&act : 0, (long)&old, 8);
        if (want_val(x, 0, "rt_sigaction of SIGUSR1/2") && old.handler != handler_model[which])
            finding("rt_sigaction: expected the old handler %#lx, found %#lx", handler_model[which], old.handler);
        if (x == 0 && set_it)
            handler_model[which] = act.handler;
        break;
    }
    case 2:
        memset(&act, 0, sizeof act);
        switch (below(4)) {
        case 0:
            want_err(SC(SYS_rt_sigaction, 0, (long)&act, 0, 8), EINVAL, "rt_sigaction of signal 0");
            break;
        case 1:
            want_err(SC(SYS_rt_sigaction, 65, (long)&act, 0, 8), EINVAL, "rt_sigaction of signal 65");
            break;
        case 2:
            want_err(SC(SYS_rt_sigaction, SIGKILL, (long)&act, 0, 8), EINVAL, "rt_sigaction setting SIGKILL");
            break;
        default:
            want_err(SC(SYS_rt_sigaction, sig, 0, (long)&old, 4), EINVAL, "rt_sigaction with sigsetsize 4");
            break;
        }
        break;
    case 3:
    case 4: {
        static const int hows[] = {SIG_BLOCK, SIG_UNBLOCK, SIG_SETMASK};
        int how = hows[below(3)];
        set = 0;
        if (chance(50))
            set |= 1UL << (SIGUSR1 - 1);
        if (chance(50))
            set |= 1UL << (SIGUSR2 - 1);
        if (chance(20))
            set |= 1UL << (SIGKILL - 1); /* silently never blocked */
        oldset = ~0UL;
        int query = chance(25);
        x = SC(SYS_rt_sigprocmask, how, query ? 0 : (long)&set, (long)&oldset, 8);
        if (want_val(x, 0, "rt_sigprocmask") && oldset != mask_model)
            finding("rt_sigprocmask: expected the old mask %#lx, found %#lx", mask_model, oldset);
        if (x == 0 && !query) {
            unsigned long s = set & ~(1UL << (SIGKILL - 1)) & ~(1UL << (SIGSTOP - 1));
            mask_model = how == SIG_BLOCK ? mask_model | s : how == SIG_UNBLOCK ? mask_model & ~s : s;
        }
        break;
    }
    default:
        if (chance(50))
            want_err(SC(SYS_rt_sigprocmask, 99, (long)&set, 0, 8), EINVAL, "rt_sigprocmask with an unknown how");
        else
            want_err(SC(SYS_rt_sigprocmask, SIG_BLOCK, 0, (long)&oldset, 4), EINVAL,
                     "rt_sigprocmask with sigsetsize 4");
        break;
    }
}

/* The newer memory calls on a range of ours, none of which changes what
 * the pages hold: mlock or mlock2(MLOCK_ONFAULT) then munlock (0, or
 * ENOMEM/EAGAIN/EPERM where a limit or PROT_NONE says so; munlock 0),
 * msync (0), the madvise hints WILLNEED, COLD and PAGEOUT (0), and
 * mincore (0, one byte per page, 0 or 1). The pages read as before. */
/* Pages [off, off + cnt) of region idx were faulted in as Linux's
 * populate does (mlock without MLOCK_ONFAULT): a writable private file
 * page with a write fault, so it is a private copy of the file page as it
 * is now; up to the end of the file (populating stops there), skipping
 * PROT_NONE pages. */
static void populated(int idx, size_t off, size_t cnt)
{
    struct region *r = &reg[idx];
    for (size_t i = off; i < off + cnt; i++) {
        if (!(PR(r, i) & (PROT_READ | PROT_WRITE)))
            continue;
        int val = resolve(r, i);
        if (val == V_SIGBUS)
            break;
        if (r->kind == K_FILE && (PR(r, i) & PROT_WRITE))
            page_set(r, i, val);
    }
}

static void op_lock_hints(void)
{
    static unsigned char vec[8];
    int idx = pick_region();
    if (idx < 0)
        return;
    size_t off, cnt;
    pick_range(idx, &off, &cnt);
    if (cnt > 8)
        cnt = 8;
    long a = (long)(reg[idx].addr + off * PAGE), len = (long)(cnt * PAGE), x;
    switch (below(4)) {
    case 0: {
        int onfault = chance(50);
        x = onfault ? SCN("mlock2", 325, a, len, 1 /* MLOCK_ONFAULT */) : SCN("mlock", 149, a, len);
        if (x == -1 && errno != ENOMEM && errno != EAGAIN && errno != EPERM)
            want_ok(x, "mlock of a range of ours");
        if (x == 0 && !onfault)
            populated(idx, off, cnt);
        want_val(SCN("munlock", 150, a, len), 0, "munlock of a range of ours");
        break;
    }
    case 1:
        want_val(SCN("msync", 26, a, len, chance(50) ? MS_SYNC : MS_INVALIDATE), 0, "msync of a range of ours");
        break;
    case 2: {
        static const int hints[] = {3 /* WILLNEED */, 20 /* COLD */, 21 /* PAGEOUT */};
        int h = hints[below(3)];
        x = SCN("madvise", 28, a, len, h);
        want_val(x, 0, "madvise WILLNEED/COLD/PAGEOUT of a range of ours");
        break;
    }
    default:
        memset(vec, 0xee, sizeof vec);
        if (want_val(SCN("mincore", 27, a, len, (long)vec), 0, "mincore of a range of ours")) {
            for (size_t i = 0; i < cnt; i++)
                if (vec[i] > 1)
                    finding("mincore of a range of ours: byte %zu is %#x, not 0 or 1", i, vec[i]);
        }
        break;
    }
    for (size_t i = 0; i < cnt; i++)
        page_verify(idx, off + i, "after mlock/msync/madvise hints/mincore");
}

/* A fixed list of harmless system calls, some not in our guest (which
 * must then say ENOSYS): Linux's result, or ENOSYS. */
static void op_safe_numbers(void)
{
    static unsigned char vec[256];
    long x;
    switch (below(9)) {
    case 0:
        want_val(SCN("getppid", 110), my_ppid, "getppid (110)");
        break;
    case 1:
        x = SCN("getpgrp", 111);
        if (!is_enosys(x))
            want_ok(x, "getpgrp (111)");
        break;
    case 2:
        x = SCN("times", 100, chance(50) ? (long)vec : 0);
        if (!is_enosys(x))
            want_ok(x, "times (100)");
        break;
    case 3:
        x = SCN("getitimer", 36, 0 /* ITIMER_REAL */, (long)KERNEL_ADDR);
        if (!is_enosys(x))
            want_err(x, EFAULT, "getitimer (36) into a kernel address");
        break;
    case 4:
        x = SCN("semctl", 66, -1, 0, 0 /* IPC_RMID */, 0);
        if (!is_enosys(x))
            want_err(x, EINVAL, "semctl (66) of semaphore set -1");
        break;
    case 5:
    case 6: {
        int idx = pick_region();
        if (idx < 0)
            break;
        struct region *r = &reg[idx];
        size_t n = r->n < 256 ? r->n : 256;
        if (below(2)) {
            x = SCN("mincore", 27, (long)r->addr, (long)(n * PAGE), (long)vec);
            if (!is_enosys(x))
                want_val(x, 0, "mincore (27) of a region of ours");
        } else {
            x = SCN("msync", 26, (long)r->addr, (long)(n * PAGE), MS_ASYNC);
            if (!is_enosys(x))
                want_val(x, 0, "msync (26) of a region of ours");
        }
        x = SCN("mlock2", 325, (long)r->addr, PAGE, -1);
        if (!is_enosys(x))
            want_err(x, EINVAL, "mlock2 (325) with flags -1");
        break;
    }
    case 7:
        x = SCN("sched_getaffinity", 204, 0, 8, (long)KERNEL_ADDR);
        if (!is_enosys(x))
            want_err2(x, EFAULT, EINVAL, "sched_getaffinity (204) into a kernel address");
        break;
    default:
        x = SCN("unknown", 1000 + (long)below(24));
        want_err(x, ENOSYS, "an unknown system call number");
        break;
    }
}

/* ------------------------------------------------------------------------
 * Credentials and permissions: the ids, umask, chmod, chown and access of
 * our names, statfs; and a child that drops to nobody and must be refused
 * what nobody may not do (our directory is root's, mode 0700).
 */
#define NOBODY 65534
static long my_uid = -1;
static long fs_type = -1;

static void op_creds(void)
{
    int i = (int)below(NNAMES);
    const char *p = name_path(i);
    int n = names[i];
    long x;
    struct stat st;
    switch (below(8)) {
    case 0: {
        unsigned r = 1, e = 1, sv = 1;
        if (want_val(SC(SYS_getresuid, (long)&r, (long)&e, (long)&sv), 0, "getresuid") &&
            (r != (unsigned)my_uid || e != (unsigned)SC(SYS_geteuid) || sv != e))
            finding("getresuid: expected %ld for all three, found %u %u %u", my_uid, r, e, sv);
        want_err(SC(SYS_getresgid, (long)KERNEL_ADDR, (long)&e, (long)&sv), EFAULT, "getresgid into a kernel address");
        want_val(SC(SYS_setfsuid, -1), my_uid, "setfsuid(-1) returns the filesystem uid");
        break;
    }
    case 1: {
        long m = (long)below(01000);
        long old = SC(SYS_umask, m);
        want_val(SC(SYS_umask, old), m, "umask returns the mask set before");
        break;
    }
    case 2: {
        /* chmod of a name, then back */
        long mode = (long)below(010000);
        x = SC(SYS_chmod, (long)p, mode);
        if (n == N_NONE) {
            want_err(x, ENOENT, "chmod of a missing name");
        } else if (want_val(x, 0, "chmod of our name")) {
            if (SC(SYS_stat, (long)p, (long)&st) == 0 && (long)(st.st_mode & 07777) != mode)
                finding("chmod %s %#lo: stat says %#o", p, mode, (unsigned)st.st_mode & 07777);
            want_val(SC(SYS_chmod, (long)p, n == N_DIR ? 0700 : 0600), 0, "chmod back");
        }
        break;
    }
    case 3: {
        /* chown of a file clears its set-ID bits */
        long uid = (long)below(70000), gid = (long)below(70000);
        if (n != N_FILE) {
            x = SC(SYS_chown, (long)p, uid, gid);
            if (n == N_NONE)
                want_err(x, ENOENT, "chown of a missing name");
            else if (want_val(x, 0, "chown of our directory"))
                want_val(SC(SYS_chown, (long)p, my_uid, my_uid), 0, "chown back");
            break;
        }
        SC(SYS_chmod, (long)p, 06755);
        if (want_val(SC(SYS_chown, (long)p, uid, gid), 0, "chown of our file") && SC(SYS_stat, (long)p, (long)&st) == 0 &&
            ((long)st.st_uid != uid || (long)st.st_gid != gid || (st.st_mode & 07777) != 0755))
            finding("chown %s %ld:%ld of a 06755 file: stat says %u:%u %#o", p, uid, gid, st.st_uid, st.st_gid,
                    (unsigned)st.st_mode & 07777);
        want_val(SC(SYS_chown, (long)p, my_uid, my_uid), 0, "chown back");
        SC(SYS_chmod, (long)p, 0600);
        break;
    }
    case 4: {
        /* access as root: reading and writing always, executing a 0600 file never */
        long mode = (long)below(8);
        x = chance(50) ? SC(SYS_access, (long)p, mode) : SC(SYS_faccessat2, AT_FDCWD, (long)p, mode, 0x200 /* AT_EACCESS */);
        if (n == N_NONE)
            want_err(x, ENOENT, "access of a missing name");
        else if (my_uid == 0 && n == N_FILE && (mode & X_OK))
            want_err(x, EACCES, "access(X_OK) of a 0600 file as root");
        else if (my_uid == 0)
            want_val(x, 0, "access of our name as root");
        want_err(SC(SYS_faccessat2, AT_FDCWD, (long)p, 8, 0), EINVAL, "faccessat2 with an unknown mode bit");
        break;
    }
    case 5: {
        static struct statfs sf;
        x = SC(SYS_statfs, (long)dir, (long)&sf);
        if (want_val(x, 0, "statfs of our directory")) {
            if (fs_type == -1)
                fs_type = (long)sf.f_type;
            else if ((long)sf.f_type != fs_type)
                finding("statfs: type %#lx, before %#lx", (long)sf.f_type, fs_type);
        }
        want_err(SC(SYS_fstatfs, -1, (long)&sf), EBADF, "fstatfs of -1");
        if (n == N_NONE)
            want_err(SC(SYS_statfs, (long)p, (long)&sf), ENOENT, "statfs of a missing name");
        want_err(SC(SYS_statfs, (long)dir, (long)KERNEL_ADDR), EFAULT, "statfs into a kernel address");
        break;
    }
    default: {
        if (my_uid != 0)
            break;
        uint64_t child_seed = rnd();
        long pid = fork_child();
        if (pid == 0) {
            in_child = 1;
            nfindings = 0;
            rng_state = child_seed;
            want_val(SC(SYS_setgroups, 0, 0), 0, "setgroups(0)");
            want_val(SC(SYS_setgid, NOBODY), 0, "setgid(nobody)");
            want_val(SC(SYS_setuid, NOBODY), 0, "setuid(nobody)");
            want_err(SC(SYS_setuid, 0), EPERM, "setuid(0) as nobody");
            want_err(SC(SYS_setresuid, -1, 0, -1), EPERM, "setresuid(-1, 0, -1) as nobody");
            want_err(SC(SYS_setgid, 0), EPERM, "setgid(0) as nobody");
            want_err(SC(SYS_setgroups, 0, 0), EPERM, "setgroups as nobody");
            want_err(SC(SYS_open, (long)files[below(NFILES)].path, O_RDONLY), EACCES, "open of root's file in root's 0700 directory");
            want_err(SC(SYS_mkdir, (long)p, 0700), EACCES, "mkdir in root's 0700 directory");
            want_err(SC(SYS_kill, my_pid, 0), EPERM, "kill(root parent, 0) as nobody");
            x = SC(SYS_prctl, PR_GET_DUMPABLE, 0, 0, 0, 0);
            if (x == 1)
                finding("PR_GET_DUMPABLE after setuid: expected not 1, found 1");
            /* A random id change: allowed only among nobody's own ids. */
            long ids[3];
            int own = 1;
            for (int k = 0; k < 3; k++) {
                int c = (int)below(4);
                ids[k] = c == 0 ? -1 : c == 1 ? NOBODY : c == 2 ? 0 : (long)below(70000);
                own &= ids[k] == -1 || ids[k] == NOBODY;
            }
            x = chance(50) ? SC(SYS_setresuid, ids[0], ids[1], ids[2]) : SC(SYS_setresgid, ids[0], ids[1], ids[2]);
            if (own)
                want_val(x, 0, "setresuid/setresgid among one's own ids");
            else
                want_err(x, EPERM, "setresuid/setresgid to another id as nobody");
            child_exit(nfindings > 100 ? 100 : (int)nfindings);
        }
        if (pid < 0) {
            if (!refused(pid, errno))
                finding("fork: expected a child, found %s", res(pid, errno));
            return;
        }
        int st2 = reap(pid, "a child dropping to nobody");
        if (st2 == -1)
            return;
        if (WIFEXITED(st2))
            nfindings += (unsigned long)WEXITSTATUS(st2);
        else
            finding("a child dropping to nobody: expected it to exit, found %s", status_str(st2));
        break;
    }
    }
}

/* ------------------------------------------------------------------------
 * The main loop
 */
struct op {
    void (*fn)(void);
    int weight;
    int child_ok; /* may run in a forked child */
};

static const struct op ops[] = {
    /* memory */
    {op_mmap, 14, 1},
    {op_big, 1, 0},
    {op_huge, 1, 0},
    {op_munmap, 8, 1},
    {op_mprotect, 7, 1},
    {op_madvise, 6, 1},
    {op_lock_hints, 2, 1},
    {op_store, 12, 1},
    {op_check, 4, 1},
    {op_fault, 2, 0},
    {op_mremap, 7, 1},
    {op_fixed, 4, 1},
    {op_brk, 4, 1},
    {op_fork, 2, 0},
    {op_shared_zero, 3, 0},
    {op_hole, 1, 1},
    {op_mmap_errors, 2, 1},
    /* files, descriptors, the rest */
    {op_io, 7, 0},
    {op_alias, 2, 0},
    {op_truncate, 1, 0},
    {op_badbuf, 5, 0},
    {op_randfd, 5, 0},
    {op_pipe, 4, 0},
    {op_paths, 3, 0},
    {op_misc, 3, 0},
    {op_signal, 2, 0},
    {op_safe_numbers, 2, 0},
    {op_creds, 2, 0},
};
#define NOPS (sizeof ops / sizeof ops[0])

static void one_op(int child)
{
    int total = 0;
    for (size_t k = 0; k < NOPS; k++)
        if (!child || ops[k].child_ok)
            total += ops[k].weight;
    int x = (int)below((uint64_t)total);
    for (size_t k = 0; k < NOPS; k++) {
        if (child && !ops[k].child_ok)
            continue;
        if (x < ops[k].weight) {
            ops[k].fn();
            return;
        }
        x -= ops[k].weight;
    }
}

/* Between calls: check a few random pages. */
static void spot_check(void)
{
    for (int k = 0; k < 2; k++) {
        int idx = pick_region();
        if (idx < 0)
            return;
        page_verify(idx, pick_page(idx), "a spot check between calls");
    }
}

static void usage(void)
{
    printf("usage: fuzz [--seed N] [--calls N] [--dir D] [--inject] [--verbose]\n");
    exit(2);
}

/* Creates our directory and files. */
static void setup_files(const char *base)
{
    snprintf(dir, sizeof dir, "%s%sfuzz.%ld", base, base[strlen(base) - 1] == '/' ? "" : "/", my_pid);
    long r = SC(SYS_mkdir, (long)dir, 0700);
    if (r == -1 && errno != EEXIST) {
        printf("fuzz: seed %llu: cannot create %s: %s\n", seed, dir, strerror(errno));
        exit(2);
    }
    for (int f = 0; f < NFILES; f++) {
        snprintf(files[f].path, sizeof files[f].path, "%s/f%d", dir, f);
        long fd = SC(SYS_open, (long)files[f].path, O_RDWR | O_CREAT | O_TRUNC, 0600);
        if (fd < 0) {
            printf("fuzz: seed %llu: cannot create %s: %s\n", seed, files[f].path, strerror(errno));
            exit(2);
        }
        files[f].size = 4;
        SC(SYS_ftruncate, fd, (long)(files[f].size * PAGE));
        SC(SYS_close, fd);
        memset(files[f].st, F_ZERO, sizeof files[f].st);
    }
}

static void cleanup_files(void)
{
    for (int fd = 0; fd < FDMAX; fd++)
        if (fds[fd].kind >= FD_FILE) {
            SC(SYS_close, fd);
            fd_forget(fd);
        }
    for (int f = 0; f < NFILES; f++)
        SC(SYS_unlink, (long)files[f].path);
    for (int i = 0; i < NNAMES; i++) {
        if (names[i] == N_FILE)
            SC(SYS_unlink, (long)name_path(i));
        if (names[i] == N_DIR)
            SC(SYS_rmdir, (long)name_path(i));
    }
    SC(SYS_rmdir, (long)dir);
}

int main(int argc, char **argv)
{
    struct sysinfo si;
    ram_pages = sysinfo(&si) == 0 ? (unsigned long)(si.totalram * si.mem_unit / PAGE) : ~0UL;
    setvbuf(stdout, NULL, _IOLBF, 0);
    const char *base = NULL;
    for (int i = 1; i < argc; i++) {
        if (i + 1 < argc && strcmp(argv[i], "--seed") == 0)
            seed = strtoull(argv[++i], NULL, 0);
        else if (i + 1 < argc && strcmp(argv[i], "--calls") == 0)
            ncalls = strtoul(argv[++i], NULL, 0);
        else if (strcmp(argv[i], "--verbose") == 0)
            verbose = 1;
        else if (strcmp(argv[i], "--inject") == 0)
            inject = 1;
        else if (i + 1 < argc && strcmp(argv[i], "--dir") == 0)
            base = argv[++i];
        else
            usage();
    }
    rng_state = seed;
    struct utsname u;
    guest = syscall(SYS_uname, &u) == 0 && strstr(u.release, "rvmm") != NULL;
    if (!base)
        base = guest ? "/" : "/tmp";
    /* no core dumps of the children that die on purpose (natively) */
    syscall(SYS_prctl, 4 /* PR_SET_DUMPABLE */, 0, 0, 0, 0);
    my_pid = syscall(SYS_getpid);
    my_uid = syscall(SYS_getuid);
    /* Descriptors inherited from whoever started us are not ours to
     * fuzz: the model knows only the ones it opens. */
    for (int fd = 3; fd < 1024; fd++)
        close(fd);
    my_ppid = syscall(SYS_getppid);
    /* descriptors open at start are not ours */
    for (int fd = 0; fd < FDMAX; fd++)
        if (syscall(SYS_fcntl, fd, F_GETFD) >= 0)
            fds[fd].kind = FD_FOREIGN;
    brk0 = brk_cur = (uintptr_t)syscall(SYS_brk, 0);
    brk_base = PAGE_ALIGN(brk0);
    printf("fuzz: seed %llu, %lu calls\n", seed, ncalls);
    setup_files(base);
    /* the fixed pages for bad-buffer tests (not regions) */
    edge = (uint8_t *)SC(SYS_mmap, 0, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    guard_ro = (uint8_t *)SC(SYS_mmap, 0, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (edge == MAP_FAILED || guard_ro == MAP_FAILED || SC(SYS_mprotect, (long)(edge + PAGE), PAGE, PROT_NONE) != 0) {
        printf("fuzz: seed %llu: cannot map the guard pages: %s\n", seed, strerror(errno));
        return 2;
    }
    refill_edge();
    cwd0_len = SC(SYS_getcwd, (long)cwd0, sizeof cwd0);
    SC(SYS_rt_sigprocmask, SIG_BLOCK, 0, (long)&mask_model, 8);
    for (int k = 1; k <= 2; k++) {
        struct ksigaction old;
        memset(&old, 0, sizeof old);
        SC(SYS_rt_sigaction, k == 1 ? SIGUSR1 : SIGUSR2, 0, (long)&old, 8);
        handler_model[k] = old.handler;
    }

    for (call_i = 0; call_i < ncalls; call_i++) {
        one_op(0);
        spot_check();
    }
    call_i = ncalls;
    cleanup_files();
    if (inject)
        printf("fuzz: seed %llu: %lu calls, %lu findings, %lu refused for want of memory\n", seed, ncalls, nfindings, nrefused);
    else
        printf("fuzz: seed %llu: %lu calls, %lu findings\n", seed, ncalls, nfindings);
    return nfindings == 0 ? 0 : 1;
}
