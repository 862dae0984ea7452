/*
 * mm_ops: the operations on anonymous memory and what they do to the
 * VMAs in /proc/self/maps: zero fill, munmap of a middle page, mprotect
 * (split and merge back), MAP_FIXED, MAP_FIXED_NOREPLACE, MADV_DONTNEED,
 * mremap, and stack growth.
 */
#include "tap.h"

static void fill(char *p, size_t n, char c)
{
    memset(p, c, n);
}

static int all(const char *p, size_t n, char c)
{
    for (size_t i = 0; i < n; i++)
        if (((volatile const char *)p)[i] != c)
            return 0;
    return 1;
}

static uintptr_t lowest_frame = UINTPTR_MAX;

/* About 4 KiB of stack per level. */
__attribute__((noinline)) static long recurse(int depth)
{
    volatile char buf[4000];
    for (int i = 0; i < (int)sizeof buf; i += 256)
        buf[i] = (char)depth;
    if ((uintptr_t)buf < lowest_frame)
        lowest_frame = (uintptr_t)buf;
    long below = depth > 0 ? recurse(depth - 1) : 0;
    return below + buf[(depth % 8) * 256];
}

int main(void)
{
    tap_init();
    proc_init();
    struct vma v, w;

    /* Zero fill. */
    char *z = anon_pages(4);
    check(all(z, 4 * PAGE, 0), "new anonymous memory (4 pages) reads as zero", "a non-zero byte");
    sys_munmap(z, 4 * PAGE);

    /* munmap of the middle page of three. */
    char *p = anon_pages(3);
    for (int i = 0; i < 3; i++)
        fill(p + i * PAGE, PAGE, (char)('A' + i));
    check_ok(sys_munmap(p + PAGE, PAGE), "munmap the middle page of three");
    int lo = vma_at((uintptr_t)p, &v), mid = vma_at((uintptr_t)p + PAGE, NULL), hi = vma_at((uintptr_t)p + 2 * PAGE, &w);
    check(lo == 1 && v.end == (uintptr_t)p + PAGE, "the first page is a VMA ending where the hole starts",
          "found %d, %#lx-%#lx", lo, (unsigned long)v.start, (unsigned long)v.end);
    check(mid == 0, "the middle page is not in /proc/self/maps", "found %d", mid);
    check(hi == 1 && w.start == (uintptr_t)p + 2 * PAGE, "the last page is a VMA starting after the hole",
          "found %d, %#lx-%#lx", hi, (unsigned long)w.start, (unsigned long)w.end);
    check(all(p, PAGE, 'A') && all(p + 2 * PAGE, PAGE, 'C'), "the outer pages keep their data", "data changed");
    sys_munmap(p, 3 * PAGE);

    /* mprotect the middle page read-only, then back. */
    p = anon_pages(3);
    for (int i = 0; i < 3; i++)
        fill(p + i * PAGE, PAGE, (char)('a' + i));
    check_ok(sys_mprotect(p + PAGE, PAGE, PROT_READ), "mprotect the middle page PROT_READ");
    int r = vma_at((uintptr_t)p + PAGE, &v);
    check(r == 1 && v.start == (uintptr_t)p + PAGE && v.end == (uintptr_t)p + 2 * PAGE && strcmp(v.perms, "r--p") == 0,
          "maps shows the middle page as its own r--p VMA", "found %d, %#lx-%#lx %s", r, (unsigned long)v.start,
          (unsigned long)v.end, v.perms);
    r = vma_at((uintptr_t)p, &w);
    check(r == 1 && w.end == (uintptr_t)p + PAGE && strcmp(w.perms, "rw-p") == 0, "the first page stays rw-p",
          "found %d, %#lx-%#lx %s", r, (unsigned long)w.start, (unsigned long)w.end, w.perms);
    check(all(p + PAGE, PAGE, 'b'), "the read-only page keeps its data", "data changed");
    check_ok(sys_mprotect(p + PAGE, PAGE, PROT_READ | PROT_WRITE), "mprotect it back to PROT_READ|PROT_WRITE");
    r = vma_at((uintptr_t)p + PAGE, &v);
    check(r == 1 && v.start <= (uintptr_t)p && v.end >= (uintptr_t)p + 3 * PAGE && strcmp(v.perms, "rw-p") == 0,
          "the three pages merge back into one rw-p VMA", "found %d, %#lx-%#lx %s", r, (unsigned long)v.start,
          (unsigned long)v.end, v.perms);
    p[PAGE + 5] = 'x';
    check(all(p, PAGE, 'a') && p[PAGE + 5] == 'x' && all(p + 2 * PAGE, PAGE, 'c'),
          "data intact and the middle page writable again", "data changed");
    sys_munmap(p, 3 * PAGE);

    /* MAP_FIXED over the middle two pages of four. */
    p = anon_pages(4);
    fill(p, 4 * PAGE, 0x5a);
    void *m = sys_mmap(p + PAGE, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    check(m == p + PAGE, "MAP_FIXED over part of a mapping returns the address asked for", "got %p, want %p", m,
          (void *)(p + PAGE));
    check(all(p + PAGE, 2 * PAGE, 0), "the replaced pages read as zero", "old data survived");
    check(all(p, PAGE, 0x5a) && all(p + 3 * PAGE, PAGE, 0x5a), "the pages around them keep their data",
          "data changed");

    /* MAP_FIXED_NOREPLACE over it: EEXIST, nothing changes. */
    m = sys_mmap(p, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    check_err((long)m, EEXIST, "MAP_FIXED_NOREPLACE over an existing mapping fails with EEXIST");
    check(all(p, PAGE, 0x5a), "... and leaves it alone", "data changed");
    sys_munmap(p, 4 * PAGE);

    /* MADV_DONTNEED on a private anonymous page: zero afterwards. */
    p = anon_pages(2);
    fill(p, 2 * PAGE, 'd');
    check_ok(sys_madvise(p, PAGE, MADV_DONTNEED), "madvise(MADV_DONTNEED) on a private anonymous page");
    check(all(p, PAGE, 0), "the page reads as zero afterwards", "old data survived");
    check(all(p + PAGE, PAGE, 'd'), "the next page is untouched", "data changed");
    r = vma_at((uintptr_t)p, &v);
    check(r == 1 && v.start <= (uintptr_t)p && v.end >= (uintptr_t)p + 2 * PAGE, "the page is still mapped",
          "found %d", r);
    sys_munmap(p, 2 * PAGE);

    /* mremap grow with MREMAP_MAYMOVE. */
    p = anon_pages(2);
    for (size_t i = 0; i < 2 * PAGE; i++)
        p[i] = (char)(i * 13 + 3);
    char *q = (char *)syscall(SYS_mremap, p, 2 * PAGE, 8 * PAGE, MREMAP_MAYMOVE);
    if (check(q != MAP_FAILED, "mremap 2 -> 8 pages with MREMAP_MAYMOVE", "mremap: %s", strerror(errno))) {
        printf("# mremap: %p -> %p\n", (void *)p, (void *)q);
        int kept = 1;
        for (size_t i = 0; i < 2 * PAGE; i++)
            kept &= q[i] == (char)(i * 13 + 3);
        check(kept, "mremap keeps the contents", "a byte differs");
        check(all(q + 2 * PAGE, 6 * PAGE, 0), "the grown part reads as zero", "a non-zero byte");
        q[8 * PAGE - 1] = 'e';
        check(q[8 * PAGE - 1] == 'e', "the last page of the grown mapping is writable", "read %d", q[8 * PAGE - 1]);
        r = vma_at((uintptr_t)q, &v);
        check(r == 1 && v.start <= (uintptr_t)q && v.end >= (uintptr_t)q + 8 * PAGE,
              "maps shows the whole 8 pages mapped", "found %d, %#lx-%#lx", r, (unsigned long)v.start,
              (unsigned long)v.end);
        if (q != p)
            check(vma_at((uintptr_t)p, NULL) == 0 || (p >= q && p < q + 8 * PAGE),
                  "the old address is unmapped after the move", "still mapped");
        sys_munmap(q, 8 * PAGE);
    }

    /* Stack growth: 64 levels of about 4 KiB each. */
    struct vma st0;
    int have_stack = vma_named("[stack]", &st0);
    long sum = recurse(63);
    long want = 0;
    for (int d = 0; d <= 63; d++)
        want += (char)d;
    check(sum == want, "a recursion using ~256 KiB of stack succeeds", "sum %ld, want %ld", sum, want);
    r = vma_at(lowest_frame, &v);
    check(r == 1 && strcmp(v.name, "[stack]") == 0, "its deepest frame lies in [stack]", "found %d: %#lx-%#lx %s", r,
          (unsigned long)v.start, (unsigned long)v.end, v.name);
    if (have_stack == 1 && r == 1) {
        printf("# [stack] %#lx-%#lx before, %#lx-%#lx after; deepest frame %#lx\n", (unsigned long)st0.start,
               (unsigned long)st0.end, (unsigned long)v.start, (unsigned long)v.end, (unsigned long)lowest_frame);
        check(v.end - v.start >= 256 * 1024, "[stack] is at least 256 KiB now", "%lu KiB",
              (unsigned long)(v.end - v.start) / 1024);
    }

    print_maps();
    return tap_done();
}
