/*
 * mm_malloc: the seed's malloc pattern, A=30K, B=40K, C=200K, D=100K, and
 * where each block lands in the address space.
 *
 * glibc's malloc takes small blocks from the brk heap and serves requests
 * of 128K or more (M_MMAP_THRESHOLD) with a mmap of their own. musl's
 * malloc (mallocng) makes different choices, so this program does what
 * glibc's malloc would do explicitly: A, B and D come from the heap with
 * the raw brk syscall, C from an anonymous mmap. Then it checks the heap
 * grew by brk, C is a VMA of its own outside [heap], and prints the maps.
 */
#include "tap.h"

#define K 1024UL

/* glibc-style heap allocation: move the break up by n bytes (16-byte aligned). */
static char *heap_alloc(size_t n, uintptr_t *brk_now)
{
    uintptr_t old = *brk_now;
    uintptr_t want = old + ((n + 15) & ~15UL);
    uintptr_t got = sys_brk(want);
    if (got != want)
        return NULL;
    *brk_now = got;
    return (char *)old;
}

int main(void)
{
    tap_init();
    proc_init();

    uintptr_t brk0 = sys_brk(0);
    check(brk0 != 0, "brk(0) returns the current break", "brk(0) = %#lx", (unsigned long)brk0);
    printf("# initial break %#lx\n", (unsigned long)brk0);

    uintptr_t brk_now = brk0;
    char *a = heap_alloc(30 * K, &brk_now);
    char *b = heap_alloc(40 * K, &brk_now);
    /* C: 200K >= glibc's 128K threshold, so a mapping of its own. */
    char *c = sys_mmap(NULL, 200 * K, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    char *d = heap_alloc(100 * K, &brk_now);

    printf("# A (30K, brk)  = %p\n# B (40K, brk)  = %p\n# C (200K, mmap) = %p\n# D (100K, brk) = %p\n", (void *)a,
           (void *)b, (void *)c, (void *)d);

    check(a == (char *)brk0, "A (30K) starts at the initial break", "A = %p, brk0 = %#lx", (void *)a,
          (unsigned long)brk0);
    check(b == a + 30 * K, "B (40K) follows A on the heap", "B = %p, A + 30K = %p", (void *)b, (void *)(a + 30 * K));
    check(c != MAP_FAILED, "C (200K) mmap succeeds", "mmap: %s", strerror(errno));
    check(d == b + 40 * K, "D (100K) follows B on the heap, C did not move the break", "D = %p, B + 40K = %p",
          (void *)d, (void *)(b + 40 * K));
    uintptr_t brk1 = sys_brk(0);
    check(brk1 == brk0 + 170 * K, "the break grew by exactly 30K + 40K + 100K", "brk %#lx, want %#lx",
          (unsigned long)brk1, (unsigned long)(brk0 + 170 * K));

    if (!a || !b || !d || c == MAP_FAILED) {
        printf("Bail out! allocation failed\n");
        return tap_done() | 1;
    }

    /* New memory reads as zero; write every block's first and last byte. */
    int zero = a[0] == 0 && a[30 * K - 1] == 0 && b[0] == 0 && b[40 * K - 1] == 0 && c[0] == 0 &&
               c[200 * K - 1] == 0 && d[0] == 0 && d[100 * K - 1] == 0;
    check(zero, "fresh heap and mmap memory reads as zero", "a non-zero byte");
    a[0] = 'A', a[30 * K - 1] = 'a';
    b[0] = 'B', b[40 * K - 1] = 'b';
    c[0] = 'C', c[200 * K - 1] = 'c';
    d[0] = 'D', d[100 * K - 1] = 'd';
    int kept = a[0] == 'A' && a[30 * K - 1] == 'a' && b[0] == 'B' && b[40 * K - 1] == 'b' && c[0] == 'C' &&
               c[200 * K - 1] == 'c' && d[0] == 'D' && d[100 * K - 1] == 'd';
    check(kept, "every block keeps what was written to its first and last byte", "a byte changed");

    struct vma heap, cv;
    int has_heap = vma_named("[heap]", &heap);
    check(has_heap == 1, "/proc/self/maps has a [heap] line", "vma_named = %d", has_heap);
    if (has_heap == 1) {
        check(heap.start <= brk0 && heap.end == PAGE_ALIGN(brk1), "[heap] runs from the initial break to the break",
              "[heap] %#lx-%#lx, brk0 %#lx, brk %#lx", (unsigned long)heap.start, (unsigned long)heap.end,
              (unsigned long)brk0, (unsigned long)brk1);
        check(strcmp(heap.perms, "rw-p") == 0, "[heap] is rw-p", "perms %s", heap.perms);
        check((uintptr_t)c + 200 * K <= heap.start || (uintptr_t)c >= heap.end, "C lies outside [heap]",
              "C %p, [heap] %#lx-%#lx", (void *)c, (unsigned long)heap.start, (unsigned long)heap.end);
    }
    int found = vma_at((uintptr_t)c, &cv);
    check(found == 1 && cv.start <= (uintptr_t)c && cv.end >= (uintptr_t)c + 200 * K && strcmp(cv.name, "[heap]") != 0,
          "C is an anonymous VMA of its own covering all 200K", "found %d, %#lx-%#lx %s %s", found,
          (unsigned long)cv.start, (unsigned long)cv.end, cv.perms, cv.name);
    if (found == 1)
        check(strcmp(cv.perms, "rw-p") == 0, "C's VMA is rw-p", "perms %s", cv.perms);

    print_maps();

    /* free(C) and free(D) the way glibc would: munmap and move the break back. */
    check_ok(sys_munmap(c, 200 * K), "munmap C");
    check(vma_at((uintptr_t)c, NULL) == 0, "C is gone from /proc/self/maps", "still mapped");
    check(sys_brk(brk0) == brk0, "brk back to the initial break", "brk(0) = %#lx", (unsigned long)sys_brk(0));

    return tap_done();
}
